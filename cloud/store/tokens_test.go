package store

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestTokenExpiry(t *testing.T) {
	eachDB(t, func(t *testing.T, open opener) {
		db := open(t)
		ctx := context.Background()
		exp := t0.Add(720 * time.Hour)
		if err := db.AddToken(ctx, Token{ID: "e1", Role: "analyst", CreatedAt: t0, ExpiresAt: exp}, fmt.Sprintf("%064x", 1)); err != nil {
			t.Fatal(err)
		}
		if err := db.AddToken(ctx, Token{ID: "n1", Role: "analyst", CreatedAt: t0}, fmt.Sprintf("%064x", 2)); err != nil {
			t.Fatal(err)
		}
		got, err := db.TokenByHash(ctx, fmt.Sprintf("%064x", 1))
		if err != nil || !got.ExpiresAt.Equal(exp) {
			t.Fatalf("token %+v, %v; want expiring at %v", got, err, exp)
		}
		if got.Expired(exp.Add(-time.Microsecond)) || !got.Expired(exp) {
			t.Error("Expired: want false just before its time and true at it")
		}
		never, _ := db.TokenByHash(ctx, fmt.Sprintf("%064x", 2))
		if !never.ExpiresAt.IsZero() || never.Expired(t0.Add(100*365*24*time.Hour)) {
			t.Errorf("a token without expiry: %+v", never)
		}
	})
}
