package api

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/posoffer/posoffer/cloud/store"
	"github.com/posoffer/posoffer/cloud/store/storetest"
	"github.com/posoffer/posoffer/protocol"
)

// sse is one server-sent event, or a comment.
type sse struct {
	id, event, data, comment string
}

// stream is a client of the live feed.
type stream struct {
	t      testing.TB
	resp   *http.Response
	events chan sse
	cancel context.CancelFunc
}

// openFeed connects to the live feed, resuming after lastID when it is not
// empty.
func (e *env) openFeed(lastID string) *stream {
	e.t.Helper()
	return e.openFeedAs(e.analyst, lastID)
}

// openFeedAs is openFeed with a token.
func (e *env) openFeedAs(token, lastID string) *stream {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/api/v1/feed", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		e.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		cancel()
		e.t.Fatalf("feed: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	s := &stream{t: e.t, resp: resp, events: make(chan sse, 100), cancel: cancel}
	go func() {
		defer close(s.events)
		sc := bufio.NewScanner(resp.Body)
		var ev sse
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev != (sse{}) {
					s.events <- ev
				}
				ev = sse{}
			case strings.HasPrefix(line, ":"):
				ev.comment = strings.TrimSpace(line[1:])
			default:
				field, value, _ := strings.Cut(line, ": ")
				switch field {
				case "id":
					ev.id = value
				case "event":
					ev.event = value
				case "data":
					ev.data = value
				}
			}
		}
	}()
	e.t.Cleanup(s.close)
	return s
}

func (s *stream) close() {
	s.cancel()
	s.resp.Body.Close()
}

// next returns the next redemption event, skipping comments and the retry
// advice.
func (s *stream) next() (sse, store.Redemption) {
	s.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				s.t.Fatal("the feed ended")
			}
			if ev.event != "redemption" {
				continue
			}
			var x store.Redemption
			if err := json.Unmarshal([]byte(ev.data), &x); err != nil {
				s.t.Fatalf("event data %q: %v", ev.data, err)
			}
			return ev, x
		case <-timeout:
			s.t.Fatal("no event within 10s")
		}
	}
}

// comment waits for a comment event: the keep-alive.
func (s *stream) comment() string {
	s.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev := <-s.events:
			if ev.comment != "" {
				return ev.comment
			}
			if ev.event == "redemption" {
				s.t.Fatalf("unexpected event %+v", ev)
			}
		case <-timeout:
			s.t.Fatal("no comment within 10s")
		}
	}
}

func TestFeed(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		e := newEnv(t, open)
		e.s.feed = feedConfig{poll: 20 * time.Millisecond, beat: 150 * time.Millisecond, window: 30 * time.Second}
		s := time.Second
		e.write(redemption("r0", "s001", "coffee", t0.Add(-10*s), 100, 0)) // before the client: not sent

		feed := e.openFeed("")
		e.write(redemption("r1", "s001", "coffee", t0.Add(-5*s), 280, 3, "vip"))
		ev, x := feed.next()
		if x.ID != "r1" || x.Store != "s001" || x.Offer != "coffee" || x.Txn != "txn-r1" || x.Discount != 280 ||
			x.Points != 3 || !x.At.Equal(t0.Add(-5*s)) || len(x.Segments) != 1 || ev.id == "" {
			t.Fatalf("first event %+v %+v", ev, x)
		}
		// Stored after r1, with an earlier time (another store's, sent
		// late): sent too, with the same position.
		e.write(redemption("r2", "s002", "tea", t0.Add(-8*s), 160, 0))
		ev2, x := feed.next()
		if x.ID != "r2" || ev2.id != ev.id {
			t.Fatalf("late event %+v %+v, want r2 at position %s", ev2, x, ev.id)
		}
		if c := feed.comment(); c != "keep-alive" {
			t.Fatalf("comment %q", c)
		}
		// Older than the window: not sent; the next one is.
		e.write(redemption("r3", "s001", "coffee", t0.Add(-time.Hour), 1, 0))
		e.write(redemption("r4", "s001", "coffee", t0.Add(-4*s), 2, 0))
		ev4, x := feed.next()
		if x.ID != "r4" {
			t.Fatalf("after an old one: %+v", x)
		}

		// The client goes; the handler ends.
		feed.close()
		waitFor(t, "the feed handler to end", func() bool { return e.s.feeds.Load() == 0 })

		// Stored while it was away, then it resumes from its last id: it
		// gets those, not what it had.
		e.write(redemption("r6", "s001", "coffee", t0.Add(-1*s), 6, 0), redemption("r5", "s003", "coffee", t0.Add(-2*s), 5, 0))
		again := e.openFeed(ev4.id)
		if _, x := again.next(); x.ID != "r5" {
			t.Fatalf("resumed with %+v, want r5", x)
		}
		if _, x := again.next(); x.ID != "r6" {
			t.Fatalf("resumed with %+v, want r6", x)
		}
		e.write(redemption("r7", "s001", "coffee", t0, 7, 0))
		if _, x := again.next(); x.ID != "r7" {
			t.Fatalf("then %+v, want r7", x)
		}
		again.close()
		waitFor(t, "the feed handler to end", func() bool { return e.s.feeds.Load() == 0 })

	})
}

func TestFeedBadResume(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	r := e.do("GET", "/api/v1/feed", e.analyst, "", "Last-Event-ID", "junk")
	if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "Last-Event-ID") {
		t.Fatalf("%d %s", r.status, r.body)
	}
	e.fails("GET", "/api/v1/feed?since=1", e.analyst, "", http.StatusBadRequest, CodeBadRequest, "since")
}

// A resumed feed that was away longer than the window gets everything
// after its position, however many pages.
func TestFeedResumeAfterLongAbsence(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	e.s.feed = feedConfig{poll: 20 * time.Millisecond, beat: time.Hour, window: 30 * time.Second}
	start := t0.Add(-2 * time.Hour)
	var batch []*protocol.Event
	for i := range 1200 {
		batch = append(batch, redemption(fmt.Sprintf("r%04d", i), "s001", "coffee", start.Add(time.Duration(i)*time.Second), 1, 0))
	}
	e.write(batch...)
	feed := e.openFeed(position(start.Add(99*time.Second), "r0099"))
	for i := 100; i < 1200; i++ {
		if _, x := feed.next(); x.ID != fmt.Sprintf("r%04d", i) {
			t.Fatalf("event %d: %s", i, x.ID)
		}
	}
}
