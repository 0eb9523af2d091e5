// Package ingest moves store events from JetStream into HQ's database,
// exactly once, and republishes the merged profiles they change.
//
// Invariants:
//   - A message is acknowledged only after the batch holding it is
//     committed. A crash before that gets it redelivered; the database
//     skips an event id it already has, at any age, so a redelivery or a
//     store's repeated publish is counted once.
//   - Several HQ replicas may run Run on the same durable consumer: each
//     message goes to one of them at a time, and two that race on one id
//     still store it once.
//   - An event that can never be stored (not an event, or published on
//     another store's subject) is terminated, logged and counted, so it
//     does not block the ones behind it.
//   - The profiles bucket is a cache of the database: a profile that could
//     not be republished is republished with the customer's next change.
package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/posoffer/posoffer/cloud/store"
	"github.com/posoffer/posoffer/protocol"
)

// Options configure Run.
type Options struct {
	DB       *store.DB
	JS       jetstream.JetStream
	Consumer jetstream.Consumer
	Batch    int // messages per transaction; 0: 1000
	// HistoryDays of merged history published per customer; 0: 180.
	HistoryDays int
	Logger      *slog.Logger
	// Stored, when set, is told how many events each committed batch
	// added (new ids) and held in all.
	Stored func(added, total int)
	// Refused, when set, is told of each message terminated for good, and
	// why: RefusedUndecodable, RefusedSubject, RefusedStoreMismatch or
	// RefusedInvalid.
	Refused func(reason string)
}

// Why an event is refused for good.
const (
	RefusedUndecodable = "undecodable" // not an event
	RefusedSubject     = "subject"     // not on an event subject, or of another kind than its subject's
	// RefusedStoreMismatch is an event of one store on another store's
	// subject: what a store's credentials allow it to publish is its own
	// subjects, so its events must name it.
	RefusedStoreMismatch = "store_mismatch"
	RefusedInvalid       = "invalid" // the database refused it
)

