package service

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/posoffer/posoffer/agent/store"
	"github.com/posoffer/posoffer/protocol"
	"github.com/posoffer/posoffer/protocol/decide"
	"github.com/posoffer/posoffer/protocol/offer"
)

// BenchmarkChoose measures one basket's evaluation ("evaluate", the
// baseline) and, in the same run on the same baskets, its evaluation
// followed by the choice of suggestions ("evaluate+choose": candidates,
// cross-sells checked against the catalog, Thompson draws, the
// transaction's decision, forgotten after each as its checkout would),
// for catalogs of 1,000 and 10,000 offers (see
// benchService) and baskets of 5 lines. Each
// basket is a new transaction, so every candidate is drawn for (the
// worst case; a basket sent again reuses its draws). p50-ns and p99-ns
// are percentiles of single operations. See BENCHMARKS.md.
func BenchmarkChoose(b *testing.B) {
	for _, n := range []int{1_000, 10_000} {
		svc, cat := benchService(b, n)
		r := rand.New(rand.NewPCG(uint64(n), 3))
		baskets := make([]*protocol.Message, 256)
		for i := range baskets {
			m := &protocol.Message{Type: protocol.TypeBasket, Txn: "T"}
			for j := range 5 {
				c := r.IntN(benchCategories)
				m.Lines = append(m.Lines, protocol.Line{SKU: fmt.Sprintf("sku-%d-%d", c, j), Qty: 1, Price: int64(100 + r.IntN(900)),
					Category: "c" + strconv.Itoa(c)})
			}
			baskets[i] = m
		}
		for _, mode := range []string{"evaluate", "evaluate+choose"} {
			b.Run(fmt.Sprintf("offers=%d/%s", n, mode), func(b *testing.B) {
				in := &offer.Input{Now: time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC), Location: time.UTC, Store: "s001",
					Customer: &offer.Customer{}}
				lat := make([]time.Duration, 0, b.N)
				suggested := 0
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; b.Loop(); i++ {
					bk := *baskets[i%len(baskets)]
					bk.Txn = "T" + strconv.Itoa(i)
					in.Basket = &bk
					start := time.Now()
					res, err := cat.Evaluate(in)
					if err != nil {
						b.Fatal(err)
					}
					if mode != "evaluate" {
						if ch := svc.suggest(cat, in, res, "t1", ""); ch != nil {
							suggested += len(ch.chosen)
						}
					}
					lat = append(lat, time.Since(start))
					svc.forget("t1", bk.Txn) // its checkout or void
				}
				b.StopTimer()
				slices.Sort(lat)
				b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
				b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
				b.ReportMetric(float64(suggested)/float64(len(lat)), "suggestions/op")
			})
		}
	}
}

// benchCategories is how many categories the catalog's offers and the
// baskets' lines spread over.
const benchCategories = 500

// benchService is a service over a catalog of n offers on benchCategories
// categories (each a nudge for a basket with one unit of its category)
// and a model with 20 cross-sell rules per category (10,000 rules) and
// arms for up to 5,000 offers in two contexts.
func benchService(b *testing.B, n int) (*Service, *offer.Catalog) {
	b.Helper()
	doc := []byte(`{"version":1,"revision":1,"offers":[`)
	for i := range n {
		if i > 0 {
			doc = append(doc, ',')
		}
		c := i % benchCategories
		doc = fmt.Appendf(doc, `{"id":"o%d","status":"active","condition":{"items":{"categories":["c%d"],"min_qty":2}},`+
			`"reward":{"type":"percent_off","percent":10,"target":{"categories":["c%d"]}}}`, i, c, c)
	}
	doc = append(doc, "]}"...)
	cat, err := offer.Parse(doc)
	if err != nil {
		b.Fatal(err)
	}
	m := &decide.Model{Version: decide.ModelVersion, Revision: 1, Holdout: decide.DefaultHoldout}
	r := rand.New(rand.NewPCG(1, 1))
	for c := range benchCategories {
		for k := range 20 {
			m.Rules = append(m.Rules, decide.Rule{If: "category:c" + strconv.Itoa(c), Offer: "o" + strconv.Itoa(r.IntN(n)),
				Support: 0.01, Confidence: 0.2, Lift: 1 + float64(k)/10, N: 1000})
		}
	}
	for i := range min(n, 5_000) {
		for _, d := range []string{decide.AllContexts, "anon|morning|all"} {
			m.Arms = append(m.Arms, decide.Arm{Offer: "o" + strconv.Itoa(i), Context: d, Alpha: 1 + float64(r.IntN(50)),
				Beta: 1 + float64(r.IntN(500)), Exposures: 600, Conversions: 25})
		}
	}
	if err := m.Validate(); err != nil {
		b.Fatal(err)
	}
	db, err := store.Open(filepath.Join(b.TempDir(), "agent.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	svc, err := New(db, Options{Store: "s001", TenantKey: []byte("0123456789abcdef0123"), MaxNudges: 3})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { svc.Close(); db.Close() })
	svc.SetCatalog(cat)
	svc.SetModel(m)
	return svc, cat
}
