package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/posoffer/posoffer/protocol"
)

// ErrExists is returned when a store that already has an identity not
// revoked is given another.
var ErrExists = errors.New("already exists")

// StoreIdentity is a store's identity on HQ's NATS: an nkey user, of which
// HQ keeps only the public key.
type StoreIdentity struct {
	Store     string    `json:"store"`
	PublicKey string    `json:"public_key"`
	CreatedAt time.Time `json:"created_at"`
	RevokedAt time.Time `json:"revoked_at,omitzero"` // zero while the identity is valid
}

// AddStoreIdentity records a store's new identity. The error wraps
// ErrExists when the store has one not revoked.
func (db *DB) AddStoreIdentity(ctx context.Context, id StoreIdentity) error {
	switch {
	case !protocol.ValidStoreID(id.Store):
		return fmt.Errorf("add store identity: %w: store %q: want 1 to %d of a-z, 0-9 and -", ErrBadQuery, id.Store, protocol.MaxStoreIDLen)
	case !isText(id.PublicKey, 56, 56) || !strings.HasPrefix(id.PublicKey, "U"):
		return fmt.Errorf("add store identity: %w: public key: want an nkey user public key", ErrBadQuery)
	}
	err := db.be.write(ctx, func(t tx) error {
		var n int64
		if err := scanOne(ctx, t, []any{&n}, "SELECT count(*) FROM store_identities WHERE store = $1 AND revoked_us = 0", id.Store); err != nil {
			return err
		}
		if n > 0 {
			return ErrExists
		}
		return t.exec(ctx, "INSERT INTO store_identities (public_key, store, created_us) VALUES ($1, $2, $3)",
			id.PublicKey, id.Store, id.CreatedAt.UnixMicro())
	})
	if err != nil {
		return fmt.Errorf("add identity of store %s: %w", id.Store, err)
	}
	return nil
}

// StoreIdentities returns every store identity, revoked ones too, by store
// then age.
func (db *DB) StoreIdentities(ctx context.Context) ([]StoreIdentity, error) {
	var out []StoreIdentity
	err := db.each(ctx, func(r rows) error {
		var s StoreIdentity
		var created, revoked int64
		if err := r.Scan(&s.Store, &s.PublicKey, &created, &revoked); err != nil {
			return err
		}
		s.CreatedAt = time.UnixMicro(created).UTC()
		if revoked != 0 {
			s.RevokedAt = time.UnixMicro(revoked).UTC()
		}
		out = append(out, s)
		return nil
	}, "SELECT store, public_key, created_us, revoked_us FROM store_identities")
	if err != nil {
		return nil, fmt.Errorf("store identities: %w", err)
	}
	slices.SortFunc(out, func(a, b StoreIdentity) int {
		if c := strings.Compare(a.Store, b.Store); c != 0 {
			return c
		}
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.PublicKey, b.PublicKey)
	})
	return out, nil
}

// RevokeStoreIdentity revokes the store's identity at the time at. The
// error wraps ErrNotFound when the store has none not revoked.
func (db *DB) RevokeStoreIdentity(ctx context.Context, store string, at time.Time) error {
	err := db.be.write(ctx, func(t tx) error {
		var n int64
		if err := scanOne(ctx, t, []any{&n}, "SELECT count(*) FROM store_identities WHERE store = $1 AND revoked_us = 0", store); err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound
		}
		return t.exec(ctx, "UPDATE store_identities SET revoked_us = $1 WHERE store = $2 AND revoked_us = 0", at.UnixMicro(), store)
	})
	if err != nil {
		return fmt.Errorf("revoke identity of store %q: %w", store, err)
	}
	return nil
}
