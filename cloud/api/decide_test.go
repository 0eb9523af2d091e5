package api

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/posoffer/posoffer/cloud/bus/bustest"
	"github.com/posoffer/posoffer/cloud/decide"
	"github.com/posoffer/posoffer/cloud/ingest"
	"github.com/posoffer/posoffer/cloud/store"
	"github.com/posoffer/posoffer/cloud/store/storetest"
	"github.com/posoffer/posoffer/protocol"
)

// ingestEvents publishes events onto NATS as agents do and runs HQ's
// ingest until the database holds them all.
func ingestEvents(t *testing.T, db *store.DB, events []*protocol.Event) jetstream.JetStream {
	t.Helper()
	js, cons := bustest.Start(t)
	bustest.Publish(t, js, events)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ictx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ingest.Run(ictx, ingest.Options{DB: db, JS: js, Consumer: cons}) }()
	t.Cleanup(func() {
		stop()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("ingest did not stop")
		}
	})
	waitFor(t, fmt.Sprintf("%d events stored", len(events)), func() bool {
		st, err := db.DecideStamp(ctx, math.MaxInt64)
		var n int64
		for _, e := range events {
			if e.Kind == protocol.EventCheckout || e.Kind == protocol.EventRedemption {
				n++
			}
		}
		return err == nil && st.Checkouts+st.Redemptions == n
	})
	return js
}

// upliftEvents: in the north, 60 exposed transactions suggest pastry (30
// taken) and milk (6 taken), 40 held out would have (8 and 4 taken); in
// the south, 10 exposed transactions suggest milk, never taken.
func upliftEvents() []*protocol.Event {
	var out []*protocol.Event
	at := t0.Add(-time.Hour)
	n := 0
	add := func(group string, holdout bool, subtotal int64, offers []string, taken map[string]bool) {
		n++
		txn := fmt.Sprintf("x%d", n)
		d := &protocol.Decision{Context: "anon|morning|" + group, Policy: protocol.PolicyLearned, Holdout: holdout}
		for _, o := range offers {
			d.Suggested = append(d.Suggested, protocol.Suggested{Offer: o, Kind: protocol.SuggestCrossSell})
		}
		out = append(out, &protocol.Event{ID: uuid.Must(uuid.NewV7()).String(), Kind: protocol.EventCheckout,
			Store: "s-" + group, At: at, Terminal: "t1", Txn: txn, Checkout: &protocol.CheckoutEvent{
				Lines:    []protocol.EventLine{{SKU: "COF-1", Qty: 1, Price: subtotal, Category: "coffee"}},
				Subtotal: subtotal, Paid: subtotal, Decision: d}})
		for _, o := range offers {
			if taken[o] {
				out = append(out, &protocol.Event{ID: uuid.Must(uuid.NewV7()).String(), Kind: protocol.EventRedemption,
					Store: "s-" + group, At: at, Terminal: "t1", Txn: txn,
					Redemption: &protocol.RedemptionEvent{Offer: o, Discount: 10}})
			}
		}
	}
	for i := range 60 {
		add("north", false, 1200+int64(i%2)*200, []string{"pastry", "milk"}, map[string]bool{"pastry": i < 30, "milk": i < 6})
	}
	for i := range 40 {
		add("north", true, 1000+int64(i%2)*200, []string{"pastry", "milk"}, map[string]bool{"pastry": i < 8, "milk": i < 4})
	}
	for range 10 {
		add("south", false, 500, []string{"milk"}, nil)
	}
	return out
}

func closeTo(a, b float64) bool { return math.Abs(a-b) < 1e-5 }

// testGroups is HQ's decide.groups in these tests.
var testGroups = map[string]string{"s-north": "north", "s-south": "south"}

