// The prescription form: medication lines, examinations, a referral letter and the weight,
// checked here against the limits of protocol/control.py's Prescribe before anything is sent.
// Each prescription gets an id that its retries keep, so the cabin prints it once; a second one
// for the same patient goes only after the GP confirms it in a dialog (docs/design.md, "The consultation").

import { $, clear, el, fromTemplate, role } from "/ui/dom.js";
import { applyStatic, formatNumber, t } from "/ui/i18n.js";

const MED_FIELDS = { name: 300, dosage: 300, duration: 100, quantity: 100 };
const EXAM_MAX = 300;
const REFERRAL_MAX = 4000;

export class PrescriptionForm {
  constructor({ send, latestWeight }) {
    this.send = send;
    this.latestWeight = latestWeight;
    this.form = $("prescription-form");
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    $("add-medication").addEventListener("click", () => this.addMedication(true));
    $("add-examination").addEventListener("click", () => this.addExamination(true));
    $("use-weight").addEventListener("click", () => {
      const kg = this.latestWeight();
      if (kg !== null) $("weight-kg").value = String(Math.round(kg * 10) / 10);
    });
    this.dialog = additionalDialog();
    this.dialog.addEventListener("close", () => this.onDialogClosed());
    document.body.append(this.dialog);
    this.reset();
  }

  /** An empty form (new consultation, or the end of one). */
  reset() {
    clear($("medication-list"));
    clear($("examination-list"));
    $("referral").value = "";
    $("weight-kg").value = "";
    this.pending = false;
    this.status = null;
    this.unanswered = null; // {id, body, confirmed}: the prescription sent and not yet acknowledged
    this.previous = null; // the number of the prescription the cabin already has, while the dialog asks
    if (this.dialog.open) this.dialog.close("cancel");
    this.enabled = this.enabled ?? false;
    this.addMedication(false);
    this.clearErrors();
    this.render();
  }

  addMedication(focus) {
    const row = fromTemplate("medication-template");
    this.renumber(row, $("medication-list"));
    role(row, "remove").addEventListener("click", () => {
      row.remove();
      this.relabel();
    });
    $("medication-list").append(row);
    this.relabel();
    if (focus) row.querySelector("input").focus();
  }

  addExamination(focus) {
    const row = fromTemplate("examination-template");
    this.renumber(row, $("examination-list"));
    role(row, "remove").addEventListener("click", () => {
      row.remove();
      this.relabel();
    });
    $("examination-list").append(row);
    this.relabel();
    if (focus) row.querySelector("input").focus();
  }

  renumber(row, list) {
    // Unique ids so each <label for> points at its own input.
    this.serial = (this.serial ?? 0) + 1;
    for (const input of row.querySelectorAll("input, textarea")) {
      const id = `${input.dataset.field}-${this.serial}`;
      const label = row.querySelector(`label[data-for="${input.dataset.field}"]`);
      input.id = id;
      if (label) label.htmlFor = id;
    }
    row.dataset.index = String(list.children.length + 1);
  }

  /** Row numbers in the group labels and remove buttons, after any add or remove. */
  relabel() {
    [...$("medication-list").children].forEach((row, i) => {
      role(row, "legend").textContent = t("prescription.medication_n", { n: i + 1 });
      role(row, "remove").setAttribute("aria-label", t("prescription.remove_medication", { n: i + 1 }));
    });
    [...$("examination-list").children].forEach((row, i) => {
      role(row, "label").textContent = t("prescription.examination_n", { n: i + 1 });
      role(row, "remove").setAttribute("aria-label", t("prescription.remove_examination", { n: i + 1 }));
    });
  }

  clearErrors() {
    for (const input of this.form.querySelectorAll("[aria-invalid]")) {
      input.removeAttribute("aria-invalid");
      input.removeAttribute("aria-describedby");
    }
    for (const msg of this.form.querySelectorAll(".field-error")) msg.remove();
  }

  fieldError(input, key, args) {
    input.setAttribute("aria-invalid", "true");
    const id = `${input.id}-error`;
    const msg = document.createElement("p");
    msg.className = "field-error";
    msg.id = id;
    msg.dataset.testid = "field-error";
    msg.textContent = t(key, args);
    input.setAttribute("aria-describedby", id);
    input.after(msg);
    return msg.textContent;
  }

