// How long something lasted, in the console's words ("4 min 05 s"): the catalogue's duration.* keys.

import { t } from "/ui/i18n.js";

/** A duration in seconds as "4 min 05 s" or "12 s", through the catalogue. */
export function formatDuration(seconds) {
  const total = Math.max(0, Math.floor(seconds));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const secs = String(total % 60).padStart(2, "0");
  if (hours > 0) return t("duration.hm", { h: hours, m: String(minutes).padStart(2, "0") });
  if (minutes > 0) return t("duration.ms", { m: minutes, s: secs });
  return t("duration.s", { s: total });
}
