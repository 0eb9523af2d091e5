// The stores: which are online, what their agents run, what waits in
// their outboxes, and what they report wrong (alarms, claims honoured in
// part), each with its age. It refreshes every 10 seconds.

import { ago, api, csvButton, duration, el, hqDay, isoIn, num, pill, showError, when } from "./lib.js";

const body = document.querySelector("#stores-table tbody");
const errorNode = document.getElementById("stores-error");
// An outbox whose oldest event waits longer than this is behind.
const BEHIND_MS = 5 * 60 * 1000;

let shown = [];

function alarmsCell(s) {
  const alarms = s.alarms || [];
  if (!alarms.length) return el("td", { class: "muted", text: "none" });
  return el("td", { class: "alarms" }, ...alarms.map((a) => el("span", { class: "pill pill-alarm", text: a })),
    s.alarms_since ? el("small", { class: "since", title: when(s.alarms_since), text: " since " + ago(s.alarms_since) })
      : null);
}

function discrepancyCell(d) {
  if (!d) return el("td", { class: "num muted", text: "0" });
  return el("td", { class: "num discrepancies", title: `Claims honoured in part in 7 days; the latest ${when(d.last)}` },
    el("span", { class: "bad", text: num(d.discrepancies) }), el("small", { text: " latest " + ago(d.last) }));
}

function row(s, d) {
  const behind = s.outbox_oldest_ms > BEHIND_MS;
  return el("tr", { dataset: { store: s.store, online: String(s.online), alarms: String((s.alarms || []).length) } },
    el("td", { class: "strong", text: s.store }),
    el("td", { text: s.group }),
    el("td", { class: "zone", text: s.zone || "–" }),
    el("td", {}, pill(s.online ? "online" : "offline")),
    el("td", { title: s.last_seen ? when(s.last_seen) : "", text: s.last_seen ? ago(s.last_seen) : "never" }),
    el("td", { class: "mono", text: s.agent || "–" }),
    el("td", { class: "num mono", title: "The catalog revision it serves", text: s.catalog ? String(s.catalog) : "–" }),
    el("td", { class: "num outbox" + (behind ? " bad" : ""), text: num(s.outbox_depth) }),
    el("td", { class: "num" + (behind ? " bad" : ""), text: duration(s.outbox_oldest_ms) }),
    el("td", { class: "num", text: num(s.dropped_impressions) }),
    alarmsCell(s),
    discrepancyCell(d));
}

async function load() {
  try {
    const from = new Date(Date.now() - 7 * 86400e3).toISOString();
    const [{ data }, disc] = await Promise.all([api("stores"),
      api("reports/discrepancies?from=" + encodeURIComponent(from))]);
    const byStore = new Map();
    for (const r of disc.data.items) {
      const d = byStore.get(r.store) || { discrepancies: 0, last: r.last };
      d.discrepancies += r.discrepancies;
      if (r.last > d.last) d.last = r.last;
      byStore.set(r.store, d);
    }
    const online = data.items.filter((s) => s.online).length;
    // Those with something wrong first.
    const trouble = (s) => (s.alarms || []).length + (byStore.has(s.store) ? 1 : 0) + (s.online ? 0 : 1);
    shown = data.items.map((s) => ({ ...s, disc: byStore.get(s.store) }))
      .sort((a, b) => trouble(b) - trouble(a) || a.store.localeCompare(b.store));
    body.replaceChildren(...shown.map((s) => row(s, s.disc)));
    if (!data.items.length) {
      body.append(el("tr", { class: "empty" }, el("td", { colspan: 12, text: "No store has reported to HQ yet." })));
    }
    document.getElementById("stores-summary").textContent =
      `${num(data.items.length)} ${data.items.length === 1 ? "store" : "stores"}: ${num(online)} online, ` +
      `${num(data.items.length - online)} offline`;
    showError(errorNode, "");
  } catch (e) {
    showError(errorNode, "The stores could not be loaded: " + e.message);
  }
}

document.getElementById("stores-csv").append(csvButton(`stores-${hqDay(0)}.csv`,
  ["store", "group", "zone", "online", "last_seen", "agent", "catalog", "outbox_depth", "outbox_oldest_ms",
    "dropped_impressions", "alarms", "alarms_since", "discrepancies_7d"],
  () => shown.map((s) => [s.store, s.group, s.zone, s.online, s.last_seen ? isoIn(s.last_seen, s.zone || "UTC") : "",
    s.agent, s.catalog, s.outbox_depth, s.outbox_oldest_ms, s.dropped_impressions, (s.alarms || []).join("; "),
    s.alarms_since ? isoIn(s.alarms_since, s.zone || "UTC") : "", s.disc ? s.disc.discrepancies : 0])));
load();
setInterval(load, 10000);
