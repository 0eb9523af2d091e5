// A bar chart drawn as SVG, one bar per day.

import { num } from "./lib.js";

const SVG_NS = "http://www.w3.org/2000/svg"; // the SVG namespace: a name, never fetched

function svg(tag, attrs = {}, text) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

// A whole step of 1, 2 or 5 times a power of ten, at least raw and 1.
function niceStep(raw) {
  if (!(raw > 1)) return 1;
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) {
    if (m * p >= raw) return m * p;
  }
  return 10 * p;
}

const TICKS = 4;
const monthDay = new Intl.DateTimeFormat("en-US", { month: "short", day: "numeric", timeZone: "UTC" });

/**
 * Draws rows ({day: "YYYY-MM-DD", value: n}, oldest first) into node as
 * bars. Each bar carries data-day and data-value, and node carries
 * data-total and data-last (today's value), for people and tests alike.
 * format writes the values (the axis, the bars' titles).
 */
export function barChart(node, rows, { label = "value", format = num } = {}) {
  const W = 640, H = 200, left = 52, right = 8, top = 10, bottom = 26;
  const plotW = W - left - right, plotH = H - top - bottom;
  const step = niceStep(Math.max(0, ...rows.map((r) => r.value)) / TICKS);
  const max = step * TICKS;
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "bars", "aria-hidden": "true" });

  for (let i = 0; i <= TICKS; i++) {
    const y = top + plotH - (plotH * i) / TICKS;
    chart.append(svg("line", { x1: left, x2: W - right, y1: y, y2: y, class: i ? "grid" : "axis" }));
    chart.append(svg("text", { x: left - 8, y: y + 4, class: "tick", "text-anchor": "end" }, format(step * i)));
  }

  const slot = plotW / Math.max(rows.length, 1);
  const every = Math.ceil(rows.length / 7);
  rows.forEach((r, i) => {
    const h = (plotH * r.value) / max;
    const x = left + slot * i + slot * 0.15;
    const bar = svg("rect", {
      x, y: top + plotH - h, width: slot * 0.7, height: h, rx: 2,
      class: i === rows.length - 1 ? "bar today" : "bar", "data-day": r.day, "data-value": r.value,
    });
    bar.append(svg("title", {}, `${r.day}: ${format(r.value)} ${label}`));
    chart.append(bar);
    if ((rows.length - 1 - i) % every === 0) {
      const d = new Date(r.day + "T00:00:00Z");
      chart.append(svg("text", { x: x + slot * 0.35, y: H - 8, class: "tick", "text-anchor": "middle" },
        Number.isNaN(d.getTime()) ? r.day : monthDay.format(d)));
    }
  });

  node.replaceChildren(chart);
  node.dataset.total = rows.reduce((s, r) => s + r.value, 0);
  node.dataset.last = rows.length ? rows[rows.length - 1].value : 0;
}
