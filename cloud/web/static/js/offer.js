// One offer over time, for every role: its rules in plain words, what it
// did per day and per store, its budget and how fast it burns, and every
// change made to it.

import {
  addDays, api, csvButton, el, hqDay, isoIn, major, money, num, pct, pill, showError, tenant, uptakeTitle, when,
} from "./lib.js";
import { barChart } from "./chart.js";
import { describe } from "./describe.js";

const id = document.getElementById("offer").dataset.offerId;
const errorNode = document.getElementById("offer-error");
let days = 30;
let doc = null; // the offer document; null for an offer HQ does not hold
let perDay = [];
let perStore = [];
let audit = [];

function setStat(nodeID, value, text) {
  const node = document.getElementById(nodeID);
  node.dataset.value = value ?? "";
  node.textContent = text;
}

async function loadOffer() {
  try {
    const { data } = await api("offers/" + encodeURIComponent(id));
    doc = data.doc;
    document.getElementById("offer-name").textContent = doc.name || doc.text || id;
    document.getElementById("offer-status").replaceChildren(pill(data.status));
    document.getElementById("offer-rules").replaceChildren(...describe(doc).map((s) => el("li", { text: s })));
    const edit = document.getElementById("offer-edit");
    if (edit) edit.hidden = data.status === "ended";
  } catch (e) {
    if (e.status !== 404) throw e;
    document.getElementById("offer-rules").replaceChildren(el("li", { class: "muted",
      text: "HQ does not hold this offer (it came by catalog push, or was deleted): only its numbers are known." }));
  }
}

async function loadAudit() {
  const { data } = await api(`audit?kind=offer&id=${encodeURIComponent(id)}&limit=100`);
  audit = data.items;
  const body = document.querySelector("#offer-audit tbody");
  body.replaceChildren(...audit.map((a) => el("tr", {},
    el("td", { text: when(a.at) }), el("td", { text: a.actor }), el("td", { text: a.action }),
    el("td", { class: "small", text: changedFields(a.before, a.after) }))));
  if (!audit.length) body.append(el("tr", { class: "empty" }, el("td", { colspan: 4, text: "No change recorded." })));
}

/** The top-level fields a change touched: "status, limits". */
function changedFields(before, after) {
  if (!before) return "created";
  if (!after) return "deleted";
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  const changed = [...keys].filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]));
  return changed.length ? changed.join(", ") : "nothing";
}

let loads = 0; // the latest load; older answers are dropped

async function loadNumbers() {
  const mine = ++loads;
  const from = hqDay(days - 1), to = hqDay(-1);
  const [daysReport, storesNow, storesEver] = await Promise.all([
    api(`reports/days?from=${from}&to=${to}&offer=${encodeURIComponent(id)}`),
    api(`reports/stores?from=${from}&to=${to}&offer=${encodeURIComponent(id)}`),
    // All time, as budgets count.
    api(`offers/${encodeURIComponent(id)}/stores`),
  ]);
  if (mine !== loads) return;
  perDay = daysReport.data.items;
  const sum = (k) => perDay.reduce((s, r) => s + r[k], 0);
  const shown = sum("shown_checkouts"), redeemed = sum("shown_redeemed");
  setStat("s-redemptions", sum("redemptions"), num(sum("redemptions")));
  setStat("s-discount", sum("discount"), money(sum("discount")));
  document.getElementById("s-points").textContent = `${num(sum("points"))} points`;
  setStat("s-impressions", sum("impressions"), num(sum("impressions")));
  document.getElementById("s-nudges").textContent = `and ${num(sum("nudge_impressions"))} as a nudge`;
  setStat("s-uptake", shown ? redeemed / shown : "", shown ? pct(redeemed / shown) : "–");
  document.getElementById("s-uptake-of").textContent = uptakeTitle(redeemed, shown);
  document.getElementById("offer-note").textContent = `${from} to ${hqDay(0)}, each store's own days. ` +
    `Amounts in ${tenant().currency || "minor units"}.`;

  barChart(document.getElementById("chart-redemptions"), perDay.map((r) => ({ day: r.day, value: r.redemptions })),
    { label: "redemptions" });
  barChart(document.getElementById("chart-uptake"), perDay.map((r) => ({ day: r.day,
    value: r.uptake === null ? 0 : Math.round(r.uptake * 1000) / 10 })), { label: "% uptake" });
  barChart(document.getElementById("chart-burn"), perDay.map((r) => ({ day: r.day, value: r.discount })),
    { label: "discount", format: money });

  const ever = new Map(storesEver.data.items.map((s) => [s.store, s]));
  perStore = storesNow.data.items.map((s) => ({ ...s, ever: ever.get(s.store)?.discount ?? 0 }));
  for (const [store, s] of ever) {
    if (!perStore.some((x) => x.store === store)) {
      perStore.push({ store, redemptions: 0, discount: 0, points: 0, impressions: 0, uptake: null, ever: s.discount });
    }
  }
  perStore.sort((a, b) => b.ever - a.ever || a.store.localeCompare(b.store));
  const budget = doc?.limits?.budget || 0;
  const body = document.querySelector("#offer-stores tbody");
  body.replaceChildren(...perStore.map((s) => el("tr", { dataset: { store: s.store } },
    el("td", { class: "strong", text: s.store }),
    el("td", { class: "num redemptions", text: num(s.redemptions) }),
    el("td", { class: "num discount", text: money(s.discount) }),
    el("td", { class: "num", text: num(s.points) }),
    el("td", { class: "num", text: num(s.impressions) }),
    el("td", { class: "num", title: uptakeTitle(s.shown_redeemed, s.shown_checkouts), text: pct(s.uptake) }),
    el("td", { class: "burn-cell", dataset: { burn: budget ? s.ever / budget : "" } },
      budget ? `${pct(s.ever / budget)} of ${money(budget)}` : "no budget"))));
  if (!perStore.length) {
    body.append(el("tr", { class: "empty" }, el("td", { colspan: 7, text: "No store redeemed or showed it." })));
  }
  document.getElementById("budget-summary").textContent = budgetSummary(budget);

  document.querySelector("#offer-days tbody").replaceChildren(...perDay.slice().reverse().map((r) => el("tr", {},
    el("td", { text: r.day }), el("td", { class: "num", text: num(r.redemptions) }),
    el("td", { class: "num", text: money(r.discount) }), el("td", { class: "num", text: num(r.points) }),
    el("td", { class: "num", text: num(r.impressions) }), el("td", { class: "num", text: num(r.nudge_impressions) }),
    el("td", { class: "num", title: uptakeTitle(r.shown_redeemed, r.shown_checkouts), text: pct(r.uptake) }))));
}

