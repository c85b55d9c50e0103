// The cabin's touchscreen page: it renders the view the station pushes and keeps no state of
// its own (nothing is stored in the browser; what is typed lives in memory until the screen
// changes). The same socket carries the face-to-face call: the station says `call` when a GP is
// there, this page offers its camera and microphone, and the GP's answer and candidates come
// back as `signal`.

import { $, countFrames } from "/ui/dom.js";
import { has, init as initI18n, language, onLanguageChange, otherLanguage, setLanguage, t } from "/ui/i18n.js";
import { buildScreen, clock, showsBoard, touchable } from "./screens.js";

const IDLE_WARNING_S = 30; // the inactivity warning shows this long before the station resets
const TOUCH_EVERY_MS = 2000;

const ERRORS = { representative_required: "eligibility.representative.required" };
const page = {
  view: null, viewAt: 0, socket: null, retryMs: 500, pc: null, stream: null,
  entry: "", name: "", flash: null, idleDeadline: 0, lastTouch: 0,
};

// The cabin's clock is Paris time, whatever the language: English reads it as in Britain.
const locale = () => (language() === "fr" ? "fr-FR" : "en-GB");

function dateTime(iso) {
  return new Date(iso).toLocaleString(locale(), {
    weekday: "long", day: "numeric", month: "long", hour: "2-digit", minute: "2-digit", timeZone: "Europe/Paris",
  });
}

function time(iso) {
  return new Date(iso).toLocaleTimeString(locale(), { hour: "2-digit", minute: "2-digit", timeZone: "Europe/Paris" });
}

