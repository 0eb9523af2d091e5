// The stores: which are online, what their agents run, what waits in
// their outboxes. It refreshes every 10 seconds.

import { ago, api, duration, el, num, pill, showError, when } from "./lib.js";

const body = document.querySelector("#stores-table tbody");
const errorNode = document.getElementById("stores-error");

function row(s) {
  return el("tr", { dataset: { store: s.store, online: String(s.online) } },
    el("td", { class: "strong", text: s.store }),
    el("td", {}, pill(s.online ? "online" : "offline")),
    el("td", { title: s.last_seen ? when(s.last_seen) : "", text: s.last_seen ? ago(s.last_seen) : "never" }),
    el("td", { class: "mono", text: s.agent || "–" }),
    el("td", { class: "num", text: s.catalog ? num(s.catalog) : "–" }),
    el("td", { class: "num outbox", text: num(s.outbox_depth) }),
    el("td", { class: "num", text: duration(s.outbox_oldest_ms) }),
    el("td", {}, ...(s.alarms || []).map((a) => el("span", { class: "pill pill-alarm", text: a }))));
}

async function load() {
  try {
    const { data } = await api("stores");
    const online = data.items.filter((s) => s.online).length;
    body.replaceChildren(...data.items.map(row));
    if (!data.items.length) {
      body.append(el("tr", { class: "empty" }, el("td", { colspan: 8, text: "No store has reported to HQ yet." })));
    }
    document.getElementById("stores-summary").textContent =
      `${num(data.items.length)} ${data.items.length === 1 ? "store" : "stores"}: ${num(online)} online, ` +
      `${num(data.items.length - online)} offline`;
    showError(errorNode, "");
  } catch (e) {
    showError(errorNode, "The stores could not be loaded: " + e.message);
  }
}

load();
setInterval(load, 10000);
