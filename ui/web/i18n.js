// One i18n runtime for the kiosk page and the GP console.
// A catalogue is a flat JSON object, "dotted.key": "text with {placeholders}", one file per
// language; flat because a key and a longer one may both hold text ("state.ready" and
// "state.ready.text"). The code holds keys; static markup carries `data-i18n="key"` (text) and
// `data-i18n-attr="aria-label=key;title=key2"`; dynamic parts re-render through onLanguageChange().
// A key the current catalogue lacks is reported (a warning once, and missingKeys() for tests)
// and shown in the default language, else as the key itself: never as an empty text.

export const LANGUAGES = ["fr", "en"];
export const DEFAULT_LANGUAGE = "fr";

const catalogues = {};
const listeners = new Set();
const missing = new Set();
let base = null;
let current = DEFAULT_LANGUAGE;

async function load(code) {
  if (!catalogues[code]) {
    const response = await fetch(new URL(`${code}.json`, base), { cache: "no-cache" });
    if (!response.ok) throw new Error(`catalogue ${code}: HTTP ${response.status}`);
    const catalogue = await response.json();
    if (catalogue === null || typeof catalogue !== "object" || Array.isArray(catalogue)) {
      throw new Error(`catalogue ${code}: not a JSON object`);
    }
    catalogues[code] = catalogue;
  }
  return catalogues[code];
}

function lookup(code, key) {
  const text = Object.hasOwn(catalogues[code] ?? {}, key) ? catalogues[code][key] : undefined;
  return typeof text === "string" ? text : undefined;
}

function report(key) {
  const entry = `${current}:${key}`;
  if (missing.has(entry)) return;
  missing.add(entry);
  console.warn(`i18n: no "${current}" text for`, key);
}

/** The current language code. */
export function language() {
  return current;
}

/** The other language, for the toggle. */
export function otherLanguage() {
  return LANGUAGES.find((code) => code !== current) ?? DEFAULT_LANGUAGE;
}

/** Whether the current (or default) catalogue has this key: for codes that may have no text of their own. */
export function has(key) {
  return lookup(current, key) !== undefined || lookup(DEFAULT_LANGUAGE, key) !== undefined;
}

/** The text for `key` with `{name}` placeholders filled from `args` (a placeholder without an argument stays). */
export function t(key, args = {}) {
  let template = lookup(current, key);
  if (template === undefined) {
    report(key);
    template = lookup(DEFAULT_LANGUAGE, key) ?? key;
  }
  return template.replace(/\{(\w+)\}/g, (whole, name) => (Object.hasOwn(args, name) ? String(args[name] ?? "") : whole));
}

/** `prefix.code` when the catalogue knows it, else `fallback` (a text that came with the data). */
export function tCode(prefix, code, fallback = "") {
  const key = `${prefix}.${code}`;
  return typeof code === "string" && code && has(key) ? t(key) : fallback || String(code ?? "");
}

/** Every `language:key` looked up and not found since the page loaded, for tests and diagnostics. */
export function missingKeys() {
  return [...missing];
}

/** Translate the static markup under `root` (the document's <title data-i18n> included). */
export function applyStatic(root = document) {
  for (const node of root.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of root.querySelectorAll("[data-i18n-attr]")) {
    for (const pair of node.dataset.i18nAttr.split(";")) {
      const [attr, key] = pair.split("=").map((s) => s.trim());
      if (attr && key) node.setAttribute(attr, t(key));
    }
  }
}

/** Load every catalogue from the folder `folder` (a URL ending in "/") and switch to `code` (or the default). */
export async function init(folder, code = DEFAULT_LANGUAGE) {
  base = new URL(folder, location.href);
  await Promise.all(LANGUAGES.map(load));
  await setLanguage(LANGUAGES.includes(code) ? code : DEFAULT_LANGUAGE);
}

/** Switch language, translate the page and tell every renderer. */
export async function setLanguage(code) {
  if (!LANGUAGES.includes(code)) return;
  await load(code);
  current = code;
  document.documentElement.lang = code;
  applyStatic(document);
  for (const listener of listeners) {
    try {
      listener(code);
    } catch (error) {
      console.warn("i18n: re-render after a language change failed", error);
    }
  }
}

/** Switch to the other language, kept in the page's address (never in storage) for a reload. */
export async function switchLanguage() {
  const code = otherLanguage();
  await setLanguage(code);
  const url = new URL(location.href);
  url.searchParams.set("lang", code);
  history.replaceState(null, "", url);
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
