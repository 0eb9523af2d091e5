package store

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/posoffer/posoffer/protocol"
	"github.com/posoffer/posoffer/protocol/offer"
)

// Only the honoured part of a claim counts: the store's discount counter
// (which budgets read), the customer's counters and points, and the events
// HQ gets; what was claimed past it is a discrepancy event, and a claim
// that was not a redemption counts nothing at all.
func TestOnlyHonouredAmountsCount(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "agent.db"), Options{})
	ck := checkout("T1")
	ck.Claims = []Claim{
		{Applied: protocol.Applied{Offer: "coffee-2-pastry", Discount: 999_999, Points: 5}, Honoured: 280, HonouredPoints: 5, Redeemed: true},
		{Applied: protocol.Applied{Offer: "forged", Discount: 500}, Redeemed: false},
		{Applied: protocol.Applied{Offer: "pts", Points: 10}, HonouredPoints: 10, Redeemed: true},
	}
	if _, err := s.RecordCheckout("s001", ck, nil); err != nil {
		t.Fatal(err)
	}
	day := offer.Day(at, time.UTC)
	if u := s.Usage(cust, day).Counts("coffee-2-pastry"); u.Redemptions != 1 || u.Discount != 280 || u.Customer != 1 || u.CustomerToday != 1 {
		t.Errorf("coffee-2-pastry counts %+v, want 1 redemption of 280", u)
	}
	if u := s.Usage(cust, day).Counts("forged"); u != (offer.Counts{}) {
		t.Errorf("a claim that was no redemption counted: %+v", u)
	}
	p, err := s.Profile(cust)
	if err != nil || p == nil || p.Points != 15 {
		t.Fatalf("profile %+v, %v: want the 15 points honoured", p, err)
	}
	var reds []protocol.RedemptionEvent
	var discs []protocol.DiscrepancyEvent
	var ce *protocol.CheckoutEvent
	for _, e := range events(t, s) {
		switch e.Kind {
		case protocol.EventRedemption:
			reds = append(reds, *e.Redemption)
		case protocol.EventDiscrepancy:
			if e.Terminal != "t1" || e.Txn != "T1" {
				t.Errorf("discrepancy of terminal %q txn %q", e.Terminal, e.Txn)
			}
			discs = append(discs, *e.Discrepancy)
		case protocol.EventCheckout:
			ce = e.Checkout
		}
	}
	wantReds := []protocol.RedemptionEvent{
		{Offer: "coffee-2-pastry", Discount: 280, Points: 5, Claimed: 999_999, ClaimedPoints: 5},
		{Offer: "pts", Points: 10},
	}
	if len(reds) != 2 || reds[0].Offer != wantReds[0].Offer || reds[0].Discount != 280 || reds[0].Claimed != 999_999 ||
		reds[1].Offer != "pts" || reds[1].Points != 10 || reds[1].Claimed != 0 {
		t.Errorf("redemptions %+v, want %+v", reds, wantReds)
	}
	wantDiscs := []protocol.DiscrepancyEvent{
		{Offer: "coffee-2-pastry", Claimed: 999_999, Honoured: 280, ClaimedPoints: 5, HonouredPoints: 5},
		{Offer: "forged", Claimed: 500},
	}
	if len(discs) != 2 || discs[0] != wantDiscs[0] || discs[1] != wantDiscs[1] {
		t.Errorf("discrepancies %+v, want %+v", discs, wantDiscs)
	}
	if ce == nil || ce.Discount != 280 || ce.Points != 15 {
		t.Errorf("checkout event %+v: want discount 280 and points 15, as honoured", ce)
	}
}
