// The fleet page (docs/design.md, "The fleet view"): every cabin's state at a glance, the alerts sorted by
// urgency, and one cabin's detail with its history charts, polled from the hub's /api/fleet every few seconds.
// For coordinators and technicians; a technician's detail panel also mounts the remote maintenance module
// (./maintenance.js, `mountMaintenance(container, stationId)`, stopped when the panel closes).

import { $, clear, el } from "/ui/dom.js";
import { formatNumber, init as initI18n, onLanguageChange, otherLanguage, t, tCode } from "/ui/i18n.js";
import { send, staffLogin } from "/static/api.js";
import { PALETTE, drawBand, drawLines } from "./charts.js";

try {
  await initI18n(new URL("./i18n/", import.meta.url), new URLSearchParams(location.search).get("lang") ?? "fr");
} catch (error) {
  console.warn("fleet: the text catalogues did not load", error);
}

const API = "/api/fleet";
const POLL_MS = 3000;
const HISTORY_MS = 60_000; // the open cabin's history is fetched again this often
const ROLES = ["coordinator", "technician"];
const STATE_COLOURS = {
  ready: "#2e7d4f", closed: "#9aa5af", checking_in: "#1f6f8b", eligibility: "#1f6f8b",
  waiting_for_doctor: "#1f6f8b", in_consultation: "#1f6f8b", reconnecting: "#1f6f8b", wrapping_up: "#1f6f8b",
  awaiting_cleaning: "#a66a00", cleaning: "#d9a441", out_of_service: "#b3261e", maintenance: "#7b3fa0",
};

const state = {
  me: null,
  fleet: null, // the latest /api/fleet answer
  open: null, // the station whose detail is shown
  history: null, // {station, samples, fetched}
  maintenance: null, // the open cabin's maintenance panel, for a technician: {stop()}
};

// ---------- helpers ----------

const cabin = (station) => state.fleet?.cabins.find((c) => c.station === station) ?? null;
const stateText = (code) => tCode("state", code, code);
const minutes = (seconds) => formatNumber(Math.floor(seconds / 60));

function when(iso) {
  return new Intl.DateTimeFormat(document.documentElement.lang, { dateStyle: "short", timeStyle: "short" })
    .format(new Date(iso));
}

function ago(iso) {
  const seconds = Math.max(0, (Date.parse(state.fleet.now) - Date.parse(iso)) / 1000);
  return seconds < 60 ? t("time.seconds_ago", { n: formatNumber(Math.round(seconds)) }) : t("time.minutes_ago", { n: minutes(seconds) });
}

function alertText(alert) {
  const detail = { ...alert.detail };
  if (detail.kind) detail.kind = tCode("device", detail.kind, detail.kind);
  if (detail.problem) detail.problem = tCode("printer", detail.problem, detail.problem);
  return t(`alert.${alert.kind}`, detail);
}

// ---------- the alerts ----------

function renderAlerts() {
  const list = $("alerts");
  clear(list);
  const alerts = state.fleet.alerts;
  $("alerts-none").hidden = alerts.length > 0;
  for (const alert of alerts) {
    list.append(el("li", {
      class: `alert alert-${alert.severity}`, dataset: { testid: "alert", kind: alert.kind, severity: alert.severity, station: alert.station },
    },
    el("span", { class: "severity", text: t(`severity.${alert.severity}`) }),
    el("button", { type: "button", class: "link", text: alert.site, onclick: () => openDetail(alert.station) }),
    el("span", { class: "what", text: alertText(alert) })));
  }
}

// ---------- the tiles ----------

function tileSummary(c) {
  if (!c.health) return t("cabins.never");
  if (!c.online) return t("cabins.offline_since", { ago: ago(c.reported_at) });
  const down = c.health.devices.filter((d) => !d.connected).length;
  const printer = c.health.printer?.problem ? tCode("printer", c.health.printer.problem, c.health.printer.problem) : t("printer.ok");
  return [printer, down ? t("cabins.devices_down", { n: down }) : t("cabins.devices_ok")].join(" · ");
}

