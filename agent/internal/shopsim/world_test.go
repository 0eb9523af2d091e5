package shopsim

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/posoffer/posoffer/protocol/decide"
)

func TestBuiltin(t *testing.T) {
	w := Builtin()
	if got := len(w.Population.Segments); got != 4 {
		t.Errorf("segments: %d, want 4", got)
	}
	if w.ShiftDay() != 14 {
		t.Errorf("shift day %d, want 14", w.ShiftDay())
	}
	commuters := w.Segment("commuters")
	if got := w.Take(commuters, "coffee-pastry", decide.Morning, 1); got != 0.45 {
		t.Errorf("take coffee-pastry in the morning, day 1: %g", got)
	}
	if got := w.Take(commuters, "coffee-pastry", decide.Evening, 1); got != 0.2 {
		t.Errorf("take coffee-pastry in the evening (default), day 1: %g", got)
	}
	if got := w.Take(commuters, "coffee-pastry", decide.Morning, 14); got != 0.05 {
		t.Errorf("take coffee-pastry after the shift: %g", got)
	}
	if got := w.Take(commuters, "onigiri-trio", decide.Morning, 1); got != 0.02 {
		t.Errorf("take_default: %g", got)
	}
	if got, want := w.Convert(commuters, "coffee-pastry", decide.Morning, 1), 1-(1-0.45)*(1-0.04); got != want {
		t.Errorf("convert: %g, want %g", got, want)
	}
	w.SetShiftDay(20)
	if got := w.Take(commuters, "coffee-pastry", decide.Morning, 14); got != 0.45 {
		t.Errorf("take after moving the shift to day 20, day 14: %g", got)
	}
	w.SetShiftDay(0)
	if w.Population.Shift != nil {
		t.Error("SetShiftDay(0) left a shift")
	}
}

// The built-in catalog defines no segments: who wants what is for the
// agent and HQ to learn.
func TestBuiltinCatalogHasNoSegments(t *testing.T) {
	if strings.Contains(string(BuiltinCatalog), "\nsegments:") {
		t.Error("the built-in catalog defines segments")
	}
	if n := len(Builtin().Catalog.Offers()); n != 16 {
		t.Errorf("the built-in catalog has %d offers, want 16", n)
	}
}

func TestLoadFiles(t *testing.T) {
	w, err := Load("testdata/catalog.json", "testdata/population.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Products) != 3 {
		t.Errorf("products: %+v", w.Products)
	}
	// The eight-offer world BENCHMARKS.md compares with loads too.
	w, err = Load("testdata/eight-offers/catalog.yaml", "testdata/eight-offers/population.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(w.Catalog.Offers()); n != 8 {
		t.Errorf("the eight-offer world has %d offers", n)
	}
}

func TestLoadErrors(t *testing.T) {
	good, err := os.ReadFile("testdata/population.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, from, to, want string
	}{
		{"unknown field", "share: 0.7", "share: 0.7\n    colour: red", "field colour not found"},
		{"shares", "share: 0.7", "share: 0.6", "pop.yaml: segments: the shares add up to 0.9, not 1"},
		{"no offer", "take: {tea-deal: 0.3}", "take: {tea-deall: 0.3}", "pop.yaml: segments[0].take.tea-deall: no offer tea-deall in cat.json"},
		{"daypart", "{morning: 0.5, default: 0.1}", "{brunch: 0.5, default: 0.1}", "pop.yaml: segments[1].take.tea-deal.brunch: not a daypart"},
		{"probability", "{morning: 0.5, default: 0.1}", "{morning: 1.5, default: 0.1}", "pop.yaml: segments[1].take.tea-deal.morning: must be 0 to 1"},
		{"often", "often: 0.9", "often: 0", "pop.yaml: segments[0].buys[0].often: must be above 0"},
		{"price", "price: 300, often: 0.9", "price: -3, often: 0.9", "pop.yaml: segments[0].buys[0].price: must be a positive amount"},
		{"product differs", "{sku: COF-1, category: coffee, price: 300, often: 0.5}", "{sku: COF-1, category: coffee, price: 301, often: 0.5}", "pop.yaml: segments[1].buys[0]: product COF-1 differs"},
		{"shift segment", "    quick:", "    nobody:", "pop.yaml: shift.segments.nobody: no segment nobody"},
		{"shift day", "day: 5", "day: 0", "pop.yaml: shift.day: must be 1 or more"},
		{"visits", "visits: {morning: 3}", "visits: {lunch: 3}", "pop.yaml: segments[0].visits.lunch: not a daypart"},
		{"baseline", "baseline: {tea-deal: 0.05}", "baseline: {tea-deal: 2}", "pop.yaml: segments[0].baseline.tea-deal: must be 0 to 1"},
		{"version", "version: 1", "version: 2", "pop.yaml: version: must be 1"},
		{"type", "share: 0.7", "share: lots", "pop.yaml: line 6: cannot unmarshal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := strings.Replace(string(good), tc.from, tc.to, 1)
			if doc == string(good) {
				t.Fatalf("%q not in the population file", tc.from)
			}
			cat, err := os.ReadFile("testdata/catalog.json")
			if err != nil {
				t.Fatal(err)
			}
			_, err = Parse("cat.json", cat, "pop.yaml", []byte(doc))
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one with %q", err, tc.want)
			}
		})
	}
}

func TestLoadBadCatalog(t *testing.T) {
	dir := t.TempDir()
	cat := filepath.Join(dir, "catalog.yaml")
	os.WriteFile(cat, []byte("version: 1\noffers:\n  - {id: x, status: active, reward: {type: nope}}\n"), 0o644)
	_, err := Load(cat, "testdata/population.yaml")
	if err == nil || !strings.Contains(err.Error(), cat) || !strings.Contains(err.Error(), `offer "x"`) {
		t.Errorf("error %v, want one naming the file and the offer", err)
	}
	if _, err := Load("testdata/catalog.json", filepath.Join(dir, "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing population file: %v", err)
	}
}

func TestResize(t *testing.T) {
	for _, n := range []int{1, 2, 4, 7} {
		w := Builtin()
		w.Resize(n, 3)
		if got := len(w.Population.Segments); got != n {
			t.Fatalf("Resize(%d): %d segments", n, got)
		}
		total := 0.0
		for _, s := range w.Population.Segments {
			total += s.Share
			if len(s.Buys) == 0 {
				t.Errorf("Resize(%d): segment %s buys nothing", n, s.ID)
			}
			for id, p := range s.Take {
				if w.Catalog.Offer(id) == nil || !unit(p.Default) {
					t.Errorf("Resize(%d): segment %s takes %s with %+v", n, s.ID, id, p)
				}
			}
		}
		if !near(total, 1) {
			t.Errorf("Resize(%d): shares add up to %g", n, total)
		}
		for id := range w.Population.Shift.Segments {
			if w.Segment(id) == nil {
				t.Errorf("Resize(%d): the shift names segment %s, which is gone", n, id)
			}
		}
	}
}
