// The cabin's touchscreen page: it renders the view the station pushes and keeps no state of
// its own (nothing is stored in the browser). The same socket carries the face-to-face call:
// the station says `call` when a GP is there, this page offers its camera and microphone, and
// the GP's answer and candidates come back as `signal`.

const catalogues = {};
const page = { lang: "fr", view: null, socket: null, retryMs: 500, pc: null, stream: null };

const $ = (id) => document.getElementById(id);

async function loadCatalogue(code) {
  if (!catalogues[code]) {
    const response = await fetch(`/static/i18n/${code}.json`, { cache: "no-store" });
    catalogues[code] = await response.json();
  }
}

function t(key) {
  return catalogues[page.lang]?.[key] ?? catalogues.fr?.[key] ?? "";
}

function render() {
  document.documentElement.lang = page.lang;
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  $("gp-video").setAttribute("aria-label", t("gp_video"));
  $("self-video").setAttribute("aria-label", t("self_video"));
  const view = page.view;
  if (!view) {
    $("state-title").textContent = t("connection_lost");
    $("state-text").textContent = "";
    return;
  }
  $("site-name").textContent = view.site?.name ?? "";
  document.body.dataset.state = view.state;
  $("state-title").textContent = t(`state.${view.state}`);
  $("state-text").textContent = t(`state.${view.state}.text`);
  const inCall = ["in_consultation", "reconnecting"].includes(view.state) && page.pc !== null;
  $("call").hidden = !inCall;
  if (!["in_consultation", "reconnecting"].includes(view.state)) hangup();
}

function send(message) {
  if (page.socket?.readyState === WebSocket.OPEN) page.socket.send(JSON.stringify(message));
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/api/events`);
  page.socket = socket;
  socket.onopen = () => { page.retryMs = 500; send({ type: "ready" }); };
  socket.onmessage = (event) => {
    let message;
    try { message = JSON.parse(event.data); } catch { console.warn("kiosk: a message that is not JSON"); return; }
    handle(message).catch((error) => console.warn("kiosk: message failed", error));
  };
  socket.onclose = () => {
    page.view = null;
    hangup();
    render();
    setTimeout(connect, page.retryMs);
    page.retryMs = Math.min(page.retryMs * 2, 5000);
  };
}

async function handle(message) {
  if (message.type === "view") { page.view = message.view; render(); }
  else if (message.type === "call") await startCall(message.ice_servers ?? []);
  else if (message.type === "signal" && message.leg === "face") await onSignal(message);
  else if (message.type === "hangup") { hangup(); render(); }
}

async function startCall(iceServers) {
  hangup();
  const stream = await navigator.mediaDevices.getUserMedia({
    video: true, audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
  });
  const pc = new RTCPeerConnection({ iceServers });
  page.pc = pc;
  page.stream = stream;
  stream.getTracks().forEach((track) => pc.addTrack(track, stream));
  $("self-video").srcObject = stream;
  pc.ontrack = (event) => { $("gp-video").srcObject = event.streams[0] ?? new MediaStream([event.track]); };
  pc.onicecandidate = (event) => {
    if (event.candidate && page.pc === pc) send({ type: "signal", leg: "face", candidate: event.candidate.toJSON() });
  };
  await pc.setLocalDescription(await pc.createOffer());
  send({ type: "signal", leg: "face", description: { type: pc.localDescription.type, sdp: pc.localDescription.sdp } });
  render();
}

async function onSignal(message) {
  const pc = page.pc;
  if (!pc) return;
  if (message.description) await pc.setRemoteDescription(message.description);
  else if (message.candidate?.candidate) await pc.addIceCandidate(message.candidate);
}

function hangup() {
  if (page.pc) { page.pc.close(); page.pc = null; }
  if (page.stream) { page.stream.getTracks().forEach((track) => track.stop()); page.stream = null; }
  $("gp-video").srcObject = null;
  $("self-video").srcObject = null;
}

function countFrames(video) {
  const tick = () => {
    video.dataset.frames = String(Number(video.dataset.frames) + 1);
    video.requestVideoFrameCallback(tick);
  };
  video.requestVideoFrameCallback(tick);
}

async function main() {
  await Promise.all([loadCatalogue("fr"), loadCatalogue("en")]);
  $("language").addEventListener("click", () => { page.lang = page.lang === "fr" ? "en" : "fr"; render(); });
  countFrames($("gp-video"));
  render();
  connect();
}

main();
