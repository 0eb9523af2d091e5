package protocol

import "testing"

func TestDiscrepancyEvent(t *testing.T) {
	const ok = `{"id":"e1","kind":"discrepancy","store":"s001","at":"2026-12-03T10:00:00Z","terminal":"t01","txn":"T1",
 "discrepancy":{"offer":"coffee-100","claimed":999999,"honoured":100,"claimed_points":0,"honoured_points":0}}`
	e, err := DecodeEvent([]byte(ok))
	if err != nil || e.Discrepancy == nil || e.Discrepancy.Excess() != 999_899 || e.Discrepancy.Problem() != "" {
		t.Fatalf("DecodeEvent: %+v, %v", e, err)
	}
	if s, err := EventSubject("s001", EventDiscrepancy); err != nil || s != "posoffer.v1.events.s001.discrepancy" {
		t.Fatalf("subject %q, %v", s, err)
	}
	if _, kind, err := ParseEventSubject("posoffer.v1.events.s001.discrepancy"); err != nil || kind != EventDiscrepancy {
		t.Fatalf("parse subject: %v, %v", kind, err)
	}
	if _, err := DecodeEvent([]byte(`{"id":"e1","kind":"discrepancy","store":"s001","at":"2026-12-03T10:00:00Z",
 "discrepancy":{"offer":"a","claimed":1,"honoured":0}}`)); err == nil {
		t.Error("a discrepancy without a txn decoded")
	}
	for _, d := range []DiscrepancyEvent{
		{Offer: "", Claimed: 1},
		{Offer: "a", Claimed: 1, Honoured: 2},
		{Offer: "a", Claimed: -1},
		{Offer: "a", Claimed: MaxAmount + 1},
		{Offer: "a", ClaimedPoints: 1, HonouredPoints: 2},
		{Offer: "a", Claimed: 5, Honoured: 5},
	} {
		if d.Problem() == "" {
			t.Errorf("%+v: no problem found", d)
		}
	}
	if p := (&DiscrepancyEvent{Offer: "a", ClaimedPoints: 9, HonouredPoints: 1}).Problem(); p != "" {
		t.Errorf("points alone in excess: %s", p)
	}
}
