// The GP console (docs/design.md, "The GP console"): login and its second factor, the waiting room, and
// one consultation at a time (consultation.js). Messages follow protocol/hub.py (the hub's /ws/gp) and
// protocol/control.py (the cabin's data channels). Nothing of a patient is stored in the browser (no
// sessionStorage or IndexedDB; localStorage holds only the GP's glucose unit, glucose.js), and
// nothing of a patient outlives `ended`.

import { $, clear, countFrames, el } from "/ui/dom.js";
import { init as initI18n, onLanguageChange, otherLanguage, switchLanguage, t } from "/ui/i18n.js";
import * as api from "./api.js";
import { hideNotice, renderNotice, showNotice as notice } from "./notice.js";
import { Consultation, errorText } from "./consultation.js";
import { HubSocket } from "./hub.js";
import { MySessions } from "./sessions.js";
import { WaitingRoom } from "./waiting.js";

// The catalogues first: every component renders text as soon as it is built.
try {
  await initI18n(new URL("./i18n/", import.meta.url), new URLSearchParams(location.search).get("lang") ?? "fr");
} catch (error) {
  console.warn("console: the text catalogues did not load", error);
}

const STATS_INTERVAL_MS = 2000;

const app = {
  me: null, // /api/me: {username, name, identity, stations, ice_servers, ice_transport_policy}
  ice: [], // the hub's ICE servers (welcome, else /api/me)
  icePolicy: "all", // "relay": TURN candidates only (docs/design.md, "TURN")
  hubState: "closed",
  login: { key: null, args: null, until: 0, busy: false },
  factor: { key: null, until: 0, busy: false }, // the code and set-up pages' message and rate limit
};

const hub = new HubSocket({
  onMessage: onHubMessage,
  onStatus: (state) => {
    app.hubState = state;
    renderHubStatus();
  },
  onClosed: async () => {
    let who;
    try {
      who = await api.me();
    } catch {
      return true; // the hub is unreachable: keep trying
    }
    if (who === null) {
      loggedOut("login.expired");
      return false;
    }
    return true;
  },
});

const waiting = new WaitingRoom({ onJoin: (patient) => consultation.join(patient) });

const sessions = new MySessions({ notify: showNotice });

const consultation = new Consultation({
  hubSend: (message) => hub.send(message),
  identity: () => app.me?.identity,
  iceServers: () => app.ice,
  icePolicy: () => app.icePolicy,
  notify: showNotice,
  onChange: () => {
    waiting.setBusy(consultation.active);
    $("logout-button").disabled = consultation.active; // end the consultation first
  },
});

// ---------- hub ----------

function onHubMessage(m) {
  switch (m.type) {
    case "welcome":
      hub.confirmed();
      app.ice = m.ice_servers ?? app.me?.ice_servers ?? [];
      app.icePolicy = m.ice_transport_policy ?? app.me?.ice_transport_policy ?? "all";
      consultation.onBoard = m.on_board === true; // a vehicle's hub: no face-to-face call
      document.body.dataset.onBoard = String(consultation.onBoard);
      consultation.rejoin();
      break;
    case "waiting_room":
      waiting.update(m.patients);
      break;
    case "signal":
      consultation.onSignal(m);
      break;
    case "station_offline":
      consultation.onStationOffline(m.station);
      break;
    case "station_back":
      consultation.onStationBack(m.station);
      break;
    case "error":
      if (!consultation.onHubError(m.code)) showNotice("error", ...errorText(m.code, m.message));
      break;
    default:
      break;
  }
}

// ---------- notices and header ----------

/** A notice by its text's key, drawn again in the new language when the GP switches. */
function showNotice(kind, key, args) {
  notice(kind, () => t(key, args));
}

function renderHubStatus() {
  $("hub-status").dataset.state = app.hubState;
  $("hub-status-text").textContent = t(`hub.${app.hubState}`);
}

function renderAll() {
  renderHubStatus();
  renderNotice();
  renderLogin();
  renderFactor();
  waiting.render();
  sessions.render();
  consultation.renderAll();
  $("lang-toggle").lang = otherLanguage();
  $("gp-name").textContent = app.me ? t("app.gp", { name: app.me.name ?? app.me.username ?? "" }) : "";
}

