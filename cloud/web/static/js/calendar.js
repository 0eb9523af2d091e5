// Season planning: every offer on the days it runs, four weeks at a time,
// for the stores of one group or all.

import { addDays, api, dayIn, el, hqDay, pill, showError, tenant } from "./lib.js";

const errorNode = document.getElementById("calendar-error");
const table = document.getElementById("calendar");
const groupSelect = document.getElementById("cal-group");
const WEEKS = 4;
const WEEKDAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
let offers = [];
let stores = [];
let start = monday(hqDay(0));

function monday(day) {
  const d = new Date(day + "T00:00:00Z");
  return addDays(day, -((d.getUTCDay() + 6) % 7));
}

function weekday(day) {
  return WEEKDAYS[new Date(day + "T00:00:00Z").getUTCDay()];
}

/** Whether the offer's validity touches the HQ day. */
function validOn(o, day) {
  const zone = tenant().zone;
  if (o.valid_until && dayIn(new Date(new Date(o.valid_until).getTime() - 1), zone) < day) return false;
  if (o.valid_from && dayIn(new Date(o.valid_from), zone) > day) return false;
  return true;
}

function scheduledOn(o, day) {
  const days = o.schedule?.days;
  return !days?.length || days.includes(weekday(day));
}

/** Whether the offer runs at a store of the group ("" for any). */
function inGroup(o, group) {
  if (!group || !o.stores?.length) return true;
  return o.stores.some((id) => stores.find((s) => s.store === id)?.group === group);
}

function hours(o) {
  const s = o.schedule;
  return s && (s.from || s.until) ? `${s.from || "00:00"}–${s.until || "24:00"}` : "all day";
}

function draw() {
  const days = Array.from({ length: WEEKS * 7 }, (_, i) => addDays(start, i));
  const today = hqDay(0);
  document.getElementById("cal-span").textContent = `${days[0]} to ${days[days.length - 1]}`;
  table.tHead.replaceChildren(el("tr", {}, el("th", { text: "Offer" }),
    ...days.map((d) => el("th", { class: "day" + (d === today ? " today" : "") + (weekday(d) === "mon" ? " week" : ""),
      title: d, text: d.slice(8) + "\n" + weekday(d).slice(0, 2) }))));
  const group = groupSelect.value;
  const ended = document.getElementById("cal-ended").checked;
  const shown = offers.filter((o) => (ended || o.status !== "ended") && inGroup(o.doc, group) &&
    days.some((d) => validOn(o.doc, d)));
  table.tBodies[0].replaceChildren(...shown.map((o) => el("tr", { dataset: { offer: o.id, status: o.status } },
    el("th", { class: "offer" }, el("a", { href: "/offers/" + o.id, text: o.doc.name || o.id }), " ", pill(o.status),
      el("small", { class: "muted", text: " " + hours(o.doc) + (o.doc.stores?.length ? " · " + o.doc.stores.length +
        " stores" : "") })),
    ...days.map((d) => {
      const on = validOn(o.doc, d) && scheduledOn(o.doc, d);
      return el("td", { class: on ? "on status-" + o.status : "", dataset: { day: d, on: String(on) },
        title: on ? `${o.doc.name || o.id}: ${d}, ${hours(o.doc)}` : "" });
    }))));
  if (!shown.length) {
    table.tBodies[0].append(el("tr", { class: "empty" }, el("td", { colspan: days.length + 1,
      text: "No offer runs in these weeks" + (group ? " in group " + group : "") + "." })));
  }
}

async function load() {
  try {
    const [o, s] = await Promise.all([api("offers"), api("stores")]);
    offers = o.data.items;
    stores = s.data.items;
    for (const g of [...new Set(stores.map((x) => x.group))].sort()) {
      groupSelect.append(el("option", { value: g, text: g }));
    }
    draw();
    showError(errorNode, "");
  } catch (e) {
    showError(errorNode, "The offers could not be loaded: " + e.message);
  }
}

groupSelect.addEventListener("change", draw);
document.getElementById("cal-ended").addEventListener("change", draw);
document.getElementById("cal-prev").addEventListener("click", () => { start = addDays(start, -7 * WEEKS); draw(); });
document.getElementById("cal-next").addEventListener("click", () => { start = addDays(start, 7 * WEEKS); draw(); });
load();
