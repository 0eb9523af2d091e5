package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"
)

var (
	ann = Actor{Name: "ann", Token: "tok-ann"}
	ben = Actor{Name: "ben", Token: "tok-ben"}
)

// put returns a decide func that puts an object, whatever the catalog.
func put(action, kind, id, doc, status string) func(*Catalog) (*Edit, error) {
	return func(*Catalog) (*Edit, error) {
		return &Edit{Action: action, Kind: kind, ID: id, Doc: json.RawMessage(doc), Status: status}, nil
	}
}

func mustEdit(t testing.TB, db *DB, who Actor, at time.Time, decide func(*Catalog) (*Edit, error)) *AuditEntry {
	t.Helper()
	e, err := db.EditCatalog(context.Background(), who, at, decide)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestEditCatalog(t *testing.T) {
	eachDB(t, func(t *testing.T, open opener) {
		db := open(t)
		ctx := context.Background()
		seg := `{"id":"vip","when":{}}`
		offerV1 := `{"id":"coffee","status":"draft","reward":{"type":"amount_off","amount":100}}`
		offerV2 := `{"id":"coffee","status":"active","reward":{"type":"amount_off","amount":100}}`

		mustEdit(t, db, ann, t0, put("create", KindSegment, "vip", seg, ""))
		e1 := mustEdit(t, db, ann, t0.Add(time.Second), put("create", KindOffer, "coffee", offerV1, "draft"))
		e2 := mustEdit(t, db, ben, t0.Add(2*time.Second), func(c *Catalog) (*Edit, error) {
			if c.Find(KindOffer, "coffee") == nil || c.Find(KindSegment, "vip") == nil || c.Find(KindOffer, "vip") != nil {
				return nil, fmt.Errorf("decide saw %+v", c)
			}
			return &Edit{Action: "resume", Kind: KindOffer, ID: "coffee", Doc: json.RawMessage(offerV2), Status: "active"}, nil
		})
		if e1.Before != nil || string(e1.After) != offerV1 || string(e2.Before) != offerV1 ||
			string(e2.After) != offerV2 || e2.Actor != "ben" || e2.ActorToken != "tok-ben" || e2.Action != "resume" {
			t.Fatalf("audit entries %+v %+v", e1, e2)
		}

		o, err := db.Object(ctx, KindOffer, "coffee")
		if err != nil {
			t.Fatal(err)
		}
		want := Object{Kind: KindOffer, ID: "coffee", Doc: json.RawMessage(offerV2), Status: "active",
			CreatedAt: t0.Add(time.Second), UpdatedAt: t0.Add(2 * time.Second), UpdatedBy: "ben"}
		if !reflect.DeepEqual(*o, want) {
			t.Fatalf("offer\n got %+v\nwant %+v", *o, want)
		}
		if _, err := db.Object(ctx, KindSegment, "coffee"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("segment coffee: %v, want ErrNotFound", err)
		}
		for status, n := range map[string]int{"": 1, "active": 1, "draft": 0} {
			if list, err := db.Offers(ctx, status); err != nil || len(list) != n {
				t.Errorf("offers %q: %d, %v; want %d", status, len(list), err, n)
			}
		}

		// A decision that fails, or that makes no change, writes nothing.
		refused := errors.New("refused")
		if _, err := db.EditCatalog(ctx, ann, t0, func(*Catalog) (*Edit, error) { return nil, refused }); err != refused {
			t.Fatalf("a refusing decide: %v", err)
		}
		if e, err := db.EditCatalog(ctx, ann, t0, func(*Catalog) (*Edit, error) { return nil, nil }); e != nil || err != nil {
			t.Fatalf("a no-op decide: %+v, %v", e, err)
		}
		for _, bad := range []*Edit{
			{Action: "create", Kind: "coupon", ID: "x", Doc: json.RawMessage(`{}`)},
			{Action: "create", Kind: KindOffer, ID: "Bad Id", Doc: json.RawMessage(`{}`), Status: "draft"},
			{Action: "create", Kind: KindOffer, ID: "x", Doc: json.RawMessage(`{`), Status: "draft"},
			{Action: "create", Kind: KindOffer, ID: "x", Doc: json.RawMessage(`{}`)},
			{Action: "", Kind: KindSegment, ID: "x", Doc: json.RawMessage(`{}`)},
			{Action: "delete", Kind: KindSegment, ID: "nope"},
		} {
			if _, err := db.EditCatalog(ctx, ann, t0, func(*Catalog) (*Edit, error) { return bad, nil }); err == nil {
				t.Errorf("edit %+v: accepted", bad)
			}
		}

		e3 := mustEdit(t, db, ann, t0.Add(3*time.Second), func(*Catalog) (*Edit, error) {
			return &Edit{Action: "delete", Kind: KindSegment, ID: "vip"}, nil
		})
		if string(e3.Before) != seg || e3.After != nil {
			t.Fatalf("delete entry %+v", e3)
		}
		cat, err := db.Catalog(ctx)
		if err != nil || len(cat.Offers) != 1 || len(cat.Segments) != 0 {
			t.Fatalf("catalog %+v, %v", cat, err)
		}

		all, next, err := db.Audit(ctx, AuditFilter{})
		if err != nil || next != "" || len(all) != 4 {
			t.Fatalf("audit: %d entries, next %q, %v", len(all), next, err)
		}
		if all[0].ID != e3.ID || all[1].ID != e2.ID || all[3].Kind != KindSegment {
			t.Fatalf("audit not newest first: %+v", all)
		}
		if !reflect.DeepEqual(all[1], *e2) {
			t.Fatalf("audit entry read back\n got %+v\nwant %+v", all[1], *e2)
		}
		if got, _, _ := db.Audit(ctx, AuditFilter{Kind: KindOffer, ObjectID: "coffee"}); len(got) != 2 {
			t.Fatalf("audit of offer coffee: %+v", got)
		}
		if got, _, _ := db.Audit(ctx, AuditFilter{Kind: KindSegment}); len(got) != 2 {
			t.Fatalf("audit of segments: %+v", got)
		}
		var walked []string
		f := AuditFilter{Limit: 1}
		for {
			page, next, err := db.Audit(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range page {
				walked = append(walked, e.ID)
			}
			if next == "" {
				break
			}
			f.After = next
		}
		if len(walked) != 4 || walked[0] != all[0].ID || walked[3] != all[3].ID {
			t.Fatalf("paged audit %v", walked)
		}
		if _, _, err := db.Audit(ctx, AuditFilter{After: "junk"}); !errors.Is(err, ErrBadQuery) {
			t.Fatalf("audit after junk: %v", err)
		}
	})
}

// Replicas that create the same offer at once: the catalog lock makes one
// of them see the other's, so exactly one creates it.
func TestEditCatalogSerializes(t *testing.T) {
	eachDB(t, func(t *testing.T, open opener) {
		replicas := []*DB{open(t), open(t), open(t), open(t)}
		exists := errors.New("exists")
		var wg sync.WaitGroup
		var mu sync.Mutex
		created := 0
		for i, db := range replicas {
			wg.Go(func() {
				for k := range 10 {
					id := fmt.Sprintf("offer-%d", k)
					_, err := db.EditCatalog(context.Background(), ann, t0, func(c *Catalog) (*Edit, error) {
						if c.Find(KindOffer, id) != nil {
							return nil, exists
						}
						return &Edit{Action: "create", Kind: KindOffer, ID: id, Status: "draft",
							Doc: json.RawMessage(fmt.Sprintf(`{"id":%q,"by":%d}`, id, i))}, nil
					})
					switch {
					case err == nil:
						mu.Lock()
						created++
						mu.Unlock()
					case err != exists:
						t.Error(err)
					}
				}
			})
		}
		wg.Wait()
		if created != 10 {
			t.Fatalf("%d creations succeeded, want 10", created)
		}
		if all, _, _ := replicas[0].Audit(context.Background(), AuditFilter{}); len(all) != 10 {
			t.Fatalf("%d audit entries, want 10", len(all))
		}
	})
}

func TestTokens(t *testing.T) {
	eachDB(t, func(t *testing.T, open opener) {
		db := open(t)
		ctx := context.Background()
		h1 := fmt.Sprintf("%064x", 1)
		h2 := fmt.Sprintf("%064x", 2)
		a := Token{ID: "t1", Name: "marketing", Role: "admin", CreatedAt: t0}
		b := Token{ID: "t2", Name: "", Role: "analyst", CreatedAt: t0.Add(time.Second)}
		if err := db.AddToken(ctx, a, h1); err != nil {
			t.Fatal(err)
		}
		if err := db.AddToken(ctx, b, h2); err != nil {
			t.Fatal(err)
		}
		if err := db.AddToken(ctx, Token{ID: "t3", Role: "admin"}, h1); err == nil {
			t.Fatal("a second token with the same hash was stored")
		}
		for _, bad := range []struct {
			tok  Token
			hash string
		}{{Token{ID: "", Role: "admin"}, h1}, {Token{ID: "x", Role: ""}, h1}, {Token{ID: "x", Role: "admin"}, "abc"},
			{Token{ID: "x", Role: "admin"}, fmt.Sprintf("%064X", 0xabc)}} {
			if err := db.AddToken(ctx, bad.tok, bad.hash); !errors.Is(err, ErrBadQuery) {
				t.Errorf("AddToken(%+v, %q): %v", bad.tok, bad.hash, err)
			}
		}
		got, err := db.TokenByHash(ctx, h1)
		if err != nil || !reflect.DeepEqual(got, a) {
			t.Fatalf("by hash: %+v, %v", got, err)
		}
		if _, err := db.TokenByHash(ctx, fmt.Sprintf("%064x", 3)); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown hash: %v", err)
		}
		if err := db.RevokeToken(ctx, "t1", t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := db.RevokeToken(ctx, "t1", t0.Add(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := db.RevokeToken(ctx, "nope", t0); !errors.Is(err, ErrNotFound) {
			t.Fatalf("revoke unknown: %v", err)
		}
		if _, err := db.TokenByHash(ctx, h1); !errors.Is(err, ErrNotFound) {
			t.Fatalf("revoked token: %v", err)
		}
		list, err := db.Tokens(ctx)
		a.RevokedAt = t0.Add(time.Hour)
		if err != nil || !reflect.DeepEqual(list, []Token{a, b}) {
			t.Fatalf("tokens %+v, %v", list, err)
		}
	})
}
