package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/posoffer/posoffer/cloud/store"
	"github.com/posoffer/posoffer/protocol/offer"
)

// Field types of a template, for a form to pick its inputs.
const (
	fieldID         = "id"         // 1 to 64 characters of a-z, 0-9 and -
	fieldText       = "text"       // one line of text
	fieldInteger    = "integer"    // a whole number
	fieldMoney      = "money"      // a whole number of minor units (cents, yen)
	fieldPercent    = "percent"    // above 0 and at most 100, up to two decimals
	fieldList       = "list"       // strings: a JSON array, or one string separated by commas
	fieldDays       = "days"       // a list of mon, tue, wed, thu, fri, sat, sun
	fieldTime       = "time"       // HH:MM, store-local
	fieldDateTime   = "datetime"   // an RFC 3339 instant
	fieldChoice     = "choice"     // one of the field's options
	fieldComponents = "components" // a list of {skus, categories, brands, qty}
)

// field is one input of a template.
type field struct {
	Name     string   `json:"name"`
	Label    string   `json:"label"`
	Type     string   `json:"type"`
	Required bool     `json:"required"`
	Help     string   `json:"help,omitempty"`
	Default  any      `json:"default,omitempty"`
	Options  []string `json:"options,omitempty"`
}

// template is a form that fills in an offer document of one common shape.
type template struct {
	Name   string  `json:"name"`
	Label  string  `json:"label"`
	Help   string  `json:"help"`
	Fields []field `json:"fields"`

	// build sets the template's own parts of the document: its condition
	// and reward, and its per_transaction limit when it has one.
	build func(v *values, doc map[string]any)
}

// Fields every template starts with, and ends with.
var (
	headFields = []field{
		{Name: "id", Label: "Offer id", Type: fieldID, Required: true,
			Help: "Unique; 1 to 64 characters of a-z, 0-9 and -. It does not change later."},
		{Name: "name", Label: "Name", Type: fieldText, Help: "For people at HQ."},
		{Name: "text", Label: "Till text", Type: fieldText, Help: "What the cashier and customer see; the name when empty."},
	}
	tailFields = []field{
		{Name: "status", Label: "Status", Type: fieldChoice, Default: offer.StatusDraft,
			Options: []string{offer.StatusDraft, offer.StatusActive, offer.StatusPaused},
			Help:    "Only an active offer applies. A draft is published but never applies until resumed."},
		{Name: "valid_from", Label: "Valid from", Type: fieldDateTime, Help: "Empty: from now on."},
		{Name: "valid_until", Label: "Valid until", Type: fieldDateTime, Help: "Exclusive. Empty: no end."},
		{Name: "days", Label: "Days", Type: fieldDays, Options: []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"},
			Help: "Store-local days it applies on; empty: every day."},
		{Name: "from", Label: "From", Type: fieldTime, Help: "Store-local HH:MM; empty: 00:00."},
		{Name: "until", Label: "Until", Type: fieldTime,
			Help: "Store-local HH:MM, exclusive; empty: 24:00. Earlier than from runs overnight."},
		{Name: "stores", Label: "Stores", Type: fieldList, Help: "Store ids; empty: every store."},
		{Name: "segments_any", Label: "Only for segments", Type: fieldList,
			Help: "Segment ids: only customers in one of them get it. Empty: everyone."},
		{Name: "segments_none", Label: "Not for segments", Type: fieldList,
			Help: "Segment ids: customers in any of them never get it."},
		{Name: "budget", Label: "Budget per store", Type: fieldMoney,
			Help: "The discount it may give at each store; 0 or empty: no budget."},
		{Name: "per_customer", Label: "Uses per customer", Type: fieldInteger, Help: "Ever; 0 or empty: no limit."},
		{Name: "per_customer_per_day", Label: "Uses per customer per day", Type: fieldInteger,
			Help: "0 or empty: no limit."},
		{Name: "priority", Label: "Priority", Type: fieldInteger, Help: "Higher applies first; default 0."},
	}
	perTransaction = field{Name: "per_transaction", Label: "Times per basket", Type: fieldInteger,
		Help: "How often it may repeat in one basket; 0 or empty: no limit."}
)