// ---------- login and views ----------

function showView(view) {
  document.body.dataset.view = view;
  $("login-view").hidden = view !== "login";
  $("code-view").hidden = view !== "code";
  $("enrol-view").hidden = view !== "enrol";
  if (view !== "enrol") clearEnrolment(); // the secret and recovery codes leave the page with the view
  $("console-view").hidden = view !== "console";
  $("logout-button").hidden = view !== "console";
  $("gp-name").hidden = view !== "console";
}

function renderLogin() {
  const { key, args, until, busy } = app.login;
  const remaining = until ? Math.ceil((until - Date.now()) / 1000) : 0;
  if (until && remaining <= 0) app.login = { key: null, args: null, until: 0, busy };
  const shown = app.login.key;
  const error = $("login-error");
  error.hidden = !shown;
  error.textContent = shown ? t(shown, { ...args, s: remaining }) : "";
  $("login-submit").disabled = remaining > 0 || busy;
}

function loginMessage(key, until = 0) {
  app.login = { key, args: {}, until, busy: false };
  renderLogin();
}

function enterConsole(me) {
  if (me.role === "coordinator") {
    location.replace(`/coordinator${location.search}`); // a coordinator's login opens her own console
    return;
  }
  if (me.role === "secretary") {
    location.replace(`/desk${location.search}`); // a secretary's login opens her desk on the vehicle's hub
    return;
  }
  if (me.role === "technician") {
    location.replace(`/fleet${location.search}`); // a technician's login opens the fleet page
    return;
  }
  app.me = me;
  app.ice = Array.isArray(me.ice_servers) ? me.ice_servers : [];
  app.icePolicy = me.ice_transport_policy === "relay" ? "relay" : "all";
  $("login-form").reset();
  app.login = { key: null, args: null, until: 0, busy: false };
  showView("console");
  renderAll();
  hub.start();
  sessions.load().catch((error) => console.warn("console: loading the sessions failed", error));
}

function loggedOut(reasonKey) {
  hub.stop();
  consultation.clear();
  waiting.clear();
  sessions.clear();
  app.me = null;
  showView("login");
  renderAll();
  loginMessage(reasonKey);
  $("login-username").focus();
}

// ---------- second factor ----------

function renderFactor() {
  const { key, until, busy } = app.factor;
  const remaining = until ? Math.ceil((until - Date.now()) / 1000) : 0;
  if (until && remaining <= 0) app.factor = { key: null, until: 0, busy };
  for (const name of ["code", "enrol"]) {
    const error = $(`${name}-error`);
    error.hidden = !app.factor.key;
    error.textContent = app.factor.key ? t(app.factor.key, { s: remaining }) : "";
    $(`${name}-submit`).disabled = remaining > 0 || busy;
  }
}

function factorMessage(key, until = 0) {
  app.factor = { key, until, busy: false };
  renderFactor();
}

function factorRefused(result) {
  if (result.reason === "rate_limited") factorMessage("login.rate_limited", Date.now() + result.retryAfter * 1000);
  else factorMessage(result.reason === "bad_code" ? "totp.bad_code" : `login.${result.reason}`);
}

function showFactorView(view) {
  app.factor = { key: null, until: 0, busy: false };
  showView(view);
  renderFactor();
}

function clearEnrolment() {
  $("enrol-qr").removeAttribute("src");
  $("enrol-secret").textContent = "";
  $("enrol-uri").textContent = "";
  clear($("recovery-list"));
  $("enrol-form").reset();
  $("enrol-form").hidden = false;
  $("recovery-card").hidden = true;
}

async function startEnrolment(required) {
  const result = await api.enrolSecondFactor();
  if (!result.ok) {
    loginMessage(`login.${result.reason === "network" ? "network" : "server"}`);
    return;
  }
  showFactorView("enrol");
  const { qr, secret, uri } = result.data;
  $("enrol-qr").src = qr;
  $("enrol-secret").textContent = secret;
  $("enrol-uri").textContent = uri;
  $("enrol-must").hidden = !required;
  $("enrol-skip").hidden = required;
  $("enrol-code").focus();
}

