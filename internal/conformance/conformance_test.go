package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/posoffer/posoffer/agent/service"
	agentstore "github.com/posoffer/posoffer/agent/store"
	cloudstore "github.com/posoffer/posoffer/cloud/store"
	"github.com/posoffer/posoffer/cloud/store/storetest"
	"github.com/posoffer/posoffer/protocol"
	"github.com/posoffer/posoffer/protocol/decide"
	"github.com/posoffer/posoffer/protocol/offer"
)

// catalog holds the offers that checkouts may name as applied.
const catalog = `{"version":1,"revision":1,
 "segments":[{"id":"regular","when":{"customer":{"visits_min":1}}}],
 "offers":[
  {"id":"a","status":"active","reward":{"type":"percent_off","percent":10}},
  {"id":"b","status":"active","reward":{"type":"amount_off","amount":100}},
  {"id":"c","status":"active","reward":{"type":"points","points":10}},
  {"id":"pastry-20","status":"active","reward":{"type":"percent_off","percent":20,"target":{"categories":["pastry"]}}}]}`

var offerIDs = []string{"a", "b", "c"}

// agent is the agent's service over its real bbolt store.
type agent struct {
	svc *service.Service
	db  *agentstore.Store
	reg *prometheus.Registry
}

func newAgent(t testing.TB) *agent {
	t.Helper()
	db, err := agentstore.Open(filepath.Join(t.TempDir(), "agent.db"), agentstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	now := time.Date(2026, 11, 23, 1, 0, 0, 0, time.UTC)
	svc, err := service.New(db, service.Options{Store: "s001", TenantKey: []byte("0123456789abcdef0123"),
		PointsPer: 100, Registry: reg, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	cat, err := offer.Parse([]byte(catalog))
	if err != nil {
		t.Fatal(err)
	}
	svc.SetCatalog(cat)
	t.Cleanup(func() { svc.Close(); db.Close() })
	return &agent{svc, db, reg}
}

// take removes and returns the events in the agent's outbox.
func (a *agent) take(t testing.TB) [][]byte {
	t.Helper()
	pending, err := a.db.Peek(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	var seqs []uint64
	for _, p := range pending {
		out, seqs = append(out, p.Event), append(seqs, p.Seq)
	}
	if len(seqs) > 0 {
		if err := a.db.Remove(seqs...); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// errorsTotal returns posoffer_errors_total for code.
func (a *agent) errorsTotal(t testing.TB, code string) float64 {
	t.Helper()
	mfs, err := a.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "posoffer_errors_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "code" && l.GetValue() == code {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// checkoutJSON is a checkout message, with edit applied to its object.
func checkoutJSON(t testing.TB, txn string, edit func(m map[string]any)) []byte {
	t.Helper()
	m := map[string]any{
		"v": 1, "type": "checkout", "id": "m-" + txn, "txn": txn, "customer": "4900123456789",
		"currency": "JPY", "paid": 600,
		"lines":   []map[string]any{{"sku": "COF-001", "qty": 2, "price": 350, "category": "coffee", "brand": "acme", "name": "Blend M"}},
		"applied": []map[string]any{{"offer": "b", "discount": 100, "points": 0}},
	}
	if edit != nil {
		edit(m)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// hqAccepts checks that HQ's decoding and validation take every event.
func hqAccepts(t testing.TB, events [][]byte) []*protocol.Event {
	t.Helper()
	var out []*protocol.Event
	for _, b := range events {
		e, err := protocol.DecodeEvent(b)
		if err != nil {
			t.Fatalf("the agent recorded an event HQ refuses: %v\n%s", err, b)
		}
		if err := cloudstore.Validate(e); err != nil {
			t.Fatalf("the agent recorded an event HQ's store refuses: %v\n%s", err, b)
		}
		out = append(out, e)
	}
	return out
}

// The checkouts agents used to acknowledge and HQ then refused for good
// are refused by the agent, with the field named, counted, and nothing
// recorded.
func TestAgentRefusesWhatHQWouldRefuse(t *testing.T) {
	a := newAgent(t)
	for _, tc := range []struct {
		name string
		edit func(m map[string]any)
		msg  string
	}{
		{"NUL in txn", func(m map[string]any) { m["txn"] = "t1\x00" },
			"txn: must not contain control characters, found U+0000 at byte 2"},
		{"category over 1,024 bytes", func(m map[string]any) {
			m["lines"] = []map[string]any{{"sku": "A", "qty": 1, "price": 700, "category": strings.Repeat("c", 1025)}}
		}, "lines[0].category: at most 1024 bytes, got 1025"},
		{"discounts summing over 10^12", func(m map[string]any) {
			m["applied"] = []map[string]any{{"offer": "a", "discount": 6e11}, {"offer": "b", "discount": 6e11}}
		}, "applied[1].discount: the sum of the applied discounts passes 1000000000000 here"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := a.errorsTotal(t, protocol.CodeBadMessage)
			reply := a.svc.Handle(context.Background(), "t01", checkoutJSON(t, "t-"+strings.ReplaceAll(tc.name, " ", "-"), tc.edit))
			if reply.Type != protocol.TypeError || reply.Code != protocol.CodeBadMessage || reply.Message != tc.msg {
				t.Fatalf("reply %s %s: %s\nwant error bad_message: %s", reply.Type, reply.Code, reply.Message, tc.msg)
			}
			if got := a.errorsTotal(t, protocol.CodeBadMessage); got != before+1 {
				t.Errorf("posoffer_errors_total{code=bad_message} went from %v to %v", before, got)
			}
			if ev := a.take(t); len(ev) != 0 {
				t.Errorf("a refused checkout recorded %d events", len(ev))
			}
		})
	}
}

// Checkouts at the edges of every rule are recorded by the agent, and
// every event they make is stored by HQ's real store on SQLite, and on
// PostgreSQL when POSOFFER_TEST_PG_URL names one.
func TestAgentEventsStoreAtHQ(t *testing.T) {
	a := newAgent(t)
	long := func(s string, n int) string { return strings.Repeat(s, n/len(s)) }
	edits := map[string]func(m map[string]any){
		"plain":                    nil,
		"no customer, no currency": func(m map[string]any) { delete(m, "customer"); delete(m, "currency") },
		"text at its limits": func(m map[string]any) {
			m["txn"] = long("t", 64)
			m["lines"] = []map[string]any{{"sku": long("S", 64), "qty": 1, "price": 1,
				"category": long("カ", 1023), "brand": long("b", 1024), "name": long("名", 1023)}}
		},
		"unicode": func(m map[string]any) {
			m["lines"] = []map[string]any{{"sku": "ÄÖ-☕", "qty": 3, "price": 120, "category": "お茶", "brand": "🍵", "name": "緑茶 500ml"}}
		},
		"sums at 10^12": func(m map[string]any) {
			m["lines"] = []map[string]any{{"sku": "A", "qty": 1_000_000, "price": 500_000}, {"sku": "B", "qty": 1, "price": 5e11}}
			m["applied"] = []map[string]any{{"offer": "a", "discount": 4e11, "points": 5e11}, {"offer": "b", "discount": 6e11, "points": 0},
				{"offer": "c", "discount": 0, "points": 5e11}}
			m["paid"] = 1e12
		},
		"500 lines": func(m map[string]any) {
			var lines []map[string]any
			for i := range protocol.MaxLines {
				lines = append(lines, map[string]any{"sku": "S" + strings.Repeat("x", i%60), "qty": 1, "price": 1e9})
			}
			m["lines"] = lines
		},
	}
	var events []*protocol.Event
	for name, edit := range edits {
		reply := a.svc.Handle(context.Background(), "t01", checkoutJSON(t, "t-"+strings.ReplaceAll(name, " ", "-"), edit))
		if reply.Type != protocol.TypeAck {
			t.Fatalf("%s: %s %s: %s", name, reply.Type, reply.Code, reply.Message)
		}
		events = append(events, hqAccepts(t, a.take(t))...)
	}
	for name, dsn := range hqDatabases(t) {
		t.Run(name, func(t *testing.T) {
			db, err := cloudstore.Open(context.Background(), dsn, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			res, err := db.WriteEvents(context.Background(), events)
			if err != nil {
				t.Fatalf("HQ's store refused the agent's events: %v", err)
			}
			if res.Added != len(events) {
				t.Fatalf("stored %d of %d events", res.Added, len(events))
			}
			// Once more, one by one, as the ingest would after a refusal:
			// each is already there.
			for _, e := range events {
				if res, err := db.WriteEvents(context.Background(), []*protocol.Event{e}); err != nil || res.Added != 0 {
					t.Fatalf("rewrite %s: %+v %v", e.ID, res, err)
				}
			}
		})
	}
}

// TestAgentDecisionStoresAtHQ: a checkout whose transaction had
// suggestions, held out or not, carries its decision, and HQ's store takes
// the event.
func TestAgentDecisionStoresAtHQ(t *testing.T) {
	a := newAgent(t)
	for _, holdout := range []float64{0, 0.5} {
		a.svc.SetModel(&decide.Model{Version: decide.ModelVersion, Revision: 2, Holdout: holdout,
			Rules: []decide.Rule{{If: "category:coffee", Offer: "pastry-20", Support: 0.1, Confidence: 0.3, Lift: 2, N: 50}}})
		for i := range 10 {
			txn := fmt.Sprintf("d-%g-%d", holdout, i)
			basket := `{"v":1,"type":"basket","id":"b-` + txn + `","txn":"` + txn + `","lines":[{"sku":"COF-001","qty":2,"price":350,"category":"coffee"}]}`
			if r := a.svc.Handle(context.Background(), "t01", []byte(basket)); r.Type != protocol.TypeOffers {
				t.Fatalf("basket: %+v", r)
			}
			if r := a.svc.Handle(context.Background(), "t01", checkoutJSON(t, txn, func(m map[string]any) { delete(m, "customer") })); r.Type != protocol.TypeAck {
				t.Fatalf("checkout: %+v", r)
			}
		}
	}
	events := hqAccepts(t, a.take(t))
	decisions := 0
	for _, e := range events {
		if e.Kind == protocol.EventCheckout {
			if d := e.Checkout.Decision; d == nil || len(d.Suggested) != 1 || d.Suggested[0].Offer != "pastry-20" {
				t.Fatalf("checkout %s: decision %+v", e.Txn, d)
			}
			decisions++
		}
	}
	if decisions != 20 {
		t.Fatalf("%d checkouts with a decision, want 20", decisions)
	}
	for name, dsn := range hqDatabases(t) {
		t.Run(name, func(t *testing.T) {
			db, err := cloudstore.Open(context.Background(), dsn, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if res, err := db.WriteEvents(context.Background(), events); err != nil || res.Added != len(events) {
				t.Fatalf("HQ's store took %+v of %d events: %v", res, len(events), err)
			}
		})
	}
}

// hqDatabases returns the DSNs of HQ's databases to store in: SQLite (""),
// and PostgreSQL in a schema of its own when storetest.PGEnv is set.
func hqDatabases(t *testing.T) map[string]string {
	t.Helper()
	dbs := map[string]string{"sqlite": ""}
	if dsn := storetest.PostgresDSN(t); dsn != "" {
		dbs["postgres"] = dsn
	} else {
		t.Logf("set %s to a PostgreSQL URL to store in PostgreSQL too", storetest.PGEnv)
	}
	return dbs
}

// FuzzAgentToHQ generates checkouts, hands them to the agent's real
// service, and checks that every event it records is one HQ accepts, and
// that a checkout it refuses records nothing.
func FuzzAgentToHQ(f *testing.F) {
	f.Add("t1-000123", "4900123456789", "COF-001", "coffee", "acme", "Blend M", "JPY", int64(2), int64(350), uint8(1), int64(100), int64(0), uint8(1), int64(600))
	f.Add("t1\x00", "", "A", "c", "", "", "", int64(1), int64(1), uint8(1), int64(0), int64(0), uint8(0), int64(0))
	f.Add("t2", "x", "A", strings.Repeat("c", 1025), "", "", "", int64(1), int64(1), uint8(1), int64(0), int64(0), uint8(0), int64(0))
	f.Add("t3", "x", "A", "", "", "", "", int64(1), int64(1), uint8(1), int64(6e11), int64(1), uint8(2), int64(0))
	f.Add("t4", "", "A", "", "", "", "", int64(1_000_000), int64(1_000_000), uint8(3), int64(0), int64(5e11), uint8(3), int64(1e12))
	f.Add("t5", "4111111111111111", "B4111111111111111^X^2512", "", "", "", "", int64(1), int64(1), uint8(1), int64(0), int64(0), uint8(0), int64(0))
	a := newAgent(f)
	f.Fuzz(func(t *testing.T, txn, customer, sku, category, brand, name, currency string,
		qty, price int64, nLines uint8, discount, points int64, nApplied uint8, paid int64) {
		payload := checkoutJSON(t, txn, func(m map[string]any) {
			m["customer"], m["currency"], m["paid"] = customer, currency, paid
			var lines []map[string]any
			for i := range int(nLines % 8) {
				lines = append(lines, map[string]any{"sku": sku, "qty": qty + int64(i), "price": price,
					"category": category, "brand": brand, "name": name})
			}
			m["lines"] = lines
			var applied []map[string]any
			for i := range int(nApplied % 4) {
				applied = append(applied, map[string]any{"offer": offerIDs[i], "discount": discount, "points": points})
			}
			m["applied"] = applied
		})
		reply := a.svc.Handle(context.Background(), "t01", payload)
		events := a.take(t)
		switch reply.Type {
		case protocol.TypeAck:
			hqAccepts(t, events)
		case protocol.TypeError:
			if len(events) != 0 {
				t.Fatalf("refused (%s: %s), yet %d events recorded", reply.Code, reply.Message, len(events))
			}
			if reply.Code == protocol.CodeInternal {
				t.Fatalf("internal error: %s", reply.Message)
			}
		default:
			t.Fatalf("reply %s to a checkout", reply.Type)
		}
	})
}
