// The offer editor. A new offer starts from one of the API's templates:
// the form is drawn from GET /api/v1/templates, each change builds the
// document (POST /api/v1/templates/{name}) and previews it against the
// sample basket at a chosen store and time (POST /api/v1/preview). An
// existing offer opens in the form of the template it fits (GET
// /api/v1/offers/{id}/form), or as its JSON document when none does; JSON
// stays at hand as the advanced mode. Save publishes it to the stores.

import { api, debounce, el, hqDay, money, num, showError, zonedTime } from "./lib.js";

const root = document.getElementById("editor");
const offerID = root.dataset.offerId;
// A new offer made from an existing one: /offers/new?from=ID.
const copyOf = offerID ? "" : new URLSearchParams(location.search).get("from") || "";
const picker = document.getElementById("template");
const fieldsNode = document.getElementById("fields");
const moreNode = document.getElementById("fields-more");
const moreSection = document.getElementById("more");
const jsonField = document.getElementById("json-field");
const docArea = document.getElementById("doc");
const formError = document.getElementById("form-error");
const saveButton = document.getElementById("save");
const saveStatus = document.getElementById("save-status");
const jsonOut = document.getElementById("offer-json");
const basketBody = document.querySelector("#basket tbody");

// Fields that go under "Schedule, audience and limits".
const ADVANCED = new Set(["valid_from", "valid_until", "days", "from", "until", "stores", "segments_any",
  "segments_none", "budget", "per_customer", "per_customer_per_day", "per_transaction", "priority"]);

const JSON_MODE = "json";
const STARTER = { id: "", name: "", status: "draft", reward: { type: "percent_off", percent: 10 } };

// A convenience store's basket: coffee, a pastry, onigiri, tea, a bento.
const SAMPLE_LINES = [
  { sku: "COF-001", name: "Blend M", category: "coffee", brand: "posoffer-roasters", qty: 2, price: 350 },
  { sku: "PAS-014", name: "Melon pan", category: "pastry", brand: "", qty: 1, price: 280 },
  { sku: "ONI-002", name: "Salmon onigiri", category: "onigiri", brand: "", qty: 2, price: 140 },
  { sku: "ONI-007", name: "Tuna mayo onigiri", category: "onigiri", brand: "", qty: 1, price: 160 },
  { sku: "TEA-500", name: "Green tea 500ml", category: "tea", brand: "acme", qty: 3, price: 160 },
  { sku: "BEN-031", name: "Karaage bento", category: "bento", brand: "", qty: 1, price: 598 },
];

// Sample profiles for the preview; spend in minor units.
const PROFILES = {
  new: () => ({ visits: 1, first_visit: hqDay(0), last_visit: hqDay(0), lifetime_spend: 0, points: 0 }),
  regular: () => ({ visits: 12, first_visit: hqDay(200), last_visit: hqDay(3), lifetime_spend: 40000, points: 400 }),
  lapsed: () => ({ visits: 5, first_visit: hqDay(400), last_visit: hqDay(90), lifetime_spend: 8000, points: 80 }),
};
let stores = []; // the stores HQ knows, with their zones

let templates = [];
let template = null; // the template of the form; null when editing JSON
let doc = null; // the document to save: the last one built without error
let frozen = false; // an ended offer: it does not change
let seq = 0; // the latest update; the answers of older ones are dropped
const touched = new Set(); // the fields someone has changed

// ---- The sample basket.

const LINE_KEYS = ["sku", "name", "category", "brand", "qty", "price"];

function basketRow(line = {}) {
  const cells = LINE_KEYS.map((k) => {
    const numeric = k === "qty" || k === "price";
    return el("td", { class: numeric ? "num" : undefined }, el("input", {
      "aria-label": k, dataset: { key: k }, value: line[k] ?? "", size: numeric ? 5 : 10,
      type: numeric ? "number" : "text", min: numeric ? 0 : undefined, step: numeric ? 1 : undefined,
    }));
  });
  const remove = el("button", { type: "button", class: "small link", title: "Remove the line", text: "✕" });
  const row = el("tr", {}, ...cells, el("td", {}, remove));
  remove.addEventListener("click", () => {
    row.remove();
    changed();
  });
  return row;
}

