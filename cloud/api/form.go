package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/posoffer/posoffer/cloud/store"
	"github.com/posoffer/posoffer/protocol/offer"
)

// offerForm is the template form an offer fits, and the fields that make
// it: what the editor opens an existing offer in.
type offerForm struct {
	// Template is the name of the template whose form makes the offer
	// exactly; null when none does (the offer uses parts no template
	// has), and the offer is edited as JSON.
	Template *string        `json:"template"`
	Fields   map[string]any `json:"fields,omitempty"`
}

func (s *server) offerForm(w http.ResponseWriter, r *http.Request) error {
	if _, err := readParams(r); err != nil {
		return err
	}
	id, err := pathID(r, store.KindOffer)
	if err != nil {
		return err
	}
	o, err := s.db.Object(r.Context(), store.KindOffer, id)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("no offer %s", id)
	}
	if err != nil {
		return err
	}
	doc, err := decodeObject(o.Doc)
	if err != nil {
		return err
	}
	var form offerForm
	if t, fields := matchTemplate(doc); t != nil {
		form = offerForm{Template: &t.Name, Fields: fields}
	}
	writeJSON(w, http.StatusOK, form)
	return nil
}

// matchTemplate returns the template whose form makes doc exactly, and the
// fields that make it; nil when no template does. Each template reads the
// fields it would have been given off the document, and fills them in
// again: it fits when that makes the same document.
func matchTemplate(doc map[string]any) (*template, map[string]any) {
	want, err := canonical(doc)
	if err != nil {
		return nil, nil
	}
	for _, t := range templates {
		fields := commonFields(doc)
		if !t.read(doc, fields) || !formSafe(fields) {
			continue
		}
		raw := make(map[string]json.RawMessage, len(fields))
		for k, v := range fields {
			b, err := json.Marshal(v)
			if err != nil {
				return nil, nil
			}
			raw[k] = b
		}
		made, err := t.fill(raw)
		if err != nil {
			continue
		}
		if got, err := canonical(made); err == nil && bytes.Equal(got, want) {
			return t, fields
		}
	}
	return nil, nil
}

// read reads a template's own fields off a document into fields; false
// when the document is not of the template's shape.
func (t *template) read(doc map[string]any, fields map[string]any) bool {
	reward := member(doc, "reward")
	switch t.Name {
	case "buy_x_get_y":
		if reward["type"] != offer.RewardBuyXGetY {
			return false
		}
		buy, get := member(reward, "buy"), member(reward, "get")
		readSelector(buy, "buy", fields)
		set(fields, "buy_qty", buy["qty"])
		if !sameSelector(selectorOf(buy), selectorOf(get)) {
			readSelector(get, "get", fields)
		}
		set(fields, "get_qty", get["qty"])
		set(fields, "percent", reward["percent"])
	case "spend_threshold":
		spend := member(member(doc, "condition"), "spend")
		if spend == nil {
			return false
		}
		set(fields, "min_spend", spend["min"])
		switch reward["type"] {
		case offer.RewardAmountOff:
			set(fields, "amount_off", reward["amount"])
		case offer.RewardPercentOff:
			set(fields, "percent_off", reward["percent"])
			set(fields, "max_discount", reward["max_discount"])
		default:
			return false
		}
	case "bundle":
		if reward["type"] != offer.RewardBundlePrice {
			return false
		}
		items, _ := reward["items"].([]any)
		var parts []map[string]any
		for _, it := range items {
			m, _ := it.(map[string]any)
			part := selectorOf(m)
			part["qty"] = m["qty"]
			parts = append(parts, part)
		}
		set(fields, "components", parts)
		set(fields, "price", reward["price"])
	case "percent_off_brand":
		brands, _ := member(reward, "target")["brands"].([]any)
		if reward["type"] != offer.RewardPercentOff || len(brands) != 1 {
			return false
		}
		set(fields, "brand", brands[0])
		set(fields, "percent", reward["percent"])
		set(fields, "max_discount", reward["max_discount"])
	default:
		return false
	}
	return true
}

// formSafe reports whether a form keeps every value as it is: the form
// trims text and splits lists at commas, so a value with spaces at its
// ends, or a list item with a comma or empty, would come back changed.
// Such an offer is edited as JSON.
func formSafe(v any) bool {
	switch x := v.(type) {
	case string:
		return x == strings.TrimSpace(x)
	case []any:
		for _, item := range x {
			if s, ok := item.(string); ok && (s == "" || strings.Contains(s, ",")) {
				return false
			}
			if !formSafe(item) {
				return false
			}
		}
	case []map[string]any:
		for _, m := range x {
			if !formSafe(m) {
				return false
			}
		}
	case map[string]any:
		for _, item := range x {
			if !formSafe(item) {
				return false
			}
		}
	}
	return true
}

// commonFields reads the fields every template has off a document.
func commonFields(doc map[string]any) map[string]any {
	fields := map[string]any{}
	for _, name := range []string{"id", "name", "text", "status", "valid_from", "valid_until"} {
		set(fields, name, doc[name])
	}
	sched := member(doc, "schedule")
	for _, name := range []string{"days", "from", "until"} {
		set(fields, name, sched[name])
	}
	set(fields, "stores", doc["stores"])
	aud := member(doc, "audience")
	set(fields, "segments_any", aud["segments_any"])
	set(fields, "segments_none", aud["segments_none"])
	limits := member(doc, "limits")
	for _, name := range []string{"budget", "per_customer", "per_customer_per_day", "per_transaction"} {
		set(fields, name, limits[name])
	}
	set(fields, "priority", member(doc, "stacking")["priority"])
	return fields
}

func member(m map[string]any, key string) map[string]any {
	o, _ := m[key].(map[string]any)
	return o
}

func set(fields map[string]any, name string, v any) {
	if v != nil {
		fields[name] = v
	}
}

// selectorOf returns the skus, categories and brands of a selector.
func selectorOf(m map[string]any) map[string]any {
	sel := map[string]any{}
	for _, part := range []string{"skus", "categories", "brands"} {
		if l, ok := m[part].([]any); ok && len(l) > 0 {
			sel[part] = l
		}
	}
	return sel
}

func readSelector(m map[string]any, prefix string, fields map[string]any) {
	for part, l := range selectorOf(m) {
		fields[prefix+"_"+part] = l
	}
}
