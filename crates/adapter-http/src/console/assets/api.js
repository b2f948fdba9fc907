// The JSON API, called with the caller's Bearer token.
//
// The token is kept in sessionStorage: it lives as long as the browser tab, is never sent
// by the browser on its own (unlike a cookie, so no request can be forged from another
// site), and "Sign out" forgets it. The console decodes the token's claims only to decide
// what to show; the API verifies the token and decides what the caller may do.

const TOKEN_KEY = "scaisend.console.token";

export function currentToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function keepToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

// The claims of a JWT (its middle part), or null when it is not one. Not verified: for
// display only.
export function readClaims(token) {
  const parts = token.split(".");
  if (parts.length !== 3) {
    return null;
  }
  try {
    const base64 = parts[1].replace(/-/g, "+").replace(/_/g, "/");
    const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
    const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    return claims !== null && typeof claims === "object" ? claims : null;
  } catch {
    return null;
  }
}

// A refused request: the HTTP status and the RFC 9457 problem the API answered with.
export class ApiError extends Error {
  constructor(status, problem, requestId) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.problem = problem;
    this.requestId = requestId;
  }
}

async function request(method, path, { body, accept = "application/json" } = {}) {
  const headers = { Accept: accept };
  const token = currentToken();
  if (token) {
    headers.Authorization = `Bearer ${token}`;
  }
  const init = { method, headers, credentials: "omit", cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, {
      title: "The server could not be reached",
      detail: "Check the connection and try again.",
    }, null);
  }
  if (!response.ok) {
    throw new ApiError(response.status, await problemOf(response), response.headers.get("x-request-id"));
  }
  return response;
}

// The problem+json body of a refusal, or one made up from the status when the body is
// something else (a proxy's HTML error page, say).
async function problemOf(response) {
  let problem = null;
  try {
    problem = await response.json();
  } catch {
    problem = null;
  }
  if (problem === null || typeof problem !== "object" || Array.isArray(problem)) {
    problem = { title: response.statusText || "Error", detail: `The server answered ${response.status}.` };
  }
  const retryAfter = response.headers.get("retry-after");
  if (retryAfter) {
    problem.retry_after = retryAfter;
  }
  return problem;
}

export async function getJson(path) {
  return (await request("GET", path)).json();
}

// Sends a JSON body (or none) and reads the JSON answer; null for 204 No Content.
export async function send(method, path, body) {
  const response = await request(method, path, { body });
  return response.status === 204 ? null : response.json();
}

// A file to download, with the name the server gives it.
export async function download(path, accept) {
  const response = await request("GET", path, { accept });
  const disposition = response.headers.get("content-disposition") || "";
  const match = /filename="([^"]+)"/.exec(disposition);
  return { blob: await response.blob(), filename: match ? match[1] : "download" };
}

export const paths = {
  domains: "/api/admin/domains",
  domain: (id) => `/api/admin/domains/${encodeURIComponent(id)}`,
  verify: (id) => `/api/admin/domains/${encodeURIComponent(id)}/verify`,
  rotate: (id) => `/api/admin/domains/${encodeURIComponent(id)}/rotate-dkim`,
  selector: (id, selector) =>
    `/api/admin/domains/${encodeURIComponent(id)}/dkim/${encodeURIComponent(selector)}`,
  events: (id) => `/api/admin/domains/${encodeURIComponent(id)}/events`,
  zoneFile: (id) => `/api/admin/domains/${encodeURIComponent(id)}/zone-file`,
};
