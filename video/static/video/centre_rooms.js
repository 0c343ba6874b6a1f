/*
 * Today's video visits at a centre (video/templates/video/centre_rooms.html): asks the JSON
 * API (GET /api/v1/staff/centres/<n>/video/rooms, signed in by the session cookie) every few
 * seconds and lists each visit with who is waiting, linking to its room. Texts come from the
 * page.
 */
(function () {
  "use strict";

  const EVERY_MS = 5000;
  const texts = JSON.parse(document.getElementById("page-texts").textContent);
  const list = document.getElementById("rooms");
  const status = document.getElementById("rooms-status");
  const language = list.dataset.language;
  const locale = language === "th" ? "th-TH" : "en-GB";

  function clock(moment) {
    return new Date(moment).toLocaleTimeString(locale, {
      hour: "2-digit",
      minute: "2-digit",
      timeZone: "Asia/Bangkok",
    });
  }

  function where(row) {
    if (row.ended_at) return texts.ended.replace("%(time)s", clock(row.ended_at));
    if (row.admitted_at) return texts.in_call.replace("%(time)s", clock(row.admitted_at));
    if (row.waiting_since) return texts.waiting.replace("%(time)s", clock(row.waiting_since));
    return texts.not_here;
  }

  let shown = null; // what the list shows now, to leave it alone when nothing changed

  function show(rows) {
    status.className = "notice";
    status.textContent = rows.length
      ? texts.updated.replace("%(time)s", clock(new Date()))
      : texts.none;
    // Rebuilding the list under someone's finger would swallow their click on a link.
    const signature = JSON.stringify(rows);
    if (signature === shown) return;
    shown = signature;
    const items = rows.map((row) => {
      const item = document.createElement("li");
      item.className = "card" + (row.waiting_since && !row.ended_at ? " waiting" : "");
      item.dataset.appointment = row.appointment_id;
      const time = document.createElement("span");
      time.className = "time";
      time.textContent = clock(row.start) + "–" + clock(row.end);
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = row.patient_first_name;
      const state = document.createElement("span");
      state.className = "state";
      state.textContent = where(row) + " · " + (texts["status_" + row.status] || row.status);
      const link = document.createElement("a");
      link.href = row.room_url + "?lang=" + encodeURIComponent(language);
      link.textContent = texts.open_room;
      item.append(time, name, state, link);
      return item;
    });
    list.replaceChildren(...items);
  }

  async function refresh() {
    try {
      const response = await fetch(list.dataset.api, {
        credentials: "same-origin",
        headers: { Accept: "application/json", "Accept-Language": language },
      });
      const body = await response.json();
      if (!response.ok) {
        status.className = "notice error";
        status.textContent = body.message || texts.failed;
      } else {
        show(body);
      }
    } catch (error) {
      status.className = "notice error";
      status.textContent = texts.failed;
    }
    setTimeout(refresh, EVERY_MS);
  }

  refresh();
})();
