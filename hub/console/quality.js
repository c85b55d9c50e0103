// A small badge per media leg: round-trip time, packet loss, inbound video frame rate and bitrate,
// from getStats() every two seconds (see peer.js). Figures also go to data-* for tests.

import { formatNumber, t } from "/ui/i18n.js";

/** Show `q` (from Leg.quality(), or null when the leg has no connection) on `badge`. */
export function renderQuality(badge, leg, q) {
  const parts = [t(`leg.${leg}`)];
  const level = q ? q.level : "none";
  badge.dataset.level = level;
  setData(badge, "rttMs", q?.rttMs, 0);
  setData(badge, "lossPct", q?.lossPct, 1);
  setData(badge, "fps", q?.fps, 0);
  setData(badge, "kbps", q?.kbps, 0);
  if (!q) {
    parts.push(t("quality.none"));
  } else if (level === "connecting" || level === "down") {
    parts.push(t(`quality.${level}`));
  } else {
    if (typeof q.rttMs === "number") parts.push(t("quality.rtt", { value: formatNumber(q.rttMs) }));
    if (typeof q.lossPct === "number") parts.push(t("quality.loss", { value: formatNumber(q.lossPct, 1) }));
    if (typeof q.fps === "number") parts.push(t("quality.fps", { value: formatNumber(q.fps) }));
    if (typeof q.kbps === "number") {
      parts.push(q.kbps >= 1000
        ? t("quality.mbps", { value: formatNumber(q.kbps / 1000, 1) })
        : t("quality.kbps", { value: formatNumber(q.kbps) }));
    }
  }
  badge.textContent = parts.join(t("reading.separator"));
  badge.title = t(`quality.level_${level}`);
  badge.setAttribute("aria-label", `${badge.textContent}. ${badge.title}`);
}

function setData(el, name, value, digits) {
  if (typeof value === "number" && Number.isFinite(value)) el.dataset[name] = value.toFixed(digits);
  else delete el.dataset[name];
}
