// What the till suggests: per offer, how often it was shown and taken,
// what HQ's model believes of it, and what it adds against the holdout.
// The period is the 30 days up to the newest checkout HQ learned from
// (data time), or up to now before any model. It refreshes every 30 s.

import { api, el, num, pct, showError } from "./lib.js";
import { barChart } from "./chart.js";

const body = document.querySelector("#suggestions-table tbody");
const errorNode = document.getElementById("suggestions-error");
const DAY = 86400000;

function set(id, text, value) {
  const node = document.getElementById(id);
  node.textContent = text;
  if (value !== undefined) node.dataset.value = value;
}

// A difference of conversion in percentage points, signed.
function points(d) {
  return Number.isFinite(d) ? (d >= 0 ? "+" : "") + (d * 100).toFixed(1) + " pt" : "–";
}

function interval(ci, fmt) {
  return ci ? `${fmt(ci[0])} to ${fmt(ci[1])}` : "";
}

function verdictPill(v) {
  const cls = { "uplift": "pill-active", "negative": "pill-offline" }[v] || "pill-paused";
  return el("span", { class: "pill " + cls, text: v || "–" });
}

// period returns [from, to) as ISO strings: 30 days up to the model's
// data_until (data time), else up to now.
async function period() {
  let to = new Date();
  let revision = 0;
  try {
    const { data } = await api("decide/model?limit=1");
    revision = data.revision;
    const until = new Date(data.data_until);
    if (!Number.isNaN(until.getTime()) && until.getUTCFullYear() > 1) to = new Date(until.getTime() + 1000);
  } catch (e) {
    if (e.status !== 404) throw e;
  }
  const from = new Date(to.getTime() - 30 * DAY);
  return { from: from.toISOString().slice(0, 19) + "Z", to: to.toISOString().slice(0, 19) + "Z", revision };
}

function days(from, to, rows, field) {
  const by = new Map();
  for (const r of rows) by.set(r.day, (by.get(r.day) || 0) + r[field]);
  const out = [];
  for (let t = new Date(from.slice(0, 10) + "T00:00:00Z").getTime(); t < new Date(to).getTime(); t += DAY) {
    const day = new Date(t).toISOString().slice(0, 10);
    out.push({ day, value: by.get(day) || 0 });
  }
  return out;
}

async function load() {
  try {
    const p = await period();
    const q = `from=${encodeURIComponent(p.from)}&to=${encodeURIComponent(p.to)}`;
    const [{ data: sg }, { data: up }] = await Promise.all([api("reports/suggestions?" + q), api("reports/uplift?" + q)]);
    set("suggestions-period", `${p.from.slice(0, 10)} to ${p.to.slice(0, 10)} (UTC)`);
    set("model-revision", p.revision ? `Model revision ${num(p.revision)}` : "No model published yet");

    const c = up.overall.conversion;
    const shown = up.overall.exposed_transactions, held = up.overall.held_out_transactions;
    set("overall-exposed", shown ? c.exposed.toFixed(3) : "–", c.exposed);
    set("overall-held-out", held ? c.held_out.toFixed(3) : "–", c.held_out);
    set("overall-uplift", shown && held ? (c.difference >= 0 ? "+" : "") + c.difference.toFixed(3) : "–", c.difference);
    set("overall-ci", `95% interval ${interval(c.ci, (x) => x.toFixed(3))}; ${num(shown)} transactions shown ` +
      `suggestions, ${num(held)} held out`);
    set("overall-verdict", c.verdict, c.verdict);

    const offers = new Map();
    const row = (id) => {
      if (!offers.has(id)) offers.set(id, { offer: id, exposures: 0, conversions: 0 });
      return offers.get(id);
    };
    for (const it of sg.items) {
      const o = row(it.offer);
      o.exposures += it.exposures;
      o.conversions += it.conversions;
    }
    for (const a of sg.offers) row(a.offer).posterior = a;
    for (const u of up.offers) row(u.offer).uplift = u;

    const rows = [...offers.values()].sort((a, b) => b.exposures - a.exposures || a.offer.localeCompare(b.offer));
    body.replaceChildren(...rows.map((o) => {
      const post = o.posterior;
      const conv = o.uplift && o.uplift.conversion;
      return el("tr", { dataset: { offer: o.offer, verdict: conv ? conv.verdict : "", mean: post ? String(post.mean) : "" } },
        el("td", { class: "strong", text: o.offer }),
        el("td", { class: "num", text: num(o.exposures) }),
        el("td", { class: "num", text: num(o.conversions) }),
        el("td", { class: "num", text: post ? `${pct(post.mean)} (${interval(post.ci, pct)})` : "no arm yet" }),
        el("td", { class: "num", text: !conv ? "–" : !o.uplift.held_out_transactions ? "none held out yet" :
          `${points(conv.difference)} (${interval(conv.ci, points)})` }),
        el("td", {}, verdictPill(conv && conv.verdict)));
    }));
    if (!rows.length) {
      body.append(el("tr", { class: "empty" }, el("td", { colspan: 6, text: "No suggestion in this period." })));
    }
    barChart(document.getElementById("chart-exposures"), days(p.from, p.to, sg.days, "exposures"), { label: "shown" });
    barChart(document.getElementById("chart-conversions"), days(p.from, p.to, sg.days, "conversions"), { label: "taken" });
    document.getElementById("main").dataset.loaded = "true";
    showError(errorNode, "");
  } catch (e) {
    showError(errorNode, "The suggestions could not be loaded: " + e.message);
  }
}

load();
setInterval(load, 30000);
