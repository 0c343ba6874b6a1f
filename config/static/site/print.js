/*
 * A "Print" button (a walk-in's slip, booking/templates/booking/staff/walk_in_slip.html): hidden
 * in the page, shown and wired here, so that without JavaScript no button does nothing (the
 * browser's own Print prints the same page, with the print stylesheet).
 */
(function () {
  "use strict";
  document.querySelectorAll("button[data-print]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () { window.print(); });
  });
})();
