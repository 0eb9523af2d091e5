package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/posoffer/posoffer/cloud/store"
	"github.com/posoffer/posoffer/protocol"
)

// budgetCatalog has one offer, 100 off a basket with coffee, with a budget
// of 300 per store.
const budgetCatalog = `{"version":1,"offers":[
  {"id":"coffee-100","status":"active","condition":{"items":{"categories":["coffee"],"min_qty":1}},
   "reward":{"type":"amount_off","amount":100},"limits":{"budget":300}}]}`

// TestInflatedClaimIsHonouredOnlyAsOffered: a terminal claims 999,999 off a 350 basket. The agent records
// and acknowledges the checkout, counts only the 100 it offered toward the
// offer's budget, so the next customer still gets the offer, and HQ lists
// the discrepancy by store and terminal.
func TestInflatedClaimIsHonouredOnlyAsOffered(t *testing.T) {
	h := newHQ(t, "")
	h.push(t, budgetCatalog) // on a shared NATS, the bucket holds what the last test left
	a := newAgent(t, h, h.natsURL, budgetCatalog)
	term := newTerminal(t, a)
	defer term.close()

	const lines = `"lines":[{"sku":"C","qty":1,"price":350,"category":"coffee"}]`
	basket := func(txn, customer string) *protocol.Message {
		t.Helper()
		r := term.send("b-"+txn, `{"v":1,"type":"basket","id":"b-`+txn+`","txn":"`+txn+`","customer":"`+customer+`",`+lines+`}`,
			5*time.Second)
		if r == nil || r.Type != protocol.TypeOffers {
			t.Fatalf("basket %s: %+v; agent logs:\n%s", txn, r, a.logs)
		}
		return r
	}
	checkout := func(txn, customer, discount string) {
		t.Helper()
		r := term.send("c-"+txn, `{"v":1,"type":"checkout","id":"c-`+txn+`","txn":"`+txn+`","customer":"`+customer+
			`","paid":0,"applied":[{"offer":"coffee-100","discount":`+discount+`,"points":0}],`+lines+`}`, 5*time.Second)
		if r == nil || r.Type != protocol.TypeAck || r.Txn != txn {
			t.Fatalf("checkout %s: %+v, want an ack; agent logs:\n%s", txn, r, a.logs)
		}
	}

	if o := offered(basket("X1", "4900000000001"), "coffee-100"); o == nil || o.Discount != 100 {
		t.Fatalf("first customer: coffee-100 not offered at 100")
	}
	checkout("X1", "4900000000001", "999999")
	// Without the fix the forged claim spent the whole budget here.
	if o := offered(basket("X2", "4900000000002"), "coffee-100"); o == nil || o.Discount != 100 {
		t.Fatalf("second customer: coffee-100 not offered after the forged claim; its budget was spent")
	}
	checkout("X2", "4900000000002", "100")

	db := h.db(t)
	var reds []store.Redemption
	if !waitFor(20*time.Second, func() bool {
		reds, _, _ = db.Redemptions(t.Context(), store.Filter{Store: a.store})
		return len(reds) == 2
	}) {
		t.Fatalf("HQ has %d redemptions of store %s, want 2; HQ logs:\n%s", len(reds), a.store, h.logs)
	}
	for _, r := range reds {
		if r.Discount != 100 {
			t.Errorf("HQ redemption of %s: discount %d, want the 100 honoured", r.Txn, r.Discount)
		}
	}

	token := h.token(t, "analyst")
	var got struct {
		Items []store.Discrepancy `json:"items"`
	}
	list := func(query string) {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+h.http+"/api/v1/discrepancies?"+query, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		got.Items = nil
		if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /api/v1/discrepancies?%s: %d, %v", query, resp.StatusCode, err)
		}
	}
	if !waitFor(20*time.Second, func() bool { list("store=" + a.store + "&terminal=t01"); return len(got.Items) > 0 }) {
		t.Fatalf("no discrepancy of store %s listed; HQ logs:\n%s", a.store, h.logs)
	}
	d := got.Items[0]
	if len(got.Items) != 1 || d.Terminal != "t01" || d.Txn != "X1" || d.Offer != "coffee-100" || d.Claimed != 999_999 ||
		d.Honoured != 100 || d.Excess != 999_899 {
		t.Fatalf("discrepancies %+v, want one: t01, X1, coffee-100, claimed 999999, honoured 100", got.Items)
	}
	if m := metric(t, a.http, "posoffer_discount_discrepancies_total"); m != "1" {
		t.Errorf("agent metric: %q, want 1", m)
	}
	if apiCall(t, "http://"+h.http, "", "GET", "discrepancies", "") != http.StatusUnauthorized {
		t.Errorf("discrepancies listed without a token")
	}
	a.stop(t) // its logs are complete
	logs := a.logs.String()
	if !strings.Contains(logs, "checkout claim honoured in part") || !strings.Contains(logs, `"claimed":999999,"honoured":100`) {
		t.Errorf("the agent did not log the discrepancy:\n%s", logs)
	}
	if strings.Contains(logs, "4900000000001") {
		t.Errorf("the agent's log holds a loyalty id")
	}
}
