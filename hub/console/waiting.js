// The waiting room: every patient the GP may take, with the site and how long they have waited.
// No name here: the hub only knows the cabin and the session id. A patient whose booking names this
// GP comes first (docs/design.md, "Bookings at the cabin").

import { $, clear, fromTemplate, role } from "/ui/dom.js";
import { formatTime, t } from "/ui/i18n.js";
import { formatDuration } from "./duration.js";

export class WaitingRoom {
  constructor({ onJoin }) {
    this.onJoin = onJoin;
    this.patients = [];
    this.busy = false;
  }

  /** A new `waiting_room` list from the hub. Each wait counts on from the station's `waited_s` as of now,
   *  on this page's monotonic clock: the station's clock may not be this browser's (the simulator's is not). */
  update(patients) {
    const receivedMs = performance.now();
    this.patients = [...patients]
      .map((p) => ({ ...p, receivedMs, waitedS: typeof p.waited_s === "number" ? p.waited_s : NaN }))
      .sort((a, b) => Number(Boolean(b.yours)) - Number(Boolean(a.yours))
        || (Number.isNaN(b.waitedS) ? -Infinity : b.waitedS) - (Number.isNaN(a.waitedS) ? -Infinity : a.waitedS));
    this.render();
  }

  /** Join buttons are off while the GP is in a consultation. */
  setBusy(busy) {
    this.busy = busy;
    this.render();
  }

  clear() {
    this.patients = [];
    this.render();
  }

  render() {
    const list = $("waiting-list");
    // The list is rebuilt on every update: keep the keyboard focus on the same patient's button.
    const focused = list.contains(document.activeElement) ? document.activeElement.dataset.session : null;
    clear(list);
    $("waiting-empty").hidden = this.patients.length > 0;
    $("waiting-count").textContent = t("waiting.count", { n: this.patients.length });
    $("waiting-room").dataset.count = String(this.patients.length);
    for (const patient of this.patients) {
      const row = fromTemplate("waiting-row-template");
      row.dataset.session = patient.session;
      row.dataset.station = patient.station;
      role(row, "site").textContent = patient.site;
      // On board: the secretary's ticket number and the reason for the visit (docs/design.md, "On board").
      role(row, "ticket").hidden = !patient.ticket;
      role(row, "ticket").textContent = patient.ticket ? t("waiting.ticket", { ticket: patient.ticket }) : "";
      role(row, "reason").hidden = !patient.reason;
      role(row, "reason").textContent = patient.reason ? t("waiting.reason", { reason: patient.reason }) : "";
      role(row, "booked").textContent = bookedText(patient);
      row.classList.toggle("yours", Boolean(patient.yours));
      const button = role(row, "join");
      button.dataset.session = patient.session;
      button.dataset.station = patient.station;
      button.disabled = this.busy;
      button.setAttribute("aria-label", t("waiting.join_label", { site: patient.site }));
      button.addEventListener("click", () => this.onJoin(patient));
      list.append(row);
      if (focused === patient.session) button.focus();
    }
    this.tick();
  }

  /** Once a second: the waiting times. */
  tick() {
    const rows = $("waiting-list").children;
    this.patients.forEach((patient, i) => {
      const since = role(rows[i], "since");
      if (Number.isNaN(patient.waitedS)) {
        since.textContent = t("waiting.since_unknown");
        return;
      }
      const seconds = Math.max(0, patient.waitedS + (performance.now() - patient.receivedMs) / 1000);
      since.textContent = t("waiting.since", { duration: formatDuration(seconds) });
      since.dataset.seconds = String(Math.floor(seconds));
    });
  }
}

/** Whom the patient's booking names: this GP, or another with the first claim until a time. */
function bookedText(patient) {
  if (patient.yours) return t("waiting.booked_with_you");
  if (!patient.booked_with) return "";
  const until = patient.claim_until ? new Date(patient.claim_until) : null;
  return until && until > new Date()
    ? t("waiting.claimed_by", { name: patient.booked_with, time: formatTime(until) })
    : t("waiting.booked_with", { name: patient.booked_with });
}
