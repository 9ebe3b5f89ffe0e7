// Talking to the Pakati server: JSON requests, the token, and the event stream.

const params = new URLSearchParams(location.search);
export const token = params.get("token");

/** A URL of this server, with the token when the page was opened with one. */
export function url(path) {
  if (!token) return path;
  return path + (path.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token);
}

/** A request; resolves to the JSON answer, rejects with the server's message. */
export async function api(method, path, body, contentType) {
  const headers = {};
  if (token) headers.Authorization = "Bearer " + token;
  let payload;
  if (body instanceof Blob || body instanceof ArrayBuffer) {
    headers["Content-Type"] = contentType || "application/octet-stream";
    payload = body;
  } else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const response = await fetch(path, { method, headers, body: payload });
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const detail = data && data.detail ? data.detail : response.statusText;
    const error = new Error(typeof detail === "string" ? detail : JSON.stringify(detail));
    error.status = response.status;
    throw error;
  }
  return data;
}

export const EVENT_TYPES = ["queued", "started", "step", "done", "failed", "cancelled", "chat"];

/**
 * Follow the server's events from sequence number `since`; `handler(event)` gets each
 * one (parsed). The browser reconnects by itself, resuming after the last id it saw.
 */
export function follow(since, handler) {
  const source = new EventSource(url(`/api/events?since=${since}`));
  for (const type of EVENT_TYPES) {
    source.addEventListener(type, (message) => handler(JSON.parse(message.data)));
  }
  return source;
}
