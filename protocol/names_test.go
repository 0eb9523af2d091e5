package protocol

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

func TestValidIDs(t *testing.T) {
	for _, tc := range []struct {
		id                  string
		store, offer, valid bool // store and terminal; offer and segment
	}{
		{id: "s001", store: true, offer: true},
		{id: "a", store: true, offer: true},
		{id: "-", store: true, offer: true},
		{id: "coffee-2-pastry", store: true, offer: true},
		{id: strings.Repeat("a", 32), store: true, offer: true},
		{id: strings.Repeat("a", 33), offer: true},
		{id: strings.Repeat("9", 64), offer: true},
		{id: strings.Repeat("9", 65)},
		{id: ""},
		{id: "S001"},
		{id: "s_001"},
		{id: "s 001"},
		{id: "s.001"},
		{id: "s/001"},
		{id: "+"},
		{id: "#"},
		{id: "café"},
		{id: "s001\n"},
	} {
		check := func(name string, f func(string) bool, want bool) {
			if got := f(tc.id); got != want {
				t.Errorf("%s(%q) = %v, want %v", name, tc.id, got, want)
			}
		}
		check("ValidStoreID", ValidStoreID, tc.store)
		check("ValidTerminalID", ValidTerminalID, tc.store)
		check("ValidOfferID", ValidOfferID, tc.offer)
		check("ValidSegmentID", ValidSegmentID, tc.offer)
	}
}

func TestValidCustomerKey(t *testing.T) {
	for _, tc := range []struct {
		key  string
		want bool
	}{
		{"abcdefghijklmnopqrstuvwxyz", true},
		{"234567abcdefghijklmnopqrst", true},
		{"abcdefghijklmnopqrstuvwxy", false},   // 25
		{"abcdefghijklmnopqrstuvwxyza", false}, // 27
		{"abcdefghijklmnopqrstuvwxy1", false},  // 1 is not base32
		{"abcdefghijklmnopqrstuvwxy8", false},
		{"ABCDEFGHIJKLMNOPQRSTUVWXYZ", false},
		{"4900123456789", false},
		{"", false},
	} {
		if got := ValidCustomerKey(tc.key); got != tc.want {
			t.Errorf("ValidCustomerKey(%q) = %v, want %v", tc.key, got, tc.want)
		}
	}
}