// selectorFields are the three lists of a selector, named prefix_skus,
// prefix_categories and prefix_brands.
func selectorFields(prefix, what, help string) []field {
	return []field{
		{Name: prefix + "_skus", Label: what + " SKUs", Type: fieldList, Help: help},
		{Name: prefix + "_categories", Label: what + " categories", Type: fieldList},
		{Name: prefix + "_brands", Label: what + " brands", Type: fieldList},
	}
}

// templates are the templates, in the order a UI lists them.
var templates = []*template{
	{
		Name: "buy_x_get_y", Label: "Buy X, get Y",
		Help: "Buy a number of items, get others (or more of the same) free or at a percentage off. It repeats in a basket.",
		Fields: slices.Concat(
			selectorFields("buy", "Buy", "What the customer buys: a line matches when its SKU, category or brand is listed. All empty: any item."),
			[]field{{Name: "buy_qty", Label: "Buy quantity", Type: fieldInteger, Required: true}},
			selectorFields("get", "Get", "What the customer gets; all empty: the same as the buy items."),
			[]field{
				{Name: "get_qty", Label: "Get quantity", Type: fieldInteger, Default: 1},
				{Name: "percent", Label: "Percent off the get items", Type: fieldPercent, Default: 100,
					Help: "100: free."},
				perTransaction,
			}),
		build: buildBuyXGetY,
	},
	{
		Name: "spend_threshold", Label: "Spend threshold",
		Help: "An amount or a percentage off the basket when it reaches a spend.",
		Fields: []field{
			{Name: "min_spend", Label: "Minimum spend", Type: fieldMoney, Required: true,
				Help: "The basket subtotal, before discounts, from which it applies."},
			{Name: "amount_off", Label: "Amount off", Type: fieldMoney, Help: "Give this or percent_off."},
			{Name: "percent_off", Label: "Percent off", Type: fieldPercent, Help: "Give this or amount_off."},
			{Name: "max_discount", Label: "Maximum discount", Type: fieldMoney, Help: "Caps percent_off; empty: no cap."},
		},
		build: buildSpendThreshold,
	},
	{
		Name: "bundle", Label: "Bundle price",
		Help: "A set of items for a fixed price, such as any 3 onigiri for 300. It repeats in a basket.",
		Fields: []field{
			{Name: "components", Label: "Components", Type: fieldComponents, Required: true,
				Help: `Each {"skus":[], "categories":[], "brands":[], "qty": n}; list the most specific first.`},
			{Name: "price", Label: "Bundle price", Type: fieldMoney, Required: true},
			perTransaction,
		},
		build: buildBundle,
	},
	{
		Name: "percent_off_brand", Label: "Percent off a brand",
		Help: "A percentage off every item of one brand.",
		Fields: []field{
			{Name: "brand", Label: "Brand", Type: fieldText, Required: true, Help: "As the tills send it; case matters."},
			{Name: "percent", Label: "Percent off", Type: fieldPercent, Required: true},
			{Name: "max_discount", Label: "Maximum discount", Type: fieldMoney, Help: "Empty: no cap."},
		},
		build: buildPercentOffBrand,
	},
}

func init() {
	for _, t := range templates {
		own := t.Fields
		t.Fields = slices.Concat(headFields, own, tailFields)
	}
}

func templateNamed(name string) *template {
	for _, t := range templates {
		if t.Name == name {
			return t
		}
	}
	return nil
}

func (s *server) listTemplates(w http.ResponseWriter, r *http.Request) error {
	if _, err := readParams(r); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list[*template]{templates})
	return nil
}

// fillTemplate answers with the offer document a template makes of the
// fields; nothing is saved.
func (s *server) fillTemplate(w http.ResponseWriter, r *http.Request) error {
	t := templateNamed(r.PathValue("name"))
	if t == nil {
		return notFound("no template %s; GET %stemplates lists them", quote(r.PathValue("name")), Prefix)
	}
	var req struct {
		Fields map[string]json.RawMessage `json:"fields"`
	}
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	doc, err := t.fill(req.Fields)
	if err != nil {
		return err
	}
	d, err := newDocument(store.KindOffer, doc)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(append(d.raw, '\n'))
	return nil
}

