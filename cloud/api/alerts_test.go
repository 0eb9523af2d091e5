package api

import (
	"context"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/posoffer/posoffer/cloud/store"
	"github.com/posoffer/posoffer/cloud/store/storetest"
)

func TestAlerts(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	e.call("POST", "/api/v1/segments", e.admin, staffSegment, http.StatusCreated, nil)
	e.call("POST", "/api/v1/offers", e.admin, coffeeOffer, http.StatusCreated, nil)
	_, err := e.db.AddBudgetAlerts(context.Background(), []store.BudgetAlert{
		{Offer: "coffee-2-pastry", Store: "s001", Level: 80, Budget: 10000, Discount: 8100, At: t0.Add(-time.Hour)},
		{Offer: "gone", Store: "s002", Level: 100, Budget: 500, Discount: 520, At: t0.AddDate(0, 0, -10)},
	})
	if err != nil {
		t.Fatal(err)
	}
	var got list[alertView]
	e.call("GET", "/api/v1/alerts", e.analyst, "", http.StatusOK, &got)
	if len(got.Items) != 1 || got.Items[0].Name != "Buy 2 coffees, get a pastry free" || got.Items[0].Level != 80 {
		t.Fatalf("the last 7 days: %+v", got)
	}
	e.call("GET", "/api/v1/alerts?days=30", e.analyst, "", http.StatusOK, &got)
	if len(got.Items) != 2 || got.Items[1].Offer != "gone" || got.Items[1].Name != "" {
		t.Fatalf("the last 30 days: %+v", got)
	}
	e.fails("GET", "/api/v1/alerts?days=0", e.analyst, "", http.StatusBadRequest, CodeBadRequest, "days")
	e.fails("GET", "/api/v1/alerts", "", "", http.StatusUnauthorized, CodeUnauthorized, "")
}

func TestOfferStores(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	e.write(redemption("r1", "s001", "coffee", t0, 100, 1), redemption("r2", "s002", "coffee", t0, 300, 0),
		redemption("r3", "s001", "coffee", t0.AddDate(-2, 0, 0), 50, 0), redemption("r4", "s001", "tea", t0, 7, 0))
	var got list[store.OfferStoreRow]
	e.call("GET", "/api/v1/offers/coffee/stores", e.analyst, "", http.StatusOK, &got)
	want := []store.OfferStoreRow{{Store: "s002", Redemptions: 1, Discount: 300}, {Store: "s001", Redemptions: 2, Discount: 150, Points: 1}}
	if !reflect.DeepEqual(got.Items, want) {
		t.Fatalf("got %+v, want %+v", got.Items, want)
	}
	e.call("GET", "/api/v1/offers/none/stores", e.analyst, "", http.StatusOK, &got)
	if got.Items == nil || len(got.Items) != 0 {
		t.Fatalf("an offer never redeemed: %+v", got)
	}
	e.fails("GET", "/api/v1/offers/coffee/stores?x=1", e.analyst, "", http.StatusBadRequest, CodeBadRequest, "x")
}