function basketLines() {
  const lines = [];
  for (const row of basketBody.rows) {
    const v = Object.fromEntries([...row.querySelectorAll("input")].map((i) => [i.dataset.key, i.value.trim()]));
    if (!v.sku) continue;
    const line = { sku: v.sku, qty: Number.parseInt(v.qty, 10) || 0, price: Number.parseInt(v.price, 10) || 0 };
    for (const k of ["category", "brand", "name"]) if (v[k]) line[k] = v[k];
    lines.push(line);
  }
  return lines;
}

function basket() {
  const lines = basketLines();
  document.getElementById("basket-subtotal").textContent = num(lines.reduce((s, l) => s + l.qty * l.price, 0));
  const b = { v: 1, type: "basket", id: "preview", txn: "preview", lines };
  const customer = document.getElementById("preview-customer").value.trim();
  if (customer) b.customer = customer;
  return b;
}

// ---- The template form.

function fieldInput(f) {
  const id = "f-" + f.name;
  const attrs = { id, name: f.name, dataset: { type: f.type } };
  switch (f.type) {
    case "choice":
      return el("select", attrs, ...(f.options || []).map((o) => el("option", { value: o, text: o })));
    case "days":
      return el("div", { id, class: "days", role: "group", dataset: { type: f.type } },
        ...(f.options || []).map((d) =>
          el("label", {}, el("input", { type: "checkbox", name: f.name, value: d }), " " + d)));
    case "components":
      return componentsInput(f, id);
    case "integer":
      return el("input", { ...attrs, type: "number", step: 1, inputmode: "numeric" });
    case "money":
      return el("input", { ...attrs, type: "number", step: 1, min: 0, inputmode: "numeric" });
    case "percent":
      return el("input", { ...attrs, type: "number", step: "0.01", min: 0, max: 100, inputmode: "decimal" });
    case "list":
      return el("input", { ...attrs, type: "text", placeholder: "comma-separated" });
    case "time":
      return el("input", { ...attrs, type: "text", placeholder: "HH:MM", size: 6 });
    case "datetime":
      return el("input", { ...attrs, type: "text", placeholder: "2026-12-01T00:00:00Z" });
    case "id":
      return el("input", {
        ...attrs, type: "text", placeholder: "a-z, 0-9 and -", spellcheck: "false", autocomplete: "off",
      });
    default:
      return el("input", { ...attrs, type: "text" });
  }
}

// A list of {skus, categories, brands, qty}: one row each.
function componentsInput(f, id) {
  const body = el("tbody");
  const addRow = (c = {}) => {
    const cell = (key, value, attrs = {}) =>
      el("td", {}, el("input", { dataset: { key }, value: value ?? "", "aria-label": key, ...attrs }));
    const remove = el("button", { type: "button", class: "small link", title: "Remove", text: "✕" });
    const list = { placeholder: "comma-separated" };
    const row = el("tr", {}, cell("skus", c.skus, list), cell("categories", c.categories, list),
      cell("brands", c.brands, list), cell("qty", c.qty, { type: "number", min: 1, step: 1, size: 4 }),
      el("td", {}, remove));
    remove.addEventListener("click", () => {
      row.remove();
      changed();
    });
    body.append(row);
  };
  addRow();
  const add = el("button", { type: "button", class: "small", text: "Add component" });
  add.addEventListener("click", () => addRow());
  const node = el("div", { id, class: "components", dataset: { type: f.type } },
    el("table", { class: "table compact" },
      el("thead", {}, el("tr", {}, ...["SKUs", "Categories", "Brands", "Qty", ""].map((h) => el("th", { text: h })))),
      body),
    add);
  node.setComponents = (parts) => {
    body.replaceChildren();
    for (const c of parts) {
      addRow({ skus: (c.skus || []).join(", "), categories: (c.categories || []).join(", "),
        brands: (c.brands || []).join(", "), qty: c.qty });
    }
    if (!parts.length) addRow();
  };
  return node;
}

