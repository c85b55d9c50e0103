// The glucose card's unit: mg/dL or mmol/L as the GP chooses (docs/design.md "The glucometer").
// The choice is the GP's own preference, kept in this browser's localStorage; it holds nothing of
// a patient. Readings arrive in mg/dL with mmol/L beside them (devices/measurements.py Glucose).

import { el } from "/ui/dom.js";
import { formatNumber, t, tCode } from "/ui/i18n.js";

const STORAGE_KEY = "console.glucose_unit";
const UNITS = ["mg/dL", "mmol/L"];
const MG_DL_PER_MMOL_L = 18.016;

/** The unit the GP chose, mg/dL unless the GP chose mmol/L. */
export function glucoseUnit() {
  try {
    const stored = localStorage.getItem(STORAGE_KEY);
    return UNITS.includes(stored) ? stored : UNITS[0];
  } catch {
    return UNITS[0]; // storage refused by the browser: the default, every time
  }
}

function chooseUnit(unit) {
  try {
    localStorage.setItem(STORAGE_KEY, unit);
  } catch (error) {
    console.warn("console: the glucose unit cannot be remembered", error);
  }
}

/** The value of a glucose reading in the chosen unit. */
export function glucoseValue(m) {
  if (glucoseUnit() === "mmol/L") return formatNumber(typeof m.mmol_l === "number" ? m.mmol_l : m.value / MG_DL_PER_MMOL_L, 1, 1);
  return formatNumber(m.value, 0);
}

/** The meal and the sample's site, as the meter's context gave them. */
export function glucoseDetails(m) {
  const out = [];
  if (m.meal) out.push(t("reading.meal", { meal: tCode("meal", m.meal, m.meal) }));
  if (m.sample_location) out.push(t("reading.sample", { location: tCode("sample", m.sample_location, m.sample_location) }));
  return out;
}

/** The unit switch of the glucose card; `onChange` redraws the card. */
export function glucoseUnitSwitch(onChange) {
  const button = el("button", { type: "button", class: "link", dataset: { testid: "glucose-unit" } });
  const label = () => {
    const other = glucoseUnit() === UNITS[0] ? UNITS[1] : UNITS[0];
    button.textContent = t("reading.glucose_unit", { unit: other });
    button.dataset.unit = glucoseUnit();
  };
  button.addEventListener("click", () => {
    chooseUnit(glucoseUnit() === UNITS[0] ? UNITS[1] : UNITS[0]);
    label();
    onChange();
  });
  label();
  return { node: button, render: label };
}
