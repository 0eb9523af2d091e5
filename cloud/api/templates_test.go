package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/posoffer/posoffer/cloud/store/storetest"
	"github.com/posoffer/posoffer/protocol/offer"
)

// templateCases fill each template, with the document each must make.
var templateCases = []struct {
	template, fields, want string
}{
	{"buy_x_get_y", `{"id":"tea-b2g1","name":"Tea 3 for 2","buy_categories":"tea","buy_qty":2,"per_transaction":"2",
		"status":"active","days":["mon","tue"],"from":"06:00","until":"11:00","stores":["s001"],"segments_any":"vip, staff",
		"budget":5000,"per_customer_per_day":1,"valid_until":"2027-01-01T00:00:00Z"}`,
		`{"id":"tea-b2g1","name":"Tea 3 for 2","status":"active","valid_until":"2027-01-01T00:00:00Z",
		"schedule":{"days":["mon","tue"],"from":"06:00","until":"11:00"},"stores":["s001"],
		"audience":{"segments_any":["vip","staff"]},"limits":{"budget":5000,"per_customer_per_day":1,"per_transaction":2},
		"condition":{"items":{"categories":["tea"],"min_qty":3}},
		"reward":{"type":"buy_x_get_y","buy":{"categories":["tea"],"qty":2},"get":{"categories":["tea"],"qty":1}}}`},
	{"buy_x_get_y", `{"id":"coffee-pastry","buy_categories":["coffee"],"buy_qty":2,"get_categories":["pastry"],"percent":50,
		"text":"Half-price pastry","priority":10}`,
		`{"id":"coffee-pastry","text":"Half-price pastry","status":"draft","stacking":{"priority":10},
		"condition":{"items":{"categories":["coffee"],"min_qty":2}},
		"reward":{"type":"buy_x_get_y","buy":{"categories":["coffee"],"qty":2},"get":{"categories":["pastry"],"qty":1},"percent":50}}`},
	{"spend_threshold", `{"id":"spend-3000","min_spend":3000,"amount_off":300}`,
		`{"id":"spend-3000","status":"draft","condition":{"spend":{"min":3000}},"reward":{"type":"amount_off","amount":300}}`},
	{"spend_threshold", `{"id":"spend-5000","min_spend":"5000","percent_off":"7.5","max_discount":1000,"segments_none":["staff"]}`,
		`{"id":"spend-5000","status":"draft","audience":{"segments_none":["staff"]},"condition":{"spend":{"min":5000}},
		"reward":{"type":"percent_off","percent":7.5,"max_discount":1000}}`},
	{"bundle", `{"id":"onigiri-3","components":[{"categories":["onigiri"],"qty":3}],"price":300,"per_customer":5}`,
		`{"id":"onigiri-3","status":"draft","limits":{"per_customer":5},"condition":{"items":{"categories":["onigiri"],"min_qty":3}},
		"reward":{"type":"bundle_price","items":[{"categories":["onigiri"],"qty":3}],"price":300}}`},
	{"bundle", `{"id":"lunch","components":[{"skus":["BENTO-1"],"qty":1},{"categories":["tea","coffee"],"qty":1}],"price":600}`,
		`{"id":"lunch","status":"draft","condition":{"all":[{"items":{"skus":["BENTO-1"],"min_qty":1}},{"items":{"categories":["tea","coffee"],"min_qty":1}}]},
		"reward":{"type":"bundle_price","items":[{"skus":["BENTO-1"],"qty":1},{"categories":["tea","coffee"],"qty":1}],"price":600}}`},
	{"percent_off_brand", `{"id":"acme-10","brand":"acme","percent":10,"max_discount":500,"valid_from":"2026-12-01T00:00:00Z"}`,
		`{"id":"acme-10","status":"draft","valid_from":"2026-12-01T00:00:00Z",
		"reward":{"type":"percent_off","target":{"brands":["acme"]},"percent":10,"max_discount":500}}`},
}

