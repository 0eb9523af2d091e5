package offer

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/posoffer/posoffer/protocol"
)

// BenchmarkEvaluate measures one basket's evaluation with the index
// ("index") and, as the baseline in the same run, with every offer
// considered ("scan"), for catalogs of 100 to 100k active offers and
// baskets of 5, 50 and 200 lines. Each op is one basket; p50-ns and p99-ns
// are the percentiles of single evaluations. See BENCHMARKS.md.
func BenchmarkEvaluate(b *testing.B) {
	for _, n := range []int{100, 1_000, 10_000, 100_000} {
		c, w := benchCatalog(b, n, uint64(n))
		for _, lines := range []int{5, 50, 200} {
			r := rand.New(rand.NewPCG(uint64(lines), 7))
			baskets := make([]*protocol.Message, 256)
			for i := range baskets {
				baskets[i] = w.basket(r, lines)
			}
			for _, mode := range []string{"index", "scan"} {
				if mode == "scan" && n*lines > 2_000_000 {
					continue // minutes per run, and the point is made at 10k
				}
				b.Run(fmt.Sprintf("offers=%d/lines=%d/%s", n, lines, mode), func(b *testing.B) {
					benchEvaluate(b, c, baskets, mode == "scan")
				})
			}
		}
	}
}

func benchEvaluate(b *testing.B, c *Catalog, baskets []*protocol.Message, scan bool) {
	in := &Input{Now: noon, Customer: &Customer{}, scan: scan}
	lat := make([]time.Duration, 0, b.N)
	applied := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		in.Basket = baskets[i%len(baskets)]
		start := time.Now()
		res, err := c.Evaluate(in)
		lat = append(lat, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
		applied += len(res.Offers)
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
	b.ReportMetric(float64(applied)/float64(len(lat)), "offers/op")
}
