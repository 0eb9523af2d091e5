package api

import (
	"net/http"
	"testing"
	"time"

	"github.com/posoffer/posoffer/cloud/store"
	"github.com/posoffer/posoffer/cloud/store/storetest"
	"github.com/posoffer/posoffer/protocol"
)

func discrepancy(id, store, terminal, offer string, at time.Time, claimed, honoured int64) *protocol.Event {
	return &protocol.Event{ID: id, Kind: protocol.EventDiscrepancy, Store: store, At: at, Terminal: terminal,
		Txn: "txn-" + id, Discrepancy: &protocol.DiscrepancyEvent{Offer: offer, Claimed: claimed, Honoured: honoured}}
}

func TestDiscrepancies(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		e := newEnv(t, open)
		e.write(
			discrepancy("d1", "s001", "t1", "coffee-2-pastry", t0.Add(-3*time.Hour), 999_999, 350),
			discrepancy("d2", "s001", "t2", "forged", t0.Add(-2*time.Hour), 500, 0),
			discrepancy("d3", "s002", "t1", "coffee-2-pastry", t0.Add(-time.Hour), 300, 280),
		)
		var got page[store.Discrepancy]
		e.call("GET", "/api/v1/discrepancies?store=s001&terminal=t1", e.analyst, "", http.StatusOK, &got)
		want := store.Discrepancy{ID: "d1", Store: "s001", Terminal: "t1", Txn: "txn-d1", Offer: "coffee-2-pastry",
			Claimed: 999_999, Honoured: 350, Excess: 999_649, At: t0.Add(-3 * time.Hour)}
		if len(got.Items) != 1 || got.Items[0] != want || got.Next != "" {
			t.Fatalf("s001/t1: %+v, want %+v", got, want)
		}
		e.call("GET", "/api/v1/discrepancies?from=2026-11-22T07:30:00Z&limit=1", e.analyst, "", http.StatusOK, &got)
		if len(got.Items) != 1 || got.Items[0].ID != "d3" || got.Next == "" {
			t.Fatalf("first page since 07:30: %+v", got)
		}
		e.call("GET", "/api/v1/discrepancies?from=2026-11-22T07:30:00Z&limit=1&after="+got.Next, e.analyst, "", http.StatusOK, &got)
		if len(got.Items) != 1 || got.Items[0].ID != "d2" || got.Next != "" {
			t.Fatalf("second page: %+v", got)
		}
		e.call("GET", "/api/v1/discrepancies?store=s009", e.analyst, "", http.StatusOK, &got)
		if got.Items == nil || len(got.Items) != 0 {
			t.Fatalf("none: %+v, want an empty list", got)
		}

		var sum report[store.DiscrepancySummaryRow]
		e.call("GET", "/api/v1/reports/discrepancies", e.analyst, "", http.StatusOK, &sum)
		if len(sum.Items) != 3 || sum.Items[0].Store != "s001" || sum.Items[0].Terminal != "t1" ||
			sum.Items[0].Excess != 999_649 || sum.Items[1].Terminal != "t2" || sum.Items[2].Store != "s002" {
			t.Fatalf("summary %+v", sum)
		}
		e.call("GET", "/api/v1/reports/discrepancies?store=s002", e.analyst, "", http.StatusOK, &sum)
		if len(sum.Items) != 1 || sum.Items[0].Discrepancies != 1 || sum.Items[0].Claimed != 300 || sum.Items[0].Honoured != 280 {
			t.Fatalf("s002 summary %+v", sum)
		}

		e.fails("GET", "/api/v1/discrepancies", "", "", http.StatusUnauthorized, CodeUnauthorized)
		e.fails("GET", "/api/v1/reports/discrepancies", "", "", http.StatusUnauthorized, CodeUnauthorized)
		e.fails("GET", "/api/v1/discrepancies?terminal=T1", e.analyst, "", http.StatusBadRequest, CodeBadRequest, "terminal")
		e.fails("GET", "/api/v1/discrepancies?till=t1", e.analyst, "", http.StatusBadRequest, CodeBadRequest, "till")
		e.fails("GET", "/api/v1/discrepancies?after=nope", e.analyst, "", http.StatusBadRequest, CodeBadRequest, "after")
	})
}
