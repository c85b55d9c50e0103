// The coordinator's "Programme" section (docs/design.md, "The programme of stops"): a mobile unit's stops,
// a stop added, changed or cancelled over /api/coordinator/programme/..., the bookings a change or a
// cancellation reaches shown before it is confirmed, and those it cancelled listed with their phone numbers.

import { $, el } from "/ui/dom.js";
import { t } from "/ui/i18n.js";
import { refusalText, send } from "/static/api.js";
import { showNotice } from "/static/notice.js";

const API = "/api/coordinator/programme";

/** The section for the mobile `units`, its times written by the desk's `when` (desk.js, in each site's zone). */
export function programme({ when, units }) {
  const state = { stops: [], today: "", editing: null, pending: null, result: null };
  const unit = () => $("programme-site").value;
  const hours = () => $("programme-hours").value.split(",").map((h) => h.trim()).filter(Boolean);
  const failed = (result) => {
    showNotice("error", refusalText(result));
    return null;
  };

  async function load() {
    const result = await send("GET", `${API}?site=${encodeURIComponent(unit())}`);
    if (!result.ok) return failed(result);
    state.stops = result.data.stops ?? [];
    state.today = result.data.today ?? "";
    render();
  }

  function edit(stop) {
    state.editing = stop;
    state.pending = null;
    $("programme-date").value = stop?.date ?? "";
    $("programme-place").value = stop?.place ?? "";
    $("programme-address").value = stop?.address ?? "";
    $("programme-hours").value = stop?.hours.join(", ") ?? "";
    $("programme-reason").value = "";
    render();
  }

  function stopRow(stop) {
    const live = stop.status === "planned" && stop.date >= state.today;
    const status = stop.status === "cancelled" ? t("programme.cancelled") : stop.open ? t("programme.open") : "";
    return el("li", { "data-testid": "programme-stop", "data-date": stop.date, "data-status": stop.status },
      el("strong", { text: stop.date }), el("span", { text: `${stop.place} · ${stop.address} · ${stop.hours.join(", ")}` }),
      stop.bookings === null ? null : el("span", { class: "muted", text: t("programme.bookings", { n: stop.bookings }) }),
      status ? el("em", { text: status }) : null,
      live ? el("button", { type: "button", class: "ghost", "data-testid": "programme-edit", text: t("programme.edit"),
        onclick: () => edit(stop) }) : null,
      live ? el("button", { type: "button", class: "danger", "data-testid": "programme-cancel",
        text: t("programme.cancel"), onclick: () => ask({ cancel: true, stop }).catch(report) }) : null);
  }

  /** The bookings a change (or the stop's cancellation) reaches, shown before it is made. */
  async function ask(pending) {
    const reason = $("programme-reason").value.trim();
    if (!reason) {
      $("programme-reason").setAttribute("aria-invalid", "true");
      showNotice("error", t("programme.reason_needed"));
      return;
    }
    $("programme-reason").removeAttribute("aria-invalid");
    const params = new URLSearchParams({ site: unit(), date: pending.stop.date });
    if (pending.cancel) params.set("cancel", "1");
    else if (pending.body.hours) params.set("hours", pending.body.hours.join(","));
    const result = await send("GET", `${API}/affected?${params}`);
    if (!result.ok) return failed(result);
    state.pending = { ...pending, reason, cancelled: result.data.cancelled ?? [], told: result.data.told ?? 0 };
    render();
  }

  async function submit() {
    if (!state.editing) return add();
    const stop = state.editing;
    const body = {};
    if ($("programme-place").value.trim() !== stop.place) body.place = $("programme-place").value;
    if ($("programme-address").value.trim() !== stop.address) body.address = $("programme-address").value;
    if (hours().join(",") !== stop.hours.join(",")) body.hours = hours();
    return ask({ cancel: false, stop, body });
  }

  async function add() {
    const result = await send("POST", `${API}/stops`, {
      site: unit(), date: $("programme-date").value, place: $("programme-place").value,
      address: $("programme-address").value, hours: hours(),
    });
    if (!result.ok) return failed(result);
    showNotice("ok", t("programme.added"));
    edit(null);
    return load();
  }

  async function confirm() {
    const p = state.pending;
    const path = `${API}/stops/${encodeURIComponent(unit())}/${p.stop.date}/${p.cancel ? "cancel" : "change"}`;
    const result = await send("POST", path, { ...(p.body ?? {}), reason: p.reason });
    if (!result.ok) return failed(result);
    state.result = { cancelled: result.data.cancelled ?? [], told: result.data.told ?? 0 };
    edit(null);
    return load();
  }

  const bookingRow = (b) => el("li", { "data-testid": "programme-booking" },
    el("span", { text: `${when(b.start, b.site)} · ${b.patient_name} · ${b.code_grouped}` }),
    el("strong", { class: "phone", text: b.phone ?? b.email ?? "" }));

  function render() {
    $("programme-stops").replaceChildren(...state.stops.map(stopRow));
    $("programme-form").dataset.mode = state.editing ? "change" : "add";
    $("programme-date").disabled = Boolean(state.editing);
    $("programme-submit").textContent = t(state.editing ? "programme.change" : "programme.add");
    const p = state.pending;
    $("programme-preview").hidden = !p;
    $("programme-preview-text").textContent = !p ? "" : p.cancel
      ? t("programme.preview_cancel", { n: p.cancelled.length })
      : t("programme.preview", { n: p.cancelled.length, told: p.told });
    $("programme-preview-list").replaceChildren(...(p?.cancelled ?? []).map(bookingRow));
    const r = state.result;
    $("programme-result").hidden = !r;
    $("programme-result").textContent = r ? t("programme.done", { n: r.cancelled.length, told: r.told }) : "";
    $("programme-hit").replaceChildren(...(r?.cancelled ?? []).map(bookingRow));
  }

  const report = (error) => console.warn("desk: programme failed", error);
  $("programme-card").hidden = units.length === 0;
  $("programme-site").replaceChildren(...units.map((s) => el("option", { value: s.code, text: `${s.name} (${s.code})` })));
  $("programme-site").addEventListener("change", () => load().catch(report));
  $("programme-form").addEventListener("submit", (event) => {
    event.preventDefault();
    submit().catch(report);
  });
  $("programme-reset").addEventListener("click", () => edit(null));
  $("programme-back").addEventListener("click", () => {
    state.pending = null;
    render();
  });
  $("programme-confirm").addEventListener("click", () => confirm().catch(report));
  if (units.length) load().catch(report);
  return { render };
}