func TestTopics(t *testing.T) {
	for _, tc := range []struct {
		name string
		got  func() (string, error)
		want string // "" for an error
	}{
		{"in", func() (string, error) { return TopicIn("s001", "t01") }, "posoffer/v1/s001/t01/in"},
		{"out", func() (string, error) { return TopicOut("s001", "t01") }, "posoffer/v1/s001/t01/out"},
		{"filter", func() (string, error) { return TopicInFilter("s001") }, "posoffer/v1/s001/+/in"},
		{"status", func() (string, error) { return TopicStatus("s001") }, "posoffer/v1/s001/agent/status"},
		{"in bad store", func() (string, error) { return TopicIn("S001", "t01") }, ""},
		{"in bad terminal", func() (string, error) { return TopicIn("s001", "t/01") }, ""},
		{"in empty terminal", func() (string, error) { return TopicIn("s001", "") }, ""},
		{"in wildcard", func() (string, error) { return TopicIn("s001", "+") }, ""},
		{"out bad store", func() (string, error) { return TopicOut("#", "t01") }, ""},
		{"out bad terminal", func() (string, error) { return TopicOut("s001", strings.Repeat("t", 33)) }, ""},
		{"filter bad store", func() (string, error) { return TopicInFilter("") }, ""},
		{"status bad store", func() (string, error) { return TopicStatus("s 1") }, ""},
	} {
		got, err := tc.got()
		switch {
		case tc.want == "" && !errors.Is(err, ErrInvalidID):
			t.Errorf("%s: got %q, %v; want an ErrInvalidID", tc.name, got, err)
		case tc.want != "" && (err != nil || got != tc.want):
			t.Errorf("%s: got %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
}

func TestParseTopic(t *testing.T) {
	for _, tc := range []struct {
		topic           string
		store, terminal string // "" for an error
		out             bool   // ParseTopicOut rather than ParseTopicIn
	}{
		{topic: "posoffer/v1/s001/t01/in", store: "s001", terminal: "t01"},
		{topic: "posoffer/v1/s-1/agent/in", store: "s-1", terminal: "agent"},
		{topic: "posoffer/v1/s001/t01/out", store: "s001", terminal: "t01", out: true},
		{topic: "posoffer/v1/s001/t01/out"},
		{topic: "posoffer/v1/s001/t01/in", out: true},
		{topic: "posoffer/v2/s001/t01/in"},
		{topic: "posoffer/v1/s001/agent/status"},
		{topic: "posoffer/v1/s001/x/t01/in"},
		{topic: "posoffer/v1/s001/+/in"},
		{topic: "posoffer/v1//t01/in"},
		{topic: "posoffer/v1/s001//in"},
		{topic: "posoffer/v1/S001/t01/in"},
		{topic: "posoffer/v1/s001/t01/in/"},
		{topic: "/posoffer/v1/s001/t01/in"},
		{topic: ""},
	} {
		parse := ParseTopicIn
		if tc.out {
			parse = ParseTopicOut
		}
		store, terminal, err := parse(tc.topic)
		if tc.store == "" {
			if !errors.Is(err, ErrInvalidName) {
				t.Errorf("parse %q (out %v): got %q, %q, %v; want ErrInvalidName", tc.topic, tc.out, store, terminal, err)
			}
			continue
		}
		if err != nil || store != tc.store || terminal != tc.terminal {
			t.Errorf("parse %q (out %v): got %q, %q, %v; want %q, %q", tc.topic, tc.out, store, terminal, err, tc.store, tc.terminal)
		}
		build := TopicIn
		if tc.out {
			build = TopicOut
		}
		if back, _ := build(store, terminal); back != tc.topic {
			t.Errorf("topic %q parsed and built again is %q", tc.topic, back)
		}
	}
}

func TestEventSubject(t *testing.T) {
	kinds := []EventKind{EventRedemption, EventImpression, EventCheckout, EventProfile, EventHeartbeat}
	for _, k := range kinds {
		subj, err := EventSubject("s001", k)
		if err != nil || subj != "posoffer.v1.events.s001."+string(k) {
			t.Errorf("EventSubject(s001, %s) = %q, %v", k, subj, err)
		}
		store, kind, err := ParseEventSubject(subj)
		if err != nil || store != "s001" || kind != k {
			t.Errorf("ParseEventSubject(%q) = %q, %q, %v", subj, store, kind, err)
		}
	}
	if _, err := EventSubject("s.001", EventCheckout); !errors.Is(err, ErrInvalidID) {
		t.Errorf("EventSubject with a dot in the store: %v, want ErrInvalidID", err)
	}
	for _, k := range []EventKind{"", "sale", "Checkout", "checkout.x", ">"} {
		if k.Valid() {
			t.Errorf("EventKind(%q).Valid() = true", k)
		}
		if _, err := EventSubject("s001", k); !errors.Is(err, ErrInvalidName) {
			t.Errorf("EventSubject(s001, %q): %v, want ErrInvalidName", k, err)
		}
	}
	for _, subj := range []string{
		"", "posoffer.v1.events.s001", "posoffer.v1.events.s001.sale", "posoffer.v1.events.s001.checkout.x",
		"posoffer.v1.events..checkout", "posoffer.v1.events.*.checkout", "posoffer.v2.events.s001.checkout",
	} {
		if _, _, err := ParseEventSubject(subj); !errors.Is(err, ErrInvalidName) {
			t.Errorf("ParseEventSubject(%q): %v, want ErrInvalidName", subj, err)
		}
	}
}

func TestCatalogKeys(t *testing.T) {
	if k, err := OfferKey("coffee-2-pastry"); err != nil || k != "offer.coffee-2-pastry" {
		t.Errorf("OfferKey = %q, %v", k, err)
	}
	if k, err := SegmentKey("lapsed"); err != nil || k != "segment.lapsed" {
		t.Errorf("SegmentKey = %q, %v", k, err)
	}
	if _, err := OfferKey("Coffee"); !errors.Is(err, ErrInvalidID) {
		t.Errorf("OfferKey(Coffee): %v, want ErrInvalidID", err)
	}
	if _, err := SegmentKey(""); !errors.Is(err, ErrInvalidID) {
		t.Errorf("SegmentKey(\"\"): %v, want ErrInvalidID", err)
	}
	for _, tc := range []struct {
		key              string
		offer, segment   string
		isOffer, isSegmt bool
	}{
		{key: "offer.a-1", offer: "a-1", isOffer: true},
		{key: "segment.lapsed", segment: "lapsed", isSegmt: true},
		{key: "offer."},
		{key: "offer.A"},
		{key: "segment.a.b"},
		{key: "offers.a"},
		{key: "a"},
	} {
		if id, ok := ParseOfferKey(tc.key); ok != tc.isOffer || ok && id != tc.offer {
			t.Errorf("ParseOfferKey(%q) = %q, %v", tc.key, id, ok)
		}
		if id, ok := ParseSegmentKey(tc.key); ok != tc.isSegmt || ok && id != tc.segment {
			t.Errorf("ParseSegmentKey(%q) = %q, %v", tc.key, id, ok)
		}
	}
}

func TestProfileKey(t *testing.T) {
	const key = "abcdefghijklmnopqrstuvwx23"
	if k, err := ProfileKey(key); err != nil || k != key {
		t.Errorf("ProfileKey(%q) = %q, %v", key, k, err)
	}
	const loyaltyID = "4900123456789"
	_, err := ProfileKey(loyaltyID)
	if !errors.Is(err, ErrInvalidID) {
		t.Fatalf("ProfileKey(loyalty id): %v, want ErrInvalidID", err)
	}
	if strings.Contains(err.Error(), loyaltyID) {
		t.Errorf("ProfileKey error %q names the raw loyalty id", err)
	}
}

// TestNamesCarryVersion checks that every versioned name says the version
// this package speaks.
func TestNamesCarryVersion(t *testing.T) {
	v := "v" + strconv.Itoa(Version)
	for _, name := range []string{TopicPrefix, TopicInT, TopicOutT, TopicInFilterT, TopicStatusT, EventsSubjects, EventSubjectT} {
		if !strings.Contains(name, "/"+v+"/") && !strings.Contains(name, "."+v+".") {
			t.Errorf("%q does not carry version %s", name, v)
		}
	}
	subj, _ := EventSubject("s001", EventCheckout)
	if !strings.HasPrefix(subj, strings.TrimSuffix(EventsSubjects, ">")) {
		t.Errorf("subject %q is outside the stream's subjects %q", subj, EventsSubjects)
	}
}

func BenchmarkValidOfferID(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if !ValidOfferID("coffee-2-pastry-breakfast-weekdays") {
			b.Fatal("invalid")
		}
	}
}