function renderTiles() {
  const list = $("tiles");
  clear(list);
  const alerting = new Map();
  for (const alert of state.fleet.alerts) alerting.set(alert.station, [...(alerting.get(alert.station) ?? []), alert]);
  for (const c of state.fleet.cabins) {
    const alerts = alerting.get(c.station) ?? [];
    const worst = alerts[0]?.severity ?? "none";
    const shown = c.health ? (c.online ? c.health.state : "offline") : "unknown";
    list.append(el("li", {},
      el("button", {
        type: "button", class: "tile", onclick: () => openDetail(c.station), "aria-pressed": String(state.open === c.station),
        dataset: { testid: "cabin-tile", station: c.station, state: shown, severity: worst, alerts: String(alerts.length) },
      },
      el("span", { class: "tile-site", text: c.site }),
      el("span", { class: "tile-id small muted", text: c.station }),
      el("span", { class: "tile-state", text: shown === "offline" ? t("cabins.offline") : shown === "unknown" ? t("cabins.unknown") : stateText(shown) }),
      el("span", { class: "tile-summary small", text: tileSummary(c) }),
      alerts.length ? el("span", { class: "tile-alerts small", text: t("cabins.alerts", { n: alerts.length }) }) : null)));
  }
}

// ---------- one cabin ----------

function fact(term, value, testid) {
  return [el("dt", { text: term }), el("dd", { text: value, dataset: testid ? { testid } : undefined })];
}

function renderDetail() {
  const c = cabin(state.open);
  $("detail").hidden = c === null;
  if (c === null) return;
  $("detail-title").textContent = `${c.site} (${c.station})`;
  const facts = $("detail-facts");
  clear(facts);
  const devices = $("detail-devices");
  clear(devices);
  const h = c.health;
  if (!h) {
    facts.append(...fact(t("detail.state"), t("cabins.never"), "detail-state"));
    return;
  }
  const printer = h.printer;
  facts.append(
    ...fact(t("detail.state"), c.online ? stateText(h.state) : t("cabins.offline"), "detail-state"),
    ...fact(t("detail.reported"), ago(c.reported_at)),
    ...fact(t("detail.cleaning"), c.dirty_for_s !== null ? t("detail.dirty_for", { n: minutes(c.dirty_for_s) })
      : h.cleaning_due ? t("detail.cleaning_due") : t("detail.clean")),
    ...fact(t("detail.last_cleaning"), h.last_cleaning ? when(h.last_cleaning) : "—"),
    ...fact(t("detail.printer"), !printer ? "—" : printer.problem ? tCode("printer", printer.problem, printer.problem)
      : printer.paper_low ? t("printer.paper_low") : t("printer.ok"), "detail-printer"),
    ...fact(t("detail.lag"), t("unit.ms", { n: formatNumber(h.loop_lag_s * 1000) })),
    ...fact(t("detail.version"), h.version),
    ...fact(t("detail.uptime"), t("unit.hours", { n: formatNumber(h.uptime_s / 3600, 1) })),
  );
  for (const d of h.devices ?? []) {
    devices.append(el("tr", { dataset: { testid: "device-row", device: d.id, connected: String(d.connected) } },
      el("td", { text: `${tCode("device", d.kind, d.kind)} (${d.id})` }),
      el("td", { text: d.connected ? t("detail.yes") : t("detail.no") }),
      el("td", { text: d.battery === undefined || d.battery === null ? "—" : `${d.battery} %` }),
      el("td", { text: d.error ?? "" })));
  }
}

/** A legend's entry; its colour set through the CSSOM, which the page's CSP allows (a style attribute it does not). */
function swatch(colour, text) {
  const node = el("span", { class: "swatch", text });
  node.style.setProperty("--swatch", colour);
  return node;
}

