package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/posoffer/posoffer/cloud/store"
	"github.com/posoffer/posoffer/cloud/store/storetest"
)

// ended waits for the feed to send its end event and end, and returns
// the error reply.
func (s *stream) ended(within time.Duration) *Error {
	s.t.Helper()
	timeout := time.After(within)
	var got *Error
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				if got == nil {
					s.t.Fatal("the feed ended without an end event")
				}
				return got
			}
			if ev.event == "end" {
				var r errorReply
				if err := json.Unmarshal([]byte(ev.data), &r); err != nil || r.Error == nil {
					s.t.Fatalf("end event %q: %v", ev.data, err)
				}
				got = r.Error
			}
		case <-timeout:
			s.t.Fatalf("the feed still streams %v later", within)
		}
	}
}

func TestExpiringToken(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		e := newEnv(t, open)
		ctx := context.Background()
		if _, _, err := NewExpiringToken(ctx, e.db, RoleAnalyst, "", t0, t0); err == nil {
			t.Error("a token that expires when it is made was made")
		}
		token, tok, err := NewExpiringToken(ctx, e.db, RoleAnalyst, "temp", t0, t0.Add(time.Hour))
		if err != nil || !tok.ExpiresAt.Equal(t0.Add(time.Hour)) {
			t.Fatalf("%+v, %v", tok, err)
		}
		var me store.Token
		e.call("GET", "/api/v1/me", token, "", http.StatusOK, &me)
		if !me.ExpiresAt.Equal(t0.Add(time.Hour)) {
			t.Errorf("/me: expires_at %v", me.ExpiresAt)
		}
		e.clock.set(t0.Add(time.Hour - time.Microsecond))
		e.call("GET", "/api/v1/me", token, "", http.StatusOK, nil)
		e.clock.set(t0.Add(time.Hour))
		before := counted(e.s.metrics.errors.WithLabelValues(CodeUnauthorized))
		e.fails("GET", "/api/v1/me", token, "", http.StatusUnauthorized, CodeUnauthorized, "expired", tok.ID)
		if got := counted(e.s.metrics.errors.WithLabelValues(CodeUnauthorized)); got != before+1 {
			t.Errorf("unauthorized replies counted %v, want %v", got, before+1)
		}
		e.call("GET", "/api/v1/me", e.analyst, "", http.StatusOK, nil) // tokens without expiry still work
	})
}

// TestFeedEndsWhenItsTokenGoes: a live feed whose token is revoked (in the
// database, as the CLI or another HQ replica does) or expires ends within
// about a second, with an end event; feeds of other tokens go on.
func TestFeedEndsWhenItsTokenGoes(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	e.s.feed = feedConfig{poll: 20 * time.Millisecond, beat: time.Hour, window: 30 * time.Second, token: 100 * time.Millisecond}
	ctx := context.Background()

	other := e.openFeed("")
	revoked, tok, _ := NewToken(ctx, e.db, RoleAnalyst, "to-revoke", t0)
	feed := e.openFeedAs(revoked, "")
	e.write(redemption("r1", "s001", "coffee", t0, 1, 0))
	feed.next()
	if err := e.db.RevokeToken(ctx, tok.ID, t0); err != nil {
		t.Fatal(err)
	}
	if got := feed.ended(3 * time.Second); got.Code != CodeUnauthorized || !strings.Contains(got.Message, "revoked") {
		t.Errorf("revoked: %+v", got)
	}

	expiring, _, _ := NewExpiringToken(ctx, e.db, RoleAnalyst, "temp", t0, t0.Add(time.Minute))
	feed = e.openFeedAs(expiring, "")
	e.write(redemption("r2", "s001", "coffee", t0, 1, 0))
	feed.next()
	e.clock.set(t0.Add(time.Minute))
	if got := feed.ended(3 * time.Second); got.Code != CodeUnauthorized || !strings.Contains(got.Message, "expired") {
		t.Errorf("expired: %+v", got)
	}
	if got := counted(e.s.metrics.feedsEnded); got != 2 {
		t.Errorf("feeds ended counted %v, want 2", got)
	}
	// The analyst's feed saw both and goes on.
	for _, want := range []string{"r1", "r2"} {
		if _, x := other.next(); x.ID != want {
			t.Fatalf("the other feed: %s, want %s", x.ID, want)
		}
	}
	e.write(redemption("r3", "s001", "coffee", t0.Add(time.Minute), 1, 0))
	if _, x := other.next(); x.ID != "r3" {
		t.Fatalf("the other feed after: %s", x.ID)
	}
	// A reconnection with the revoked token is refused.
	e.fails("GET", "/api/v1/feed", revoked, "", http.StatusUnauthorized, CodeUnauthorized, "revoked")
}

// counted is a counter's value.
func counted(c prometheus.Counter) float64 {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 1 {
		return -1
	}
	return mfs[0].GetMetric()[0].GetCounter().GetValue()
}
