package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/posoffer/posoffer/cloud/store"
	"github.com/posoffer/posoffer/protocol"
)

// publishTimeout bounds one publish to the bucket.
const publishTimeout = 5 * time.Second

// Backoff of the background retries of failed publishes.
const (
	retryFirst = time.Second
	retryMost  = 30 * time.Second
)

// publisher puts what the database holds of an object into the catalog
// bucket. A key whose publish failed is pending, and retried in the
// background until it is published.
type publisher struct {
	ctx context.Context // ends the retries
	db  *store.DB
	kv  jetstream.KeyValue
	log *slog.Logger

	first, most time.Duration // retry backoff

	mu       sync.Mutex
	pending  map[object]uint64 // the generation of each key's last failure
	gen      uint64
	retrying bool
}

// object names an offer or a segment.
type object struct{ kind, id string }

func (o object) key() string {
	if o.kind == store.KindSegment {
		return protocol.SegmentKeyPrefix + o.id
	}
	return protocol.OfferKeyPrefix + o.id
}

func newPublisher(ctx context.Context, db *store.DB, kv jetstream.KeyValue, log *slog.Logger) *publisher {
	return &publisher{ctx: ctx, db: db, kv: kv, log: log, first: retryFirst, most: retryMost,
		pending: map[object]uint64{}}
}

// publish publishes an object that a request has just changed, and
// reports whether it reached the bucket. When it did not, it is retried in
// the background.
func (p *publisher) publish(ctx context.Context, kind, id string) bool {
	o := object{kind, id}
	p.mu.Lock()
	gen := p.gen
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), publishTimeout)
	defer cancel()
	if err := p.sync(ctx, o); err != nil {
		p.log.Warn("api: publish failed; retrying in the background", "key", o.key(), "err", err)
		p.failed(o)
		return false
	}
	p.done(o, gen)
	return true
}

// sync makes the object's key hold what the database holds of it: its
// document, or no key when there is no such object. It reads the database
// again after the put, and goes again if the object changed meanwhile, so
// the last publish of a key, in whichever process, leaves the newest
// document.
func (p *publisher) sync(ctx context.Context, o object) error {
	if p.kv == nil {
		return errors.New("no catalog bucket")
	}
	doc, err := p.current(ctx, o)
	if err != nil {
		return err
	}
	for range 5 {
		if err := p.put(ctx, o.key(), doc); err != nil {
			return fmt.Errorf("publish %s: %w", o.key(), err)
		}
		now, err := p.current(ctx, o)
		if err != nil {
			return err
		}
		if bytes.Equal(now, doc) {
			return nil
		}
		doc = now
	}
	return fmt.Errorf("publish %s: it kept changing", o.key())
}

// put makes a key hold doc, or deletes it when doc is nil. A key that
// holds doc already is left alone, so that agents see no new revision.
func (p *publisher) put(ctx context.Context, key string, doc []byte) error {
	e, err := p.kv.Get(ctx, key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		if doc == nil {
			return nil
		}
	case err != nil:
		return err
	case bytes.Equal(e.Value(), doc):
		return nil
	}
	if doc == nil {
		return p.kv.Delete(ctx, key)
	}
	_, err = p.kv.Put(ctx, key, doc)
	return err
}

// current returns the object's document in the database, nil when there
// is none.
func (p *publisher) current(ctx context.Context, o object) ([]byte, error) {
	obj, err := p.db.Object(ctx, o.kind, o.id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return obj.Doc, nil
}

// failed marks the object pending and starts the retries if they are not
// running.
func (p *publisher) failed(o object) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gen++
	p.pending[o] = p.gen
	if !p.retrying {
		p.retrying = true
		go p.retry()
	}
}

// done clears the object's pending mark, unless a publish that failed
// after gen set it.
func (p *publisher) done(o object, gen uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if g, ok := p.pending[o]; ok && g <= gen {
		delete(p.pending, o)
	}
}

