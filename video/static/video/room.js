/*
 * The video call page (video/templates/video/room.html), for the patient and the clinician.
 * No framework and nothing from the internet; every text shown comes from the page.
 *
 * Steps: check the camera and microphone (preview, microphone level), Join (open the
 * signalling WebSocket, video/consumers.py), then the lobby or the call, chat, hang up.
 *
 * Who offers (the signalling protocol is video/events.py; messages carry no call id, so only
 * one side ever offers):
 *   - The PATIENT makes the offer: when it is let in ("admitted"), and whenever the clinician
 *     (re)joins while it is let in ("peer_joined"). A second "admitted" while a connection is
 *     already under way changes nothing (events may arrive twice). A connection that fails is
 *     offered again from scratch.
 *   - The CLINICIAN only answers: each "offer" replaces its RTCPeerConnection with a new one;
 *     "peer_left", "sent_to_lobby" and "ended" close it.
 *   - Either side starts afresh on "welcome" (a reconnected WebSocket): the other side was
 *     told "peer_left" and the patient offers again once it is told where it stands.
 * ICE candidates that arrive before the remote description are held until it is set.
 * Incoming messages are handled one at a time, in order (the SDP steps are asynchronous).
 *
 * For tests: window.bmaCall is the live state ({role, state, pc, admitted, quality, ...}).
 */
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("call-config").textContent);
  const texts = config.texts;
  const role = config.role;
  const $ = (id) => document.getElementById(id);

  const call = {
    role: role,
    state: "check", // check, connecting, waiting, in_call, ended, left, error
    pc: null,
    socket: null,
    admitted: false, // patient: let in; clinician: the patient is let in
    patientWaiting: false,
    peerPresent: false,
    iceServers: [],
    localStream: null,
    quality: null, // {level, rtt, loss}
    events: [], // the types of the events received, for tests and debugging
    offers: 0,
  };
  window.bmaCall = call;

  let pendingCandidates = [];
  let inbox = Promise.resolve();
  let reconnectDelay = 1000;
  let qualityTimer = null;
  let lastLoss = null;
  let meterContext = null;

  function say(text, kind) {
    const status = $("call-status");
    status.textContent = text;
    status.className = "notice" + (kind ? " " + kind : "");
  }

  // ---- Camera and microphone check ------------------------------------------------------

  async function getMedia() {
    const video = { width: { ideal: 640 }, height: { ideal: 480 }, facingMode: "user" };
    try {
      return { stream: await navigator.mediaDevices.getUserMedia({ audio: true, video: video }) };
    } catch (error) {
      if (error.name !== "NotFoundError" && error.name !== "OverconstrainedError") throw error;
    }
    // One of the two may be missing: take what there is.
    for (const [constraints, note] of [
      [{ audio: true }, texts.check_audio_only],
      [{ video: video }, texts.check_video_only],
    ]) {
      try {
        return { stream: await navigator.mediaDevices.getUserMedia(constraints), note: note };
      } catch (error) {
        if (error.name !== "NotFoundError" && error.name !== "OverconstrainedError") throw error;
      }
    }
    const none = new Error("no device");
    none.name = "NotFoundError";
    throw none;
  }

  async function checkDevices() {
    $("check-button").disabled = true;
    say(texts.checking);
    stopLocalMedia();
    try {
      if (!navigator.mediaDevices || !window.RTCPeerConnection) {
        say(texts.unsupported, "error");
        return;
      }
      const { stream, note } = await getMedia();
      call.localStream = stream;
      $("preview").srcObject = stream;
      $("local-video").srcObject = stream;
      showMicLevel(stream);
      say(note || texts.check_ok, note ? "" : "success");
      joinable = true;
    } catch (error) {
      const refused = error.name === "NotAllowedError" || error.name === "SecurityError";
      const busy = error.name === "NotReadableError" || error.name === "AbortError";
      say(refused ? texts.check_refused : busy ? texts.check_busy : texts.check_no_device, "error");
      // Joining without a camera or microphone still gives the other side's picture and
      // sound, and the chat.
      joinable = !!window.RTCPeerConnection;
    } finally {
      updateJoin();
      $("check-button").disabled = false;
      $("check-button").textContent = texts.check_again;
      updateMediaButtons();
    }
  }

  function showMicLevel(stream) {
    if (!stream.getAudioTracks().length || !window.AudioContext) return;
    meterContext = new AudioContext();
    const analyser = meterContext.createAnalyser();
    analyser.fftSize = 512;
    meterContext.createMediaStreamSource(stream).connect(analyser);
    const samples = new Uint8Array(analyser.fftSize);
    const meter = $("mic-level");
    const context = meterContext;
    (function draw() {
      if (context.state === "closed") return;
      analyser.getByteTimeDomainData(samples);
      let sum = 0;
      for (const sample of samples) sum += ((sample - 128) / 128) ** 2;
      meter.value = Math.min(1, Math.sqrt(sum / samples.length) * 4);
      requestAnimationFrame(draw);
    })();
  }

  function stopLocalMedia() {
    if (call.localStream) call.localStream.getTracks().forEach((track) => track.stop());
    call.localStream = null;
    if (meterContext) meterContext.close();
    meterContext = null;
  }

  function track(kind) {
    return call.localStream ? call.localStream.getTracks().find((t) => t.kind === kind) : null;
  }

  function updateMediaButtons() {
    const audio = track("audio");
    const video = track("video");
    const mute = $("mute-button");
    const camera = $("camera-button");
    mute.disabled = !audio;
    camera.disabled = !video;
    mute.textContent = audio && !audio.enabled ? texts.unmute : texts.mute;
    mute.setAttribute("aria-pressed", String(Boolean(audio && !audio.enabled)));
    camera.textContent = video && !video.enabled ? texts.camera_on : texts.camera_off;
    camera.setAttribute("aria-pressed", String(Boolean(video && !video.enabled)));
  }

  function toggle(kind) {
    const local = track(kind);
    if (local) local.enabled = !local.enabled;
    updateMediaButtons();
  }

  // ---- Before the room opens: a countdown, and Join waits for it -----------------------

  let joinable = false; // the device check has run (and the browser can make calls)
  const opensAt = Date.now() + (config.opens_in || 0) * 1000;
  let countdown = null;

  function early() {
    return Date.now() < opensAt;
  }

  function updateJoin() {
    $("join-button").disabled = !joinable || early();
  }

  function clock(seconds) {
    const hours = Math.floor(seconds / 3600);
    const minutes = Math.floor((seconds % 3600) / 60);
    const rest = String(seconds % 60).padStart(2, "0");
    return hours ? `${hours}:${String(minutes).padStart(2, "0")}:${rest}` : `${minutes}:${rest}`;
  }

  function showWait() {
    const left = Math.ceil((opensAt - Date.now()) / 1000);
    const note = $("opens-in");
    if (left <= 0) {
      note.hidden = true;
      if (countdown) clearInterval(countdown);
      countdown = null;
      say(texts.room_open, "success");
      updateJoin();
      return;
    }
    note.hidden = false;
    note.textContent = texts.opens_in.replace("%(time)s", clock(left));
  }

  if (early()) {
    showWait();
    countdown = setInterval(showWait, 1000);
  }

  // ---- Signalling -----------------------------------------------------------------------

  function join() {
    $("device-check").hidden = true;
    $("call").hidden = false;
    if (meterContext) meterContext.close(); // the meter is for the check only
    meterContext = null;
    connect();
  }

  function connect() {
    call.state = "connecting";
    say(texts.connecting);
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(scheme + "//" + location.host + config.socket);
    call.socket = socket;
    socket.onmessage = (message) => {
      let event;
      try {
        event = JSON.parse(message.data);
      } catch (error) {
        return;
      }
      inbox = inbox.then(() => handle(event)).catch((error) => console.error(error));
    };
    socket.onclose = (closing) => {
      if (socket !== call.socket) return;
      call.socket = null;
      if (["ended", "left", "error"].includes(call.state)) return;
      if (closing.code >= 4000 && closing.code < 5000) {
        // Refused (video/consumers.py CLOSE_CODES: who may enter, when, 4429 one connection
        // too many for the room or the join link, 4503 video unavailable): the "error" event
        // said why, and "Join again" is offered.
        finish("error");
        return;
      }
      closePeer();
      call.state = "connecting";
      say(texts.reconnecting, "error");
      setTimeout(connect, reconnectDelay);
      reconnectDelay = Math.min(reconnectDelay * 2, 10000);
    };
  }

  function send(message) {
    if (call.socket && call.socket.readyState === WebSocket.OPEN) {
      call.socket.send(JSON.stringify(message));
    }
  }

  async function handle(event) {
    call.events.push(event.type);
    switch (event.type) {
      case "welcome":
        reconnectDelay = 1000;
        call.iceServers = event.ice_servers || [];
        closePeer();
        break;
      case "waiting":
        call.admitted = false;
        closePeer();
        enter("waiting");
        break;
      case "admitted":
        call.admitted = true;
        call.patientWaiting = false;
        if (role === "patient") {
          if (!call.pc) await offer();
        } else {
          enter("in_call");
        }
        break;
      case "patient_waiting":
        call.patientWaiting = true;
        call.peerPresent = true;
        call.admitted = false;
        enter("waiting");
        break;
      case "sent_to_lobby":
        call.admitted = false;
        call.patientWaiting = role === "clinician";
        closePeer();
        enter("waiting", role === "patient" ? texts.sent_to_lobby : null);
        break;
      case "peer_joined":
        call.peerPresent = true;
        if (role === "patient") {
          if (call.admitted) await offer(); // the clinician has no connection yet
          else enter("waiting", texts.clinician_here);
        } else {
          enter(call.admitted ? "in_call" : "waiting");
        }
        break;
      case "peer_left":
        call.peerPresent = false;
        closePeer();
        if (role === "clinician") call.patientWaiting = false;
        enter(call.state, role === "patient" ? texts.clinician_left : texts.patient_left);
        break;
      case "offer":
        if (role === "clinician") await answer(event.sdp);
        break;
      case "answer":
        if (call.pc && call.pc.signalingState === "have-local-offer") {
          await call.pc.setRemoteDescription({ type: "answer", sdp: event.sdp });
          await flushCandidates();
        }
        break;
      case "ice":
        await addCandidate(event.candidate);
        break;
      case "chat":
        showChat(event);
        break;
      case "ended":
        finish("ended");
        break;
      case "error":
        say(event.message, "error");
        break;
    }
  }

  // What the page says and offers in each state.
  function enter(state, note) {
    if (["ended", "left", "error"].includes(call.state)) return;
    call.state = state;
    if (role === "clinician") {
      $("admit-button").hidden = !call.patientWaiting || call.admitted;
      $("lobby-button").hidden = !call.admitted;
    }
    if (note) {
      say(note);
    } else if (call.state === "waiting") {
      const waitingText = call.patientWaiting ? texts.patient_waiting : texts.no_patient;
      say(role === "patient" ? texts.waiting : waitingText);
    } else if (call.state === "in_call") {
      say(mediaText());
    }
  }

  function mediaText() {
    if (call.pc && call.pc.connectionState === "connected") return texts.in_call;
    if (call.pc) return texts.media_connecting;
    return role === "patient" ? texts.wait_for_clinician : texts.wait_for_patient;
  }

  function finish(state) {
    closePeer();
    stopLocalMedia();
    call.state = state;
    if (state !== "error") say(state === "ended" ? texts.ended : texts.left);
    $("call").hidden = true;
    $("after-call").hidden = state === "ended";
    if (call.socket) call.socket.close(1000);
    call.socket = null;
  }

  // ---- WebRTC ---------------------------------------------------------------------------

  function newPeer() {
    closePeer();
    const pc = new RTCPeerConnection({ iceServers: call.iceServers });
    call.pc = pc;
    pendingCandidates = [];
    const remote = new MediaStream();
    $("remote-video").srcObject = remote;
    pc.ontrack = (event) => {
      if (pc !== call.pc) return;
      remote.addTrack(event.track);
    };
    pc.onicecandidate = (event) => {
      if (pc !== call.pc) return;
      send({ type: "ice", candidate: event.candidate ? event.candidate.toJSON() : null });
    };
    pc.onconnectionstatechange = () => {
      if (pc !== call.pc) return;
      if (call.state === "in_call") say(mediaText());
      if (pc.connectionState === "connected") startQuality();
      if (pc.connectionState === "failed" && role === "patient" && call.admitted) {
        say(texts.media_failed, "error");
        inbox = inbox.then(() => offer()).catch((error) => console.error(error));
      }
    };
    return pc;
  }

  function closePeer() {
    if (call.pc) call.pc.close();
    call.pc = null;
    pendingCandidates = [];
    stopQuality();
    $("remote-video").srcObject = null;
  }

  async function offer() {
    const pc = newPeer();
    call.offers += 1;
    enter("in_call");
    for (const kind of ["audio", "video"]) {
      const local = track(kind);
      if (local) pc.addTransceiver(local, { direction: "sendrecv", streams: [call.localStream] });
      else pc.addTransceiver(kind, { direction: "recvonly" });
    }
    await pc.setLocalDescription(await pc.createOffer());
    send({ type: "offer", sdp: pc.localDescription.sdp });
  }

  async function answer(sdp) {
    const pc = newPeer();
    enter("in_call");
    await pc.setRemoteDescription({ type: "offer", sdp: sdp });
    for (const transceiver of pc.getTransceivers()) {
      const local = track(transceiver.receiver.track.kind);
      if (local) {
        await transceiver.sender.replaceTrack(local);
        if (transceiver.sender.setStreams) transceiver.sender.setStreams(call.localStream);
        transceiver.direction = "sendrecv";
      }
    }
    await pc.setLocalDescription(await pc.createAnswer());
    send({ type: "answer", sdp: pc.localDescription.sdp });
    await flushCandidates();
  }

  async function addCandidate(candidate) {
    const pc = call.pc;
    if (!pc) return;
    if (!pc.remoteDescription) {
      pendingCandidates.push(candidate);
      return;
    }
    try {
      await pc.addIceCandidate(candidate || undefined);
    } catch (error) {
      // A candidate of a connection that has since been replaced: nothing to do.
    }
  }

  async function flushCandidates() {
    const waiting = pendingCandidates;
    pendingCandidates = [];
    for (const candidate of waiting) await addCandidate(candidate);
  }

  // ---- Connection quality: round-trip time and packet loss, every two seconds -----------

  function startQuality() {
    if (qualityTimer) return;
    lastLoss = null;
    qualityTimer = setInterval(measureQuality, 2000);
    measureQuality();
  }

  function stopQuality() {
    clearInterval(qualityTimer);
    qualityTimer = null;
    call.quality = null;
    $("quality").hidden = true;
  }

  async function measureQuality() {
    const pc = call.pc;
    if (!pc || pc.connectionState !== "connected") return;
    const report = await pc.getStats();
    let rtt = null;
    let lost = 0;
    let received = 0;
    let bytesReceived = 0;
    report.forEach((stats) => {
      if (stats.type === "transport" && stats.selectedCandidatePairId) {
        const pair = report.get(stats.selectedCandidatePairId);
        if (pair && typeof pair.currentRoundTripTime === "number") rtt = pair.currentRoundTripTime;
      } else if (stats.type === "inbound-rtp") {
        lost += stats.packetsLost || 0;
        received += stats.packetsReceived || 0;
        bytesReceived += stats.bytesReceived || 0;
      }
    });
    // Loss since the last measure, not since the start of the call.
    const previous = lastLoss || { lost: 0, received: 0 };
    lastLoss = { lost: lost, received: received };
    const newLost = Math.max(0, lost - previous.lost);
    const newReceived = Math.max(0, received - previous.received);
    const loss = newLost + newReceived > 0 ? newLost / (newLost + newReceived) : 0;
    let level = "good";
    if ((rtt !== null && rtt > 0.4) || loss > 0.08) level = "poor";
    else if ((rtt !== null && rtt > 0.15) || loss > 0.02) level = "fair";
    if (pc !== call.pc) return;
    call.quality = { level: level, rtt: rtt, loss: loss, bytesReceived: bytesReceived };
    const shown = $("quality");
    shown.hidden = false;
    shown.className = "quality " + level;
    shown.textContent = texts["quality_" + level];
  }

  // ---- Chat -----------------------------------------------------------------------------

  function showChat(event) {
    const item = document.createElement("li");
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = event.role === role ? texts.you : event.name;
    const text = document.createElement("span");
    text.textContent = event.text;
    const at = document.createElement("time");
    at.className = "at";
    at.dateTime = event.at;
    const moment = new Date(event.at);
    const locale = document.documentElement.lang === "th" ? "th-TH" : "en-GB";
    at.textContent = isNaN(moment)
      ? ""
      : moment.toLocaleTimeString(locale, { hour: "2-digit", minute: "2-digit", timeZone: "Asia/Bangkok" });
    item.append(who, text, at);
    const log = $("chat-log");
    log.append(item);
    log.scrollTop = log.scrollHeight;
  }

  // ---- Buttons --------------------------------------------------------------------------

  $("check-button").addEventListener("click", checkDevices);
  $("join-button").addEventListener("click", join);
  $("mute-button").addEventListener("click", () => toggle("audio"));
  $("camera-button").addEventListener("click", () => toggle("video"));
  $("chat-form").addEventListener("submit", (submitted) => {
    submitted.preventDefault();
    const input = $("chat-text");
    const text = input.value.trim();
    if (!text) return;
    send({ type: "chat", text: text });
    input.value = "";
  });
  if (role === "clinician") {
    $("admit-button").addEventListener("click", () => send({ type: "admit" }));
    $("lobby-button").addEventListener("click", () => send({ type: "lobby" }));
    $("end-button").addEventListener("click", () => {
      if (window.confirm(texts.confirm_end)) send({ type: "end" });
    });
  } else {
    $("leave-button").addEventListener("click", () => {
      send({ type: "leave" });
      finish("left");
    });
  }
  window.addEventListener("pagehide", () => {
    if (call.socket) send({ type: "leave" });
  });
})();
