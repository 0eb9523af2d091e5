// Package shopsim is the world of posoffer-sim shoppers: a store's
// catalog (the offer language) and a population of shoppers (segments,
// what each buys, how likely each is to take each offer's suggestion by
// daypart, and how that changes on a given day), the solver that turns a
// suggestion into the items a shopper adds, and the statistics of a run.
//
// Nothing here knows the agent or HQ: a World says what shoppers truly
// want, and the simulator measures how close the agent's choices come to
// it. The population format is documented in docs/population.md.
package shopsim

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/posoffer/posoffer/protocol"
	"github.com/posoffer/posoffer/protocol/decide"
	"github.com/posoffer/posoffer/protocol/offer"
)

// The built-in world.
var (
	//go:embed builtin/catalog.yaml
	BuiltinCatalog []byte
	//go:embed builtin/population.yaml
	BuiltinPopulation []byte
)

// PopulationVersion is the population format version this build reads.
const PopulationVersion = 1

// ErrInvalid is wrapped by the errors for a catalog or population that
// cannot make a world.
var ErrInvalid = errors.New("invalid world")

// Product is an item of the store's range.
type Product struct {
	SKU      string `yaml:"sku"`
	Category string `yaml:"category"`
	Brand    string `yaml:"brand"`
	Name     string `yaml:"name"`
	Price    int64  `yaml:"price"`
}

// Line is the product as a basket line of qty units.
func (p Product) Line(qty int64) protocol.Line {
	return protocol.Line{SKU: p.SKU, Qty: qty, Price: p.Price, Category: p.Category, Brand: p.Brand, Name: p.Name}
}

// Buy is a product a segment buys, and how often: the chance that a visit
// includes it.
type Buy struct {
	Product `yaml:",inline"`
	Often   float64 `yaml:"often"`
}

// Prob is a probability that may depend on the daypart: one number, or a
// number per daypart with "default" for the others.
type Prob struct {
	ByDaypart map[string]float64
	Default   float64
}

// At is the probability in a daypart.
func (p Prob) At(daypart string) float64 {
	if v, ok := p.ByDaypart[daypart]; ok {
		return v
	}
	return p.Default
}

// UnmarshalYAML reads a number or a map of daypart to number.
func (p *Prob) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		return n.Decode(&p.Default)
	}
	var m map[string]float64
	if err := n.Decode(&m); err != nil {
		return err
	}
	p.ByDaypart = map[string]float64{}
	for k, v := range m {
		if k == "default" {
			p.Default = v
			continue
		}
		p.ByDaypart[k] = v
	}
	return nil
}

// Segment is a kind of shopper.
type Segment struct {
	ID    string  `yaml:"id"`
	Share float64 `yaml:"share"`
	// Visits weighs the dayparts a shopper of the segment comes in
	// (relative; missing dayparts: 0; none given: all equal).
	Visits          map[string]float64 `yaml:"visits"`
	Buys            []Buy              `yaml:"buys"`
	Take            map[string]Prob    `yaml:"take"`
	TakeDefault     Prob               `yaml:"take_default"`
	Baseline        map[string]float64 `yaml:"baseline"`
	BaselineDefault float64            `yaml:"baseline_default"`
}

// Change is what a shift changes of one segment: the take and baseline
// probabilities it lists replace the segment's.
type Change struct {
	Take     map[string]Prob    `yaml:"take"`
	Baseline map[string]float64 `yaml:"baseline"`
}

// Shift is a change in what shoppers want, from Day on (days count from 1).
type Shift struct {
	Day      int               `yaml:"day"`
	Segments map[string]Change `yaml:"segments"`
}

// Population is the document of docs/population.md.
type Population struct {
	Version   int       `yaml:"version"`
	Currency  string    `yaml:"currency"`
	Anonymous float64   `yaml:"anonymous"`
	Products  []Product `yaml:"products"`
	Segments  []Segment `yaml:"segments"`
	Shift     *Shift    `yaml:"shift"`
}