// fill makes the offer document of the fields, or a bad request naming
// the field that is missing, unknown or of the wrong type. What the offer
// language checks (ranges, formats) it leaves to the language.
func (t *template) fill(fields map[string]json.RawMessage) (map[string]any, error) {
	v := &values{raw: map[string]json.RawMessage{}}
	for name, raw := range fields {
		if t.fieldNamed(name) == nil {
			names := make([]string, len(t.Fields))
			for i, f := range t.Fields {
				names[i] = f.Name
			}
			return nil, badRequest("fields.%s: not a field of template %s; its fields: %s", name, t.Name,
				strings.Join(names, ", "))
		}
		if b := bytes.TrimSpace(raw); !bytes.Equal(b, []byte("null")) && !bytes.Equal(b, []byte(`""`)) &&
			!bytes.Equal(b, []byte("[]")) {
			v.raw[name] = raw
		}
	}
	for _, f := range t.Fields {
		if f.Required && v.raw[f.Name] == nil {
			return nil, badRequest("fields.%s: required", f.Name)
		}
	}

	doc := map[string]any{"id": v.str("id"), "status": v.str("status")}
	if doc["status"] == "" {
		doc["status"] = offer.StatusDraft
	}
	for _, name := range []string{"name", "text", "valid_from", "valid_until"} {
		if s := v.str(name); s != "" {
			doc[name] = s
		}
	}
	sched := map[string]any{}
	if days := v.list("days"); len(days) > 0 {
		sched["days"] = days
	}
	for _, name := range []string{"from", "until"} {
		if s := v.str(name); s != "" {
			sched[name] = s
		}
	}
	if len(sched) > 0 {
		doc["schedule"] = sched
	}
	if stores := v.list("stores"); len(stores) > 0 {
		doc["stores"] = stores
	}
	aud := map[string]any{}
	for _, name := range []string{"segments_any", "segments_none"} {
		if l := v.list(name); len(l) > 0 {
			aud[name] = l
		}
	}
	if len(aud) > 0 {
		doc["audience"] = aud
	}
	limits := map[string]any{}
	for _, name := range []string{"budget", "per_customer", "per_customer_per_day", "per_transaction"} {
		if n := v.integer(name, 0); n != 0 {
			limits[name] = n
		}
	}
	if len(limits) > 0 {
		doc["limits"] = limits
	}
	if p := v.integer("priority", 0); p != 0 {
		doc["stacking"] = map[string]any{"priority": p}
	}
	t.build(v, doc)
	if v.err != nil {
		return nil, v.err
	}
	return doc, nil
}

func (t *template) fieldNamed(name string) *field {
	for i := range t.Fields {
		if t.Fields[i].Name == name {
			return &t.Fields[i]
		}
	}
	return nil
}

func buildBuyXGetY(v *values, doc map[string]any) {
	buy, get := v.selector("buy"), v.selector("get")
	if len(get) == 0 {
		get = buy
	}
	x, y := v.integer("buy_qty", 0), v.integer("get_qty", 1)
	reward := map[string]any{"type": offer.RewardBuyXGetY, "buy": with(buy, "qty", x), "get": with(get, "qty", y)}
	if p := v.percent("percent"); p != "" && p != "100" {
		reward["percent"] = json.Number(p)
	}
	doc["reward"] = reward
	// The condition asks for what the reward needs, so that a basket one
	// or two short is nudged.
	need := x
	if sameSelector(buy, get) {
		need = x + y
	}
	doc["condition"] = map[string]any{"items": with(buy, "min_qty", need)}
}

func buildSpendThreshold(v *values, doc map[string]any) {
	doc["condition"] = map[string]any{"spend": map[string]any{"min": v.integer("min_spend", 0)}}
	amount, percent := v.integer("amount_off", 0), v.percent("percent_off")
	switch {
	case amount != 0 && percent != "":
		v.fail("fields.percent_off", "give amount_off or percent_off, not both")
	case amount != 0:
		doc["reward"] = map[string]any{"type": offer.RewardAmountOff, "amount": amount}
	case percent != "":
		reward := map[string]any{"type": offer.RewardPercentOff, "percent": json.Number(percent)}
		if m := v.integer("max_discount", 0); m != 0 {
			reward["max_discount"] = m
		}
		doc["reward"] = reward
	default:
		v.fail("fields.amount_off", "give amount_off or percent_off")
	}
}

