// A cabin's remote maintenance, for technicians (docs/design.md, "Remote maintenance"): the fleet page imports
// this module into a cabin's detail panel and calls mountMaintenance(container, stationId). Buttons ask the hub
// for a run (POST /api/fleet/stations/{id}/maintenance); the panel polls the same URL (GET) and shows the
// station's recent runs: diagnostics and self-tests as a table of devices, logs as a monospace list, every
// refusal in words. Built with DOM calls only (no markup from strings, no style attribute: the hub's CSP).
// The page has loaded its catalogues (init from /ui/i18n.js) before it mounts the panel.

import { clear, el, role } from "/ui/dom.js";
import { formatDateTime, formatNumber, onLanguageChange, t, tCode } from "/ui/i18n.js";

const POLL_MS = 5000; // the runs, read again this often
const PENDING_POLL_MS = 500; // while a run waits for its answer
const ACTIONS = ["diagnostics", "self_test", "logs", "out_of_service", "back_in_service"];
const LOG_LINES = 100;

/** The API of one station's maintenance. */
const apiPath = (stationId) => `/api/fleet/stations/${encodeURIComponent(stationId)}/maintenance`;

/** One JSON request: {status, data}; status 0 when the hub cannot be reached. A login that ended (401) goes
 * back to the login page, as the fleet page's own requests do. */
async function request(method, path, body) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  try {
    const response = await fetch(path, init);
    if (response.status === 401) location.replace("/");
    const data = await response.json().catch(() => ({}));
    return { status: response.status, data: data !== null && typeof data === "object" ? data : {} };
  } catch {
    return { status: 0, data: {} };
  }
}

/** What a refused request says, in the page's language: its code's text, else the hub's message. */
function refusal({ status, data }) {
  if (status === 0) return t("maintenance.error.network");
  return tCode("maintenance.refused", data.error, data.message || t("maintenance.error.server"));
}

const yesNo = (value) => (value === null || value === undefined ? "—" : t(value ? "maintenance.yes" : "maintenance.no"));

/** Diagnostics and self-tests: one row per device. */
function deviceTable(devices) {
  const head = ["device", "connected", "battery", "last_error", "self_test"].map((name) =>
    el("th", { scope: "col", text: t(`maintenance.devices.${name}`) }));
  const rows = devices.map((device) => {
    const test = device.self_test ?? {};
    const tested = test.ok !== null && test.ok !== undefined;
    const result = tested ? yesNo(test.ok) : t("maintenance.test.none");
    return el("tr", { "data-device": device.device_id, "data-test": String(test.ok ?? "none") },
      el("th", { scope: "row", text: device.device_id }),
      el("td", { text: yesNo(device.connected) }),
      el("td", { text: device.battery_percent === null || device.battery_percent === undefined
        ? "—" : `${formatNumber(device.battery_percent)} %` }),
      el("td", { text: device.last_error ?? "—" }),
      el("td", { text: tested && test.detail ? `${result} (${test.detail})` : result }));
  });
  return el("table", { "data-role": "devices" }, el("thead", {}, el("tr", {}, head)), el("tbody", {}, rows));
}

/** Logs: one monospace line each, oldest first, as the station redacted them. */
function logList(lines) {
  if (lines.length === 0) return el("p", { text: t("maintenance.logs.empty") });
  return el("ol", { "data-role": "log-lines" }, lines.map((line) => el("li", { "data-level": line.level },
    el("code", { text: `${line.at} ${line.level} ${line.logger}: ${line.message}` }))));
}

/** What an answered run found. */
function runResult(run) {
  const result = run.result ?? {};
  if (run.action === "diagnostics" || run.action === "self_test") return deviceTable(result.devices ?? []);
  if (run.action === "logs") return logList(result.lines ?? []);
  const state = tCode("maintenance.state", result.state, result.state);
  return el("p", { "data-role": "state", text: t("maintenance.state", { state }) });
}