// Requests carry the station's key cookie (HttpOnly, set by /enter; docs/design.md, "The kiosk
// key"): without it the API answers 401.
async function post(path, body = {}) {
  page.flash = null;
  touch({ notify: false });
  let response;
  try {
    response = await fetch(path, {
      method: "POST", cache: "no-store", credentials: "same-origin",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
  } catch {
    page.flash = { key: "error.generic" };
    render();
    return null;
  }
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    // A refused code shows from the view; other refusals get a short message here.
    if (path !== "/api/checkin") page.flash = { key: ERRORS[data.error] ?? "error.generic" };
    render();
    return null;
  }
  return data;
}

const ui = {
  dateTime, time, post,
  redraw() { render(); }, // a screen's own state changed (the audio calibration's pick and entry)
  elapsed() { return (performance.now() - page.viewAt) / 1000; },
  get entry() { return page.entry; },
  get name() { return page.name; },
  type(digit) { if (page.entry.length < 12) page.entry += digit; touch(); render(); },
  erase() { page.entry = page.entry.slice(0, -1); touch(); render(); },
  typeName(letter) { if (page.name.length < 60) page.name += letter; touch(); render(); },
  eraseName() { page.name = page.name.slice(0, -1); touch(); render(); },
  async submitCode() {
    const code = page.entry;
    page.entry = "";
    render();
    await post("/api/checkin", { code });
  },
  async selfTest(device) {
    const result = await post("/api/maintenance/self-test", { device });
    if (result) {
      page.flash = { key: result.passed ? "device.selftest.passed" : "device.selftest.failed",
                     args: { device, error: result.error ?? "" } };
      render();
    }
  },
  async testPrint() {
    const result = await post("/api/maintenance/test-print");
    if (result) {
      page.flash = { key: result.printed ? "printer.test.done" : "printer.test.failed", args: { error: result.error ?? "" } };
      render();
    }
  },
};

// Someone used the screen: push the inactivity deadline back, and tell the station (at most
// every TOUCH_EVERY_MS; an action posted to the station already counts as a touch there).
function touch({ notify = true, now = false } = {}) {
  if (!touchable(page.view)) return;
  page.idleDeadline = performance.now() + (page.view.inactivity_s ?? 0) * 1000;
  $("idle").hidden = true;
  const at = performance.now();
  if (notify && (now || at - page.lastTouch > TOUCH_EVERY_MS)) {
    page.lastTouch = at;
    fetch("/api/touch", { method: "POST", cache: "no-store", credentials: "same-origin" }).catch(() => {});
  }
}

// The static texts (data-i18n in index.html) are the runtime's; this draws what the view says.
function render() {
  const view = page.view;
  if (!view) {
    delete document.body.dataset.state;
    $("state-title").textContent = t("connection_lost");
    $("state-text").textContent = "";
    $("screen").replaceChildren();
    $("call").hidden = true;
    return;
  }
  $("site-name").textContent = view.site?.name ?? "";
  document.body.dataset.state = view.state;
  const boardShown = showsBoard(view);
  $("state-title").textContent = boardShown ? t("board.title") : t(`state.${view.state}`);
  // Not every state has a line under its title (eligibility, printing and cleaning say it all below).
  const text = `state.${view.state}.text`;
  $("state-text").textContent = !boardShown && has(text) ? t(text, { phone: view.site?.phone ?? "" }) : "";
  $("screen").replaceChildren(...buildScreen(view, ui));
  $("flash").textContent = page.flash ? t(page.flash.key, page.flash.args) : "";
  $("flash").hidden = page.flash === null;
  const live = ["in_consultation", "reconnecting"].includes(view.state);
  $("call").hidden = !(live && page.pc !== null);
  if (!live) hangup();
  tick();
}

function onView(view) {
  const changed = page.view?.state !== view.state;
  page.view = view;
  page.viewAt = performance.now();
  if (changed) {
    // What was typed belongs to one screen: it goes when the screen goes.
    page.entry = "";
    page.name = "";
    page.flash = null;
    page.idleDeadline = touchable(view) ? performance.now() + (view.inactivity_s ?? 0) * 1000 : 0;
    $("idle").hidden = true;
  }
  render();
}

function tick() {
  const elapsed = (performance.now() - page.viewAt) / 1000;
  let again = false;
  document.querySelectorAll("[data-tick]").forEach((node) => {
    const seconds = Math.max(0, Number(node.dataset.base) + Number(node.dataset.dir) * elapsed);
    if (seconds === 0 && node.dataset.rerender !== undefined) again = true;
    const over = seconds === 0 && node.dataset.over;
    node.textContent = over ? t(node.dataset.over) : t(node.dataset.tick, { time: clock(seconds), seconds: Math.round(seconds) });
  });
  if (again) { render(); return; }
  if (page.idleDeadline && touchable(page.view)) {
    const left = (page.idleDeadline - performance.now()) / 1000;
    const warn = left <= Math.min(IDLE_WARNING_S, (page.view.inactivity_s ?? 0) / 3);
    $("idle").hidden = !warn;
    $("idle-text").textContent = t("idle.text", { seconds: Math.max(0, Math.round(left)) });
  } else {
    $("idle").hidden = true;
  }
}

function send(message) {
  if (page.socket?.readyState === WebSocket.OPEN) page.socket.send(JSON.stringify(message));
}

function connect() {
  const socket = new WebSocket(`ws://${location.host}/api/events`);
  page.socket = socket;
  socket.onopen = () => { page.retryMs = 500; send({ type: "ready" }); };
  socket.onmessage = (event) => {
    let message;
    try { message = JSON.parse(event.data); } catch { console.warn("kiosk: a message that is not JSON"); return; }
    handle(message).catch((error) => console.warn("kiosk: message failed", error));
  };
  socket.onclose = () => {
    page.view = null;
    page.entry = "";
    page.name = "";
    hangup();
    render();
    setTimeout(connect, page.retryMs);
    page.retryMs = Math.min(page.retryMs * 2, 5000);
  };
}

async function handle(message) {
  if (message.type === "view") onView(message.view);
  else if (message.type === "call" && !page.view?.on_board) await startCall(message.ice_servers ?? [], message.ice_transport_policy);
  else if (message.type === "signal" && message.leg === "face") await onSignal(message);
  else if (message.type === "hangup") { hangup(); render(); }
}

// `policy` "relay": TURN candidates only, as the hub says (docs/design.md, "TURN").
async function startCall(iceServers, policy) {
  hangup();
  const stream = await navigator.mediaDevices.getUserMedia({
    video: true, audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
  });
  const pc = new RTCPeerConnection({ iceServers, iceTransportPolicy: policy === "relay" ? "relay" : "all" });
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

// The kiosk opens no other window: the policy blocks pop-ups, and the page refuses them too.
function lockDown() {
  Object.defineProperty(window, "open", { value: () => null, writable: false, configurable: false });
  document.addEventListener("contextmenu", (event) => event.preventDefault());
  document.addEventListener("dragstart", (event) => event.preventDefault());
  // The page has no links: a link that finds its way in neither navigates nor downloads.
  document.addEventListener("click", (event) => { if (event.target.closest?.("a")) event.preventDefault(); }, true);
}

async function main() {
  lockDown();
  try {
    await initI18n("/static/i18n/");
  } catch (error) {
    // Without its catalogues the page still works: every text shows as its key.
    console.warn("kiosk: the text catalogues did not load", error);
  }
  onLanguageChange(render);
  $("language").addEventListener("click", () => {
    setLanguage(otherLanguage()).catch((error) => console.warn("kiosk: language switch failed", error));
  });
  $("idle-stay").addEventListener("click", () => touch({ now: true }));
  document.addEventListener("pointerdown", () => touch(), { capture: true });
  window.addEventListener("beforeunload", () => { page.entry = ""; page.name = ""; });
  countFrames($("gp-video"));
  render();
  setInterval(tick, 1000);
  connect();
}

main();
