package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestStoreIdentities(t *testing.T) {
	eachDB(t, func(t *testing.T, open opener) {
		db, ctx := open(t), context.Background()
		at := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
		key := func(c byte) string {
			b := make([]byte, 56)
			for i := range b {
				b[i] = c
			}
			b[0] = 'U'
			return string(b)
		}
		if err := db.AddStoreIdentity(ctx, StoreIdentity{Store: "s001", PublicKey: key('A'), CreatedAt: at}); err != nil {
			t.Fatal(err)
		}
		err := db.AddStoreIdentity(ctx, StoreIdentity{Store: "s001", PublicKey: key('B'), CreatedAt: at})
		if !errors.Is(err, ErrExists) {
			t.Errorf("second identity of a store: %v, want ErrExists", err)
		}
		for _, bad := range []StoreIdentity{{Store: "S 1", PublicKey: key('C')}, {Store: "s002", PublicKey: "nope"}} {
			if err := db.AddStoreIdentity(ctx, bad); !errors.Is(err, ErrBadQuery) {
				t.Errorf("AddStoreIdentity(%+v) = %v, want ErrBadQuery", bad, err)
			}
		}
		if err := db.RevokeStoreIdentity(ctx, "s001", at.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := db.RevokeStoreIdentity(ctx, "s001", at.Add(2*time.Hour)); !errors.Is(err, ErrNotFound) {
			t.Errorf("revoke twice: %v, want ErrNotFound", err)
		}
		// A new identity once the old one is revoked.
		if err := db.AddStoreIdentity(ctx, StoreIdentity{Store: "s001", PublicKey: key('B'), CreatedAt: at.Add(3 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
		list, err := open(t).StoreIdentities(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 || list[0].PublicKey != key('A') || !list[0].RevokedAt.Equal(at.Add(time.Hour)) ||
			list[1].PublicKey != key('B') || !list[1].RevokedAt.IsZero() || !list[1].CreatedAt.Equal(at.Add(3*time.Hour)) {
			t.Errorf("identities: %+v", list)
		}
	})
}
