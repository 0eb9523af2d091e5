package alerts

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/posoffer/posoffer/cloud/store"
	"github.com/posoffer/posoffer/cloud/store/storetest"
	"github.com/posoffer/posoffer/protocol"
)

var t0 = time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)

// putOffer stores an offer with a budget.
func putOffer(t *testing.T, db *store.DB, id string, budget int64) {
	t.Helper()
	doc := fmt.Sprintf(`{"id":%q,"name":"Offer %s","status":"active","limits":{"budget":%d},
		"reward":{"type":"amount_off","amount":100}}`, id, id, budget)
	_, err := db.EditCatalog(context.Background(), store.Actor{Name: "test", Token: "t"}, t0,
		func(*store.Catalog) (*store.Edit, error) {
			return &store.Edit{Action: "create", Kind: store.KindOffer, ID: id, Doc: json.RawMessage(doc),
				Status: "active"}, nil
		})
	if err != nil {
		t.Fatal(err)
	}
}

var seq int

// redeem stores a redemption of an offer at a store.
func redeem(t *testing.T, db *store.DB, offer, st string, discount int64) {
	t.Helper()
	seq++
	e := &protocol.Event{ID: fmt.Sprintf("r%04d", seq), Kind: protocol.EventRedemption, Store: st, At: t0,
		Terminal: "t1", Txn: fmt.Sprint("x", seq), Redemption: &protocol.RedemptionEvent{Offer: offer, Discount: discount}}
	if _, err := db.WriteEvents(context.Background(), []*protocol.Event{e}); err != nil {
		t.Fatal(err)
	}
}

// webhook records what it is sent; it fails while fail is set.
type webhook struct {
	mu       sync.Mutex
	fail     bool
	got      []Payload
	badSigns int
}

func (w *webhook) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	m := hmac.New(sha256.New, []byte("s3cret"))
	m.Write(body)
	w.mu.Lock()
	defer w.mu.Unlock()
	if r.Header.Get("X-Posoffer-Signature") != "sha256="+hex.EncodeToString(m.Sum(nil)) {
		w.badSigns++
	}
	if w.fail {
		http.Error(rw, "down", http.StatusServiceUnavailable)
		return
	}
	var p Payload
	json.Unmarshal(body, &p)
	w.got = append(w.got, p)
}

func TestBudgetAlerts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		db := open(t)
		ctx := context.Background()
		hook := &webhook{fail: true}
		srv := httptest.NewServer(hook)
		defer srv.Close()
		now := t0
		clock := func() time.Time { return now }
		// Two replicas: each alert is raised once and delivered once.
		a := New(Options{DB: db, Webhook: srv.URL, Secret: []byte("s3cret"), Currency: "JPY", Now: clock})
		b := New(Options{DB: open(t), Webhook: srv.URL, Secret: []byte("s3cret"), Currency: "JPY", Now: clock})
		putOffer(t, db, "coffee", 1000)
		putOffer(t, db, "tea", 0) // no budget: never alerts

		redeem(t, db, "coffee", "s001", 700)
		redeem(t, db, "tea", "s001", 5000)
		if got, err := a.Check(ctx); len(got) != 0 || err != nil {
			t.Fatalf("70%% of the budget: %+v, %v", got, err)
		}
		redeem(t, db, "coffee", "s001", 100) // 80% at s001
		redeem(t, db, "coffee", "s002", 400) // 40% at s002: budgets are per store
		got, err := a.Check(ctx)
		if err != nil || len(got) != 1 || got[0].Store != "s001" || got[0].Level != 80 || got[0].Discount != 800 {
			t.Fatalf("80%%: %+v, %v", got, err)
		}
		if again, _ := b.Check(ctx); len(again) != 0 {
			t.Fatalf("the other replica raised it again: %+v", again)
		}
		redeem(t, db, "coffee", "s001", 300) // 110%
		got, _ = b.Check(ctx)
		if len(got) != 1 || got[0].Level != 100 {
			t.Fatalf("100%%: %+v", got)
		}

		// The webhook is down: nothing is delivered, and it is tried again
		// once the lease is over, not before.
		if err := a.Send(ctx); err == nil {
			t.Fatal("a webhook answering 503 was taken for delivered")
		}
		if err := b.Send(ctx); err != nil {
			t.Fatalf("the other replica sent alerts claimed a moment ago: %v", err)
		}
		hook.mu.Lock()
		hook.fail = false
		hook.mu.Unlock()
		now = now.Add(lease + time.Second)
		if err := b.Send(ctx); err != nil {
			t.Fatal(err)
		}
		if err := a.Send(ctx); err != nil {
			t.Fatal(err)
		}
		hook.mu.Lock()
		defer hook.mu.Unlock()
		if len(hook.got) != 2 || hook.badSigns != 0 {
			t.Fatalf("webhook got %+v with %d bad signatures; want the two alerts once each, signed", hook.got, hook.badSigns)
		}
		p := hook.got[0]
		if p.Type != "budget_alert" || p.Offer != "coffee" || p.Name != "Offer coffee" || p.Store != "s001" ||
			p.Level != 80 || p.Budget != 1000 || p.Currency != "JPY" || p.ID != "coffee/s001/80/1000" {
			t.Fatalf("payload %+v", p)
		}
		list, err := db.BudgetAlerts(ctx, t0.Add(-time.Hour), 10)
		if err != nil || len(list) != 2 || list[0].Delivered.IsZero() || list[0].Attempts != 2 {
			t.Fatalf("stored alerts %+v, %v", list, err)
		}

		// A budget raised later alerts again at its levels.
		putOffer(t, db, "coffee-2", 0)
		_, err = db.EditCatalog(ctx, store.Actor{Name: "test", Token: "t"}, t0, func(*store.Catalog) (*store.Edit, error) {
			return &store.Edit{Action: "update", Kind: store.KindOffer, ID: "coffee", Status: "active",
				Doc: json.RawMessage(`{"id":"coffee","status":"active","limits":{"budget":1300},"reward":{"type":"amount_off","amount":100}}`)}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := a.Check(ctx); len(got) != 1 || got[0].Level != 80 || got[0].Budget != 1300 {
			t.Fatalf("after the budget was raised to 1300 (1100 used): %+v", got)
		}
	})
}
