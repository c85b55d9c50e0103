// Catalogues and formatting. Every visible string lives in i18n/<lang>.json; the code holds keys.
// Static markup carries `data-i18n="key"` (text) and `data-i18n-attr="aria-label=key;title=key2"`;
// dynamic parts re-render themselves through onLanguageChange().

export const LANGUAGES = ["fr", "en"];
const DEFAULT = "fr";

const catalogues = {};
const listeners = new Set();
const missing = new Set();
let current = DEFAULT;

async function load(code) {
  if (!catalogues[code]) {
    const response = await fetch(new URL(`./i18n/${code}.json`, import.meta.url), { cache: "no-cache" });
    if (!response.ok) throw new Error(`catalogue ${code}: HTTP ${response.status}`);
    catalogues[code] = await response.json();
  }
  return catalogues[code];
}

function lookup(catalogue, key) {
  let node = catalogue;
  for (const part of key.split(".")) {
    if (node === null || typeof node !== "object" || !(part in node)) return undefined;
    node = node[part];
  }
  return typeof node === "string" ? node : undefined;
}

/** The current language code. */
export function language() {
  return current;
}

/** The other language, for the toggle. */
export function otherLanguage() {
  return LANGUAGES.find((code) => code !== current) ?? DEFAULT;
}

/** Whether the current (or default) catalogue has this key. */
export function has(key) {
  return lookup(catalogues[current] ?? {}, key) !== undefined || lookup(catalogues[DEFAULT] ?? {}, key) !== undefined;
}

/** The text for `key` with `{name}` placeholders filled from `args`. */
export function t(key, args = {}) {
  let template = lookup(catalogues[current] ?? {}, key) ?? lookup(catalogues[DEFAULT] ?? {}, key);
  if (template === undefined) {
    if (!missing.has(key)) {
      missing.add(key);
      console.warn("console: no text for", key);
    }
    template = key;
  }
  return template.replace(/\{(\w+)\}/g, (whole, name) => (name in args ? String(args[name]) : whole));
}

/** `prefix.code` when the catalogue knows it, else `fallback` (a text from the cabin). */
export function tCode(prefix, code, fallback = "") {
  const key = `${prefix}.${code}`;
  return typeof code === "string" && code && has(key) ? t(key) : fallback || String(code ?? "");
}

/** Translate the static markup under `root`. */
export function applyStatic(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-attr]")) {
    for (const pair of el.dataset.i18nAttr.split(";")) {
      const [attr, key] = pair.split("=").map((s) => s.trim());
      if (attr && key) el.setAttribute(attr, t(key));
    }
  }
}

/** Load both catalogues and switch to `code` (or the default). */
export async function init(code) {
  await Promise.all(LANGUAGES.map(load));
  await setLanguage(LANGUAGES.includes(code) ? code : DEFAULT);
}

/** Switch language, translate the page and tell every renderer. */
export async function setLanguage(code) {
  if (!LANGUAGES.includes(code)) return;
  await load(code);
  current = code;
  document.documentElement.lang = code;
  document.title = t("app.title");
  applyStatic(document);
  for (const listener of listeners) {
    try {
      listener(code);
    } catch (error) {
      console.warn("console: re-render after a language change failed", error);
    }
  }
}

/** Call `listener` after each language change. */
export function onLanguageChange(listener) {
  listeners.add(listener);
}

const numberFormats = new Map();

/** A number in the current language with `digits` decimals at most (and at least `min`). */
export function formatNumber(value, digits = 0, min = 0) {
  const key = `${current}:${digits}:${min}`;
  if (!numberFormats.has(key)) {
    numberFormats.set(key, new Intl.NumberFormat(current, { maximumFractionDigits: digits, minimumFractionDigits: min }));
  }
  return numberFormats.get(key).format(value);
}

/** A wall-clock time (hours, minutes, seconds) in the current language. */
export function formatTime(date) {
  return new Intl.DateTimeFormat(current, { hour: "2-digit", minute: "2-digit", second: "2-digit" }).format(date);
}

/** A date and time, for instruments' own clocks. */
export function formatDateTime(date) {
  return new Intl.DateTimeFormat(current, { dateStyle: "short", timeStyle: "medium" }).format(date);
}

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