function setDefault(f, input) {
  if (f.default === undefined) return;
  if (f.type === "days") {
    for (const box of input.querySelectorAll("input")) box.checked = [].concat(f.default).includes(box.value);
  } else if (f.type !== "components") {
    input.value = String(f.default);
  }
}

function fieldNode(f, labelText = f.label, help = f.help) {
  const input = fieldInput(f);
  setDefault(f, input);
  const label = el("label", { for: input.tagName === "DIV" ? undefined : input.id, text: labelText },
    f.required ? el("span", { class: "required", title: "required", text: " *" }) : null);
  return el("div", { class: "field", dataset: { field: f.name } }, label, input,
    help ? el("p", { class: "help", text: help }) : null,
    el("p", { class: "field-error", id: "err-" + f.name, role: "alert", hidden: true }));
}

// The three lists of a selector (buy_skus, buy_categories, buy_brands),
// when fields[i] starts them: one group, side by side.
function selectorGroup(fields, i) {
  const [skus, categories, brands] = fields.slice(i, i + 3);
  const prefix = skus.name.replace(/_skus$/, "");
  if (skus.name === prefix || categories?.name !== prefix + "_categories" || brands?.name !== prefix + "_brands") {
    return null;
  }
  const what = skus.label.replace(/ SKUs$/, "");
  return el("fieldset", { class: "field-group", dataset: { group: prefix } },
    el("legend", { text: what + " items" }),
    el("div", { class: "group-fields" },
      fieldNode(skus, "SKUs", ""), fieldNode(categories, "Categories", ""), fieldNode(brands, "Brands", "")),
    skus.help ? el("p", { class: "help", text: skus.help }) : null);
}

function renderTemplate(t) {
  template = t;
  touched.clear();
  document.getElementById("template-help").textContent = t.help;
  fieldsNode.replaceChildren();
  moreNode.replaceChildren();
  for (let i = 0; i < t.fields.length; i++) {
    const f = t.fields[i];
    const group = selectorGroup(t.fields, i);
    if (group) i += 2;
    (ADVANCED.has(f.name) ? moreNode : fieldsNode).append(group || fieldNode(f));
  }
  moreSection.hidden = !moreNode.children.length;
}

/** Puts the values of an offer's form (GET /api/v1/offers/{id}/form) in the form's inputs. */
function fillFields(t, fields) {
  for (const f of t.fields) {
    const node = document.getElementById("f-" + f.name);
    const v = fields[f.name];
    if (!node) continue;
    switch (f.type) {
      case "days":
        for (const box of node.querySelectorAll("input")) box.checked = (v || []).includes(box.value);
        break;
      case "components":
        node.setComponents(v || []);
        break;
      case "list":
        node.value = Array.isArray(v) ? v.join(", ") : v ?? "";
        break;
      default:
        node.value = v === undefined || v === null ? (f.type === "choice" ? node.value : "") : String(v);
    }
  }
}

function readField(f) {
  const node = document.getElementById("f-" + f.name);
  switch (f.type) {
    case "days": {
      const days = [...node.querySelectorAll("input:checked")].map((b) => b.value);
      return days.length ? days : undefined;
    }
    case "components": {
      const list = (s) => s.split(",").map((x) => x.trim()).filter(Boolean);
      const parts = [];
      for (const row of node.querySelectorAll("tbody tr")) {
        const v = Object.fromEntries([...row.querySelectorAll("input")].map((i) => [i.dataset.key, i.value.trim()]));
        if (!v.skus && !v.categories && !v.brands && !v.qty) continue;
        const qty = Number(v.qty);
        parts.push({ skus: list(v.skus), categories: list(v.categories), brands: list(v.brands),
          qty: Number.isInteger(qty) ? qty : v.qty });
      }
      return parts.length ? parts : undefined;
    }
    default:
      return node.value.trim() || undefined;
  }
}

