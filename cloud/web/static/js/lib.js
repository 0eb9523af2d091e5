// Helpers every page uses: the API, numbers and times, and the DOM.

/** An error reply of the API: its HTTP status, code and message. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/**
 * Calls HQ's API with the session cookie and returns the reply's JSON.
 * A change carries X-Requested-With, which the API requires of a change
 * sent with the cookie. A token that is no longer valid goes back to login.
 */
export async function api(path, { method = "GET", body } = {}) {
  const headers = { "Accept": "application/json", "X-Requested-With": "posoffer" };
  const init = { method, headers, credentials: "same-origin", cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = typeof body === "string" ? body : JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch("/api/v1/" + path, init);
  } catch (e) {
    throw new ApiError(0, "network", "HQ cannot be reached: " + e.message);
  }
  let data = null;
  try {
    data = await resp.json();
  } catch {
    // Not JSON: only the status is known.
  }
  if (resp.status === 401) {
    location.assign("/login?next=" + encodeURIComponent(location.pathname));
  }
  if (!resp.ok) {
    const err = (data && data.error) || {};
    throw new ApiError(resp.status, err.code || "http_" + resp.status, err.message || resp.statusText);
  }
  return { status: resp.status, data };
}

const integer = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const decimal = new Intl.NumberFormat("en-US", { maximumFractionDigits: 1 });

/** A whole number with thousands separators: 12,345. */
export function num(n) {
  return Number.isFinite(n) ? integer.format(n) : "–";
}

/** A ratio as a percentage: 0.123 is 12.3%. */
export function pct(ratio) {
  return Number.isFinite(ratio) ? decimal.format(ratio * 100) + "%" : "–";
}

/** A date and time in the browser's zone, to the second. */
export function when(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "–" : d.toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "medium" });
}

/** A time of day in the browser's zone. */
export function clock(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "–" : d.toLocaleTimeString("en-GB");
}

/** How long ago: "12 s ago", "5 min ago", "3 h ago", "2 d ago". */
export function ago(iso) {
  const s = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
  if (!Number.isFinite(s)) return "never";
  if (s < 60) return Math.max(s, 0) + " s ago";
  if (s < 3600) return Math.floor(s / 60) + " min ago";
  if (s < 86400) return Math.floor(s / 3600) + " h ago";
  return Math.floor(s / 86400) + " d ago";
}

/** A duration in milliseconds, roughly: "850 ms", "42 s", "3 min", "5 h". */
export function duration(ms) {
  if (!Number.isFinite(ms) || ms <= 0) return "–";
  if (ms < 1000) return ms + " ms";
  if (ms < 60000) return Math.round(ms / 1000) + " s";
  if (ms < 3600000) return Math.round(ms / 60000) + " min";
  return Math.round(ms / 3600000) + " h";
}

/** The UTC date YYYY-MM-DD days before today. */
export function utcDay(daysBack = 0) {
  const d = new Date();
  d.setUTCDate(d.getUTCDate() - daysBack);
  return d.toISOString().slice(0, 10);
}

/**
 * Makes an element: el("td", {class: "num", dataset: {v: 1}}, "text", child).
 * Text is always set as text, never parsed as HTML.
 */
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "dataset") Object.assign(e.dataset, v);
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  e.append(...children.filter((c) => c !== undefined && c !== null));
  return e;
}

/** Shows a message in an error element, or hides it for "". */
export function showError(node, message) {
  node.textContent = message;
  node.hidden = !message;
}

/** Returns fn delayed until calls stop for ms. */
export function debounce(fn, ms) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

/**
 * Returns fn run once, ms after the first of a burst of calls: a steady
 * stream of calls still runs it every ms.
 */
export function coalesce(fn, ms) {
  let timer = null;
  return () => {
    if (timer !== null) return;
    timer = setTimeout(() => {
      timer = null;
      fn();
    }, ms);
  };
}

/** The role of the token the page was served to. */
export function isAdmin() {
  return document.body.dataset.role === "admin";
}

/** A status pill: active, paused, draft, ended, online, offline. */
export function pill(text, kind = text) {
  return el("span", { class: "pill pill-" + kind, text });
}
