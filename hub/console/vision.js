// The near-vision screening's card text (docs/design.md, "Vision screening"): each eye's smallest
// Parinaud level passed, "or better" when the kiosk's screen could draw nothing smaller.

import { formatNumber, t } from "/ui/i18n.js";

const isEye = (e) => e !== null && typeof e === "object" && (e.parinaud === null || typeof e.parinaud === "number")
  && (e.decimal === null || typeof e.decimal === "number") && typeof e.limit_reached === "boolean";

/** Whether `v` is a NearVision reading's value: {right, left}, each eye's result. */
export const isVisionValue = (v) => v !== null && typeof v === "object" && isEye(v.right) && isEye(v.left);

function eyeText(eye) {
  if (eye.parinaud === null) return t("vision.unread");
  const level = `P${formatNumber(eye.parinaud, 1)}`;
  return eye.limit_reached ? t("vision.at_least", { level }) : level;
}

/** "OD P2 · OG P3": right eye first, as French prescriptions write it. */
export function visionText(m) {
  return t("vision.value", { right: eyeText(m.value.right), left: eyeText(m.value.left) });
}

/** The decimal acuities, and the screen's limit when an eye reached it. */
export function visionSecondary(m) {
  const decimal = (eye) => (eye.decimal === null ? "—" : formatNumber(eye.decimal, 2, 2));
  const out = [t("vision.decimal", { right: decimal(m.value.right), left: decimal(m.value.left) })];
  if (m.value.right.limit_reached || m.value.left.limit_reached) {
    out.push(t("vision.limit", { level: `P${formatNumber(m.smallest_shown, 1)}` }));
  }
  return out;
}