  /** The prescription as a Prescribe message body, or null with the errors shown. */
  collect() {
    this.clearErrors();
    const errors = [];
    const medications = [];
    for (const row of $("medication-list").children) {
      const inputs = Object.fromEntries([...row.querySelectorAll("[data-field]")].map((i) => [i.dataset.field, i]));
      const values = Object.fromEntries(Object.entries(MED_FIELDS).map(([f]) => [f, inputs[f].value.trim()]));
      const renewalsText = inputs.renewals.value.trim();
      // A line left blank (its renewals at the form's 0 or cleared) is not an error: it is not prescribed.
      if (Object.values(values).every((v) => !v) && (renewalsText === "" || renewalsText === "0")) continue;
      for (const [field, max] of Object.entries(MED_FIELDS)) {
        if (!values[field]) errors.push(this.fieldError(inputs[field], "prescription.error_required"));
        else if (values[field].length > max) errors.push(this.fieldError(inputs[field], "prescription.error_too_long", { max }));
      }
      const renewals = renewalsText === "" ? 0 : Number(renewalsText);
      if (!Number.isInteger(renewals) || renewals < 0 || renewals > 12) {
        errors.push(this.fieldError(inputs.renewals, "prescription.error_renewals"));
      }
      medications.push({ ...values, renewals });
    }
    const examinations = [];
    for (const row of $("examination-list").children) {
      const input = row.querySelector("input");
      const value = input.value.trim();
      if (!value) continue;
      if (value.length > EXAM_MAX) errors.push(this.fieldError(input, "prescription.error_too_long", { max: EXAM_MAX }));
      examinations.push(value);
    }
    const referralInput = $("referral");
    const referral = referralInput.value.trim() || null;
    if (referral && referral.length > REFERRAL_MAX) {
      errors.push(this.fieldError(referralInput, "prescription.error_too_long", { max: REFERRAL_MAX }));
    }
    const weightInput = $("weight-kg");
    const weightText = weightInput.value.trim().replace(",", ".");
    let weight_kg = null;
    if (weightText) {
      weight_kg = Number(weightText);
      if (!Number.isFinite(weight_kg) || weight_kg <= 0 || weight_kg >= 500) {
        errors.push(this.fieldError(weightInput, "prescription.error_weight"));
      }
    }
    if (!errors.length && !medications.length && !examinations.length && !referral) {
      errors.push(t("prescription.error_empty"));
    }
    if (errors.length === 1 && errors[0] === t("prescription.error_empty")) {
      this.status = { kind: "error", key: "prescription.error_empty" };
    } else if (errors.length) {
      this.status = { kind: "error", key: "prescription.errors", args: { n: errors.length } };
    }
    if (errors.length) {
      this.render();
      this.form.querySelector("[aria-invalid=true]")?.focus();
      return null;
    }
    return { medications, examinations, referral, weight_kg };
  }

  submit() {
    if (this.pending) return;
    const body = this.collect();
    if (!body) return;
    // Sent again unchanged (the cabin never answered): the same id, so it cannot print twice.
    const same = this.unanswered && JSON.stringify(this.unanswered.body) === JSON.stringify(body);
    if (!same) this.unanswered = { id: crypto.randomUUID(), body, confirmed: false };
    this.sendUnanswered();
  }

  sendUnanswered() {
    const { id, body, confirmed } = this.unanswered;
    if (!this.send("prescribe", confirmed ? { id, confirm_additional: true, ...body } : { id, ...body })) return;
    this.pending = true;
    this.status = { kind: "pending", key: "prescription.sending" };
    this.render();
  }

  /** The cabin accepted the prescription (ack ref=prescribe): an empty form for the next one. */
  onAck(message) {
    if (!this.unanswered || message.id !== this.unanswered.id) return; // a late answer to a retry already taken
    this.reset();
    this.status = { kind: "sent", key: "prescription.sent", args: { number: message.number ?? "" } };
    this.render();
  }

  /**
   * A control `error` while a prescription was pending: `key`/`args` say why. True when the form
   * answers it itself (the cabin already has a prescription: the dialog asks the GP).
   */
  onError(key, args, message) {
    if (!this.pending) return false;
    this.pending = false;
    if (message.code === "additional_prescription" && this.unanswered && !this.unanswered.confirmed) {
      this.previous = typeof message.number === "string" ? message.number : "";
      this.status = { kind: "pending", key: "prescription.additional_asking" };
      this.render();
      this.dialog.returnValue = ""; // Escape keeps the previous value: never let it read "confirm"
      applyStatic(this.dialog);
      this.dialog.showModal();
      return true;
    }
    this.status = { kind: "error", key, args };
    this.render();
    return false;
  }

  onDialogClosed() {
    if (!this.unanswered || this.previous === null) return; // closed by reset()
    this.previous = null;
    if (this.dialog.returnValue === "confirm") {
      this.unanswered.confirmed = true;
      this.sendUnanswered();
      return;
    }
    this.status = { kind: "error", key: "prescription.additional_cancelled" };
    this.render();
  }

  /** The control channel was replaced: an unanswered prescription may be sent again. */
  unblock() {
    if (!this.pending) return;
    this.pending = false;
    this.status = { kind: "error", key: "prescription.unconfirmed" };
    this.render();
  }

  /** Sending needs an open control channel. */
  setEnabled(enabled) {
    if (this.enabled === enabled) return;
    this.enabled = enabled;
    this.render();
  }

  /** Labels and the status line in the current language. */
  render() {
    this.relabel();
    $("prescription-submit").disabled = this.pending || !this.enabled;
    const status = $("prescription-status");
    status.textContent = this.status ? t(this.status.key, this.status.args) : "";
    status.dataset.state = this.status?.kind ?? "";
    role(this.dialog, "text").textContent = t("prescription.additional_text", { number: this.previous ?? "" });
    const kg = this.latestWeight();
    const use = $("use-weight");
    use.hidden = kg === null;
    if (kg !== null) use.textContent = t("prescription.use_weight", { value: formatNumber(kg, 1, 1) });
  }
}

/** The GP's confirmation before a second prescription for the same patient (built here: one form owns it). */
function additionalDialog() {
  return el(
    "dialog",
    { id: "additional-dialog", "data-testid": "additional-dialog", "aria-labelledby": "additional-dialog-title" },
    el(
      "form",
      { method: "dialog", class: "dialog-body" },
      el("h2", { id: "additional-dialog-title", "data-i18n": "prescription.additional_title" }),
      el("p", { "data-role": "text" }),
      el(
        "div",
        { class: "dialog-actions" },
        el("button", { value: "cancel", class: "ghost", "data-testid": "additional-cancel", "data-i18n": "prescription.additional_cancel" }),
        el("button", { value: "confirm", class: "primary", "data-testid": "additional-confirm", "data-i18n": "prescription.additional_confirm" }),
      ),
    ),
  );
}
