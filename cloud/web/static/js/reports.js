// The reports an analyst reconciles with finance: per store, per segment,
// per day, and the audit log, over chosen store-local days, for one offer
// or store or all. Every table downloads as CSV as shown, with offer names
// and times that say their zone.

import {
  addDays, api, csvButton, el, hqDay, isoIn, major, money, num, pct, showError, tenant, uptakeTitle, when,
} from "./lib.js";

const errorNode = document.getElementById("reports-error");
const fromInput = document.getElementById("r-from");
const toInput = document.getElementById("r-to");
const offerSelect = document.getElementById("r-offer");
const storeSelect = document.getElementById("r-store");
const names = new Map(); // offer id to name
let tab = "stores";
let rows = { stores: [], segments: [], days: [], audit: [] };
let auditNext = "";

fromInput.value = hqDay(29);
toInput.value = hqDay(0);

function span() {
  return `from=${fromInput.value}&to=${addDays(toInput.value, 1)}`;
}

function filters() {
  return { offer: offerSelect.value, store: storeSelect.value };
}

// What each report can be narrowed to.
const NARROWS = { stores: ["dates", "offer", "store"], days: ["dates", "offer", "store"], segments: ["dates"],
  audit: ["offer"] };

function note() {
  const f = filters();
  const narrows = NARROWS[tab];
  fromInput.disabled = toInput.disabled = !narrows.includes("dates");
  offerSelect.disabled = !narrows.includes("offer");
  storeSelect.disabled = !narrows.includes("store");
  const what = [];
  if (narrows.includes("dates")) what.push(`${fromInput.value} to ${toInput.value} included, each store's own days`);
  if (narrows.includes("offer")) what.push(f.offer ? `offer ${names.get(f.offer) || f.offer}` : "every offer");
  if (narrows.includes("store")) what.push(f.store ? `store ${f.store}` : "every store");
  if (tab === "segments") what.push("every offer and store");
  if (tab === "audit") what.push("every change, newest first");
  document.getElementById("r-note").textContent = what.join("; ") + ". Amounts in " +
    (tenant().currency || "minor units") + ".";
}

function uptakeCell(r) {
  return el("td", { class: "num uptake", title: uptakeTitle(r.shown_redeemed, r.shown_checkouts), text: pct(r.uptake) });
}

function total(items, keys) {
  const t = {};
  for (const k of keys) t[k] = items.reduce((s, r) => s + (r[k] || 0), 0);
  t.uptake = t.shown_checkouts ? t.shown_redeemed / t.shown_checkouts : null;
  return t;
}

const SUMMED = ["checkouts", "sales", "redemptions", "discount", "points", "impressions", "nudge_impressions",
  "shown_checkouts", "shown_redeemed"];

async function loadStores(current = () => true) {
  const f = filters();
  const { data } = await api(`reports/stores?${span()}${f.offer ? "&offer=" + f.offer : ""}`);
  if (!current()) return;
  rows.stores = data.items.filter((r) => !f.store || r.store === f.store);
  const line = (r, tag = "td") => [
    el(tag, { class: "strong", text: r.store }),
    el("td", { class: "num", text: num(r.checkouts) }), el("td", { class: "num", text: money(r.sales) }),
    el("td", { class: "num", text: num(r.redemptions) }),
    el("td", { class: "num discount", dataset: { value: r.discount }, text: money(r.discount) }),
    el("td", { class: "num", text: r.sales ? pct(r.discount / r.sales) : "–" }),
    el("td", { class: "num", text: num(r.points) }), el("td", { class: "num", text: num(r.impressions) }),
    uptakeCell(r)];
  const table = document.getElementById("report-stores");
  table.tBodies[0].replaceChildren(...rows.stores.map((r) => el("tr", { dataset: { store: r.store } }, ...line(r))));
  table.tFoot.replaceChildren(el("tr", { class: "total" }, ...line({ store: "Total", ...total(rows.stores, SUMMED) }, "th")));
}

async function loadSegments(current = () => true) {
  const { data } = await api(`reports/segments?${span()}`);
  if (!current()) return;
  rows.segments = data.items;
  document.querySelector("#report-segments tbody").replaceChildren(...rows.segments.map((r) =>
    el("tr", { dataset: { segment: r.segment } },
      el("td", { class: r.segment ? "strong" : "muted", text: r.segment || "no segment" }),
      el("td", { class: "num", text: num(r.redemptions) }),
      el("td", { class: "num", text: money(r.discount) }), el("td", { class: "num", text: num(r.points) }))));
}

async function loadDays(current = () => true) {
  const f = filters();
  const q = (f.offer ? "&offer=" + f.offer : "") + (f.store ? "&store=" + f.store : "");
  const { data } = await api(`reports/days?${span()}${q}`);
  if (!current()) return;
  rows.days = data.items;
  const line = (r, tag = "td") => [el(tag, { text: r.day }),
    el("td", { class: "num", text: num(r.checkouts) }), el("td", { class: "num", text: money(r.sales) }),
    el("td", { class: "num", text: num(r.redemptions) }), el("td", { class: "num", text: money(r.discount) }),
    el("td", { class: "num", text: num(r.points) }), el("td", { class: "num", text: num(r.impressions) }),
    el("td", { class: "num", text: num(r.nudge_impressions) }), uptakeCell(r)];
  const table = document.getElementById("report-days");
  table.tBodies[0].replaceChildren(...rows.days.map((r) => el("tr", { dataset: { day: r.day } }, ...line(r))));
  table.tFoot.replaceChildren(el("tr", { class: "total" }, ...line({ day: "Total", ...total(rows.days, SUMMED) }, "th")));
}

