/*
 * The staff queue (booking/templates/booking/staff/today.html): listens on the centre's queue
 * socket and, when an appointment or a walk-in changes, reloads the queue section from the same address
 * with ?fragment=queue. Several changes at once make one reload. Reconnects with growing
 * waits; says when live updates pause. A reload never happens under a pressed pointer (it
 * would swallow the click on a button): it waits until the press is over. Keyboard focus on a
 * button of the queue stays on the same button after a reload, when that button is still there.
 */
(function () {
  "use strict";

  const status = document.getElementById("queue-status");
  const textsNode = document.getElementById("queue-texts");
  if (!status || !textsNode || !("WebSocket" in window) || !("fetch" in window)) return;
  const texts = JSON.parse(textsNode.textContent);
  const language = document.documentElement.lang === "th" ? "th-TH" : "en-GB";
  const FIRST_WAIT_MS = 1000;
  const LONGEST_WAIT_MS = 30000;
  let wait = FIRST_WAIT_MS;
  let pressing = false;
  let loading = false;
  let pending = false;

  function settle() {
    pressing = false;
    if (pending) reload();
  }
  document.addEventListener("pointerdown", function () { pressing = true; });
  document.addEventListener("pointerup", settle);
  document.addEventListener("pointercancel", settle);

  function say(kind, text) {
    status.className = "notice" + (kind ? " " + kind : "");
    status.textContent = text;
  }

  function clock() {
    return new Date().toLocaleTimeString(language, {
      hour: "2-digit", minute: "2-digit", timeZone: "Asia/Bangkok",
    });
  }

  // Which button has keyboard focus, by its row and its form's address.
  function focusedButton() {
    const active = document.activeElement;
    if (!active || !active.closest("#queue")) return null;
    const form = active.closest("form");
    return form ? form.getAttribute("action") : null;
  }

  function refocus(action) {
    if (!action) return;
    const queue = document.getElementById("queue");
    const form = Array.from(queue.querySelectorAll("form")).find(function (candidate) {
      return candidate.getAttribute("action") === action;
    });
    const target = form ? form.querySelector("button") : queue.querySelector("h2");
    if (target) target.focus();
  }

  function reload() {
    if (pressing || loading) { pending = true; return; }
    pending = false;
    loading = true;
    const url = new URL(window.location.href);
    url.searchParams.set("fragment", "queue");
    fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        // A sign-in page after a redirect is no queue: the session has ended.
        if (!response.ok || response.redirected) throw new Error(String(response.status));
        return response.text();
      })
      .then(function (html) {
        const fresh = new DOMParser().parseFromString(html, "text/html").getElementById("queue");
        const current = document.getElementById("queue");
        if (!fresh || !current) throw new Error("no queue");
        const focused = focusedButton();
        current.replaceWith(document.importNode(fresh, true));
        refocus(focused);
        say("success", texts.updated.replace("%(time)s", clock()));
      })
      .catch(function () { say("warning", texts.paused); })
      .finally(function () {
        loading = false;
        if (pending) reload();
      });
  }

  let reconnecting = false;

  function connect() {
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(scheme + "//" + window.location.host + status.dataset.socket);
    socket.addEventListener("open", function () {
      // The server accepts first and may then refuse at once: live only once it stays open.
      setTimeout(function () {
        if (socket.readyState !== WebSocket.OPEN) return;
        wait = FIRST_WAIT_MS;
        say("", texts.live);
        // Whatever changed while the socket was down.
        if (reconnecting) reload();
      }, 300);
    });
    socket.addEventListener("message", function (event) {
      let message;
      try { message = JSON.parse(event.data); } catch (error) { return; }
      if (message.type === "queue_changed" || message.type === "walk_in_changed") reload();
    });
    socket.addEventListener("close", function (event) {
      if (event.code === 4403) {
        // Not (or no longer) allowed here: trying again would not help.
        say("warning", texts.refused);
        return;
      }
      say("warning", texts.paused);
      reconnecting = true;
      setTimeout(connect, wait);
      wait = Math.min(wait * 2, LONGEST_WAIT_MS);
    });
  }

  connect();
})();
