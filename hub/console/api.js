// The hub's HTTP API for the GP: login, who am I, logout. The session cookie is HttpOnly and
// set by the hub; the console keeps nothing in the browser's storage.

async function call(method, path, body) {
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

/**
 * Log in. Resolves to {ok: true, name} | {ok: false, reason: "bad_login"|"rate_limited"|"server"|"network",
 * retryAfter?: seconds, message?}.
 */
export async function login(username, password) {
  let result;
  try {
    result = await call("POST", "/api/login", { username, password });
  } catch {
    return { ok: false, reason: "network" };
  }
  const { status, data } = result;
  if (status === 200) return { ok: true, name: data.name };
  if (status === 401) return { ok: false, reason: "bad_login", message: data.message };
  if (status === 429) {
    const retry = Number(data.retry_after_s);
    return { ok: false, reason: "rate_limited", retryAfter: Number.isFinite(retry) && retry > 0 ? Math.ceil(retry) : 30 };
  }
  return { ok: false, reason: "server", status };
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
