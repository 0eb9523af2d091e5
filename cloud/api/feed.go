package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/posoffer/posoffer/cloud/store"
)

// feedConfig times the live feed.
type feedConfig struct {
	poll   time.Duration // how often the database is read
	beat   time.Duration // how often a comment keeps an idle stream open
	window time.Duration // how late a redemption may be stored and still be sent
	token  time.Duration // how often the feed's token is looked up again
}

// defaultFeed: the window lets a redemption that a store sent a little
// late, or that another HQ replica committed a little late, be sent after
// a newer one.
// The token is looked up in the database, not in this replica's memory, so
// that a token revoked through any replica (or the CLI) ends the feed
// within a second or so.
var defaultFeed = feedConfig{poll: 500 * time.Millisecond, beat: 15 * time.Second, window: 30 * time.Second,
	token: time.Second}

// feedPage is how many redemptions the feed reads at a time.
const feedPage = 500

// liveFeed streams the redemptions stored after the client connected, as
// server-sent events, until the client goes away. It reads the database
// (so it sees what every HQ replica stores): every poll, the redemptions
// whose time is within the window before now or after the newest one sent,
// skipping those sent already. Each event's id is the position of the
// newest redemption sent so far; a client that reconnects with it as
// Last-Event-ID gets the redemptions after that position, and those
// stored later within the window. A redemption stored with a time older
// than that (a store that was offline for long) is not sent; GET
// /api/v1/redemptions lists it.
//
// The feed's token is looked up again every second (feedConfig.token): once
// it is revoked or has expired, the feed sends an `end` event whose data
// is the error reply, and ends; a reconnection is refused with 401. (Not
// an event named `error`: EventSource uses that name for its own.)
func (s *server) liveFeed(w http.ResponseWriter, r *http.Request) error {
	if _, err := readParams(r); err != nil {
		return err
	}
	f := &feed{db: s.db, window: s.feed.window}
	resume := r.Header.Get("Last-Event-ID")
	if resume != "" {
		at, id, ok := parsePosition(resume)
		if !ok {
			return badRequest("Last-Event-ID: not an id this feed sent")
		}
		f.at, f.id = at, id
	}
	ctx := r.Context()
	if err := f.prime(ctx, s.now(), resume == ""); err != nil {
		return err
	}

	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	rc.SetWriteDeadline(time.Time{}) // the stream outlives a server's write timeout
	fmt.Fprint(w, "retry: 2000\n\n")
	if err := rc.Flush(); err != nil {
		if errors.Is(err, http.ErrNotSupported) {
			s.log.Error("api: the live feed cannot flush: a wrapper of the response writer hides http.Flusher (give it Unwrap)")
		}
		return nil
	}
	s.feeds.Add(1)
	defer s.feeds.Add(-1)

	every := s.feed.token
	if every <= 0 {
		every = defaultFeed.token
	}
	poll, beat, check := time.NewTicker(s.feed.poll), time.NewTicker(s.feed.beat), time.NewTicker(every)
	defer poll.Stop()
	defer beat.Stop()
	defer check.Stop()
	hash, _ := ctx.Value(tokenHashKey{}).(string)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-check.C:
			if hash == "" {
				break
			}
			_, err := s.validToken(ctx, hash)
			if e, ok := errors.AsType[*Error](err); ok {
				data, _ := json.Marshal(errorReply{e})
				fmt.Fprintf(w, "event: end\ndata: %s\n\n", data)
				rc.Flush()
				s.metrics.feedsEnded.Inc()
				return nil
			}
			if err != nil && ctx.Err() == nil { // the database: the next check tries again
				s.log.Warn("api: feed token check failed", "err", err)
			}
		case <-beat.C:
			fmt.Fprint(w, ": keep-alive\n\n")
		case <-poll.C:
			err := f.poll(ctx, s.now(), func(x store.Redemption, position string) error {
				data, err := json.Marshal(x)
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(w, "id: %s\nevent: redemption\ndata: %s\n\n", position, data)
				return err
			})
			if err != nil && ctx.Err() == nil {
				s.log.Warn("api: feed poll failed", "err", err)
			}
		}
		if rc.Flush() != nil {
			return nil // the client is gone
		}
	}
}

// feed is what one client of the live feed has been sent.
type feed struct {
	db     *store.DB
	window time.Duration
	// at and id are the position of the newest redemption sent (or, before
	// any, where the feed starts).
	at   time.Time
	id   string
	seen map[string]time.Time // what was sent or skipped, within the window
}

// prime marks what is stored already as seen: all of the window when the
// feed is fresh, or, when it resumes, what is up to its position.
func (f *feed) prime(ctx context.Context, now time.Time, fresh bool) error {
	f.seen = map[string]time.Time{}
	if fresh {
		f.at, f.id = now.Add(-f.window), ""
	}
	return f.scan(ctx, now, func(x store.Redemption) error {
		if fresh || !after(x.At, x.ID, f.at, f.id) {
			f.seen[x.ID] = x.At
			if after(x.At, x.ID, f.at, f.id) {
				f.at, f.id = x.At, x.ID
			}
		}
		return nil
	})
}

// poll sends each redemption not seen yet, with the feed's position after
// it.
func (f *feed) poll(ctx context.Context, now time.Time, send func(store.Redemption, string) error) error {
	err := f.scan(ctx, now, func(x store.Redemption) error {
		if _, ok := f.seen[x.ID]; ok {
			return nil
		}
		f.seen[x.ID] = x.At
		if after(x.At, x.ID, f.at, f.id) {
			f.at, f.id = x.At, x.ID
		}
		return send(x, position(f.at, f.id))
	})
	start := now.Add(-f.window)
	for id, at := range f.seen {
		if at.Before(start) {
			delete(f.seen, id)
		}
	}
	return err
}

// scan calls fn for each redemption after the start of the window or after
// the feed's position, whichever is earlier, oldest first.
func (f *feed) scan(ctx context.Context, now time.Time, fn func(store.Redemption) error) error {
	at, id := now.Add(-f.window), ""
	if f.at.Before(at) {
		at, id = f.at, f.id
	}
	for {
		list, err := f.db.RedemptionsAfter(ctx, at, id, feedPage)
		if err != nil {
			return err
		}
		for _, x := range list {
			if err := fn(x); err != nil {
				return err
			}
		}
		if len(list) < feedPage {
			return nil
		}
		last := list[len(list)-1]
		at, id = last.At, last.ID
	}
}

// after reports whether position (at, id) comes after (at0, id0).
func after(at time.Time, id string, at0 time.Time, id0 string) bool {
	if c := at.Compare(at0); c != 0 {
		return c > 0
	}
	return id > id0
}

// position is an event id of the feed: where it stands, opaque to
// clients.
func position(at time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(at.UnixMicro(), 10) + "/" + id))
}

func parsePosition(s string) (time.Time, string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return time.Time{}, "", false
	}
	us, id, ok := strings.Cut(string(b), "/")
	n, err := strconv.ParseInt(us, 10, 64)
	if !ok || err != nil || id == "" {
		return time.Time{}, "", false
	}
	return time.UnixMicro(n).UTC(), id, true
}