// World is a catalog and a population that fit together.
type World struct {
	Catalog    *offer.Catalog
	Population *Population
	// Products is the store's range: every product the population names,
	// by SKU, in the order first named.
	Products []Product
	// Offers are the catalog's offers as written, by id, for the solver.
	Offers map[string]map[string]any

	catalogDoc []byte
	bySKU      map[string]int
	bareMu     sync.Mutex
	bareCat    map[string]*offer.Catalog
}

// CatalogDocument is the catalog file the world was made from.
func (w *World) CatalogDocument() []byte { return w.catalogDoc }

// Load reads a world from a catalog file and a population file.
func Load(catalogPath, populationPath string) (*World, error) {
	c, err := os.ReadFile(catalogPath)
	if err != nil {
		return nil, fmt.Errorf("read catalog: %w", err)
	}
	p, err := os.ReadFile(populationPath)
	if err != nil {
		return nil, fmt.Errorf("read population: %w", err)
	}
	return Parse(catalogPath, c, populationPath, p)
}

// Builtin is the built-in world.
func Builtin() *World {
	w, err := Parse("builtin/catalog.yaml", BuiltinCatalog, "builtin/population.yaml", BuiltinPopulation)
	if err != nil {
		panic(err) // a test keeps this from happening
	}
	return w
}

// Parse makes a world of a catalog document and a population document;
// the names are used in errors.
func Parse(catalogName string, catalogDoc []byte, populationName string, populationDoc []byte) (*World, error) {
	cat, err := offer.Parse(catalogDoc)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalid, catalogName, err)
	}
	var raw struct {
		Offers []map[string]any `yaml:"offers"`
	}
	if err := yaml.Unmarshal(catalogDoc, &raw); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalid, catalogName, err)
	}
	w := &World{Catalog: cat, Offers: map[string]map[string]any{}, catalogDoc: catalogDoc, bySKU: map[string]int{}}
	for _, o := range raw.Offers {
		if id, ok := o["id"].(string); ok {
			w.Offers[id] = o
		}
	}
	pop, err := parsePopulation(populationName, populationDoc)
	if err != nil {
		return nil, err
	}
	w.Population = pop
	var problems []string
	bad := func(field, format string, args ...any) {
		problems = append(problems, fmt.Sprintf("%s: %s: %s", populationName, field, fmt.Sprintf(format, args...)))
	}
	addProduct := func(field string, p Product) {
		switch {
		case p.SKU == "":
			bad(field+".sku", "required")
			return
		case p.Category == "":
			bad(field+".category", "required")
		case p.Price <= 0:
			bad(field+".price", "must be a positive amount in minor units")
		}
		if i, ok := w.bySKU[p.SKU]; ok {
			q := w.Products[i]
			if q.Category != p.Category || q.Price != p.Price || q.Brand != p.Brand {
				bad(field, "product %s differs from the one named before (%s, %d)", p.SKU, q.Category, q.Price)
			}
			return
		}
		w.bySKU[p.SKU] = len(w.Products)
		w.Products = append(w.Products, p)
	}
	if pop.Version != PopulationVersion {
		bad("version", "must be %d", PopulationVersion)
	}
	if !unit(pop.Anonymous) {
		bad("anonymous", "must be 0 to 1")
	}
	for i, p := range pop.Products {
		addProduct(fmt.Sprintf("products[%d]", i), p)
	}
	if len(pop.Segments) == 0 {
		bad("segments", "required: at least one segment")
	}
	ids := map[string]bool{}
	share := 0.0
	checkTake := func(field string, take map[string]Prob) {
		for _, id := range sortedKeys(take) {
			if cat.Offer(id) == nil {
				bad(field+"."+id, "no offer %s in %s", id, catalogName)
			}
			checkProb(bad, field+"."+id, take[id])
		}
	}
	checkBaseline := func(field string, base map[string]float64) {
		for _, id := range sortedKeys(base) {
			if cat.Offer(id) == nil {
				bad(field+"."+id, "no offer %s in %s", id, catalogName)
			}
			if !unit(base[id]) {
				bad(field+"."+id, "must be 0 to 1")
			}
		}
	}
	for i, s := range pop.Segments {
		f := fmt.Sprintf("segments[%d]", i)
		switch {
		case s.ID == "":
			bad(f+".id", "required")
		case ids[s.ID]:
			bad(f+".id", "duplicate segment %s", s.ID)
		}
		ids[s.ID] = true
		if !(s.Share > 0 && s.Share <= 1) {
			bad(f+".share", "must be above 0 and at most 1")
		}
		share += s.Share
		for _, d := range sortedKeys(s.Visits) {
			if !slices.Contains(decide.Dayparts, d) {
				bad(f+".visits."+d, "not a daypart (%s)", strings.Join(decide.Dayparts, ", "))
			} else if v := s.Visits[d]; v < 0 || !finite(v) {
				bad(f+".visits."+d, "must not be negative")
			}
		}
		if len(s.Visits) > 0 && sumValues(s.Visits) <= 0 {
			bad(f+".visits", "at least one daypart must have a weight above 0")
		}
		if len(s.Buys) == 0 {
			bad(f+".buys", "required: the products the segment buys")
		}
		for j, b := range s.Buys {
			bf := fmt.Sprintf("%s.buys[%d]", f, j)
			addProduct(bf, b.Product)
			if !(b.Often > 0 && b.Often <= 1) {
				bad(bf+".often", "must be above 0 and at most 1: the share of visits that buy it")
			}
		}
		checkTake(f+".take", s.Take)
		checkProb(bad, f+".take_default", s.TakeDefault)
		checkBaseline(f+".baseline", s.Baseline)
		if !unit(s.BaselineDefault) {
			bad(f+".baseline_default", "must be 0 to 1")
		}
	}
	if len(pop.Segments) > 0 && math.Abs(share-1) > 1e-6 {
		bad("segments", "the shares add up to %.4g, not 1", share)
	}
	if sh := pop.Shift; sh != nil {
		if sh.Day < 1 {
			bad("shift.day", "must be 1 or more (days count from 1)")
		}
		for _, id := range sortedKeys(sh.Segments) {
			f := "shift.segments." + id
			if !ids[id] {
				bad(f, "no segment %s", id)
			}
			checkTake(f+".take", sh.Segments[id].Take)
			checkBaseline(f+".baseline", sh.Segments[id].Baseline)
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w:\n%s", ErrInvalid, strings.Join(problems, "\n"))
	}
	return w, nil
}

