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

/** "2 of the 3 checkouts shown it redeemed it", for an uptake's title. */
export function uptakeTitle(redeemed, shown) {
  return shown ? `${num(redeemed)} of the ${num(shown)} checkouts shown it redeemed it` : "No checkout was shown it";
}

/** A ratio as a percentage: 0.123 is 12.3%. */
export function pct(ratio) {
  return Number.isFinite(ratio) ? decimal.format(ratio * 100) + "%" : "–";
}

/**
 * How the tenant counts money and time, as HQ said when it served the
 * page: the ISO 4217 currency ("" when HQ was not told) and the digits of
 * its minor unit, which every amount is in; HQ's zone, and its today.
 */
export function tenant() {
  const b = document.body.dataset;
  return { currency: b.currency || "", minorUnit: Number(b.minorUnit) || 0, zone: knownZone(b.zone || "UTC"),
    today: b.today };
}

const moneyFormats = new Map();

/**
 * An amount of minor units in the tenant's currency: 1100 is ¥1,100 in
 * JPY, €11.00 in EUR. Without a currency, the plain number.
 */
export function money(minor) {
  if (!Number.isFinite(minor)) return "–";
  const { currency, minorUnit } = tenant();
  if (!currency) return integer.format(minor);
  let f = moneyFormats.get(currency);
  if (!f) {
    f = new Intl.NumberFormat("en-US", { style: "currency", currency, minimumFractionDigits: minorUnit,
      maximumFractionDigits: minorUnit });
    moneyFormats.set(currency, f);
  }
  return f.format(minor / 10 ** minorUnit);
}

/**
 * A date and time to the second in a zone (HQ's by default), which it
 * names: "3 Dec 2026, 09:14:03 GMT+9".
 */
export function when(iso, zone = tenant().zone) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "–" : d.toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "long",
    timeZone: knownZone(zone) });
}

/** A time of day in a zone (HQ's by default). */
export function clock(iso, zone = tenant().zone) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "–" : d.toLocaleTimeString("en-GB", { timeZone: knownZone(zone) });
}

/** zone when the browser knows it, else UTC. */
function knownZone(zone) {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
    return zone;
  } catch {
    return "UTC";
  }
}

/** The wall clock of a moment in a zone: {year, month, day, hour, minute, second} as strings. */
function wall(date, zone) {
  return Object.fromEntries(new Intl.DateTimeFormat("en-US", { timeZone: knownZone(zone), hourCycle: "h23", year: "numeric",
    month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" })
    .formatToParts(date).map((p) => [p.type, p.value]));
}

/** The offset of a zone from UTC at a moment, in minutes: 540 for Asia/Tokyo. */
function zoneOffset(date, zone) {
  const w = wall(date, zone);
  const local = Date.UTC(+w.year, +w.month - 1, +w.day, +w.hour, +w.minute, +w.second);
  return Math.round((local - Math.floor(date.getTime() / 1000) * 1000) / 60000);
}

/**
 * A time as ISO 8601 with the offset of a zone: 2026-12-03T09:14:03+09:00.
 * For CSV, which spreadsheets read back exactly.
 */
export function isoIn(iso, zone = "UTC") {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const w = wall(d, zone);
  const offset = zoneOffset(d, zone);
  const sign = offset < 0 ? "-" : "+";
  const hh = String(Math.floor(Math.abs(offset) / 60)).padStart(2, "0");
  const mm = String(Math.abs(offset) % 60).padStart(2, "0");
  return `${w.year}-${w.month}-${w.day}T${w.hour}:${w.minute}:${w.second}${sign}${hh}:${mm}`;
}

/**
 * The moment a wall clock time "2026-11-23T09:30" in a zone is, as an
 * RFC 3339 UTC time; "" for a time that is not one.
 */
export function zonedTime(local, zone) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(local);
  if (!m) return "";
  const asUTC = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5]);
  let t = asUTC;
  for (let i = 0; i < 2; i++) t = asUTC - zoneOffset(new Date(t), zone) * 60000;
  return new Date(t).toISOString().replace(".000Z", "Z");
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

/** The date YYYY-MM-DD n days after day (before, for a negative n). */
export function addDays(day, n) {
  const d = new Date(day + "T00:00:00Z");
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

/** The date YYYY-MM-DD of a moment in a zone (HQ's by default). */
export function dayIn(date = new Date(), zone = tenant().zone) {
  const p = Object.fromEntries(new Intl.DateTimeFormat("en-US", { timeZone: knownZone(zone), year: "numeric", month: "2-digit",
    day: "2-digit" }).formatToParts(date).map((x) => [x.type, x.value]));
  return `${p.year}-${p.month}-${p.day}`;
}

/** HQ's date, YYYY-MM-DD, days before today there. */
export function hqDay(daysBack = 0) {
  return addDays(dayIn(), -daysBack);
}

/** A field of CSV: quoted when it must be, and never read as a formula. */
function csvField(v) {
  let s = v === null || v === undefined ? "" : String(v);
  if (/^\s*[=+\-@]|^[\t\r]/.test(s) && !/^-?\d+(\.\d+)?$/.test(s)) s = "'" + s;
  return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
}

/**
 * A button that downloads rows() as a CSV file: a header line of the
 * columns' names, then each row (an array, in the columns' order). The
 * file's name is filename, or what it returns when a function.
 */
export function csvButton(filename, columns, rows) {
  return el("button", { type: "button", class: "small csv", text: "CSV",
    title: "Download this table as CSV, as shown", onclick: () => {
      const text = [columns, ...rows()].map((r) => r.map(csvField).join(",")).join("\r\n") + "\r\n";
      const url = URL.createObjectURL(new Blob([text], { type: "text/csv;charset=utf-8" }));
      const a = el("a", { href: url, download: typeof filename === "function" ? filename() : filename });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } });
}

/** The decimal number of minor units an amount is, for CSV: 11.00 for 1100 in EUR. */
export function major(minor) {
  const { minorUnit } = tenant();
  return Number.isFinite(minor) ? (minor / 10 ** minorUnit).toFixed(minorUnit) : "";
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

// Elements marked data-zone-label say which zone the page's times are in.
for (const node of document.querySelectorAll?.("[data-zone-label]") ?? []) {
  node.textContent = "times in " + tenant().zone;
}

/** The role of the token the page was served to. */
export function isAdmin() {
  return document.body.dataset.role === "admin";
}

/** A status pill: active, paused, draft, ended, online, offline. */
export function pill(text, kind = text) {
  return el("span", { class: "pill pill-" + kind, text });
}