/** The top-level fields a change touched: "status, limits". */
function changedFields(a) {
  if (!a.before) return "created";
  if (!a.after) return "deleted";
  const keys = new Set([...Object.keys(a.before), ...Object.keys(a.after)]);
  return [...keys].filter((k) => JSON.stringify(a.before[k]) !== JSON.stringify(a.after[k])).join(", ") || "nothing";
}

async function loadAudit(more = false) {
  const f = filters();
  let q = "limit=100" + (f.offer ? "&kind=offer&id=" + f.offer : "");
  if (more) q += "&after=" + encodeURIComponent(auditNext);
  const { data } = await api("audit?" + q);
  rows.audit = more ? rows.audit.concat(data.items) : data.items;
  auditNext = data.next;
  document.getElementById("audit-more").hidden = !auditNext;
  document.querySelector("#report-audit tbody").replaceChildren(...rows.audit.map((a) => el("tr", {},
    el("td", { text: when(a.at) }), el("td", { text: a.actor }), el("td", { text: a.action }),
    el("td", {}, a.kind === "offer" ? el("a", { href: "/offers/" + a.object_id, text: names.get(a.object_id) || a.object_id })
      : el("span", { text: "segment" }), " ", el("small", { class: "id", text: a.object_id })),
    el("td", { class: "small", text: changedFields(a) }))));
}

const loaders = { stores: loadStores, segments: loadSegments, days: loadDays, audit: () => loadAudit() };

let loads = 0; // the latest load

async function load() {
  note();
  const mine = ++loads;
  if (!fromInput.value || !toInput.value || fromInput.value > toInput.value) {
    showError(errorNode, "Choose a From day on or before the To day.");
    return;
  }
  try {
    await loaders[tab](() => mine === loads);
    showError(errorNode, "");
  } catch (e) {
    showError(errorNode, "The report could not be loaded: " + e.message);
  }
}

function showTab(name) {
  tab = name;
  for (const b of document.querySelectorAll("#tabs button")) b.setAttribute("aria-selected", String(b.dataset.tab === name));
  for (const s of document.querySelectorAll("section.tab")) s.hidden = s.dataset.tab !== name;
  history.replaceState(null, "", "#" + name);
  load();
}

const csv = {
  stores: [["store", "from", "to", "offer", "offer_name", "checkouts", "sales", "redemptions", "discount", "points",
    "impressions", "shown_checkouts", "shown_redeemed", "uptake"],
  () => rows.stores.map((r) => [r.store, fromInput.value, toInput.value, filters().offer, names.get(filters().offer) || "",
    r.checkouts, major(r.sales), r.redemptions, major(r.discount), r.points, r.impressions, r.shown_checkouts,
    r.shown_redeemed, r.uptake ?? ""])],
  segments: [["segment", "from", "to", "redemptions", "discount", "points"],
    () => rows.segments.map((r) => [r.segment, fromInput.value, toInput.value, r.redemptions, major(r.discount), r.points])],
  days: [["day", "offer", "offer_name", "store", "checkouts", "sales", "redemptions", "discount", "points", "impressions",
    "nudge_impressions", "shown_checkouts", "shown_redeemed", "uptake"],
  () => rows.days.map((r) => [r.day, filters().offer, names.get(filters().offer) || "", filters().store, r.checkouts,
    major(r.sales), r.redemptions, major(r.discount), r.points, r.impressions, r.nudge_impressions, r.shown_checkouts,
    r.shown_redeemed, r.uptake ?? ""])],
  audit: [["at", "zone", "actor", "action", "kind", "object_id", "name", "changed"],
    () => rows.audit.map((a) => [isoIn(a.at, tenant().zone), tenant().zone, a.actor, a.action, a.kind, a.object_id,
      names.get(a.object_id) || "", changedFields(a)])],
};
for (const section of document.querySelectorAll("section.tab")) {
  const name = section.dataset.tab;
  section.querySelector(".csv-slot").append(csvButton(() => `${name}-${fromInput.value}-to-${toInput.value}.csv`,
    csv[name][0], csv[name][1]));
}

async function start() {
  try {
    const [offers, stores] = await Promise.all([api("offers"), api("stores")]);
    for (const o of offers.data.items) {
      names.set(o.id, o.doc?.name || o.id);
      offerSelect.append(el("option", { value: o.id, text: `${o.doc?.name || o.id} (${o.id})` }));
    }
    for (const s of stores.data.items) storeSelect.append(el("option", { value: s.store, text: s.store }));
  } catch (e) {
    showError(errorNode, "The offers and stores could not be loaded: " + e.message);
  }
  document.getElementById("filters").addEventListener("change", load);
  document.getElementById("audit-more").addEventListener("click", () =>
    loadAudit(true).catch((e) => showError(errorNode, e.message)));
  for (const b of document.querySelectorAll("#tabs button")) b.addEventListener("click", () => showTab(b.dataset.tab));
  const wanted = location.hash.slice(1);
  showTab(loaders[wanted] ? wanted : "stores");
}

start();
