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
// baskets of 5, 50 and 200 lines. Each op is one basket, drawn in turn
// from 256. p50-ns and p99-ns are percentiles of single evaluations, machine
// jitter included (BenchmarkJitter measures that); basket-p99-ns is the
// 99th percentile over the baskets of each basket's median time, the
// engine's own tail. See BENCHMARKS.md.
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
	perBasket := make([]time.Duration, 0, len(baskets))
	for k := range min(len(baskets), len(lat)) {
		var mine []time.Duration
		for i := k; i < len(lat); i += len(baskets) {
			mine = append(mine, lat[i])
		}
		perBasket = append(perBasket, median(mine))
	}
	reportPercentiles(b, lat)
	slices.Sort(perBasket)
	b.ReportMetric(float64(perBasket[len(perBasket)*99/100].Nanoseconds()), "basket-p99-ns")
	b.ReportMetric(float64(applied)/float64(len(lat)), "offers/op")
}

func median(d []time.Duration) time.Duration {
	slices.Sort(d)
	return d[len(d)/2]
}

func reportPercentiles(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
}

var sink int64

// BenchmarkJitter times a fixed piece of pure CPU work, no allocation and
// no memory beyond 32 KiB, the way BenchmarkEvaluate times an evaluation:
// its p99-ns over p50-ns is what the machine adds to any tail.
func BenchmarkJitter(b *testing.B) {
	data := make([]int64, 4096)
	lat := make([]time.Duration, 0, b.N)
	for b.Loop() {
		start := time.Now()
		t := int64(0)
		for r := range 8 {
			for i, v := range data {
				t += v ^ int64(i*r)
			}
		}
		sink += t
		lat = append(lat, time.Since(start))
	}
	reportPercentiles(b, lat)
}