func buildBundle(v *values, doc map[string]any) {
	parts := v.components("components")
	items := make([]any, len(parts))
	conds := make([]any, len(parts))
	for i, c := range parts {
		items[i] = with(c.sel, "qty", c.qty)
		conds[i] = map[string]any{"items": with(c.sel, "min_qty", c.qty)}
	}
	doc["reward"] = map[string]any{"type": offer.RewardBundlePrice, "items": items, "price": v.integer("price", 0)}
	if len(conds) == 1 {
		doc["condition"] = conds[0]
	} else if len(conds) > 1 {
		doc["condition"] = map[string]any{"all": conds}
	}
}

func buildPercentOffBrand(v *values, doc map[string]any) {
	reward := map[string]any{"type": offer.RewardPercentOff, "target": map[string]any{"brands": []string{v.str("brand")}},
		"percent": json.Number(v.percent("percent"))}
	if m := v.integer("max_discount", 0); m != 0 {
		reward["max_discount"] = m
	}
	doc["reward"] = reward
}

// with returns a copy of a selector with one more key.
func with(sel map[string]any, key string, value any) map[string]any {
	m := make(map[string]any, len(sel)+1)
	for k, v := range sel {
		m[k] = v
	}
	m[key] = value
	return m
}

func sameSelector(a, b map[string]any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

// values reads the fields of a template request. The first problem is kept
// in err, a bad request that names the field.
type values struct {
	raw map[string]json.RawMessage // the fields given, without empty ones
	err error
}

func (v *values) fail(name, format string, a ...any) {
	if v.err == nil {
		v.err = badRequest("%s: %s", name, fmt.Sprintf(format, a...))
	}
}

func (v *values) str(name string) string {
	raw := v.raw[name]
	if raw == nil {
		return ""
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		v.fail("fields."+name, "want a string")
	}
	return s
}

// list reads a JSON array of strings, or one string of comma-separated
// items.
func (v *values) list(name string) []string {
	raw := v.raw[name]
	if raw == nil {
		return nil
	}
	var l []string
	if err := json.Unmarshal(raw, &l); err == nil {
		return l
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		v.fail("fields."+name, "want a list of strings, or a string of comma-separated items")
		return nil
	}
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			l = append(l, item)
		}
	}
	return l
}

// integer reads a whole number, written as a JSON number or a string; def
// when absent.
func (v *values) integer(name string, def int64) int64 {
	raw := v.raw[name]
	if raw == nil {
		return def
	}
	s := strings.Trim(string(bytes.TrimSpace(raw)), `"`)
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		v.fail("fields."+name, "want a whole number, got %s", quote(string(raw)))
	}
	return n
}

// percent reads a number, written as a JSON number or a string, and
// returns it as written (the offer language checks its range); "" when
// absent.
func (v *values) percent(name string) string {
	raw := v.raw[name]
	if raw == nil {
		return ""
	}
	s := strings.Trim(string(bytes.TrimSpace(raw)), `"`)
	if _, err := strconv.ParseFloat(s, 64); err != nil || !json.Valid([]byte(s)) {
		v.fail("fields."+name, "want a number, got %s", quote(string(raw)))
		return ""
	}
	return s
}

// selector reads the lists prefix_skus, prefix_categories and
// prefix_brands into a selector of the offer language.
func (v *values) selector(prefix string) map[string]any {
	sel := map[string]any{}
	for _, part := range []string{"skus", "categories", "brands"} {
		if l := v.list(prefix + "_" + part); len(l) > 0 {
			sel[part] = l
		}
	}
	return sel
}

type component struct {
	sel map[string]any
	qty int64
}

// components reads a list of {skus, categories, brands, qty}.
func (v *values) components(name string) []component {
	raw := v.raw[name]
	if raw == nil {
		return nil
	}
	var parts []struct {
		SKUs       []string `json:"skus"`
		Categories []string `json:"categories"`
		Brands     []string `json:"brands"`
		Qty        int64    `json:"qty"`
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	if err := d.Decode(&parts); err != nil {
		v.fail("fields."+name, `want a list of {"skus":[], "categories":[], "brands":[], "qty": n}: %s`, jsonProblem(err))
		return nil
	}
	out := make([]component, len(parts))
	for i, p := range parts {
		sel := map[string]any{}
		for key, l := range map[string][]string{"skus": p.SKUs, "categories": p.Categories, "brands": p.Brands} {
			if len(l) > 0 {
				sel[key] = l
			}
		}
		out[i] = component{sel, p.Qty}
	}
	return out
}