func TestTemplates(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	var all list[template]
	e.call("GET", "/api/v1/templates", e.analyst, "", http.StatusOK, &all)
	names := map[string]bool{}
	for _, tpl := range all.Items {
		names[tpl.Name] = true
		if tpl.Label == "" || tpl.Help == "" || len(tpl.Fields) < 10 || tpl.Fields[0].Name != "id" || !tpl.Fields[0].Required {
			t.Errorf("template %s: %+v", tpl.Name, tpl)
		}
		for _, f := range tpl.Fields {
			if f.Name == "" || f.Label == "" || f.Type == "" {
				t.Errorf("template %s: field %+v", tpl.Name, f)
			}
		}
	}
	for _, want := range []string{"buy_x_get_y", "spend_threshold", "bundle", "percent_off_brand"} {
		if !names[want] {
			t.Errorf("no template %s", want)
		}
	}

	e.call("POST", "/api/v1/segments", e.admin, `{"id":"vip","when":{}}`, http.StatusCreated, nil)
	e.call("POST", "/api/v1/segments", e.admin, `{"id":"staff","when":{}}`, http.StatusCreated, nil)
	for _, c := range templateCases {
		r := e.call("POST", "/api/v1/templates/"+c.template, e.analyst, `{"fields":`+c.fields+`}`, http.StatusOK, nil)
		if got, want := compact(t, string(r.body)), compact(t, c.want); got != want {
			t.Errorf("%s:\n got %s\nwant %s", c.template, got, want)
			continue
		}
		if _, err := offer.Parse([]byte(`{"version":1,"offers":[` + string(r.body) + `]}`)); err != nil {
			t.Errorf("%s: the offer language refuses the document: %v", c.template, err)
		}
		// Not saved; an admin saves it as it is.
		e.call("POST", "/api/v1/offers", e.admin, string(r.body), http.StatusCreated, nil)
	}
}

func TestTemplateErrors(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	before := e.state()
	path := "/api/v1/templates/buy_x_get_y"
	e.fails("POST", "/api/v1/templates/nope", e.analyst, `{"fields":{}}`, http.StatusNotFound, CodeNotFound, "nope")
	e.fails("POST", path, e.analyst, `{"field":{}}`, http.StatusBadRequest, CodeBadRequest, "field")
	e.fails("POST", path, e.analyst, `{"fields":{"id":"x"}}`, http.StatusBadRequest, CodeBadRequest, "fields.buy_qty: required")
	e.fails("POST", path, e.analyst, `{"fields":{"id":"x","buy_qty":2,"colour":"red"}}`, http.StatusBadRequest,
		CodeBadRequest, "fields.colour: not a field of template buy_x_get_y")
	e.fails("POST", path, e.analyst, `{"fields":{"id":"x","buy_qty":"two"}}`, http.StatusBadRequest, CodeBadRequest,
		"fields.buy_qty: want a whole number")
	e.fails("POST", path, e.analyst, `{"fields":{"id":"x","buy_qty":2,"buy_skus":{"a":1}}}`, http.StatusBadRequest,
		CodeBadRequest, "fields.buy_skus")
	e.fails("POST", path, e.analyst, `{"fields":{"id":"x","buy_qty":2,"percent":150}}`, http.StatusUnprocessableEntity,
		CodeInvalidOffer, `offer "x": reward.percent`)
	e.fails("POST", path, e.analyst, `{"fields":{"id":"X Y","buy_qty":2}}`, http.StatusUnprocessableEntity,
		CodeInvalidOffer, "id")
	e.fails("POST", path, e.analyst, `{"fields":{"id":"x","buy_qty":2,"from":"6:00"}}`, http.StatusUnprocessableEntity,
		CodeInvalidOffer, "schedule.from")
	spend := "/api/v1/templates/spend_threshold"
	e.fails("POST", spend, e.analyst, `{"fields":{"id":"x","min_spend":100,"amount_off":1,"percent_off":5}}`,
		http.StatusBadRequest, CodeBadRequest, "not both")
	e.fails("POST", spend, e.analyst, `{"fields":{"id":"x","min_spend":100}}`, http.StatusBadRequest, CodeBadRequest,
		"amount_off or percent_off")
	e.fails("POST", spend, e.analyst, `{"fields":{"id":"x","min_spend":100,"percent_off":"lots"}}`,
		http.StatusBadRequest, CodeBadRequest, "fields.percent_off: want a number")
	e.fails("POST", "/api/v1/templates/bundle", e.analyst, `{"fields":{"id":"x","price":1,"components":[{"sku":"A"}]}}`,
		http.StatusBadRequest, CodeBadRequest, "fields.components")
	if after := e.state(); after != before {
		t.Fatal("a template request wrote something")
	}
}

