// The central service's API, called with the session cookie. Requests that change anything carry
// X-Requested-With, which the service demands of cookie-authenticated writes (CSRF defence).

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

let onUnauthorised = () => {};
export function whenUnauthorised(callback) { onUnauthorised = callback; }

function detailOf(body, response) {
  if (body && typeof body.detail === "string") return body.detail;
  if (body && Array.isArray(body.detail)) return body.detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("; ");
  return `${response.status} ${response.statusText}`;
}

export async function api(path, { method = "GET", body, query, quiet401 = false } = {}) {
  const url = new URL(path, location.origin);
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
  }
  const headers = { Accept: "application/json" };
  if (method !== "GET") headers["X-Requested-With"] = "gridwatch-console";
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(url, {
    method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 204) return null;
  let parsed = null;
  try { parsed = await response.json(); } catch (_) { /* not JSON */ }
  if (!response.ok) {
    if (response.status === 401 && !quiet401) onUnauthorised();
    throw new ApiError(response.status, detailOf(parsed, response));
  }
  return parsed;
}
