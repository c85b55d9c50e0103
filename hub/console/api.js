// The hub's HTTP API for the GP (and the coordinator's console and the secretary's desk): login and its second
// factor, who am I, logout, and the consoles' requests with their refusals' texts. The session cookie is
// HttpOnly and set by the hub; the console keeps nothing in the browser's storage.

import { $ } from "/ui/dom.js";
import { switchLanguage, t, tCode } from "/ui/i18n.js";

/** One request to the hub's JSON API: {status, data} (data {} when the body is not a JSON object); throws offline. */
export async function call(method, path, body) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null; // an empty or non-JSON body: the status says enough
  }
  return { status: response.status, data: data !== null && typeof data === "object" ? data : {} };
}

/** A console's request: {ok, status, data} (status 0 when the hub is unreachable); a login that ended (401)
 * goes back to the console's login page. */
export async function send(method, path, body) {
  try {
    const result = await call(method, path, body);
    if (result.status === 401) location.replace("/"); // logged out, or the login expired: log in again there
    return { ok: result.status === 200, ...result };
  } catch {
    return { ok: false, status: 0, data: {} };
  }
}

/** What a refused `send` says, in the page's language: its code's text, else the hub's message. */
export function refusalText(result) {
  if (result.status === 0) return t("error.network");
  const { error, message } = result.data;
  return tCode("error", error, message || t("error.server"));
}

/**
 * A POST of one of the login's steps: {ok: true, data} | {ok: false, reason: `refusal` (a 401)|"rate_limited"|
 * "server"|"network", retryAfter?: seconds, message?}.
 */
async function step(path, body, refusal) {
  let result;
  try {
    result = await call("POST", path, body);
  } catch {
    return { ok: false, reason: "network" };
  }
  const { status, data } = result;
  if (status === 200) return { ok: true, data };
  if (status === 401) return { ok: false, reason: refusal, message: data.message };
  if (status === 429) {
    const retry = Number(data.retry_after_s);
    return { ok: false, reason: "rate_limited", retryAfter: Number.isFinite(retry) && retry > 0 ? Math.ceil(retry) : 30 };
  }
  return { ok: false, reason: "server", status };
}

/**
 * Log in. Resolves to {ok: true, name, next: "console"|"code"|"enrol", required} | {ok: false, reason:
 * "bad_login"|"rate_limited"|"server"|"network", retryAfter?: seconds, message?}. `next` is what comes
 * after the password: the second factor's code, or setting one up (a must when `required`).
 */
export async function login(username, password) {
  const result = await step("/api/login", { username, password }, "bad_login");
  if (!result.ok) return result;
  const { name, next, totp_required: required } = result.data;
  return { ok: true, name, next: next ?? "console", required: required === true };
}

/** A new second factor to set up: {ok: true, data: {uri, qr, secret}} or a refusal as login()'s. */
export function enrolSecondFactor() {
  return step("/api/totp/enrol", {}, "server");
}

/** The app's first code confirms the set-up: {ok: true, data: {recovery_codes}} | {ok: false, reason: "bad_code"...}. */
export function confirmSecondFactor(code) {
  return step("/api/totp/confirm", { code }, "bad_code");
}

/** The app's code or a recovery code completes the login: {ok: true} | {ok: false, reason: "bad_code"...}. */
export function verifySecondFactor(code) {
  return step("/api/totp/verify", { code }, "bad_code");
}

/** Who is logged in: the /api/me object, null when not logged in; throws when the hub is unreachable. */
export async function me() {
  const { status, data } = await call("GET", "/api/me");
  if (status === 200) return data;
  if (status === 401 || status === 403) return null;
  throw new Error(`/api/me answered ${status}`);
}

/** Log out (best effort: the view is cleared whatever the answer). */
export async function logout() {
  try {
    await call("POST", "/api/logout");
  } catch (error) {
    console.warn("console: logout request failed", error);
  }
}

/**
 * A staff page's start (the fleet page, the accounts page, the desks): its logout button and language toggle
 * bound, then who is logged in. The /api/me object when its role is one of `roles`; else null: the hub did not
 * answer (`offline()` says so on the page), or the page is on its way back to the login page at "/" (log in
 * there; another role's login goes back to its own page). `page` names the page in the browser's console.
 */
export async function staffLogin(page, roles, offline) {
  $("logout-button").addEventListener("click", async () => {
    await logout();
    location.replace("/");
  });
  $("lang-toggle").addEventListener("click", () => switchLanguage().catch((error) => console.warn(`${page}: language switch failed`, error)));
  let who = null;
  try {
    who = await me();
  } catch (error) {
    console.warn(`${page}: the hub did not answer /api/me`, error);
    offline();
    return null;
  }
  if (!roles.includes(who?.role)) {
    location.replace("/");
    return null;
  }
  return who;
}
