// What became of each prescription sent to the cabin's printer: printing, printed, or failed with
// the printer's error and a reprint button (same consultation only).

import { $, clear, fromTemplate, role } from "/ui/dom.js";
import { formatNumber, formatTime, t, tCode } from "/ui/i18n.js";

export class Printing {
  constructor({ send }) {
    this.send = send;
    this.reset();
  }

  reset() {
    this.refused = 0;
    this.jobs = new Map(); // job -> {job, number, state, error, warning, bytes, at, reprinting}
    this.render();
  }

  /** A `print_status` from the control channel. */
  onStatus(m) {
    const state = m.error ? "failed" : m.printed ? "printed" : "printing";
    // Job 0: the printer refused before a job was recorded; each such failure is its own row.
    const key = m.job > 0 ? `job:${m.job}` : `failed:${m.number ?? ""}:${++this.refused}`;
    const previous = this.jobs.get(key);
    this.jobs.set(key, {
      key,
      job: m.job,
      number: m.number ?? previous?.number ?? null,
      state,
      error: m.error ?? null,
      warning: m.warning ?? null,
      bytes: typeof m.bytes === "number" ? m.bytes : null,
      at: new Date(),
      reprinting: false,
    });
    this.render();
  }

  /** A control `error` while a reprint was pending: let the GP try again. */
  onError() {
    for (const job of this.jobs.values()) job.reprinting = false;
    this.render();
  }

  reprint(key) {
    const entry = this.jobs.get(key);
    if (!entry || entry.reprinting || entry.job < 1) return;
    if (this.send("reprint", { job: entry.job })) {
      entry.reprinting = true;
      this.render();
    }
  }

  render() {
    const list = $("print-list");
    clear(list);
    $("print-empty").hidden = this.jobs.size > 0;
    const panel = $("print-status");
    const jobs = [...this.jobs.values()].reverse(); // newest first
    panel.dataset.state = jobs[0]?.state ?? "none";
    for (const job of jobs) {
      const row = fromTemplate("print-job-template");
      row.dataset.job = String(job.job);
      row.dataset.state = job.state;
      role(row, "title").textContent = job.number
        ? t("print.job_number", { number: job.number })
        : t("print.job", { job: job.job });
      role(row, "state").textContent = t(`print.state_${job.state}`, { time: formatTime(job.at) });
      const detail = [];
      if (job.error) detail.push(tCode("print.error", job.error, t("print.error_generic", { error: job.error })));
      if (job.warning) detail.push(tCode("print.warning", job.warning, t("print.warning_generic", { warning: job.warning })));
      if (job.state === "printed" && job.bytes) detail.push(t("print.bytes", { value: formatNumber(job.bytes / 1024, 1) }));
      role(row, "detail").textContent = detail.join(t("reading.separator"));
      const button = role(row, "reprint");
      button.hidden = job.state !== "failed" || job.job < 1;
      role(row, "resend").hidden = !(job.state === "failed" && job.job < 1);
      button.disabled = job.reprinting;
      button.setAttribute("aria-label", t("print.reprint_label", { job: job.number ?? job.job }));
      button.addEventListener("click", () => this.reprint(job.key));
      list.append(row);
    }
  }
}
