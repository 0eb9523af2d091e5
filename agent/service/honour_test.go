package service

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/posoffer/posoffer/agent/store"
	"github.com/posoffer/posoffer/protocol"
	"github.com/posoffer/posoffer/protocol/offer"
)

func TestHonourRule(t *testing.T) {
	claim := func(id string, discount, points int64) protocol.Applied {
		return protocol.Applied{Offer: id, Discount: discount, Points: points}
	}
	honoured := func(a protocol.Applied, discount, points int64) store.Claim {
		return store.Claim{Applied: a, Honoured: discount, HonouredPoints: points, Redeemed: true}
	}
	for _, tc := range []struct {
		name         string
		claims       []protocol.Applied
		offered, now map[string]grant
		want         []store.Claim
	}{{
		name:    "exact claim",
		claims:  []protocol.Applied{claim("a", 280, 0)},
		offered: map[string]grant{"a": {280, 0}}, now: map[string]grant{"a": {280, 0}},
		want: []store.Claim{honoured(claim("a", 280, 0), 280, 0)},
	}, {
		name:    "smaller claim honoured as claimed",
		claims:  []protocol.Applied{claim("a", 200, 0)},
		offered: map[string]grant{"a": {280, 0}}, now: map[string]grant{"a": {280, 0}},
		want: []store.Claim{honoured(claim("a", 200, 0), 200, 0)},
	}, {
		name:    "inflated claim honoured up to the offer",
		claims:  []protocol.Applied{claim("a", 999_999, 0)},
		offered: map[string]grant{"a": {280, 0}}, now: map[string]grant{"a": {280, 0}},
		want: []store.Claim{honoured(claim("a", 999_999, 0), 280, 0)},
	}, {
		name:    "offered earlier, basket changed since: what was offered",
		claims:  []protocol.Applied{claim("a", 280, 0)},
		offered: map[string]grant{"a": {280, 0}}, now: map[string]grant{},
		want: []store.Claim{honoured(claim("a", 280, 0), 280, 0)},
	}, {
		name:    "basket grew since the offer: what it gives now",
		claims:  []protocol.Applied{claim("a", 560, 0)},
		offered: map[string]grant{"a": {280, 0}}, now: map[string]grant{"a": {560, 0}},
		want: []store.Claim{honoured(claim("a", 560, 0), 560, 0)},
	}, {
		name:   "never offered, but applies now (the agent restarted)",
		claims: []protocol.Applied{claim("a", 300, 0)},
		now:    map[string]grant{"a": {280, 0}},
		want:   []store.Claim{honoured(claim("a", 300, 0), 280, 0)},
	}, {
		name:    "never offered and does not apply: nothing, and no redemption",
		claims:  []protocol.Applied{claim("b", 500, 0)},
		offered: map[string]grant{"a": {280, 0}}, now: map[string]grant{"a": {280, 0}},
		want: []store.Claim{{Applied: claim("b", 500, 0)}},
	}, {
		name:   "the same offer claimed twice: once",
		claims: []protocol.Applied{claim("a", 280, 0), claim("a", 280, 0)},
		now:    map[string]grant{"a": {280, 0}},
		want:   []store.Claim{honoured(claim("a", 280, 0), 280, 0), {Applied: claim("a", 280, 0)}},
	}, {
		name:    "points too",
		claims:  []protocol.Applied{claim("p", 0, 1_000_000), claim("q", 50, 7)},
		offered: map[string]grant{"p": {0, 7}}, now: map[string]grant{"q": {0, 7}},
		want: []store.Claim{honoured(claim("p", 0, 1_000_000), 0, 7), honoured(claim("q", 50, 7), 0, 7)},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got := Honour(tc.claims, tc.offered, tc.now)
			if len(got) != len(tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("claim %d: got %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

// Through the service: every checkout below is acknowledged, and only what
// is honoured counts.
func TestCheckoutHonoursOnlyWhatWasOffered(t *testing.T) {
	f := newFixture(t)
	const lines = `"lines":[{"sku":"C","qty":2,"price":350,"category":"coffee"},{"sku":"P","qty":1,"price":280,"category":"pastry"}]`
	const coffeeOnly = `"lines":[{"sku":"C","qty":2,"price":350,"category":"coffee"}]`
	msg := func(typ, txn, applied, lines string) string {
		return `{"v":1,"type":"` + typ + `","id":"m-` + typ + txn + `","txn":"` + txn + `","paid":350,` +
			`"applied":[` + applied + `],` + lines + `}`
	}
	ack := func(txn, applied, lines string) {
		t.Helper()
		if r := f.send(t, msg("checkout", txn, applied, lines)); r.Type != protocol.TypeAck || r.Txn != txn {
			t.Fatalf("checkout %s: %+v, want an ack", txn, r)
		}
	}
	budget := func() offer.Counts {
		return f.db.Usage("", offer.Day(f.svc.opts.Now(), f.svc.opts.Location)).Counts("coffee-2-pastry")
	}

	// Offered 280; the pastry left the basket before checkout; 999,999 claimed.
	if r := f.send(t, strings.Replace(msg("basket", "T1", "", lines), `"paid":350,"applied":[],`, "", 1)); len(r.Offers) != 1 {
		t.Fatalf("basket: %+v", r)
	}
	ack("T1", `{"offer":"coffee-2-pastry","discount":999999,"points":0}`, coffeeOnly)
	if c := budget(); c.Redemptions != 1 || c.Discount != 280 {
		t.Fatalf("after an inflated claim: %+v, want 1 redemption of 280", c)
	}
	// Never offered in T2, and fans-10 does not apply (no customer): nothing.
	// Nor does an offer the catalog does not have.
	ack("T2", `{"offer":"fans-10","discount":500,"points":0},{"offer":"nope","discount":1,"points":0}`, lines)
	if c := f.db.Usage("", 0).Counts("fans-10"); c.Redemptions != 0 || c.Discount != 0 {
		t.Fatalf("a claim never offered counted: %+v", c)
	}
	// Not offered in T3, but it applies to the basket now; exact claim.
	ack("T3", `{"offer":"coffee-2-pastry","discount":280,"points":0}`, lines)
	// Smaller than offered: honoured as claimed.
	ack("T4", `{"offer":"coffee-2-pastry","discount":100,"points":0}`, lines)
	if c := budget(); c.Redemptions != 3 || c.Discount != 280+280+100 {
		t.Fatalf("after exact and smaller claims: %+v, want 3 redemptions of 660", c)
	}

	var got []protocol.DiscrepancyEvent
	pend, err := f.db.Peek(1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pend {
		e, err := protocol.DecodeEvent(p.Event)
		if err != nil {
			t.Fatal(err)
		}
		if e.Kind == protocol.EventDiscrepancy {
			if e.Terminal != "t1" {
				t.Errorf("discrepancy of terminal %q", e.Terminal)
			}
			got = append(got, *e.Discrepancy)
		}
	}
	want := []protocol.DiscrepancyEvent{
		{Offer: "coffee-2-pastry", Claimed: 999_999, Honoured: 280},
		{Offer: "fans-10", Claimed: 500},
		{Offer: "nope", Claimed: 1},
	}
	if len(got) != len(want) {
		t.Fatalf("discrepancies %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("discrepancy %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if n := counter(t, f.svc, "posoffer_discount_discrepancies_total"); n != 3 {
		t.Errorf("posoffer_discount_discrepancies_total %v, want 3", n)
	}
	if n := counter(t, f.svc, "posoffer_discount_excess_minor_total"); n != 999_999-280+500+1 {
		t.Errorf("posoffer_discount_excess_minor_total %v, want %d", n, 999_999-280+500+1)
	}
	// A repeated checkout is answered again and counted once.
	ack("T1", `{"offer":"coffee-2-pastry","discount":999999,"points":0}`, coffeeOnly)
	if n := counter(t, f.svc, "posoffer_discount_discrepancies_total"); n != 3 {
		t.Errorf("a repeated checkout counted its discrepancy again: %v", n)
	}
}

// counter returns the value of a service's counter.
func counter(t *testing.T, s *Service, name string) float64 {
	t.Helper()
	mfs, err := s.opts.Registry.(prometheus.Gatherer).Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// What one terminal was offered is not honoured for another terminal's
// checkout that names the same txn.
func TestOfferedIsPerTerminal(t *testing.T) {
	f := newFixture(t)
	if r := f.send(t, strings.Replace(basket, `"customer":"`+loyaltyID+`",`, "", 1)); len(r.Offers) != 1 {
		t.Fatalf("basket on t1: %+v", r)
	}
	ck := `{"v":1,"type":"checkout","id":"m-9","txn":"T","paid":700,
 "applied":[{"offer":"coffee-2-pastry","discount":280,"points":0}],
 "lines":[{"sku":"C","qty":2,"price":350,"category":"coffee"}]}`
	if r := f.svc.Handle(t.Context(), "t2", []byte(ck)); r.Type != protocol.TypeAck {
		t.Fatalf("checkout on t2: %+v", r)
	}
	if c := f.db.Usage("", 0).Counts("coffee-2-pastry"); c.Redemptions != 0 || c.Discount != 0 {
		t.Fatalf("t2 was honoured for what t1 was offered: %+v", c)
	}
}