func parsePopulation(name string, doc []byte) (*Population, error) {
	d := yaml.NewDecoder(bytes.NewReader(doc))
	d.KnownFields(true)
	var p Population
	if err := d.Decode(&p); err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		msg = strings.ReplaceAll(strings.TrimPrefix(msg, "unmarshal errors:\n  "), "\n  ", "\n"+name+": ")
		return nil, fmt.Errorf("%w: %s: %s", ErrInvalid, name, msg)
	}
	return &p, nil
}

func checkProb(bad func(string, string, ...any), field string, p Prob) {
	if !unit(p.Default) {
		bad(field, "must be 0 to 1")
	}
	for _, d := range sortedKeys(p.ByDaypart) {
		if !slices.Contains(decide.Dayparts, d) {
			bad(field+"."+d, "not a daypart (%s, or default)", strings.Join(decide.Dayparts, ", "))
		} else if !unit(p.ByDaypart[d]) {
			bad(field+"."+d, "must be 0 to 1")
		}
	}
}

// Product returns the product with the given SKU.
func (w *World) Product(sku string) (Product, bool) {
	i, ok := w.bySKU[sku]
	if !ok {
		return Product{}, false
	}
	return w.Products[i], true
}

// Segment returns the segment with the given id.
func (w *World) Segment(id string) *Segment {
	for i := range w.Population.Segments {
		if w.Population.Segments[i].ID == id {
			return &w.Population.Segments[i]
		}
	}
	return nil
}

// ShiftDay is the day the shift begins; 0: none.
func (w *World) ShiftDay() int {
	if w.Population.Shift == nil {
		return 0
	}
	return w.Population.Shift.Day
}