// Run ingests until ctx is done. Fetching and decoding the next batch
// overlaps with writing the current one.
func Run(ctx context.Context, opts Options) error {
	if opts.Batch <= 0 {
		opts.Batch = 1000
	}
	if opts.HistoryDays <= 0 {
		opts.HistoryDays = 180
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	pub := newPublisher(opts)
	var wg sync.WaitGroup
	wg.Go(func() { pub.run(ctx) })
	defer wg.Wait()
	batches := make(chan fetched, 1)
	wg.Go(func() { fetch(ctx, opts, batches) })
	for range writers {
		wg.Go(func() {
			for b := range batches {
				if err := write(ctx, opts, pub, b); err != nil && ctx.Err() == nil {
					opts.Logger.Warn("ingest: batch not stored; it will be delivered again", "err", err)
					sleep(ctx, time.Second)
				}
			}
		})
	}
	return nil
}

// writers is how many batches are written at once. Batches commute (ids
// make each event count once, profile counters add up, heartbeats keep the
// newest), so two transactions can overlap the database's round trips and
// commits.
const writers = 2

// fetched is a batch of messages and their events, in the same order.
type fetched struct {
	msgs   []jetstream.Msg
	events []*protocol.Event
}

// fetch sends batches from the consumer on out until ctx is done; it
// closes out. Messages that are not events of their subject's store are
// terminated here.
func fetch(ctx context.Context, opts Options, out chan<- fetched) {
	defer close(out)
	for ctx.Err() == nil {
		batch, err := opts.Consumer.Fetch(opts.Batch, jetstream.FetchMaxWait(500*time.Millisecond))
		if err != nil {
			if ctx.Err() == nil {
				opts.Logger.Warn("ingest: fetch", "err", err)
				sleep(ctx, time.Second)
			}
			continue
		}
		var b fetched
		for m := range batch.Messages() {
			e, reason, err := decode(m)
			if err != nil {
				opts.Logger.Error("ingest: event refused for good", "subject", m.Subject(), "reason", reason, "err", err)
				m.Term()
				opts.refused(reason)
				continue
			}
			b.msgs, b.events = append(b.msgs, m), append(b.events, e)
		}
		if len(b.events) == 0 {
			continue
		}
		select {
		case out <- b:
		case <-ctx.Done():
			return // not acknowledged: delivered again
		}
	}
}

// write stores one batch and acknowledges it.
func write(ctx context.Context, opts Options, pub *publisher, b fetched) error {
	res, err := opts.DB.WriteEvents(ctx, b.events)
	if errors.Is(err, store.ErrInvalidEvent) {
		// One bad event must not hold the others back: store them one
		// by one and terminate the ones refused.
		return oneByOne(ctx, opts, pub, b.msgs, b.events)
	}
	if err != nil {
		for _, m := range b.msgs {
			m.Nak()
		}
		return err
	}
	for _, m := range b.msgs {
		m.Ack()
	}
	if opts.Stored != nil {
		opts.Stored(res.Added, len(b.events))
	}
	pub.add(res.Customers)
	return nil
}

func oneByOne(ctx context.Context, opts Options, pub *publisher, msgs []jetstream.Msg, events []*protocol.Event) error {
	for i, e := range events {
		res, err := opts.DB.WriteEvents(ctx, []*protocol.Event{e})
		switch {
		case errors.Is(err, store.ErrInvalidEvent):
			opts.Logger.Error("ingest: event refused for good", "id", e.ID, "store", e.Store, "err", err)
			msgs[i].Term()
			opts.refused(RefusedInvalid)
			continue
		case err != nil:
			for _, m := range msgs[i:] {
				m.Nak()
			}
			return err
		}
		msgs[i].Ack()
		if opts.Stored != nil {
			opts.Stored(res.Added, 1)
		}
		pub.add(res.Customers)
	}
	return nil
}

// decode reads an event and checks that it came on its store's subject;
// when it cannot be stored, it says why.
func decode(m jetstream.Msg) (*protocol.Event, string, error) {
	e, err := protocol.DecodeEvent(m.Data())
	if err != nil {
		return nil, RefusedUndecodable, err
	}
	store, kind, err := protocol.ParseEventSubject(m.Subject())
	if err != nil {
		return nil, RefusedSubject, err
	}
	if store != e.Store {
		return nil, RefusedStoreMismatch, errors.New("event of store " + e.Store + " published on store " + store + "'s subject")
	}
	if kind != e.Kind {
		return nil, RefusedSubject, errors.New("event of kind " + string(e.Kind) + " published on another kind's subject")
	}
	return e, "", nil
}

func (o Options) refused(reason string) {
	if o.Refused != nil {
		o.Refused(reason)
	}
}

// publisher republishes merged profiles in the background, so that the
// ingest does not wait for the bucket.
type publisher struct {
	opts Options
	mu   sync.Mutex
	keys map[string]bool
	wake chan struct{}
}

func newPublisher(opts Options) *publisher {
	return &publisher{opts: opts, keys: map[string]bool{}, wake: make(chan struct{}, 1)}
}

func (p *publisher) add(keys []string) {
	if len(keys) == 0 {
		return
	}
	p.mu.Lock()
	for _, k := range keys {
		p.keys[k] = true
	}
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// publishEvery is the least time between two rounds of republishing: a
// customer changed by many batches meanwhile is republished once.
const publishEvery = time.Second

func (p *publisher) run(ctx context.Context) {
	var kv jetstream.KeyValue
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
		}
		sleep(ctx, publishEvery)
		if kv == nil {
			var err error
			if kv, err = p.opts.JS.KeyValue(ctx, protocol.ProfilesBucket); err != nil {
				p.opts.Logger.Warn("profiles bucket", "err", err)
				continue
			}
		}
		p.mu.Lock()
		keys := p.keys
		p.keys = map[string]bool{}
		p.mu.Unlock()
		for k := range keys {
			if err := p.publish(ctx, kv, k); err != nil && ctx.Err() == nil {
				p.opts.Logger.Warn("merged profile not republished", "err", err)
			}
		}
	}
}

func (p *publisher) publish(ctx context.Context, kv jetstream.KeyValue, customer string) error {
	today := time.Now().UTC().Format(time.DateOnly)
	m, err := p.opts.DB.Merged(ctx, customer, p.opts.HistoryDays, today)
	if err != nil || m == nil {
		return err
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	key, err := protocol.ProfileKey(customer)
	if err != nil {
		return err
	}
	_, err = kv.Put(ctx, key, b)
	return err
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
