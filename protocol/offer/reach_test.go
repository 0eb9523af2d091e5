package offer

import (
	"reflect"
	"testing"

	"github.com/posoffer/posoffer/protocol"
)

type fixedUsage map[string]Counts

func (u fixedUsage) Counts(id string) Counts { return u[id] }

// TestReach: what each offer is to a basket, for suggesting it: the
// customer may get it now or not (everything but the basket's items and
// spend), and what the basket lacks.
func TestReach(t *testing.T) {
	c, err := Parse([]byte(`{"version":1,"offers":[
	 {"id":"pastry-20","status":"active","name":"20% off pastries",
	  "reward":{"type":"percent_off","percent":20,"target":{"categories":["pastry"]}}},
	 {"id":"sandwich-2","status":"active","name":"2 sandwiches",
	  "condition":{"items":{"categories":["sandwich"],"min_qty":2}},"reward":{"type":"amount_off","amount":100}},
	 {"id":"coffee-4","status":"active","name":"4 coffees",
	  "condition":{"items":{"categories":["coffee"],"min_qty":4}},"reward":{"type":"amount_off","amount":100}},
	 {"id":"spend-5000","status":"active","name":"big basket",
	  "condition":{"spend":{"min":5000}},"reward":{"type":"amount_off","amount":500}},
	 {"id":"two-things","status":"active","name":"tea and cake",
	  "condition":{"all":[{"items":{"categories":["tea"]}},{"items":{"categories":["cake"]}}]},"reward":{"type":"amount_off","amount":100}},
	 {"id":"paused","status":"paused","name":"p","reward":{"type":"percent_off","percent":5}},
	 {"id":"elsewhere","status":"active","stores":["s999"],"name":"e","reward":{"type":"percent_off","percent":5}},
	 {"id":"members","status":"active","audience":{"known_customer":true},"name":"m","reward":{"type":"percent_off","percent":5}},
	 {"id":"mornings","status":"active","schedule":{"from":"06:00","until":"11:00"},"name":"am","reward":{"type":"percent_off","percent":5}},
	 {"id":"used-up","status":"active","limits":{"total_redemptions":10},"name":"u","reward":{"type":"percent_off","percent":5}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	b := &protocol.Message{Lines: []protocol.Line{{SKU: "C", Qty: 1, Price: 1000, Category: "coffee"}}}
	in := &Input{Basket: b, Now: noon, Store: "s001", Usage: fixedUsage{"used-up": {Redemptions: 10}}}
	ids := []string{"pastry-20", "sandwich-2", "coffee-4", "spend-5000", "two-things", "paused", "elsewhere", "members",
		"mornings", "used-up", "no-such-offer"}
	got, err := c.Reach(in, ids)
	if err != nil {
		t.Fatal(err)
	}
	want := []Reach{
		{Offer: "pastry-20", Available: true, Met: true, Text: "20% off pastries"},
		{Offer: "sandwich-2", Available: true, Missing: &protocol.Missing{Qty: 2}, Text: "Add 2 category sandwich for: 2 sandwiches"},
		{Offer: "coffee-4", Available: true, Missing: &protocol.Missing{Qty: 3}, Text: "Add 3 category coffee for: 4 coffees"},
		{Offer: "spend-5000", Available: true, Missing: &protocol.Missing{Spend: 4000}, Text: "Spend 4000 more for: big basket"},
		{Offer: "two-things", Available: true, Text: "tea and cake"},
		{Offer: "paused"}, {Offer: "elsewhere"}, {Offer: "members"}, {Offer: "mornings"}, {Offer: "used-up"}, {Offer: "no-such-offer"},
	}
	if !reflect.DeepEqual(got, want) {
		for i := range want {
			if i < len(got) && !reflect.DeepEqual(got[i], want[i]) {
				t.Errorf("%s: got %+v missing %+v, want %+v missing %+v", want[i].Offer, got[i], got[i].Missing, want[i], want[i].Missing)
			}
		}
		t.FailNow()
	}

	// Evaluate is unchanged by Reach: its nudges still need a matching
	// unit and a near threshold.
	res, err := c.Evaluate(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Nudges) != 0 {
		t.Fatalf("nudges %+v: coffee-4 lacks 3 units and spend-5000 80%%, neither is a nudge", res.Nudges)
	}

	if _, err := c.Reach(&Input{Basket: &protocol.Message{Lines: []protocol.Line{{SKU: "X", Qty: 0}}}}, ids); err == nil {
		t.Fatal("Reach took a line of qty 0")
	}
}

// checkReach asserts what Reach says of the offers Evaluate returned: an
// applied offer is available and met, a nudge available, not met and
// missing something.
func checkReach(t *testing.T, c *Catalog, in *Input, res *Result) {
	t.Helper()
	var ids []string
	for _, o := range c.Offers() {
		ids = append(ids, o.ID)
	}
	reach, err := c.Reach(in, ids)
	if err != nil {
		t.Fatal(err)
	}
	by := map[string]Reach{}
	for _, r := range reach {
		by[r.Offer] = r
	}
	for _, o := range res.Offers {
		if r := by[o.ID]; !r.Available || !r.Met || r.Missing != nil {
			t.Fatalf("%s applies, but Reach says %+v", o.ID, r)
		}
	}
	for _, n := range res.Nudges {
		if r := by[n.Offer]; !r.Available || r.Met || r.Missing == nil {
			t.Fatalf("%s is a nudge, but Reach says %+v", n.Offer, r)
		}
	}
}