// SetShiftDay moves the shift to day (days count from 1; 0 or less: no
// shift).
func (w *World) SetShiftDay(day int) {
	if day < 1 {
		w.Population.Shift = nil
		return
	}
	if w.Population.Shift == nil {
		w.Population.Shift = &Shift{}
	}
	w.Population.Shift.Day = day
}

// Take is the chance that a shopper of segment seg takes the suggestion
// of offer id in daypart on day.
func (w *World) Take(seg *Segment, id, daypart string, day int) float64 {
	if sh := w.Population.Shift; sh != nil && day >= sh.Day {
		if p, ok := sh.Segments[seg.ID].Take[id]; ok {
			return p.At(daypart)
		}
	}
	if p, ok := seg.Take[id]; ok {
		return p.At(daypart)
	}
	return seg.TakeDefault.At(daypart)
}

// Baseline is the chance that a shopper of segment seg buys what offer id
// needs unprompted on day.
func (w *World) Baseline(seg *Segment, id string, day int) float64 {
	if sh := w.Population.Shift; sh != nil && day >= sh.Day {
		if p, ok := sh.Segments[seg.ID].Baseline[id]; ok {
			return p
		}
	}
	if p, ok := seg.Baseline[id]; ok {
		return p
	}
	return seg.BaselineDefault
}

// Convert is the chance that a shown suggestion of offer id converts: the
// shopper takes it, or buys what it needs anyway (independently).
func (w *World) Convert(seg *Segment, id, daypart string, day int) float64 {
	t, b := w.Take(seg, id, daypart, day), w.Baseline(seg, id, day)
	return 1 - (1-t)*(1-b)
}

func unit(f float64) bool   { return finite(f) && f >= 0 && f <= 1 }
func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

func sumValues(m map[string]float64) float64 {
	s := 0.0
	for _, v := range m {
		s += v
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	k := make([]string, 0, len(m))
	for s := range m {
		k = append(k, s)
	}
	slices.Sort(k)
	return k
}

// Resize gives the world n segments: its first n (shares scaled to add up
// to 1), or all of them and n minus as many more, made from seed: each
// buys a few of the world's products and takes one or two offers' suggestions
// well, at a daypart or two, and the others seldom.
func (w *World) Resize(n int, seed uint64) {
	segs := w.Population.Segments
	if n <= len(segs) {
		segs = segs[:n]
		total := 0.0
		for _, s := range segs {
			total += s.Share
		}
		for i := range segs {
			segs[i].Share /= total
		}
		w.Population.Segments = segs
		if sh := w.Population.Shift; sh != nil {
			for id := range sh.Segments {
				if w.Segment(id) == nil {
					delete(sh.Segments, id)
				}
			}
		}
		return
	}
	r := rand.New(rand.NewPCG(seed, 0x5e9))
	have := len(segs)
	for i := range segs {
		segs[i].Share *= float64(have) / float64(n)
	}
	offers := w.Catalog.Offers()
	for i := have; i < n; i++ {
		s := Segment{ID: fmt.Sprintf("generated-%d", i+1), Share: 1 / float64(n), Visits: map[string]float64{},
			Take: map[string]Prob{}, TakeDefault: Prob{Default: 0.02}, BaselineDefault: 0.02}
		for _, d := range decide.Dayparts {
			s.Visits[d] = float64(r.IntN(4))
		}
		s.Visits[decide.Dayparts[r.IntN(len(decide.Dayparts))]] += 4
		for _, j := range r.Perm(len(w.Products))[:min(len(w.Products), 2+r.IntN(3))] {
			s.Buys = append(s.Buys, Buy{Product: w.Products[j], Often: 0.2 + 0.7*r.Float64()})
		}
		for _, j := range r.Perm(len(offers))[:min(len(offers), 1+r.IntN(2))] {
			s.Take[offers[j].ID] = Prob{Default: 0.05 + 0.15*r.Float64(),
				ByDaypart: map[string]float64{decide.Dayparts[r.IntN(len(decide.Dayparts))]: 0.25 + 0.35*r.Float64()}}
		}
		segs = append(segs, s)
	}
	w.Population.Segments = segs
}
