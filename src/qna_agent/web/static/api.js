// The page's HTTP client: the API key from the browser's storage, problem+json errors,
// and Server-Sent Events read from a fetch() body (EventSource cannot POST or send headers).

const KEY_STORAGE = "qna-agent.api-key";
const authListeners = new Set();

export function getApiKey() {
  return localStorage.getItem(KEY_STORAGE) ?? "";
}

export function setApiKey(key) {
  if (key) localStorage.setItem(KEY_STORAGE, key);
  else localStorage.removeItem(KEY_STORAGE);
}

/**
 * Call `listener(error)` whenever the server refuses the key (401). A 403 is not a refusal of
 * the key: it is valid, it just may not do that (a `user` key and an admin action).
 */
export function onAuthRefused(listener) {
  authListeners.add(listener);
}

/** An HTTP error with its problem+json body; status 0 means the server was not reached. */
export class ApiError extends Error {
  constructor(status, problem) {
    const detail = problem?.detail || problem?.title || `HTTP ${status}`;
    super(detail);
    this.name = "ApiError";
    this.status = status;
    this.problem = problem ?? {};
    this.detail = detail;
  }

  get isAuth() {
    return this.status === 401 || this.status === 403;
  }
}

async function problemOf(response) {
  let problem = null;
  try {
    problem = await response.json();
  } catch {
    problem = { title: response.statusText };
  }
  return new ApiError(response.status, problem);
}

/** Send a request; resolves to the Response when it is 2xx, else throws ApiError. */
export async function request(method, path, { json, body, accept, signal } = {}) {
  const headers = new Headers({ Accept: accept ?? "application/json" });
  const key = getApiKey();
  if (key) headers.set("Authorization", `Bearer ${key}`);
  if (json !== undefined) {
    headers.set("Content-Type", "application/json");
    body = JSON.stringify(json);
  }
  let response;
  try {
    response = await fetch(path, { method, headers, body, signal, cache: "no-store" });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, { title: "Network error", detail: `cannot reach the server (${error.message})` });
  }
  if (!response.ok) {
    const error = await problemOf(response);
    if (error.status === 401) for (const listener of authListeners) listener(error);
    throw error;
  }
  return response;
}

export async function getJSON(path, options) {
  return (await request("GET", path, options)).json();
}

export async function sendJSON(method, path, json) {
  const response = await request(method, path, { json });
  return response.status === 204 ? null : response.json();
}

/** Parse a text/event-stream body into {event, data} objects as they arrive. */
export async function* readEvents(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replaceAll("\r\n", "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = "message";
      const data = [];
      for (const line of frame.split("\n")) {
        if (!line || line.startsWith(":")) continue; // a keep-alive comment
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let text = colon < 0 ? "" : line.slice(colon + 1);
        if (text.startsWith(" ")) text = text.slice(1);
        if (field === "event") event = text;
        else if (field === "data") data.push(text);
      }
      if (data.length) yield { event, data: JSON.parse(data.join("\n")) };
    }
  }
}

/** Page through a list endpoint ({data, has_more, next_cursor}). */
export async function getPage(path, { limit = 50, after = null, extra = {} } = {}) {
  const query = new URLSearchParams({ limit: String(limit), ...extra });
  if (after) query.set("after", after);
  return getJSON(`${path}?${query}`);
}
