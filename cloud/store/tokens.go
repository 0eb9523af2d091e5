package store

import (
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/posoffer/posoffer/protocol"
)

// Token is a bearer token of the HQ API, as HQ keeps it: everything but
// the secret, of which only the SHA-256 is stored.
type Token struct {
	ID        string    `json:"id"`   // public: names the token in the audit log
	Name      string    `json:"name"` // a label for people
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
	RevokedAt time.Time `json:"revoked_at,omitzero"` // zero while the token is valid
	ExpiresAt time.Time `json:"expires_at,omitzero"` // zero: never
}

// Expired reports whether the token has expired at now.
func (t Token) Expired(now time.Time) bool {
	return !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt)
}

// micros is t in unix microseconds, 0 for the zero time.
func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// AddToken stores a token under hash, the hex SHA-256 of its secret.
func (db *DB) AddToken(ctx context.Context, tok Token, hash string) error {
	switch {
	case !isText(tok.ID, 1, protocol.MaxFieldLen):
		return fmt.Errorf("add token: %w: id: want 1 to %d bytes of text", ErrBadQuery, protocol.MaxFieldLen)
	case !isText(tok.Role, 1, protocol.MaxFieldLen):
		return fmt.Errorf("add token: %w: role: want 1 to %d bytes of text", ErrBadQuery, protocol.MaxFieldLen)
	case !isText(tok.Name, 0, maxText):
		return fmt.Errorf("add token: %w: name: want at most %d bytes of text", ErrBadQuery, maxText)
	case !isHash(hash):
		return fmt.Errorf("add token: %w: hash: want 64 hex digits", ErrBadQuery)
	}
	err := db.be.write(ctx, func(t tx) error {
		return t.exec(ctx, `INSERT INTO api_tokens (id, hash, role, name, created_us, expires_us) VALUES ($1, $2, $3, $4, $5, $6)`,
			tok.ID, hash, tok.Role, tok.Name, tok.CreatedAt.UnixMicro(), micros(tok.ExpiresAt))
	})
	if err != nil {
		return fmt.Errorf("add token: %w", err)
	}
	return nil
}

// TokenByHash returns the token whose secret has the SHA-256 hash (hex).
// The error wraps ErrNotFound when there is none, or it was revoked. An
// expired token is returned: the caller, who has the clock, refuses it
// (Token.Expired).
func (db *DB) TokenByHash(ctx context.Context, hash string) (Token, error) {
	if !isHash(hash) {
		return Token{}, fmt.Errorf("token: %w", ErrNotFound)
	}
	list, err := db.tokens(ctx, "WHERE hash = $1 AND revoked_us = 0", hash)
	if err != nil {
		return Token{}, err
	}
	if len(list) == 0 {
		return Token{}, fmt.Errorf("token: %w", ErrNotFound)
	}
	return list[0], nil
}

// Tokens returns every token, revoked ones too, oldest first.
func (db *DB) Tokens(ctx context.Context) ([]Token, error) {
	return db.tokens(ctx, "")
}

// RevokeToken revokes the token with the id at the time at; a token
// revoked already keeps its first revocation time. The error wraps
// ErrNotFound when no token has the id.
func (db *DB) RevokeToken(ctx context.Context, id string, at time.Time) error {
	err := db.be.write(ctx, func(t tx) error {
		var n int64
		if err := scanOne(ctx, t, []any{&n}, "SELECT count(*) FROM api_tokens WHERE id = $1", id); err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound
		}
		return t.exec(ctx, "UPDATE api_tokens SET revoked_us = $1 WHERE id = $2 AND revoked_us = 0", at.UnixMicro(), id)
	})
	if err != nil {
		return fmt.Errorf("revoke token %q: %w", id, err)
	}
	return nil
}

func (db *DB) tokens(ctx context.Context, where string, args ...any) ([]Token, error) {
	var out []Token
	err := db.each(ctx, func(r rows) error {
		var t Token
		var created, revoked, expires int64
		if err := r.Scan(&t.ID, &t.Role, &t.Name, &created, &revoked, &expires); err != nil {
			return err
		}
		if expires != 0 {
			t.ExpiresAt = time.UnixMicro(expires).UTC()
		}
		t.CreatedAt = time.UnixMicro(created).UTC()
		if revoked != 0 {
			t.RevokedAt = time.UnixMicro(revoked).UTC()
		}
		out = append(out, t)
		return nil
	}, "SELECT id, role, name, created_us, revoked_us, expires_us FROM api_tokens "+where, args...)
	if err != nil {
		return nil, fmt.Errorf("tokens: %w", err)
	}
	slices.SortFunc(out, func(a, b Token) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// isHash reports whether s is a SHA-256 in lowercase hex.
func isHash(s string) bool {
	if len(s) != 64 || strings.ToLower(s) != s {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}
