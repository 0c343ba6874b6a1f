/*
 * The find page (booking/templates/booking/pages/find.html): "Use my location" asks the
 * browser where the phone is and searches again sorted by distance. Without JavaScript, or
 * when the location is refused, the district choice does the same job.
 */
(function () {
  "use strict";

  const button = document.getElementById("near-me");
  const form = document.getElementById("find-form");
  if (!button || !form || !("geolocation" in navigator)) return;
  const status = document.getElementById("near-me-status");
  const texts = JSON.parse(document.getElementById("find-texts").textContent);
  button.hidden = false;
  button.addEventListener("click", function () {
    status.textContent = texts.locating;
    navigator.geolocation.getCurrentPosition(
      function (position) {
        document.getElementById("lat").value = position.coords.latitude.toFixed(5);
        document.getElementById("lon").value = position.coords.longitude.toFixed(5);
        status.textContent = texts.located;
        if (document.getElementById("service").value) form.requestSubmit();
      },
      function () {
        status.textContent = texts.refused;
      },
      { enableHighAccuracy: false, timeout: 10000, maximumAge: 600000 }
    );
  });
})();