function renderCharts() {
  const history = state.history;
  if (!history || history.station !== state.open || $("detail").hidden) return;
  const to = Date.parse(state.fleet.now);
  const from = Math.min(to - 3600_000, ...history.samples.map((s) => Date.parse(s.at)));
  const label = (ms) => when(new Date(ms).toISOString());
  const samples = history.samples;
  drawLines($("chart-lag"), [{ name: "lag", points: samples.map((s) => [Date.parse(s.at), (s.loop_lag_s ?? 0) * 1000]) }],
    { from, to, unit: (v) => t("unit.ms", { n: formatNumber(v, v < 10 ? 1 : 0) }), label });
  const devices = [...new Set(samples.flatMap((s) => Object.keys(s.batteries)))].sort();
  drawLines($("chart-battery"), devices.map((id) => ({
    name: id, points: samples.filter((s) => id in s.batteries).map((s) => [Date.parse(s.at), s.batteries[id]]),
  })), { from, to, max: 100, unit: (v) => `${formatNumber(v)} %`, label });
  const legend = $("battery-legend");
  clear(legend);
  devices.forEach((id, i) => legend.append(swatch(PALETTE[i % PALETTE.length], id)));
  drawBand($("chart-states"), samples.map((s) => [Date.parse(s.at), s.state]),
    { from, to, colour: (s) => STATE_COLOURS[s] ?? "#d9e0e6", label });
  const states = $("states-legend");
  clear(states);
  for (const code of [...new Set(samples.map((s) => s.state))]) {
    states.append(swatch(STATE_COLOURS[code] ?? "#d9e0e6", stateText(code)));
  }
}

async function loadHistory() {
  const station = state.open;
  if (station === null) return;
  const result = await send("GET", `${API}/history/${encodeURIComponent(station)}`);
  if (!result.ok || state.open !== station) return;
  state.history = { station, samples: result.data.samples ?? [], fetched: Date.now() };
  renderCharts();
}

/** Stop the open cabin's maintenance panel (its polling) and empty its box. */
function unmountMaintenance() {
  state.maintenance?.stop();
  state.maintenance = null;
  clear($("maintenance"));
}

async function mountMaintenance(station) {
  const box = $("maintenance");
  unmountMaintenance();
  box.hidden = true;
  if (state.me.role !== "technician") return;
  const container = el("div");
  box.append(container);
  // The remote maintenance module (docs/design.md, "Remote maintenance").
  const module = await import("./maintenance.js");
  if (state.open !== station) return;
  box.hidden = false;
  state.maintenance = module.mountMaintenance(container, station);
}

function openDetail(station) {
  state.open = station;
  state.history = null;
  renderAll();
  $("detail").scrollIntoView({ block: "nearest" });
  loadHistory().catch((error) => console.warn("fleet: the history did not load", error));
  mountMaintenance(station).catch((error) => console.warn("fleet: the maintenance panel did not load", error));
}

// ---------- the whole page ----------

function renderAll() {
  if (!state.fleet) return;
  $("lang-toggle").lang = otherLanguage();
  renderAlerts();
  renderTiles();
  renderDetail();
  renderCharts();
}

async function poll() {
  const result = await send("GET", API); // a login that ended (401): send() goes back to the login page
  if (result.status === 401) return;
  $("stale").hidden = result.ok;
  if (result.ok) {
    state.fleet = result.data;
    renderAll();
    if (state.open !== null && (!state.history || Date.now() - state.history.fetched > HISTORY_MS)) await loadHistory();
  }
}

function bind() {
  $("detail-close").addEventListener("click", () => {
    state.open = null;
    unmountMaintenance();
    renderAll();
  });
  window.addEventListener("resize", renderCharts);
  onLanguageChange(renderAll);
}

async function main() {
  bind();
  const who = await staffLogin("fleet", ROLES, () => {
    $("stale").hidden = false;
  });
  if (who === null) return;
  state.me = who;
  $("who").textContent = who.name;
  $("coordinator-link").hidden = who.role !== "coordinator";
  await poll();
  $("main").hidden = false;
  document.body.dataset.view = "fleet";
  document.body.dataset.ready = "true";
  setInterval(() => poll().catch((error) => console.warn("fleet: poll failed", error)), POLL_MS);
}

main().catch((error) => console.warn("fleet: start-up failed", error));
