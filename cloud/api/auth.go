package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/posoffer/posoffer/cloud/store"
)

// Roles of a token.
const (
	// RoleAdmin creates and changes offers and segments, and reads.
	RoleAdmin = "admin"
	// RoleAnalyst reads: offers, segments, stores, redemptions, reports,
	// the audit log and the live feed; it may fill templates and preview.
	RoleAnalyst = "analyst"
)

// CookieName is the cookie that may carry a token instead of the
// Authorization header, for the dashboard HQ serves on the same origin.
const CookieName = "posoffer_token"

// RequestedWithHeader and RequestedWithValue mark a request that the
// dashboard's own script sent: another site cannot send a custom header
// without HQ's consent, which it never gives.
const (
	RequestedWithHeader = "X-Requested-With"
	RequestedWithValue  = "posoffer"
)

// tokenPrefix starts every token, so that a leaked one is recognisable.
const tokenPrefix = "pof_"

// maxTokenName bounds a token's name.
const maxTokenName = 100

var tokenEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewToken makes a token with the role and name, stores its hash in db,
// and returns the token, which is shown once and never stored, and what
// HQ keeps of it. An empty name is the role.
func NewToken(ctx context.Context, db *store.DB, role, name string, now time.Time) (string, store.Token, error) {
	return NewExpiringToken(ctx, db, role, name, now, time.Time{})
}

// NewExpiringToken is NewToken for a token that HQ refuses from the time
// expires on (the zero time: never). Its open live feeds end then too.
func NewExpiringToken(ctx context.Context, db *store.DB, role, name string, now, expires time.Time) (string, store.Token, error) {
	if !expires.IsZero() && !expires.After(now) {
		return "", store.Token{}, fmt.Errorf("expires: %s is not after now", expires.UTC().Format(time.RFC3339))
	}
	if role != RoleAdmin && role != RoleAnalyst {
		return "", store.Token{}, fmt.Errorf("role %s: want admin or analyst", quote(role))
	}
	if name == "" {
		name = role
	}
	if !utf8.ValidString(name) || len(name) > maxTokenName || strings.ContainsFunc(name, isControl) {
		return "", store.Token{}, fmt.Errorf("name: want at most %d bytes of text on one line", maxTokenName)
	}
	secret := make([]byte, 32)
	id := make([]byte, 6)
	rand.Read(secret) // never fails
	rand.Read(id)
	token := tokenPrefix + strings.ToLower(tokenEncoding.EncodeToString(secret))
	tok := store.Token{ID: hex.EncodeToString(id), Name: name, Role: role, CreatedAt: now.UTC().Truncate(time.Microsecond)}
	if !expires.IsZero() {
		tok.ExpiresAt = expires.UTC().Truncate(time.Microsecond)
	}
	if err := db.AddToken(ctx, tok, hashToken(token)); err != nil {
		return "", store.Token{}, err
	}
	return token, tok, nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// hashToken is what HQ stores of a token: its SHA-256, in hex.
func hashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

type tokenKey struct{}

// tokenHashKey holds the hash of the token that authorized a request, so
// that a long request (the live feed) can look it up again.
type tokenHashKey struct{}

// tokenOf returns the token that authorized the request.
func tokenOf(r *http.Request) store.Token {
	t, _ := r.Context().Value(tokenKey{}).(store.Token)
	return t
}

// authorize checks that the request carries a token of the role (any
// token for RoleAnalyst), and puts the token in the request's context.
// The empty role needs no token.
func (s *server) authorize(r *http.Request, role string) (*http.Request, error) {
	if role == "" {
		return r, nil
	}
	secret, fromCookie, err := credential(r)
	if err != nil {
		return nil, err
	}
	hash := hashToken(secret)
	tok, err := s.validToken(r.Context(), hash)
	if err != nil {
		return nil, err
	}
	if fromCookie && !safeMethod(r.Method) && !s.sameOrigin(r) {
		return nil, errorf(http.StatusForbidden, CodeForbidden,
			"a change authenticated by the %s cookie needs the header %s: %s", CookieName, RequestedWithHeader,
			RequestedWithValue)
	}
	switch {
	case tok.Role == RoleAdmin, tok.Role == RoleAnalyst && role == RoleAnalyst:
	default:
		return nil, errorf(http.StatusForbidden, CodeForbidden, "this needs an %s token; token %s is %s", role,
			tok.ID, quote(tok.Role))
	}
	ctx := context.WithValue(context.WithValue(r.Context(), tokenKey{}, tok), tokenHashKey{}, hash)
	return r.WithContext(ctx), nil
}

// validToken returns the token whose secret has the hash, or a 401 when
// there is none, or it was revoked, or it has expired.
func (s *server) validToken(ctx context.Context, hash string) (store.Token, error) {
	tok, err := s.db.TokenByHash(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return store.Token{}, errorf(http.StatusUnauthorized, CodeUnauthorized, "the token is not valid (unknown or revoked)")
	}
	if err != nil {
		return store.Token{}, err
	}
	if tok.Expired(s.now()) {
		return store.Token{}, errorf(http.StatusUnauthorized, CodeUnauthorized, "the token %s expired at %s", tok.ID,
			tok.ExpiresAt.Format(time.RFC3339))
	}
	return tok, nil
}

// credential returns the token a request carries: the Authorization
// header's, else the cookie's.
func credential(r *http.Request) (token string, fromCookie bool, err error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, token, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return "", false, errorf(http.StatusUnauthorized, CodeUnauthorized,
				"Authorization: want Bearer followed by a token")
		}
		return checkShape(strings.TrimSpace(token), false)
	}
	if c, err := r.Cookie(CookieName); err == nil && c.Value != "" {
		return checkShape(c.Value, true)
	}
	return "", false, errorf(http.StatusUnauthorized, CodeUnauthorized,
		"a token is required: Authorization: Bearer <token> (posoffer-cloud token create makes one)")
}

// checkShape refuses what cannot be a token before it costs a lookup.
func checkShape(token string, fromCookie bool) (string, bool, error) {
	if !strings.HasPrefix(token, tokenPrefix) || len(token) > 128 {
		return "", false, errorf(http.StatusUnauthorized, CodeUnauthorized, "the token is not valid (not a posoffer token)")
	}
	return token, fromCookie, nil
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// sameOrigin reports whether a request shows it comes from HQ's own pages:
// the dashboard's header, or a browser's Sec-Fetch-Site or Origin that
// names this origin. A request with none of them is refused, since only a
// browser sends cookies by itself.
func (s *server) sameOrigin(r *http.Request) bool {
	if r.Header.Get(RequestedWithHeader) == RequestedWithValue {
		return true
	}
	if r.Header.Get("Sec-Fetch-Site") == "" && r.Header.Get("Origin") == "" {
		return false
	}
	return s.csrf.Check(r) == nil
}

// me answers with the token that authorized the request.
func (s *server) me(w http.ResponseWriter, r *http.Request) error {
	tenant := s.tenant
	tenant.Today = s.today()
	writeJSON(w, http.StatusOK, struct {
		store.Token
		Tenant Tenant `json:"tenant"`
	}{tokenOf(r), tenant})
	return nil
}