/**
 * The budget in a sentence: how much of it the store that used the most
 * has used, and at the last 7 days' pace when it runs out.
 */
function budgetSummary(budget) {
  if (!budget) return "No budget: the offer gives discount without a cap.";
  const top = perStore[0];
  if (!top || !top.ever) return `A budget of ${money(budget)} of discount at each store; none used yet.`;
  let text = `A budget of ${money(budget)} at each store. Store ${top.store} has used the most: ` +
    `${money(top.ever)}, ${pct(top.ever / budget)}.`;
  const week = perDay.slice(-7).reduce((s, r) => s + r.discount, 0) / Math.max(perStore.length, 1) / 7;
  if (top.ever >= budget) {
    text += " It has reached its budget: the offer no longer applies there.";
  } else if (week > 0) {
    const left = Math.ceil((budget - top.ever) / week);
    text += ` At the last 7 days' pace (${money(Math.round(week))} a day per store) it runs out in about ` +
      `${num(left)} days, around ${addDays(hqDay(0), left)}.`;
  }
  return text;
}

async function refresh() {
  try {
    await loadOffer(); // the numbers need its budget
    await Promise.all([loadAudit(), loadNumbers()]);
    showError(errorNode, "");
  } catch (e) {
    showError(errorNode, "The offer could not be loaded: " + e.message);
  }
}

for (const button of document.querySelectorAll("#range button")) {
  button.addEventListener("click", () => {
    days = Number(button.dataset.days);
    for (const b of document.querySelectorAll("#range button")) b.setAttribute("aria-pressed", String(b === button));
    loadNumbers().catch((e) => showError(errorNode, "The numbers could not be loaded: " + e.message));
  });
}

document.getElementById("days-csv").append(csvButton(`${id}-days.csv`,
  ["day", "offer", "redemptions", "discount", "points", "impressions", "nudge_impressions", "shown_checkouts",
    "shown_redeemed", "uptake"],
  () => perDay.map((r) => [r.day, id, r.redemptions, major(r.discount), r.points, r.impressions, r.nudge_impressions,
    r.shown_checkouts, r.shown_redeemed, r.uptake ?? ""])));
document.getElementById("stores-csv").append(csvButton(`${id}-stores.csv`,
  ["store", "offer", "redemptions", "discount", "points", "impressions", "uptake", "discount_all_time"],
  () => perStore.map((s) => [s.store, id, s.redemptions, major(s.discount), s.points, s.impressions, s.uptake ?? "",
    major(s.ever)])));
document.getElementById("audit-csv").append(csvButton(`${id}-history.csv`,
  ["at", "actor", "action", "changed"],
  () => audit.map((a) => [isoIn(a.at, tenant().zone), a.actor, a.action, changedFields(a.before, a.after)])));
refresh();
