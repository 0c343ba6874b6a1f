/*
 * The staff queue (booking/templates/booking/staff/today.html): listens on the centre's queue
 * socket and, when an appointment changes, reloads the queue section from the same address
 * with ?fragment=queue. Reconnects with growing waits; says when live updates pause. A reload
 * never happens under a pressed button: it waits until the press is over.
 */
(function () {
  "use strict";

  const status = document.getElementById("queue-status");
  if (!status || !("WebSocket" in window)) return;
  const texts = JSON.parse(document.getElementById("queue-texts").textContent);
  const language = document.documentElement.lang === "th" ? "th-TH" : "en-GB";
  let wait = 1000;
  let pressing = false;
  let pending = false;

  document.addEventListener("pointerdown", function () { pressing = true; });
  document.addEventListener("pointerup", function () {
    pressing = false;
    if (pending) reload();
  });

  function clock() {
    return new Date().toLocaleTimeString(language, {
      hour: "2-digit", minute: "2-digit", timeZone: "Asia/Bangkok",
    });
  }

  function reload() {
    if (pressing) { pending = true; return; }
    pending = false;
    const url = new URL(window.location.href);
    url.searchParams.set("fragment", "queue");
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.text();
      })
      .then(function (html) {
        const fresh = new DOMParser().parseFromString(html, "text/html").getElementById("queue");
        const current = document.getElementById("queue");
        if (fresh && current) current.replaceWith(document.importNode(fresh, true));
        status.className = "notice success";
        status.textContent = texts.updated.replace("%(time)s", clock());
      })
      .catch(function () { status.className = "notice warning"; status.textContent = texts.paused; });
  }

  function connect() {
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(scheme + "//" + window.location.host + status.dataset.socket);
    socket.addEventListener("open", function () {
      wait = 1000;
      status.className = "notice";
      status.textContent = texts.live;
    });
    socket.addEventListener("message", function (event) {
      const message = JSON.parse(event.data);
      if (message.type === "queue_changed") reload();
    });
    socket.addEventListener("close", function (event) {
      status.className = "notice warning";
      status.textContent = texts.paused;
      if (event.code === 4403) return; // not allowed here: no point in trying again
      setTimeout(connect, wait);
      wait = Math.min(wait * 2, 30000);
    });
  }

  connect();
})();