// Every template makes a document for any combination of its fields'
// kinds of value without panicking: the reply is a document or an error.
func TestTemplateValuesNeverPanic(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	values := []string{`null`, `""`, `0`, `-1`, `1.5`, `"x"`, `[]`, `["a"]`, `{}`, `[{"qty":1}]`, `true`, `1e999`}
	for _, tpl := range templates {
		for i, f := range tpl.Fields {
			for _, v := range values {
				fields := map[string]json.RawMessage{"id": json.RawMessage(`"x"`)}
				for _, req := range tpl.Fields {
					if req.Required && req.Name != "id" {
						fields[req.Name] = json.RawMessage(`1`)
					}
				}
				if tpl.Name == "bundle" {
					fields["components"] = json.RawMessage(`[{"skus":["A"],"qty":1}]`)
				}
				fields[f.Name] = json.RawMessage(v)
				body, _ := json.Marshal(map[string]any{"fields": fields})
				r := e.do("POST", "/api/v1/templates/"+tpl.Name, e.analyst, string(body))
				if r.status != 200 && r.status != 400 && r.status != 422 {
					t.Fatalf("%s field %d %s=%s: %d %s", tpl.Name, i, f.Name, v, r.status, r.body)
				}
				if r.status != 200 && !strings.Contains(string(r.body), `"code"`) {
					t.Fatalf("%s %s=%s: %s", tpl.Name, f.Name, v, r.body)
				}
			}
		}
	}
}

// Every offer a template made opens in that template's form, with fields
// that make it again; an offer no template makes opens as JSON.
func TestOfferForm(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	e.call("POST", "/api/v1/segments", e.admin, staffSegment, http.StatusCreated, nil)
	e.call("POST", "/api/v1/segments", e.admin, strings.ReplaceAll(staffSegment, "staff", "vip"), http.StatusCreated, nil)
	for _, c := range templateCases {
		e.call("POST", "/api/v1/offers", e.admin, c.want, http.StatusCreated, nil)
		var id struct{ ID string }
		json.Unmarshal([]byte(c.want), &id)
		var form struct {
			Template *string
			Fields   map[string]json.RawMessage
		}
		e.call("GET", "/api/v1/offers/"+id.ID+"/form", e.analyst, "", http.StatusOK, &form)
		if form.Template == nil || *form.Template != c.template {
			t.Errorf("%s: template %v, want %s", id.ID, form.Template, c.template)
			continue
		}
		body, _ := json.Marshal(map[string]any{"fields": form.Fields})
		r := e.call("POST", "/api/v1/templates/"+c.template, e.analyst, string(body), http.StatusOK, nil)
		var got, want any
		json.Unmarshal(r.body, &got)
		json.Unmarshal([]byte(c.want), &want)
		if js(got) != js(want) {
			t.Errorf("%s: the form's fields make\n%s\nwant\n%s", id.ID, r.body, c.want)
		}
	}
	// Points are in no template; nor is a condition a template would not
	// make; nor a list item the form would split, or text it would trim.
	for _, doc := range []string{
		`{"id":"b2g1-comma","status":"active","condition":{"items":{"categories":["Beer, wine & spirits"],"min_qty":3}},
			"reward":{"type":"buy_x_get_y","buy":{"categories":["Beer, wine & spirits"],"qty":2},"get":{"categories":["Beer, wine & spirits"],"qty":1}}}`,
		`{"id":"name-spaces","name":" Padded ","status":"active","condition":{"spend":{"min":1000}},"reward":{"type":"amount_off","amount":100}}`,
		`{"id":"points-5","status":"active","reward":{"type":"points","points":5}}`,
		`{"id":"spend-odd","status":"active","condition":{"all":[{"spend":{"min":1000}},{"coupon":{"code":"X"}}]},
			"reward":{"type":"amount_off","amount":100}}`,
		`{"id":"b2g1-odd","status":"active","condition":{"items":{"categories":["tea"],"min_qty":5}},
			"reward":{"type":"buy_x_get_y","buy":{"categories":["tea"],"qty":2},"get":{"categories":["tea"],"qty":1}}}`,
	} {
		e.call("POST", "/api/v1/offers", e.admin, doc, http.StatusCreated, nil)
		var id struct{ ID string }
		json.Unmarshal([]byte(doc), &id)
		r := e.call("GET", "/api/v1/offers/"+id.ID+"/form", e.analyst, "", http.StatusOK, nil)
		if strings.TrimSpace(string(r.body)) != `{"template":null}` {
			t.Errorf("%s: %s, want no template", id.ID, r.body)
		}
	}
	e.fails("GET", "/api/v1/offers/nope/form", e.analyst, "", http.StatusNotFound, CodeNotFound, "no offer nope")
	e.fails("GET", "/api/v1/offers/points-5/form?x=1", e.analyst, "", http.StatusBadRequest, CodeBadRequest, "x")
}
