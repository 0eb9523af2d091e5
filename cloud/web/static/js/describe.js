// An offer document in plain words, for people who do not read JSON: its
// condition, reward, schedule, audience and limits. docs/offers.md is the
// reference for every field.

import { money, num } from "./lib.js";

const DAY_NAMES = { mon: "Monday", tue: "Tuesday", wed: "Wednesday", thu: "Thursday", fri: "Friday", sat: "Saturday",
  sun: "Sunday" };

function list(items, last = "or") {
  const xs = (items || []).map(String);
  if (xs.length <= 1) return xs.join("");
  return xs.slice(0, -1).join(", ") + ` ${last} ` + xs[xs.length - 1];
}

/** What a selector picks: "items of category coffee or SKU COF-001". */
function selector(sel) {
  if (!sel) return "any item";
  const parts = [];
  if (sel.skus?.length) parts.push((sel.skus.length > 1 ? "SKUs " : "SKU ") + list(sel.skus));
  if (sel.categories?.length) parts.push((sel.categories.length > 1 ? "categories " : "category ") + list(sel.categories));
  if (sel.brands?.length) parts.push((sel.brands.length > 1 ? "brands " : "brand ") + list(sel.brands));
  return parts.length ? "items of " + parts.join(" or ") : "any item";
}

function units(n, what) {
  return `${num(n)} ${n === 1 ? "unit" : "units"} of ${what}`;
}

/** A condition as a sentence part. */
export function condition(c) {
  if (!c || !Object.keys(c).length) return "any basket";
  if (c.all) return c.all.length ? c.all.map(condition).join(", and ") : "any basket";
  if (c.any) return "either " + c.any.map(condition).join(", or ");
  if (c.not) return "not (" + condition(c.not) + ")";
  if (c.items) {
    const parts = [];
    if (c.items.min_qty) parts.push(units(c.items.min_qty, selector(c.items)));
    if (c.items.min_spend) parts.push(`${money(c.items.min_spend)} of ${selector(c.items)}`);
    return "the basket holds " + (parts.length ? parts.join(" and ") : "at least one unit of " + selector(c.items));
  }
  if (c.spend) {
    const { min, max } = c.spend;
    if (min && max) return `the basket comes to ${money(min)} to ${money(max)}`;
    if (min) return `the basket comes to at least ${money(min)}`;
    if (max) return `the basket comes to at most ${money(max)}`;
    return "any basket";
  }
  if (c.coupon) return `the customer shows coupon ${c.coupon.code}`;
  if (c.customer) return "an identified customer who " + JSON.stringify(c.customer);
  return JSON.stringify(c);
}

/** A reward as a sentence part. */
export function reward(r) {
  if (!r) return "nothing";
  const cap = r.max_discount ? ` (at most ${money(r.max_discount)})` : "";
  switch (r.type) {
    case "percent_off":
      return r.target ? `${r.percent}% off ${selector(r.target)}${cap}` : `${r.percent}% off the basket${cap}`;
    case "amount_off":
      return r.target ? `${money(r.amount)} off ${selector(r.target)}${cap}` : `${money(r.amount)} off the basket`;
    case "buy_x_get_y": {
      const off = !r.percent || r.percent === 100 ? "free" : `${r.percent}% off`;
      return `buy ${units(r.buy.qty, selector(r.buy))}, get ${units(r.get.qty, selector(r.get))} ${off}, ` +
        "again for each such set";
    }
    case "free_item":
      return `${units(r.qty || 1, selector(r.target))} free`;
    case "bundle_price":
      return (r.items || []).map((i) => units(i.qty, selector(i))).join(" + ") + ` for ${money(r.price)}, ` +
        "again for each such set";
    case "tiered_spend":
      return "by spend: " + (r.tiers || []).map((t) =>
        `from ${money(t.min_spend)}, ${t.amount ? money(t.amount) : t.percent + "%"} off`).join("; ");
    case "points":
      return r.points ? `${num(r.points)} points` : `${r.multiplier} times the usual points`;
    default:
      return JSON.stringify(r);
  }
}

function schedule(s) {
  if (!s) return "";
  const days = s.days?.length ? "on " + list(s.days.map((d) => DAY_NAMES[d] || d)) : "every day";
  const hours = s.from || s.until ? `, ${s.from || "00:00"} to ${s.until || "24:00"} store time` : "";
  return days + hours;
}

function validity(o) {
  const f = (t) => new Date(t).toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "short", timeZone: "UTC" }) + " UTC";
  if (o.valid_from && o.valid_until) return `from ${f(o.valid_from)} until ${f(o.valid_until)}`;
  if (o.valid_from) return `from ${f(o.valid_from)}`;
  if (o.valid_until) return `until ${f(o.valid_until)}`;
  return "with no end date";
}

function limits(l) {
  if (!l) return [];
  const out = [];
  if (l.budget) out.push(`a budget of ${money(l.budget)} of discount at each store`);
  if (l.per_transaction) out.push(`${num(l.per_transaction)} times per basket at most`);
  if (l.per_customer) out.push(`${num(l.per_customer)} times per customer, ever`);
  if (l.per_customer_per_day) out.push(`${num(l.per_customer_per_day)} times per customer per day`);
  if (l.total_redemptions) out.push(`${num(l.total_redemptions)} redemptions per store in all`);
  if (l.impressions_per_customer_per_day) {
    out.push(`shown at most ${num(l.impressions_per_customer_per_day)} times per customer per day`);
  }
  return out;
}

/** The rules of an offer, one sentence each. */
export function describe(o) {
  const out = [`When ${condition(o.condition)}: ${reward(o.reward)}.`];
  out.push(`Valid ${validity(o)}${o.schedule ? ", " + schedule(o.schedule) : ""}.`);
  out.push(o.stores?.length ? `At stores ${list(o.stores)}.` : "At every store.");
  const a = o.audience || {};
  const who = [];
  if (a.segments_any?.length) who.push(`customers in segment ${list(a.segments_any)}`);
  if (a.segments_none?.length) who.push(`never customers in ${list(a.segments_none)}`);
  if (a.known_customer) who.push("identified customers only");
  out.push(who.length ? `For ${who.join("; ")}.` : "For everyone.");
  const l = limits(o.limits);
  if (l.length) out.push(`Limits: ${l.join("; ")}.`);
  const st = o.stacking || {};
  if (st.exclusive || st.group || st.priority) {
    out.push(`Stacking: priority ${num(st.priority || 0)}${st.group ? `, group ${st.group}` : ""}` +
      `${st.exclusive ? ", exclusive (no other offer with it)" : ""}.`);
  }
  if (o.text) out.push(`The till says "${o.text}".`);
  return out;
}