/** One run: what was asked, by whom and when, and how it went. */
function runItem(run) {
  const when = formatDateTime(new Date(run.requested_at));
  const action = t(`maintenance.action.${run.action}`);
  const asked = run.reason ? t("maintenance.with_reason", { action, reason: run.reason }) : action;
  const body = [el("p", { class: "run-head" },
    el("strong", { text: asked }), " ",
    el("span", { text: t("maintenance.by", { technician: run.technician, when }) }), " ",
    el("span", { "data-role": "status", text: t(`maintenance.status.${run.status}`) }))];
  if (run.late) {
    body.push(el("p", { "data-role": "late",
      text: t("maintenance.late", { when: formatDateTime(new Date(run.finished_at)) }) }));
  }
  if (run.status === "ok") body.push(runResult(run));
  else if (run.status !== "pending") {
    body.push(el("p", { "data-role": "error", text: tCode("maintenance.refused", run.code, run.error ?? "") }));
  }
  return el("li", { "data-run": run.id, "data-action": run.action, "data-status": run.status,
    "data-late": String(run.late) }, body);
}

/**
 * Mount the maintenance panel of station `stationId` into `container`; returns {stop()}, which ends the polling
 * (call it when the panel closes).
 */
export function mountMaintenance(container, stationId) {
  const path = apiPath(stationId);
  const view = { runs: [], online: null, notice: "", asking: false, reasonOpen: false };
  let stopped = false;
  let timer = null;

  const root = el("section", { class: "maintenance", "data-station": stationId });
  container.append(root);

  async function refresh() {
    clearTimeout(timer);
    const result = await request("GET", path);
    if (stopped) return;
    if (result.status === 200) {
      view.runs = result.data.runs ?? [];
      view.online = Boolean(result.data.online);
    } else view.notice = refusal(result);
    render();
    clearTimeout(timer); // a refresh that overtook this one set it already
    timer = setTimeout(refresh, view.runs.some((run) => run.status === "pending") ? PENDING_POLL_MS : POLL_MS);
  }

  async function ask(action, reason) {
    view.asking = true;
    view.notice = "";
    render();
    const body = { action };
    if (action === "logs") body.lines = LOG_LINES;
    if (reason !== undefined) body.reason = reason;
    const result = await request("POST", path, body);
    view.asking = false;
    if (result.status === 202) view.reasonOpen = false;
    else view.notice = refusal(result);
    await refresh();
  }

  function reasonForm() {
    const input = el("input", { type: "text", maxlength: "200", "data-role": "reason",
      "aria-label": t("maintenance.reason"), placeholder: t("maintenance.reason.placeholder") });
    const submit = () => {
      const reason = input.value.trim();
      if (reason) ask("out_of_service", reason);
    };
    return el("form", { "data-role": "reason-form", onsubmit: (event) => { event.preventDefault(); submit(); } },
      el("label", { text: t("maintenance.reason") }, input),
      el("button", { type: "submit", "data-action": "confirm-out-of-service", text: t("maintenance.reason.confirm") }),
      el("button", { type: "button", "data-action": "cancel", text: t("maintenance.reason.cancel"),
        onclick: () => { view.reasonOpen = false; render(); } }));
  }

  function render() {
    const typed = role(root, "reason")?.value ?? "";
    const buttons = ACTIONS.map((action) => el("button", {
      type: "button", "data-action": action, disabled: view.asking || view.online === false,
      text: t(`maintenance.action.${action}`),
      onclick: () => {
        if (action !== "out_of_service") ask(action);
        else { view.reasonOpen = true; render(); role(root, "reason")?.focus(); }
      },
    }));
    clear(root);
    root.append(
      el("h3", { text: t("maintenance.title") }),
      el("p", { "data-role": "online", "data-online": String(view.online),
        text: view.online === null ? "" : t(view.online ? "maintenance.online" : "maintenance.offline") }),
      el("div", { class: "actions" }, buttons),
      view.reasonOpen ? reasonForm() : null,
      view.notice ? el("p", { class: "notice", role: "alert", "data-role": "notice", text: view.notice }) : null,
      view.runs.length === 0
        ? el("p", { "data-role": "no-runs", text: t("maintenance.runs.none") })
        : el("ol", { "data-role": "runs" }, view.runs.map(runItem)));
    const input = role(root, "reason");
    if (input) input.value = typed;
  }

  onLanguageChange(() => { if (!stopped) render(); });
  render();
  refresh();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
      root.remove();
    },
  };
}
