// The overview: today's numbers, the days' charts, the top offers, the
// stores, and the live feed, which refreshes the rest as redemptions come.

import { ago, api, coalesce, el, hqDay, money, num, pct, showError, tenant, when } from "./lib.js";
import { barChart } from "./chart.js";
import { followFeed } from "./feed.js";

const errorNode = document.getElementById("overview-error");
let days = 14;

function setStat(id, value, text = num(value)) {
  const node = document.getElementById(id);
  node.dataset.value = value;
  node.textContent = text;
}

async function loadReports() {
  const span = `from=${hqDay(days - 1)}&to=${hqDay(-1)}`;
  const [daysReport, offers] = await Promise.all([
    api("reports/days?" + span),
    api("reports/offers?" + span),
  ]);
  const rows = daysReport.data.items;
  const today = rows.find((r) => r.day === hqDay(0)) || { redemptions: 0, discount: 0 };
  setStat("today-redemptions", today.redemptions);
  setStat("today-discount", today.discount, money(today.discount));
  document.getElementById("today-day").textContent = `${hqDay(0)}, each store's own day`;
  const total = (key) => rows.reduce((s, r) => s + r[key], 0);
  document.getElementById("period-redemptions").textContent = `${num(total("redemptions"))} in ${days} days`;
  document.getElementById("period-discount").textContent = `${money(total("discount"))} in ${days} days`;
  barChart(document.getElementById("chart-redemptions"), rows.map((r) => ({ day: r.day, value: r.redemptions })),
    { label: "redemptions" });
  barChart(document.getElementById("chart-discount"), rows.map((r) => ({ day: r.day, value: r.discount })),
    { label: "discount", format: money });

  const top = offers.data.items.filter((o) => o.redemptions > 0)
    .sort((a, b) => b.redemptions - a.redemptions || b.discount - a.discount).slice(0, 5);
  document.getElementById("top-period").textContent = `(${days} days)`;
  const body = document.querySelector("#top-offers tbody");
  body.replaceChildren(...top.map((o) => el("tr", { dataset: { offer: o.offer } },
    el("td", {}, el("span", { class: "name", text: o.name || o.offer }), el("small", { class: "id", text: o.offer })),
    el("td", { class: "num redemptions", text: num(o.redemptions) }),
    el("td", { class: "num discount", dataset: { value: o.discount }, text: money(o.discount) }),
    el("td", { class: "num uptake", text: pct(o.uptake) }))));
  if (!top.length) {
    body.append(el("tr", { class: "empty" }, el("td", { colspan: 4, text: "No redemptions in the period." })));
  }
}

async function loadAlerts() {
  const { data } = await api("alerts");
  const box = document.getElementById("alerts");
  box.hidden = !data.items.length;
  document.getElementById("alert-list").replaceChildren(...data.items.map((a) => el("li", {
    class: a.level >= 100 ? "over" : undefined, dataset: { offer: a.offer, store: a.store, level: a.level } },
  el("a", { href: "/offers/" + a.offer, text: a.name || a.offer }),
  ` at ${a.store} reached ${a.level}% of its budget (${money(a.discount)} of ${money(a.budget)}) `,
  el("small", { class: "muted", title: when(a.at), text: ago(a.at) }))));
}

async function loadStores() {
  const { data } = await api("stores");
  const online = data.items.filter((s) => s.online).length;
  setStat("stores-online", online);
  setStat("stores-offline", data.items.length - online);
  document.getElementById("stores-offline").classList.toggle("bad", data.items.length > online);
}

// One refresh at a time, so that an older answer never overwrites a newer
// one; a refresh asked for meanwhile runs after it.
let busy = false;
let again = false;

async function refresh() {
  if (busy) {
    again = true;
    return;
  }
  busy = true;
  try {
    await Promise.all([loadReports(), loadStores(), loadAlerts()]);
    showError(errorNode, "");
  } catch (e) {
    showError(errorNode, "The numbers could not be loaded: " + e.message);
  } finally {
    busy = false;
    if (again) {
      again = false;
      refresh();
    }
  }
}

for (const button of document.querySelectorAll("#range button")) {
  button.addEventListener("click", () => {
    days = Number(button.dataset.days);
    for (const b of document.querySelectorAll("#range button")) b.setAttribute("aria-pressed", String(b === button));
    refresh();
  });
}

document.getElementById("zone-note").textContent =
  `Days are each store's own; times are in ${tenant().zone}. Amounts in ${tenant().currency || "minor units"}.`;

// Each redemption re-reads the reports, at most every half second.
followFeed(document.getElementById("feed-list"), document.getElementById("feed-state"), coalesce(refresh, 500));
refresh();
setInterval(() => {
  Promise.all([loadStores(), loadAlerts()])
    .catch((e) => showError(errorNode, "The stores could not be loaded: " + e.message));
}, 15000);