// retry publishes the pending objects again, with backoff, until none is
// left or the publisher's context is done.
func (p *publisher) retry() {
	delay := p.first
	for {
		select {
		case <-p.ctx.Done():
			p.mu.Lock()
			p.retrying = false
			p.mu.Unlock()
			return
		case <-time.After(delay):
		}
		p.mu.Lock()
		gen := p.gen
		var todo []object
		for o := range p.pending {
			todo = append(todo, o)
		}
		p.mu.Unlock()
		for _, o := range todo {
			ctx, cancel := context.WithTimeout(p.ctx, publishTimeout)
			err := p.sync(ctx, o)
			cancel()
			if err != nil {
				p.log.Warn("api: publish retry failed", "key", o.key(), "err", err)
				break
			}
			p.log.Info("api: published after a retry", "key", o.key())
			p.done(o, gen)
		}
		p.mu.Lock()
		if len(p.pending) == 0 {
			p.retrying = false
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		delay = min(delay*2, p.most)
	}
}

// pendingCount returns how many objects wait for a retry.
func (p *publisher) pendingCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.pending)
}

// publishResult says what a full publish did to the bucket.
type publishResult struct {
	Put       int `json:"put"`       // keys written: new or changed documents
	Deleted   int `json:"deleted"`   // keys of objects HQ does not hold
	Unchanged int `json:"unchanged"` // keys that held the document already
}

// all makes the bucket hold exactly the database's offers and segments:
// it puts every document the bucket lacks or holds otherwise, and deletes
// every key of an object the database does not hold. Objects that change
// meanwhile are published again from the database.
func (p *publisher) all(ctx context.Context) (publishResult, error) {
	var res publishResult
	if p.kv == nil {
		return res, errors.New("no catalog bucket")
	}
	p.mu.Lock()
	gen := p.gen
	p.mu.Unlock()
	before, err := p.db.Catalog(ctx)
	if err != nil {
		return res, err
	}
	want := docsByObject(before)
	for o, doc := range want {
		if e, err := p.kv.Get(ctx, o.key()); err == nil && bytes.Equal(e.Value(), doc) {
			res.Unchanged++
			continue
		}
		if _, err := p.kv.Put(ctx, o.key(), doc); err != nil {
			return res, fmt.Errorf("publish %s: %w", o.key(), err)
		}
		res.Put++
	}
	keys, err := p.kv.ListKeys(ctx)
	if err != nil {
		return res, fmt.Errorf("list catalog keys: %w", err)
	}
	var stale []string
	for key := range keys.Keys() {
		if _, ok := want[objectOfKey(key)]; !ok {
			stale = append(stale, key)
		}
	}
	for _, key := range stale {
		if err := p.kv.Delete(ctx, key); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			return res, fmt.Errorf("delete %s: %w", key, err)
		}
		res.Deleted++
	}
	// What changed while this ran was perhaps overwritten or deleted
	// above: publish it again from the database.
	after, err := p.db.Catalog(ctx)
	if err != nil {
		return res, err
	}
	now := docsByObject(after)
	for o, doc := range now {
		if !bytes.Equal(want[o], doc) {
			if err := p.sync(ctx, o); err != nil {
				return res, err
			}
		}
	}
	for o := range want {
		if _, ok := now[o]; !ok {
			if err := p.sync(ctx, o); err != nil {
				return res, err
			}
		}
	}
	for o := range want {
		p.done(o, gen)
	}
	return res, nil
}

func docsByObject(c *store.Catalog) map[object][]byte {
	m := map[object][]byte{}
	for _, list := range [][]store.Object{c.Offers, c.Segments} {
		for _, o := range list {
			m[object{o.Kind, o.ID}] = o.Doc
		}
	}
	return m
}

// objectOfKey names the object of a catalog key; a key of neither form
// names no object.
func objectOfKey(key string) object {
	if id, ok := strings.CutPrefix(key, protocol.OfferKeyPrefix); ok {
		return object{store.KindOffer, id}
	}
	if id, ok := strings.CutPrefix(key, protocol.SegmentKeyPrefix); ok {
		return object{store.KindSegment, id}
	}
	return object{}
}

// publishAll answers POST /api/v1/publish: the whole bucket made to match
// the database.
func (s *server) publishAll(w http.ResponseWriter, r *http.Request) error {
	if _, err := readParams(r); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), time.Minute)
	defer cancel()
	res, err := s.pub.all(ctx)
	if err != nil {
		s.log.Warn("api: full publish failed", "err", err)
		return errorf(http.StatusServiceUnavailable, CodeUnavailable, "the catalog bucket could not be updated: %v", err)
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// Publish makes the catalog bucket hold exactly the offers and segments of
// HQ's database, as POST /api/v1/publish does, for tools that change the
// database without the API.
func Publish(ctx context.Context, db *store.DB, kv jetstream.KeyValue) error {
	_, err := newPublisher(ctx, db, kv, slog.New(slog.DiscardHandler)).all(ctx)
	return err
}
