package service

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/posoffer/posoffer/agent/store"
	"github.com/posoffer/posoffer/protocol"
	"github.com/posoffer/posoffer/protocol/decide"
	"github.com/posoffer/posoffer/protocol/offer"
)

const loyaltyID = "4900123456789"

const catalog = `{"version":1,"revision":5,
 "segments":[{"id":"coffee-fan","when":{"history":{"categories":["coffee"],"min_qty":2}}}],
 "offers":[
  {"id":"coffee-2-pastry","status":"active","condition":{"items":{"categories":["coffee"],"min_qty":2}},
   "reward":{"type":"free_item","target":{"categories":["pastry"]},"qty":1},"limits":{"per_customer":1}},
  {"id":"fans-10","status":"active","audience":{"segments_any":["coffee-fan"]},
   "reward":{"type":"percent_off","percent":10}}]}`

type fixture struct {
	svc *Service
	dir string
	db  *store.Store
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open(filepath.Join(dir, "agent.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 23, 1, 0, 0, 0, time.UTC)
	svc, err := New(db, Options{Store: "s001", TenantKey: []byte("0123456789abcdef0123"), MaxNudges: 3, PointsPer: 100,
		Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	cat, err := offer.Parse([]byte(catalog))
	if err != nil {
		t.Fatal(err)
	}
	svc.SetCatalog(cat)
	t.Cleanup(func() { svc.Close(); db.Close() })
	return &fixture{svc, dir, db}
}

func (f *fixture) send(t *testing.T, msg string) *protocol.Message {
	t.Helper()
	return f.svc.Handle(context.Background(), "t1", []byte(msg))
}

const basket = `{"v":1,"type":"basket","id":"m-1","txn":"T","customer":"` + loyaltyID + `",
 "lines":[{"sku":"C","qty":2,"price":350,"category":"coffee"},{"sku":"P","qty":1,"price":280,"category":"pastry"}]}`

const checkout = `{"v":1,"type":"checkout","id":"m-2","txn":"T","customer":"` + loyaltyID + `","paid":700,
 "applied":[{"offer":"coffee-2-pastry","discount":280,"points":0}],
 "lines":[{"sku":"C","qty":2,"price":350,"category":"coffee"},{"sku":"P","qty":1,"price":280,"category":"pastry"}]}`

func TestVisitsCheckoutsAndSegments(t *testing.T) {
	f := newFixture(t)
	r := f.send(t, basket)
	if r.Type != protocol.TypeOffers || r.Re != "m-1" || r.Catalog != 5 || len(r.Offers) != 1 || r.Offers[0].Discount != 280 {
		t.Fatalf("first basket: %+v", r)
	}
	for range 2 {
		if r := f.send(t, checkout); r.Type != protocol.TypeAck || r.Re != "m-2" || r.Txn != "T" {
			t.Fatalf("checkout: %+v", r)
		}
	}
	p, _ := f.db.Profile(CustomerKey([]byte("0123456789abcdef0123"), loyaltyID))
	if p == nil || p.Visits != 1 {
		t.Fatalf("after the same checkout twice: %+v, want one visit", p)
	}
	// The next basket: the first checkout put the customer in coffee-fan
	// (fans-10 now applies) and used up coffee-2-pastry's per_customer 1.
	r = f.send(t, strings.Replace(basket, `"txn":"T"`, `"txn":"T2"`, 1))
	if len(r.Offers) != 1 || r.Offers[0].ID != "fans-10" || r.Offers[0].Discount != 98 {
		t.Fatalf("second visit: %+v, want only fans-10 at 98", r.Offers)
	}
}

func TestBadInputGetsErrorReplies(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct{ msg, code string }{
		{`not json`, protocol.CodeBadJSON},
		{`{"v":1,"type":"basket","id":"m","txn":"T","lines":[{"sku":"A","qty":0,"price":1}]}`, protocol.CodeBadMessage},
		{`{"v":1,"type":"basket","id":"m","txn":"T","lines":[{"sku":"A","qty":"2","price":1}]}`, protocol.CodeBadMessage},
		{`{"v":1,"type":"basket","id":"m","txn":"T","lines":[{"sku":"A","qty":-1,"price":1}]}`, protocol.CodeBadMessage},
		{`{"v":2,"type":"basket","id":"m","txn":"T","lines":[]}`, protocol.CodeUnsupportedVersion},
		{`{"v":1,"type":"refund","id":"m"}`, protocol.CodeUnknownType},
		{`{"v":1,"type":"offers","re":"m","txn":"T","offers":[],"nudges":[]}`, protocol.CodeUnknownType},
		{`{"v":1,"type":"basket","id":"m","txn":"T","customer":"%B4111111111111111^DOE/JOHN^2512101?","lines":[]}`, protocol.CodeCardData},
		{`{"v":1,"type":"basket","id":"m","txn":"T","customer":"\u0025B4111111111111111^DOE/JOHN^2512101?","lines":[]}`, protocol.CodeCardData},
		{`{"v":1,"type":"basket","id":"m","txn":"T","coupons":["\u003b4111111111111111=25121010000000000000?"],"lines":[]}`, protocol.CodeCardData},
		{`{"v":1,"type":"basket","id":"4111111111111111","txn":"T","lines":[]}`, protocol.CodeCardData},
		{`{"v":1,"type":"basket","id":"m","txn":"T","lines":[],"note":"\u0034111111111111111"}`, protocol.CodeCardData},
		{`{"v":1,"type":"basket","id":"m","txn":"T","lines":[{"sku":"A","qty":0,"price":1,"name":"\u0034111111111111111"}]}`, protocol.CodeCardData},
		{`{"v":1,"type":"basket","id":"m","txn":"T","lines":[{"sku":"A","qty":1,"price":1,"name":"B4111111111111111^DOE/JOHN^2512"}]}`, protocol.CodeCardData},
		{strings.Repeat(" ", 70_000) + `{}`, protocol.CodeTooLarge},
	} {
		r := f.send(t, tc.msg)
		if r.Type != protocol.TypeError || r.Code != tc.code {
			t.Errorf("%.60s: got %+v, want error %s", tc.msg, r, tc.code)
		}
		if strings.Contains(r.Message, "4111111111111111") || strings.Contains(r.Re, "4111111111111111") {
			t.Errorf("the error reply quotes card data: %+v", r)
		}
	}
	if r := f.send(t, basket); r.Type != protocol.TypeOffers {
		t.Fatalf("after bad input the agent no longer serves: %+v", r)
	}
}

func TestLoyaltyIDNeverStored(t *testing.T) {
	f := newFixture(t)
	f.send(t, basket)
	f.send(t, checkout)
	f.svc.Close() // writes the queued impressions
	f.db.Close()
	filepath.WalkDir(f.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := os.ReadFile(path)
		if bytes.Contains(b, []byte(loyaltyID)) {
			t.Errorf("%s holds the raw loyalty id", path)
		}
		return nil
	})
}

func TestCustomerKey(t *testing.T) {
	k := CustomerKey([]byte("0123456789abcdef0123"), loyaltyID)
	if len(k) != 26 || !protocol.ValidCustomerKey(k) || k == CustomerKey([]byte("another-tenant-key!!"), loyaltyID) {
		t.Fatalf("customer key %q", k)
	}
}

func TestImpressionLimitHoldsBeforeTheyAreWritten(t *testing.T) {
	f := newFixture(t)
	cat, err := offer.Parse([]byte(`{"version":1,"offers":[{"id":"once-a-day","status":"active",
	 "reward":{"type":"percent_off","percent":5},"limits":{"impressions_per_customer_per_day":1}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	f.svc.SetCatalog(cat)
	if r := f.send(t, basket); len(r.Offers) != 1 {
		t.Fatalf("first basket: %+v", r.Offers)
	}
	if r := f.send(t, strings.Replace(basket, `"txn":"T"`, `"txn":"T2"`, 1)); len(r.Offers) != 0 {
		t.Fatalf("the offer was shown again the same day: %+v", r.Offers)
	}
	f.svc.Close() // writes what it kept
	key := CustomerKey([]byte("0123456789abcdef0123"), loyaltyID)
	day := offer.Day(time.Date(2026, 11, 23, 1, 0, 0, 0, time.UTC), time.UTC)
	if c := f.db.Usage(key, day).Counts("once-a-day"); c.ImpressionsToday != 1 {
		t.Fatalf("after Close the store counts %d impressions, want 1", c.ImpressionsToday)
	}
}

// TestImpressionsOfSuggestionAndOffer: an offer suggested first and then
// earned in the same transaction is shown twice, and each showing counts
// once, as a suggestion and as an offer, however often the basket is sent.
func TestImpressionsOfSuggestionAndOffer(t *testing.T) {
	f := newFixture(t)
	cat, err := offer.Parse([]byte(`{"version":1,"offers":[{"id":"spend-1000","status":"active",
	 "condition":{"spend":{"min":1000}},"reward":{"type":"amount_off","amount":100}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	f.svc.SetCatalog(cat)
	txn := ""
	for i := 0; txn == ""; i++ { // a transaction outside the holdout, which is shown nothing
		id := fmt.Sprint("T", i)
		if !decide.InHoldout(decide.HoldoutID("", "s001", "t1", id), decide.DefaultHoldout) {
			txn = id
		}
	}
	basket := func(id string, qty int) string {
		return fmt.Sprintf(`{"v":1,"type":"basket","id":%q,"txn":%q,"lines":[{"sku":"C","qty":%d,"price":300}]}`, id, txn, qty)
	}
	for i, qty := range []int{3, 3, 4, 4} { // 900: nudged, twice; 1200: earned, twice
		r := f.send(t, basket(fmt.Sprint("m", i), qty))
		if qty == 3 && (len(r.Nudges) != 1 || len(r.Offers) != 0) || qty == 4 && len(r.Offers) != 1 {
			t.Fatalf("basket of %d: %+v", qty, r)
		}
	}
	// The checkout says what the transaction showed, and that it redeemed
	// the offer it was shown both ways.
	ck := fmt.Sprintf(`{"v":1,"type":"checkout","id":"m-ck","txn":%q,"paid":1100,
	 "applied":[{"offer":"spend-1000","discount":100}],"lines":[{"sku":"C","qty":4,"price":300}]}`, txn)
	if r := f.send(t, ck); r.Type != protocol.TypeAck {
		t.Fatalf("checkout: %+v", r)
	}
	f.svc.Close() // writes the impressions kept
	pend, err := f.db.Peek(1000)
	if err != nil {
		t.Fatal(err)
	}
	var offers, suggestions int
	for _, p := range pend {
		e, err := protocol.DecodeEvent(p.Event)
		if err != nil {
			t.Fatal(err)
		}
		if e.Day != "2026-11-23" {
			t.Errorf("%s event: day %q, want the store-local 2026-11-23", e.Kind, e.Day)
		}
		if e.Kind == protocol.EventCheckout {
			want := []protocol.Shown{{Offer: "spend-1000", Redeemed: true}, {Offer: "spend-1000", Suggested: true, Redeemed: true}}
			if !reflect.DeepEqual(e.Checkout.Shown, want) {
				t.Errorf("checkout shown %+v, want %+v", e.Checkout.Shown, want)
			}
		}
		if e.Kind != protocol.EventImpression || e.Impression.Offer != "spend-1000" {
			continue
		}
		if e.Impression.Nudge {
			suggestions++
		} else {
			offers++
		}
	}
	if offers != 1 || suggestions != 1 {
		t.Errorf("impressions: %d as an offer, %d as a suggestion; want 1 and 1", offers, suggestions)
	}
}
