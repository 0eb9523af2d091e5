// The offers: each with its status and how it did over 30 days; admins
// pause, resume, end and edit them here.

import { api, csvButton, el, hqDay, isAdmin, major, money, num, pct, pill, showError, uptakeTitle } from "./lib.js";

const body = document.querySelector("#offers-table tbody");
const errorNode = document.getElementById("offers-error");
const STATUS_ORDER = { active: 0, draft: 1, paused: 2, ended: 3 };

function budgetCell(o) {
  if (!o.budget) return el("td", { class: "muted", text: "no budget" });
  const burn = o.budget_burn ?? 0;
  const fill = el("span", { class: burn >= 1 ? "burn-fill over" : burn >= 0.8 ? "burn-fill high" : "burn-fill" });
  fill.style.width = Math.min(burn, 1) * 100 + "%";
  return el("td", { class: "budget", dataset: { burn } },
    el("span", { class: "burn", role: "img", "aria-label": pct(burn) + " of the budget" }, fill),
    el("small", { text: `${pct(burn)} of ${money(o.budget)}` }));
}

// An action button; End asks once more before it acts.
function actionButton(id, action, label) {
  const button = el("button", {
    type: "button", class: action === "end" ? "small danger" : "small", dataset: { action }, text: label,
  });
  button.addEventListener("click", async () => {
    if (action === "end" && button.dataset.confirm !== "yes") {
      button.dataset.confirm = "yes";
      button.textContent = "Confirm end";
      setTimeout(() => {
        button.dataset.confirm = "";
        button.textContent = label;
      }, 4000);
      return;
    }
    button.disabled = true;
    try {
      await api(`offers/${encodeURIComponent(id)}/${action}`, { method: "POST" });
      showError(errorNode, "");
    } catch (e) {
      showError(errorNode, `${label} ${id}: ${e.message}`);
    }
    load();
  });
  return button;
}

function actions(o) {
  const cell = el("td", { class: "actions" });
  if (!o.status) return cell; // not held by HQ: published by catalog push
  if (o.status !== "ended") {
    cell.append(el("a", { class: "button small", href: `/offers/${o.offer}/edit`, text: "Edit" }));
  } else {
    cell.append(el("a", { class: "button small", href: `/offers/new?from=${o.offer}`, dataset: { action: "duplicate" },
      text: "Duplicate" }));
  }
  if (o.status === "active") cell.append(actionButton(o.offer, "pause", "Pause"));
  if (o.status === "paused" || o.status === "draft") cell.append(actionButton(o.offer, "resume", "Resume"));
  if (o.status !== "ended") cell.append(actionButton(o.offer, "end", "End"));
  return cell;
}

function row(o) {
  return el("tr", { dataset: { offer: o.offer, status: o.status || "" } },
    el("td", {}, el("a", { class: "name", href: `/offers/${o.offer}`, text: o.name || o.offer }),
      el("small", { class: "id", text: o.offer })),
    el("td", { class: "status" }, o.status ? pill(o.status) :
      el("span", { class: "muted", title: "Not held by HQ's API: published by catalog push", text: "pushed" })),
    el("td", { class: "num redemptions", text: num(o.redemptions) }),
    el("td", { class: "num discount", dataset: { value: o.discount }, text: money(o.discount) }),
    el("td", { class: "num points", text: num(o.points) }),
    el("td", { class: "num impressions", text: num(o.impressions) }),
    el("td", { class: "num uptake", title: uptakeTitle(o.shown_redeemed, o.shown_checkouts), text: pct(o.uptake) }),
    budgetCell(o),
    isAdmin() ? actions(o) : null);
}

let shown = [];
const from = hqDay(29), to = hqDay(-1);

async function load() {
  try {
    const { data } = await api(`reports/offers?from=${from}&to=${to}`);
    const rows = data.items.sort((a, b) =>
      (STATUS_ORDER[a.status] ?? 4) - (STATUS_ORDER[b.status] ?? 4) || b.redemptions - a.redemptions ||
      a.offer.localeCompare(b.offer));
    shown = rows;
    body.replaceChildren(...rows.map(row));
    if (!rows.length) {
      body.append(el("tr", { class: "empty" }, el("td", { colspan: 9, text: "No offers yet." })));
    }
  } catch (e) {
    showError(errorNode, "The offers could not be loaded: " + e.message);
  }
}

document.getElementById("offers-csv").append(csvButton(`offers-${from}-to-${hqDay(0)}.csv`,
  ["offer", "name", "status", "from", "to", "redemptions", "discount", "points", "impressions", "shown_checkouts",
    "shown_redeemed", "uptake", "budget", "budget_burn"],
  () => shown.map((o) => [o.offer, o.name, o.status, from, hqDay(0), o.redemptions, major(o.discount), o.points,
    o.impressions, o.shown_checkouts, o.shown_redeemed, o.uptake ?? "", major(o.budget), o.budget_burn ?? ""])));
load();
