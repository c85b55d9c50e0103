// The hub's public booking API (docs/design.md, "The public booking page"): no account, no cookie.
// Every call resolves to {ok: true, data} or {ok: false, status, error, message, data}; `error` is
// the hub's stable code ("slot_taken", "rate_limited"...), "network" when the hub was not reached.

async function call(method, path, body) {
  const init = { method, headers: { Accept: "application/json" }, cache: "no-store" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    return { ok: false, status: 0, error: "network", message: "", data: {} };
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null; // an empty or non-JSON body (413 from the server): the status says enough
  }
  data = data !== null && typeof data === "object" ? data : {};
  if (response.ok) return { ok: true, data };
  const error = typeof data.error === "string" ? data.error : response.status === 413 ? "too_large" : "server";
  return { ok: false, status: response.status, error, message: typeof data.message === "string" ? data.message : "", data };
}

/** The bookable sites: {sites: [{code, name, town, address, mobile, hours: {mon: [...]}, stops: [...]}]}. */
export function sites() {
  return call("GET", "/api/public/sites");
}

/** Free times of a site from `day` (null: today) for `days` days: {today, first_day, next_day, slots: [...]}. */
export function slots(site, day, days) {
  const query = new URLSearchParams({ site, days: String(days) });
  if (day) query.set("day", day);
  return call("GET", `/api/public/slots?${query}`);
}

/** Book: the form's fields with terms_accepted; 201 with the code and the confirmation. */
export function book(form) {
  return call("POST", "/api/public/bookings", form);
}

/** Cancel with the code and the birth date. */
export function cancel(code, birthDate) {
  return call("POST", "/api/public/cancel", { code, birth_date: birthDate });
}