function formValues() {
  const fields = {};
  for (const f of template.fields) {
    const v = readField(f);
    if (v !== undefined) fields[f.name] = v;
  }
  return fields;
}

// ---- Errors next to the form.

function clearErrors() {
  showError(formError, "");
  for (const node of document.querySelectorAll(".field-error")) showError(node, "");
  for (const node of document.querySelectorAll(".field.invalid")) node.classList.remove("invalid");
}

// The field an error is about: fields.NAME from the template, or the last
// part of the language's path (offer "x": reward.percent: ...) that names
// a field of the form.
function fieldOf(message) {
  if (!template) return null;
  const m = message.match(/^fields\.([a-z_]+):/) || message.match(/^offer "[^"]*": ([a-z_.[\]0-9]+):/);
  if (!m) return null;
  const parts = m[1].replace(/\[\d+\]/g, "").split(".").reverse();
  const name = parts.find((p) => template.fields.some((f) => f.name === p));
  return name || null;
}

/**
 * An error of the offer language in plain words: 'offer "x":
 * limits.per_customer: must be at least 0' reads "Limits › per customer:
 * must be at least 0".
 */
function plain(message) {
  return message.replace(/^(offer "[^"]*"|offers\[\d+\]): /, "").replace(/^([a-z_.[\]0-9]+):/, (path) =>
    path.slice(0, -1).replace(/\[(\d+)\]/g, " $1").split(".")
      .map((p, i) => (i ? p : p[0].toUpperCase() + p.slice(1)).replace(/_/g, " ")).join(" › ") + ":");
}

function showProblem(e) {
  const name = fieldOf(e.message);
  if (name && !touched.has(name) && /^fields\.[a-z_]+: required$/.test(e.message)) {
    return false; // not filled in yet: no need to shout
  }
  const node = name && document.getElementById("err-" + name);
  if (node) {
    showError(node, e.message.replace(/^fields\.[a-z_]+: /, ""));
    node.closest(".field").classList.add("invalid");
  } else {
    showError(formError, plain(e.message));
  }
  return true;
}

// ---- The document, the preview and saving.

function setDoc(d) {
  doc = d;
  jsonOut.textContent = d ? JSON.stringify(d, null, 2) : "The form does not make an offer yet: see the messages.";
  saveButton.disabled = !d || frozen;
}

const PREVIEW_STATES = { applied: "applies", skipped: "does not apply", error: "no preview", empty: "waiting" };

function setPreview(state, discount, reason) {
  const box = document.getElementById("preview");
  box.dataset.state = state;
  const pillNode = document.getElementById("preview-state");
  pillNode.textContent = PREVIEW_STATES[state];
  pillNode.className = "pill pill-" + state;
  const amount = document.getElementById("preview-discount");
  amount.dataset.value = discount ?? "";
  amount.textContent = discount === undefined ? "–" : money(discount);
  document.getElementById("preview-reason").textContent = reason || "";
  if (state !== "applied") {
    // Nothing of an earlier preview stays beside one that failed.
    document.getElementById("preview-lines").hidden = true;
    document.getElementById("preview-lines").tBodies[0].replaceChildren();
    document.getElementById("preview-nudges").replaceChildren();
  }
}

function showPreview(p, d) {
  const mine = p.offers.find((o) => o.id === d.id);
  const lines = basketLines();
  let reason = mine ? mine.why : "Does not apply: " + (p.reason || "no discount on this basket") + ".";
  if (mine && mine.points) reason += ` Also ${num(mine.points)} points.`;
  if (p.as_active) reason += ` Evaluated as if active: its status is ${d.status || "draft"}.`;
  document.getElementById("preview-zone").textContent = `${p.local} ${p.timezone}`;
  setPreview(mine ? "applied" : "skipped", mine ? mine.discount : 0, reason);

  const table = document.getElementById("preview-lines");
  const rows = (mine?.lines || []).map((l) => el("tr", {},
    el("td", { text: lines[l.line] ? `${lines[l.line].name || lines[l.line].sku}` : "line " + l.line }),
    el("td", { class: "num", text: num(l.qty) }),
    el("td", { class: "num", text: money(l.discount) })));
  table.tBodies[0].replaceChildren(...rows);
  table.hidden = !rows.length;
  document.getElementById("preview-nudges").replaceChildren(
    ...p.nudges.filter((n) => n.offer === d.id).map((n) => el("li", { text: "Nudge: " + n.text })));
}