async function submitCode(input, send, onAccepted) {
  if (app.factor.busy) return;
  const code = $(input).value.trim();
  if (!code) {
    factorMessage("totp.missing");
    return;
  }
  app.factor.busy = true;
  renderFactor();
  const result = await send(code);
  app.factor.busy = false;
  $(input).value = "";
  if (!result.ok) {
    factorRefused(result);
    $(input).focus();
    return;
  }
  factorMessage(null);
  await onAccepted(result.data);
}

function showRecoveryCodes(data) {
  const codes = Array.isArray(data.recovery_codes) ? data.recovery_codes : [];
  $("recovery-list").replaceChildren(...codes.map((code) => el("li", { text: String(code) })));
  $("enrol-form").hidden = true;
  $("recovery-card").hidden = false;
  $("recovery-done").focus();
}

async function openConsole() {
  try {
    const me = await api.me();
    if (me) enterConsole(me);
    else loggedOut("login.cookie");
  } catch {
    loggedOut("login.network");
  }
}

async function cancelLogin() {
  await api.logout();
  loggedOut(null);
}

async function onLogin() {
  if (app.login.busy) return;
  const username = $("login-username").value.trim();
  const password = $("login-password").value;
  if (!username || !password) {
    loginMessage("login.missing");
    return;
  }
  app.login.busy = true;
  renderLogin();
  const result = await api.login(username, password);
  app.login.busy = false;
  if (!result.ok) {
    $("login-password").value = "";
    if (result.reason === "rate_limited") loginMessage("login.rate_limited", Date.now() + result.retryAfter * 1000);
    else loginMessage(`login.${result.reason}`);
    $(result.reason === "bad_login" ? "login-password" : "login-username").focus();
    return;
  }
  $("login-form").reset();
  if (result.next === "code") {
    showFactorView("code");
    $("code-input").focus();
  } else if (result.next === "enrol") await startEnrolment(result.required);
  else await openConsole();
}

async function onLogout() {
  if (consultation.active) return; // the button is off during a consultation
  hub.stop();
  await api.logout();
  loggedOut(null);
}

// ---------- start ----------

function bind() {
  const report = (what) => (error) => console.warn(`console: ${what} failed`, error);
  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    onLogin().catch(report("login"));
  });
  $("code-form").addEventListener("submit", (event) => {
    event.preventDefault();
    submitCode("code-input", api.verifySecondFactor, openConsole).catch(report("second factor"));
  });
  $("enrol-form").addEventListener("submit", (event) => {
    event.preventDefault();
    submitCode("enrol-code", api.confirmSecondFactor, showRecoveryCodes).catch(report("second factor set-up"));
  });
  $("code-cancel").addEventListener("click", () => cancelLogin().catch(report("logout")));
  $("enrol-skip").addEventListener("click", () => openConsole().catch(report("login")));
  $("recovery-done").addEventListener("click", () => openConsole().catch(report("login")));
  $("logout-button").addEventListener("click", () => onLogout().catch(report("logout")));
  $("lang-toggle").addEventListener("click", () => switchLanguage().catch(report("language switch")));
  $("notice-close").addEventListener("click", hideNotice);
  for (const id of ["face-video", "otoscope-video", "dermatoscope-video", "self-video"]) countFrames($(id));
  onLanguageChange(renderAll);
  window.addEventListener("pagehide", () => {
    hub.stop();
    consultation.clear();
  });
  window.addEventListener("unhandledrejection", (event) => {
    console.warn("console: unhandled rejection", event.reason);
    event.preventDefault();
  });
  setInterval(() => {
    waiting.tick();
    consultation.tick();
    if (app.login.until) renderLogin();
    if (app.factor.until) renderFactor();
  }, 1000);
  setInterval(() => consultation.sampleQuality().catch(report("quality sampling")), STATS_INTERVAL_MS);
}

async function main() {
  bind();
  renderAll();
  let me = null;
  try {
    me = await api.me();
  } catch (error) {
    console.warn("console: the hub did not answer /api/me", error);
    app.login = { key: "login.network", args: {}, until: 0, busy: false };
  }
  if (me) enterConsole(me);
  else {
    showView("login");
    renderLogin();
    $("login-username").focus();
  }
  document.body.dataset.ready = "true";
}

main().catch((error) => console.warn("console: start-up failed", error));
