package store

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/posoffer/posoffer/protocol"
	"github.com/posoffer/posoffer/protocol/offer"
)

const cust = "abcdefghijklmnopqrstuvwxyz"

var at = time.Date(2026, 11, 23, 1, 0, 0, 0, time.UTC)

func open(t *testing.T, path string, opts Options) *Store {
	t.Helper()
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func checkout(txn string) *Checkout {
	return &Checkout{
		Txn: txn, Terminal: "t1", CustomerKey: cust, At: at, Day: offer.Day(at, time.UTC),
		Lines: []protocol.Line{{SKU: "COF-001", Qty: 2, Price: 350, Category: "coffee"}, {SKU: "PAS-1", Qty: 1, Price: 280, Category: "pastry"}},
		Paid:  700,
		Claims: []Claim{{Applied: protocol.Applied{Offer: "coffee-2-pastry", Discount: 280}, Honoured: 280,
			Redeemed: true}},
	}
}

func events(t *testing.T, s *Store) []protocol.Event {
	t.Helper()
	pend, err := s.Peek(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	var out []protocol.Event
	for _, p := range pend {
		e, err := protocol.DecodeEvent(p.Event)
		if err != nil {
			t.Fatalf("outbox holds a bad event: %v\n%s", err, p.Event)
		}
		out = append(out, *e)
	}
	return out
}

func TestCheckoutOnceAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.db")
	s := open(t, path, Options{})
	if dup, err := s.RecordCheckout("s001", checkout("t-1"), nil); err != nil || dup {
		t.Fatalf("first checkout: dup %v, err %v", dup, err)
	}
	s.Close()

	s = open(t, path, Options{})
	if dup, err := s.RecordCheckout("s001", checkout("t-1"), nil); err != nil || !dup {
		t.Fatalf("the same txn after a reopen: dup %v, err %v; want counted once", dup, err)
	}
	ev := events(t, s)
	kinds := []protocol.EventKind{}
	for _, e := range ev {
		kinds = append(kinds, e.Kind)
	}
	want := []protocol.EventKind{protocol.EventRedemption, protocol.EventProfile, protocol.EventCheckout}
	if len(kinds) != len(want) || kinds[0] != want[0] || kinds[1] != want[1] || kinds[2] != want[2] {
		t.Fatalf("outbox kinds %v, want %v", kinds, want)
	}
	if c := ev[2].Checkout; c.Subtotal != 980 || c.Discount != 280 || c.Paid != 700 {
		t.Fatalf("checkout event %+v", c)
	}
	if ev[0].ID == ev[1].ID || ev[0].Customer != cust || ev[0].Redemption.Offer != "coffee-2-pastry" {
		t.Fatalf("events %+v", ev)
	}
	u := s.Usage(cust, offer.Day(at, time.UTC)).Counts("coffee-2-pastry")
	if u != (offer.Counts{CustomerToday: 1, Customer: 1, Redemptions: 1, Discount: 280}) {
		t.Fatalf("usage %+v after one redemption", u)
	}
	if u := s.Usage(cust, offer.Day(at, time.UTC)+1).Counts("coffee-2-pastry"); u.CustomerToday != 0 || u.Customer != 1 {
		t.Fatalf("the next day's usage %+v: want today 0, ever 1", u)
	}
	p, err := s.Profile(cust)
	if err != nil || p == nil || p.Visits != 1 || p.LifetimeSpend != 700 || p.LastVisit != "2026-11-23" || len(p.History) != 1 {
		t.Fatalf("profile %+v, %v", p, err)
	}
}

func TestHistoryIsBounded(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "agent.db"), Options{HistoryDays: 3})
	for d := range 5 {
		ck := checkout("t-" + string(rune('a'+d)))
		ck.At = at.AddDate(0, 0, d)
		ck.Day = offer.Day(ck.At, time.UTC)
		if _, err := s.RecordCheckout("s001", ck, nil); err != nil {
			t.Fatal(err)
		}
	}
	p, _ := s.Profile(cust)
	if p.Visits != 5 || len(p.History) != 3 || p.History[0].Day != "2026-11-25" || p.FirstVisit != "2026-11-23" {
		t.Fatalf("profile after 5 days with 3 kept: visits %d, history %+v, first %s", p.Visits, p.History, p.FirstVisit)
	}
	if it := p.History[2].Items[0]; it.Qty != 2 || it.Spend != 700 || it.Category != "coffee" {
		t.Fatalf("history item %+v", it)
	}
}

