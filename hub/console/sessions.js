// The GP's own sessions on the console (docs/design.md, "The coordinator's console"): she publishes a session
// (a date, its hours local to the cabins' site, the cabins she is given) and withdraws it, over the hub's
// /api/sessions; she sees her sessions to come.

import { $, el } from "/ui/dom.js";
import { language, t, tCode } from "/ui/i18n.js";
import { call } from "./api.js";

export class MySessions {
  constructor({ notify }) {
    this.notify = notify; // (kind, key, args): the console's notice
    this.sessions = [];
    this.cabins = []; // {id, label, site, timezone}
    this.error = null;
    $("sessions-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.publish().catch((error) => console.warn("console: publishing a session failed", error));
    });
  }

  /** Load her sessions and cabins (after login). */
  async load() {
    const { status, data } = await call("GET", "/api/sessions");
    if (status !== 200) return;
    this.sessions = data.sessions ?? [];
    this.cabins = data.cabins ?? [];
    if (!$("sessions-date").value) $("sessions-date").value = new Date().toLocaleDateString("en-CA");
    this.render();
  }

  clear() {
    this.sessions = [];
    this.cabins = [];
    this.error = null;
    this.render();
  }

  async publish() {
    const stations = [...$("sessions-cabins").querySelectorAll("input:checked")].map((i) => i.value);
    const body = { date: $("sessions-date").value, from: $("sessions-from").value, to: $("sessions-to").value, stations };
    const result = await this.send("POST", "/api/sessions", body);
    if (result === null) return;
    this.notify("info", "sessions.published", {});
    await this.load();
  }

  async withdraw(session) {
    const result = await this.send("POST", `/api/sessions/${session.id}/withdraw`, {});
    if (result === null) return;
    const left = Number(result.left_without_gp) || 0;
    this.notify(left ? "error" : "info", left ? "sessions.withdrawn_left" : "sessions.withdrawn", { n: left });
    await this.load();
  }

  /** A change's answer, or null with its refusal shown under the form. */
  async send(method, path, body) {
    let result;
    try {
      result = await call(method, path, body);
    } catch {
      result = { status: 0, data: {} };
    }
    this.error = result.status === 200 ? null : result.status === 0
      ? t("login.network") : tCode("sessions.error", result.data.error, result.data.message || t("login.server"));
    this.renderError();
    return result.status === 200 ? result.data : null;
  }

  renderError() {
    $("sessions-error").hidden = !this.error;
    $("sessions-error").textContent = this.error ?? "";
  }

  render() {
    const zone = (station) => this.cabins.find((c) => c.id === station)?.timezone;
    const label = (station) => this.cabins.find((c) => c.id === station)?.label ?? station;
    const format = (iso, station, options) => new Intl.DateTimeFormat(language(), { ...options, timeZone: zone(station) })
      .format(new Date(iso));
    const checked = new Set([...$("sessions-cabins").querySelectorAll("input:checked")].map((i) => i.value));
    $("sessions-cabins").replaceChildren(...this.cabins.map((c) => el("label", {},
      el("input", { type: "checkbox", value: c.id, checked: checked.has(c.id), "data-testid": "sessions-cabin" }), c.label)));
    $("sessions-empty").hidden = this.sessions.length > 0;
    $("sessions-list").replaceChildren(...this.sessions.map((s) => el("li", { "data-testid": "sessions-row" },
      el("span", { text: t("sessions.row", {
        date: format(s.start, s.station, { dateStyle: "full" }),
        from: format(s.start, s.station, { timeStyle: "short" }),
        to: format(s.end, s.station, { timeStyle: "short" }),
        cabin: label(s.station),
      }) }),
      el("button", { type: "button", class: "ghost small", "data-testid": "sessions-withdraw", text: t("sessions.withdraw"),
                     onclick: () => this.withdraw(s).catch((error) => console.warn("console: withdrawing failed", error)) }))));
    this.renderError();
  }
}
