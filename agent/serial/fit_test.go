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
