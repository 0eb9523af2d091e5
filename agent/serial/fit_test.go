package serial

import (
	"fmt"
	"strings"
	"testing"

	"github.com/posoffer/posoffer/agent/firmware"
	"github.com/posoffer/posoffer/protocol"
)

func TestFitDropsWhatMattersLeastFirst(t *testing.T) {
	m, err := firmware.Load("../../firmware-configs", "acme-tp100")
	if err != nil {
		t.Fatal(err)
	}
	offers := func(n int, why, text string) *protocol.Message {
		r := protocol.NewOffersReply("m1", "tx1", nil, []protocol.Nudge{{Offer: "n1", Text: text, Missing: protocol.Missing{Qty: 1}}})
		for i := range n {
			r.Offers = append(r.Offers, protocol.Offer{ID: fmt.Sprintf("o%d", i), Text: text, Discount: 10, Why: why})
		}
		return r
	}
	long := strings.Repeat("w", 200)
	for _, tc := range []struct {
		name    string
		m       *protocol.Message
		trimmed bool
		check   func(*protocol.Message) string
	}{
		{"fits", offers(3, long, "text"), false, func(r *protocol.Message) string {
			if r.Offers[2].Why != long {
				return "why was dropped"
			}
			return ""
		}},
		{"why goes first", offers(25, long, "text"), true, func(r *protocol.Message) string {
			if len(r.Offers) != 25 || r.Offers[0].Why != "" || r.Offers[0].Text != "text" || len(r.Nudges) != 1 {
				return "want 25 offers with texts, without why, and the nudge"
			}
			return ""
		}},
		{"then texts", offers(25, long, long), true, func(r *protocol.Message) string {
			if len(r.Offers) != 25 || r.Offers[0].Text != "" || len(r.Nudges) != 1 {
				return "want 25 offers without texts, and the nudge"
			}
			return ""
		}},
		{"then the last offers", offers(400, long, long), true, func(r *protocol.Message) string {
			if len(r.Offers) == 0 || len(r.Offers) >= 400 || len(r.Nudges) != 0 || r.Offers[0].ID != "o0" {
				return "want the first offers only, no nudges"
			}
			return ""
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, trimmed, err := fit(m, tc.m)
			if err != nil {
				t.Fatal(err)
			}
			if len(b) > 4096 || trimmed != tc.trimmed {
				t.Fatalf("%d bytes, trimmed %v; want at most 4096, trimmed %v", len(b), trimmed, tc.trimmed)
			}
			r, err := m.DecodeReply(b)
			if err != nil {
				t.Fatal(err)
			}
			if problem := tc.check(r); problem != "" {
				t.Errorf("%s; got %d offers, %d nudges", problem, len(r.Offers), len(r.Nudges))
			}
		})
	}
}

// TestFitSuggestions: a reply too big for the frame loses the candidates
// (for audits) first, then the suggestions' why with the offers', their
// text with the offers', then the suggestions, whose nudges stay in
// nudges, before the nudges and offers.
func TestFitSuggestions(t *testing.T) {
	m, err := firmware.Load("../../firmware-configs", "acme-tp100")
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("w", 200)
	reply := func(offers, candidates int, text string) *protocol.Message {
		r := protocol.NewOffersReply("m1", "tx1", nil, []protocol.Nudge{{Offer: "n1", Text: text, Missing: protocol.Missing{Qty: 1}}})
		for i := range offers {
			r.Offers = append(r.Offers, protocol.Offer{ID: fmt.Sprintf("o%d", i), Text: text, Discount: 10})
		}
		r.Suggestions = []protocol.Suggestion{
			{Offer: "n1", Kind: protocol.SuggestNudge, Text: text, Missing: &protocol.Missing{Qty: 1}, Why: long},
			{Offer: "x1", Kind: protocol.SuggestCrossSell, Text: text, Why: long},
		}
		for i := range candidates {
			r.Candidates = append(r.Candidates, protocol.Suggestion{Offer: fmt.Sprintf("c%d", i), Kind: protocol.SuggestCrossSell, Text: long})
		}
		r.Holdout = candidates > 0
		return r
	}
	for _, tc := range []struct {
		name  string
		m     *protocol.Message
		check func(*protocol.Message) string
	}{
		{"candidates go first", reply(3, 30, "text"), func(r *protocol.Message) string {
			if len(r.Candidates) != 0 || r.Holdout || len(r.Suggestions) != 2 || r.Suggestions[1].Why != long {
				return "want no candidates, and the suggestions whole"
			}
			return ""
		}},
		{"then why", reply(70, 0, "text"), func(r *protocol.Message) string {
			if len(r.Suggestions) != 2 || r.Suggestions[0].Why != "" || r.Suggestions[1].Text != "text" || len(r.Offers) != 70 {
				return "want the suggestions without why, with text, and every offer"
			}
			return ""
		}},
		{"then the suggestions, not the nudges", reply(104, 0, long), func(r *protocol.Message) string {
			if len(r.Suggestions) != 0 || len(r.Nudges) != 1 || len(r.Offers) != 104 {
				return "want no suggestions, the nudge and every offer"
			}
			return ""
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, trimmed, err := fit(m, tc.m)
			if err != nil {
				t.Fatal(err)
			}
			if len(b) > 4096 || !trimmed {
				t.Fatalf("%d bytes, trimmed %v; want at most 4096, trimmed", len(b), trimmed)
			}
			r, err := m.DecodeReply(b)
			if err != nil {
				t.Fatal(err)
			}
			if problem := tc.check(r); problem != "" {
				t.Errorf("%s; got %d offers, %d nudges, %d suggestions, %d candidates", problem, len(r.Offers), len(r.Nudges),
					len(r.Suggestions), len(r.Candidates))
			}
		})
	}
}