func TestOutboxOrderRemoveAndFullPolicy(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "agent.db"), Options{MaxOutbox: 4})
	if err := s.RecordImpressions("s001", []Impression{{CustomerKey: cust, At: at, Day: 1, Offers: []string{"a", "b"}, Nudges: []string{"c"}}}); err != nil {
		t.Fatal(err)
	}
	// The outbox now holds 3; one more impression fills it, the rest drop.
	if err := s.RecordImpressions("s001", []Impression{{CustomerKey: cust, At: at, Day: 1, Offers: []string{"d", "e"}}}); err != nil {
		t.Fatal(err)
	}
	// Checkouts are kept even when full.
	if _, err := s.RecordCheckout("s001", checkout("t-1"), nil); err != nil {
		t.Fatal(err)
	}
	st, err := s.Outbox()
	if err != nil {
		t.Fatal(err)
	}
	if st.Depth != 7 || st.Dropped != 1 || !st.Full || !st.Oldest.Equal(at) {
		t.Fatalf("outbox %+v, want depth 7 (4 impressions + 3 checkout events), 1 dropped, full", st)
	}
	ev := events(t, s)
	if ev[0].Impression.Offer != "a" || !ev[2].Impression.Nudge || ev[3].Impression.Offer != "d" || ev[6].Kind != protocol.EventCheckout {
		t.Fatalf("outbox order %+v", ev)
	}
	if u := s.Usage(cust, 1).Counts("e"); u.ImpressionsToday != 1 {
		t.Fatalf("a dropped impression still counts towards its limit: %+v", u)
	}
	pend, _ := s.Peek(2)
	if err := s.Remove(pend[0].Seq, pend[1].Seq, pend[1].Seq); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.Outbox(); st.Depth != 5 || !st.Full {
		t.Fatalf("after removing 2 (one twice): %+v, want depth 5, still full", st)
	}
	if ev := events(t, s); ev[0].Impression.Offer != "c" {
		t.Fatalf("the oldest left is %+v, want c", ev[0])
	}
}

func TestConcurrentCheckoutsCountOnce(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "agent.db"), Options{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	fresh := 0
	for range 8 {
		wg.Go(func() {
			for i := range 20 {
				dup, err := s.RecordCheckout("s001", checkout("t-"+string(rune('a'+i))), nil)
				if err != nil {
					t.Error(err)
				}
				if !dup {
					mu.Lock()
					fresh++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	p, _ := s.Profile(cust)
	if fresh != 20 || p.Visits != 20 {
		t.Fatalf("%d recorded as new, %d visits; want 20 and 20", fresh, p.Visits)
	}
}

func TestCatalogKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.db")
	s := open(t, path, Options{})
	doc, _ := json.Marshal(map[string]any{"version": 1})
	if err := s.SaveCatalog(42, doc); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, path, Options{})
	rev, got, err := s.Catalog()
	if err != nil || rev != 42 || string(got) != string(doc) {
		t.Fatalf("catalog %d %s %v", rev, got, err)
	}
}

func TestSaveProfiles(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "agent.db"), Options{})
	if err := s.SaveProfiles(map[string]*offer.Profile{cust: {Visits: 9, LastVisit: "2026-11-01"}}); err != nil {
		t.Fatal(err)
	}
	if p, _ := s.Profile(cust); p == nil || p.Visits != 9 {
		t.Fatalf("profile %+v", p)
	}
	if err := s.SaveProfiles(map[string]*offer.Profile{"4900123456789": {}}); err == nil {
		t.Fatal("a raw loyalty id was accepted as a key")
	}
}

func TestImpressionsRideWithACheckout(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "agent.db"), Options{})
	imps := []Impression{{CustomerKey: cust, At: at, Day: 1, Offers: []string{"a"}}}
	if _, err := s.RecordCheckout("s001", checkout("t-1"), imps); err != nil {
		t.Fatal(err)
	}
	// Also with a repeated checkout, which records nothing else.
	if dup, err := s.RecordCheckout("s001", checkout("t-1"), imps); err != nil || !dup {
		t.Fatal(dup, err)
	}
	if u := s.Usage(cust, 1).Counts("a"); u.ImpressionsToday != 2 {
		t.Fatalf("impressions today %d, want 2", u.ImpressionsToday)
	}
	if ev := events(t, s); len(ev) != 5 || ev[0].Kind != protocol.EventImpression || ev[4].Kind != protocol.EventImpression {
		t.Fatalf("outbox %+v", ev)
	}
}

// A checkout's decision rides in its checkout event, in the outbox, and is
// there after the file is reopened.
func TestCheckoutDecisionKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ck := checkout("t-1")
	want := &protocol.Decision{Context: "taste:coffee|morning|all", Policy: protocol.PolicyLearned, Model: 4, Holdout: true,
		Suggested: []protocol.Suggested{{Offer: "pastry-20", Kind: protocol.SuggestCrossSell}, {Offer: "coffee-2", Kind: protocol.SuggestNudge}}}
	ck.Decision = want
	if _, err := s.RecordCheckout("s001", ck, nil); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, path, Options{})
	for _, e := range events(t, s) {
		if e.Kind == protocol.EventCheckout {
			if !reflect.DeepEqual(e.Checkout.Decision, want) {
				t.Fatalf("decision %+v, want %+v", e.Checkout.Decision, want)
			}
			return
		}
	}
	t.Fatal("no checkout event")
}

// The suggestion model is kept with its floor, which never goes down.
func TestModelKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if doc, rev, seq, err := s.Model(); err != nil || doc != nil || rev != 0 || seq != 0 {
		t.Fatalf("a new store has model %q, floor %d/%d (%v)", doc, rev, seq, err)
	}
	if err := s.SaveModel(5, 50, []byte(`{"revision":5}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveModel(4, 60, []byte(`{"revision":4}`)); err != nil { // the caller's mistake: the floor holds
		t.Fatal(err)
	}
	s.Close()
	s = open(t, path, Options{})
	if doc, rev, seq, err := s.Model(); err != nil || string(doc) != `{"revision":4}` || rev != 5 || seq != 60 {
		t.Fatalf("after reopening: model %q, floor %d/%d (%v)", doc, rev, seq, err)
	}
}