async function update() {
  const mine = ++seq;
  let d;
  if (template) {
    try {
      const path = "templates/" + encodeURIComponent(template.name);
      d = (await api(path, { method: "POST", body: { fields: formValues() } })).data;
    } catch (e) {
      if (mine !== seq) return;
      clearErrors();
      const shown = showProblem(e);
      setDoc(null);
      setPreview(shown ? "error" : "empty", undefined,
        shown ? "Fix the form to see the preview." : "Fill in the fields marked * to see the preview.");
      return;
    }
  } else {
    try {
      d = JSON.parse(docArea.value);
    } catch (e) {
      if (mine !== seq) return;
      clearErrors();
      showError(formError, "The document is not valid JSON: " + e.message);
      setDoc(null);
      setPreview("error", undefined, "Fix the document to see the preview.");
      return;
    }
  }
  if (mine !== seq) return;
  clearErrors();
  setDoc(d);

  const req = { offer: d, basket: basket() };
  const storeID = document.getElementById("preview-store").value;
  const zone = stores.find((s) => s.store === storeID)?.zone || "UTC";
  const at = document.getElementById("preview-at").value;
  if (storeID) req.store = storeID;
  req.timezone = zone;
  if (at) req.at = zonedTime(at, zone);
  const segments = [...document.getElementById("preview-segments").selectedOptions].map((o) => o.value);
  if (segments.length) req.segments = segments;
  const profile = PROFILES[document.getElementById("preview-profile").value];
  if (profile) req.profile = profile();
  try {
    const { data } = await api("preview", { method: "POST", body: req });
    if (mine !== seq) return;
    showPreview(data, d);
  } catch (e) {
    if (mine !== seq) return;
    if (e.code === "bad_request" && /^(basket|at|timezone|store|segments|profile)\b/.test(e.message)) {
      setPreview("error", undefined, "The sample basket: " + e.message);
      return;
    }
    showProblem(e);
    setDoc(null); // the language refuses it: saving would fail too
    setPreview("error", undefined, "Fix the offer to see the preview.");
  }
}

const changed = debounce(update, 250);

async function save() {
  if (!doc) return;
  saveButton.disabled = true;
  saveStatus.dataset.state = "saving";
  saveStatus.className = "";
  saveStatus.textContent = "Saving…";
  try {
    const { status, data } = offerID
      ? await api("offers/" + encodeURIComponent(offerID), { method: "PUT", body: doc })
      : await api("offers", { method: "POST", body: doc });
    const published = data.published !== false && status !== 202;
    saveStatus.dataset.state = published ? "published" : "pending";
    saveStatus.className = published ? "ok" : "warn";
    saveStatus.replaceChildren(
      published ? `Saved and published to the stores as ${data.id}. ` :
        `Saved as ${data.id}; publishing to the stores failed for now and HQ keeps retrying. `,
      el("a", { href: "/offers", text: "See the offers" }));
  } catch (e) {
    saveStatus.dataset.state = "error";
    saveStatus.className = "error";
    saveStatus.textContent = e.message;
    showProblem(e);
  } finally {
    saveButton.disabled = !doc || frozen;
  }
}

// ---- Start.

function useJSON(text) {
  template = null;
  picker.value = JSON_MODE;
  fieldsNode.replaceChildren();
  moreNode.replaceChildren();
  moreSection.hidden = true;
  jsonField.hidden = false;
  docArea.value = text;
}