// TestUpliftThroughIngest: checkout and redemption events published as
// agents publish them, ingested, learned from, and reported.
func TestUpliftThroughIngest(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		e := newEnv(t, open)
		js := ingestEvents(t, e.db, upliftEvents())

		var u struct {
			upliftReport
			Overall decide.UpliftRow   `json:"overall"`
			Offers  []decide.UpliftRow `json:"offers"`
		}
		e.call("GET", "/api/v1/reports/uplift?group=north", e.analyst, "", http.StatusOK, &u)
		// Conversion per transaction: exposed 0.5 + 0.1, held out 0.2 + 0.1.
		o := u.Overall
		if o.Exposed != 60 || o.HeldOut != 40 || !closeTo(o.Conversion.Exposed, 0.6) || !closeTo(o.Conversion.HeldOut, 0.3) ||
			!closeTo(o.Conversion.Difference, 0.3) {
			t.Fatalf("overall %+v", o)
		}
		if len(u.Offers) != 2 || u.Offers[0].Offer != "milk" || u.Offers[1].Offer != "pastry" {
			t.Fatalf("offers %+v", u.Offers)
		}
		// Pastry: 30/60 against 8/40: v = 15/59 and 6.4/39, se = 0.0913228.
		p := u.Offers[1]
		if !closeTo(p.Conversion.Difference, 0.3) || !closeTo(p.Conversion.CI[0], 0.3-1.959964*0.0913228) ||
			p.Conversion.Verdict != decide.VerdictUplift {
			t.Fatalf("pastry %+v", p.Conversion)
		}
		// Basket value: 1300 against 1100, each ±100 around its mean.
		if !closeTo(p.BasketValue.Exposed, 1300) || !closeTo(p.BasketValue.HeldOut, 1100) || p.BasketValue.Verdict != decide.VerdictUplift {
			t.Fatalf("pastry basket value %+v", p.BasketValue)
		}
		// Milk: 0.1 against 0.1.
		if m := u.Offers[0].Conversion; !closeTo(m.Difference, 0) || m.Verdict == decide.VerdictUplift {
			t.Fatalf("milk %+v", m)
		}
		// All groups: the south's 10 exposed transactions come in.
		e.call("GET", "/api/v1/reports/uplift", e.analyst, "", http.StatusOK, &u)
		if u.Overall.Exposed != 70 || u.Overall.HeldOut != 40 {
			t.Fatalf("all groups: %+v", u.Overall)
		}
		e.call("GET", "/api/v1/reports/uplift?offer=pastry", e.analyst, "", http.StatusOK, &u)
		if u.Overall.Exposed != 60 || !closeTo(u.Overall.Conversion.Exposed, 0.5) || len(u.Offers) != 1 {
			t.Fatalf("pastry alone: %+v", u)
		}
		// A period without decisions.
		e.call("GET", "/api/v1/reports/uplift?to=2026-11-01", e.analyst, "", http.StatusOK, &u)
		if u.Overall.Exposed != 0 || u.Overall.Conversion.Verdict != decide.VerdictTooLittle || len(u.Offers) != 0 {
			t.Fatalf("empty period: %+v", u)
		}
		e.fails("GET", "/api/v1/reports/uplift?group=North!", e.analyst, "", http.StatusBadRequest, CodeBadRequest, "group")
		e.fails("GET", "/api/v1/reports/uplift?offer=Bad+Id", e.analyst, "", http.StatusBadRequest, CodeBadRequest, "offer")
		e.fails("GET", "/api/v1/reports/uplift?store=s1", e.analyst, "", http.StatusBadRequest, CodeBadRequest, "store")
		e.fails("GET", "/api/v1/reports/uplift", "", "", http.StatusUnauthorized, CodeUnauthorized)

		// No model yet.
		e.fails("GET", "/api/v1/decide/model", e.analyst, "", http.StatusNotFound, CodeNotFound, "no model")
		l := decide.New(decide.Options{DB: e.db, JS: js, Signer: e.signer, Settings: decide.Settings{
			Window: 28 * 24 * time.Hour, HalfLife: 7 * 24 * time.Hour, MinSupport: 0.005, MinLift: 1.2, Holdout: 0.05,
			Groups: testGroups}})
		if rev, err := l.Step(context.Background()); err != nil || rev != 1 {
			t.Fatalf("learn: %d, %v", rev, err)
		}

		var sg struct {
			decide.Suggestions
		}
		e.call("GET", "/api/v1/reports/suggestions?offer=pastry", e.analyst, "", http.StatusOK, &sg)
		if sg.Model != 1 || len(sg.Items) != 1 || len(sg.Days) != 1 || len(sg.Offers) != 1 {
			t.Fatalf("suggestions %+v", sg)
		}
		it := sg.Items[0]
		// The arm of pastry in its one context: pooled 30 of 60, so the
		// prior is its rate 31/62 worth 10 observations, Beta(5, 5);
		// Beta(35, 35) with the counts.
		want := decide.Counts{Exposures: 60, Conversions: 30, HeldOut: 40, HeldOutConversions: 8}
		if it.Offer != "pastry" || it.Kind != "cross_sell" || it.Context != "anon|morning|north" || it.Counts != want ||
			it.Posterior == nil || !closeTo(it.Posterior.Alpha, 35) || !closeTo(it.Posterior.Beta, 35) ||
			!closeTo(it.Posterior.Mean, 0.5) || it.Posterior.CI[0] > 0.5 || it.Posterior.CI[1] < 0.5 {
			t.Fatalf("pastry row %+v %+v", it, it.Posterior)
		}
		if d := sg.Days[0]; d.Day != "2026-11-22" || d.Counts != want {
			t.Fatalf("day %+v", d)
		}
		if op := sg.Offers[0]; op.Offer != "pastry" || !closeTo(op.Alpha, 31) || !closeTo(op.Beta, 31) || op.Exposures != 60 {
			t.Fatalf("pooled pastry %+v", op)
		}
		e.fails("GET", "/api/v1/reports/suggestions?from=2020-01-01", e.analyst, "", http.StatusBadRequest, CodeBadRequest, "366 days")

		var m modelReply
		e.call("GET", "/api/v1/decide/model", e.analyst, "", http.StatusOK, &m)
		// Arms: pastry (*, north), milk (*, north, south).
		if m.Revision != 1 || m.Counts.Arms != 5 || len(m.Arms) != 5 || m.Holdout != 0.05 || !m.DataUntil.Equal(t0.Add(-time.Hour)) {
			t.Fatalf("model %+v", m)
		}
		e.call("GET", "/api/v1/decide/model?limit=2", e.analyst, "", http.StatusOK, &m)
		if m.Counts.Arms != 5 || len(m.Arms) != 2 || m.Arms[0].Exposures < m.Arms[1].Exposures {
			t.Fatalf("limited model %+v", m)
		}
		e.fails("GET", "/api/v1/decide/model?limit=0", e.analyst, "", http.StatusBadRequest, CodeBadRequest, "limit")
	})
}