/** The preview's choices: the stores (with their zones) and the segments HQ knows. */
async function loadPreviewChoices() {
  const [st, seg] = await Promise.all([api("stores"), api("segments")]);
  stores = st.data.items;
  document.getElementById("preview-store").append(...stores.map((x) =>
    el("option", { value: x.store, text: `${x.store} (${x.zone || "zone not known: UTC"})` })));
  document.getElementById("preview-segments").append(...seg.data.items.map((x) =>
    el("option", { value: x.id, text: x.doc?.name ? `${x.doc.name} (${x.id})` : x.id })));
  document.querySelector('#preview-profile option[value="regular"]').textContent =
    `regular: 12 visits, ${money(PROFILES.regular().lifetime_spend)} spent`;
}

/** Opens an existing offer in its template's form, or as JSON. */
async function open(id, copy) {
  const [{ data }, form] = await Promise.all([api("offers/" + encodeURIComponent(id)),
    api("offers/" + encodeURIComponent(id) + "/form")]);
  const t = form.data.template && templates.find((x) => x.name === form.data.template);
  const fields = { ...form.data.fields };
  let d = data.doc;
  if (copy) {
    // A new offer like it: another id, a draft, no dates of the old one.
    fields.id = id.slice(0, 59).replace(/-+$/, "") + "-copy"; // ids are at most 64 characters
    fields.status = "draft";
    delete fields.valid_from;
    delete fields.valid_until;
    d = { ...d, id: fields.id, status: "draft" };
    delete d.valid_from;
    delete d.valid_until;
  }
  if (t) {
    picker.value = t.name;
    jsonField.hidden = true;
    renderTemplate(t);
    fillFields(t, fields);
  } else {
    useJSON(JSON.stringify(d, null, 2));
    document.getElementById("template-help").textContent =
      "This offer uses parts no template has: it is edited as its JSON document.";
  }
  if (!copy) {
    document.getElementById("f-id")?.setAttribute("readonly", "");
    if (data.status === "ended") {
      frozen = true;
      showError(formError, "This offer has ended and does not change; duplicate it to run it again.");
    }
  }
}

async function start() {
  basketBody.append(...SAMPLE_LINES.map(basketRow));
  document.getElementById("add-line").addEventListener("click", () => basketBody.append(basketRow({ qty: 1 })));
  for (const id of ["offer-form", "json-field", "basket-card"]) {
    const node = document.getElementById(id);
    node.addEventListener("input", changed);
    node.addEventListener("change", changed);
  }
  document.getElementById("offer-form").addEventListener("input", (e) => {
    const field = e.target.closest(".field");
    if (field) touched.add(field.dataset.field);
  });
  saveButton.addEventListener("click", save);

  try {
    [templates] = await Promise.all([api("templates").then((r) => r.data.items), loadPreviewChoices()]);
  } catch (e) {
    showError(formError, "The templates could not be loaded: " + e.message);
    return;
  }
  picker.append(...templates.map((t) => el("option", { value: t.name, text: t.label })),
    el("option", { value: JSON_MODE, text: "Advanced: the JSON document" }));
  picker.addEventListener("change", () => {
    if (picker.value === JSON_MODE) {
      useJSON(JSON.stringify(doc || STARTER, null, 2));
      document.getElementById("template-help").textContent = "Any offer of the offer language (docs/offers.md).";
    } else {
      jsonField.hidden = true;
      renderTemplate(templates.find((t) => t.name === picker.value));
      if (doc && offerID) {
        // Keep what the form had where the new template has the same field.
        document.getElementById("f-id").value = doc.id;
        document.getElementById("f-id").setAttribute("readonly", "");
      }
    }
    clearErrors();
    update();
  });
  if (offerID || copyOf) {
    try {
      await open(offerID || copyOf, !offerID);
    } catch (e) {
      showError(formError, e.message);
      return;
    }
  } else {
    renderTemplate(templates[0]);
  }
  picker.dataset.ready = "true";
  update();
}

start();
