package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/posoffer/posoffer/cloud/store"
	"github.com/posoffer/posoffer/protocol"
	"github.com/posoffer/posoffer/protocol/catalogsig"
)

// publishTimeout bounds one publish to the bucket.
const publishTimeout = 5 * time.Second

// Backoff of the background retries of failed publishes.
const (
	retryFirst = time.Second
	retryMost  = 30 * time.Second
)

// publisher puts what the database holds of an object into the catalog
// bucket, signed, with the manifest that lists it. A key whose publish
// failed is pending, and retried in the background until it is published.
type publisher struct {
	ctx  context.Context // ends the retries
	db   *store.DB
	kv   jetstream.KeyValue
	sign *catalogsig.Signer   // HQ's catalog signing key
	ver  *catalogsig.Verifier // its public half: what is HQ's in the bucket
	log  *slog.Logger

	first, most time.Duration // retry backoff

	wmu sync.Mutex // held while writing to the bucket: one manifest at a time

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

func newPublisher(ctx context.Context, db *store.DB, kv jetstream.KeyValue, sign *catalogsig.Signer, log *slog.Logger) *publisher {
	p := &publisher{ctx: ctx, db: db, kv: kv, sign: sign, log: log, first: retryFirst, most: retryMost,
		pending: map[object]uint64{}}
	if sign != nil {
		p.ver = sign.Verifier()
	}
	return p
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
// document. A bucket without a manifest HQ signed gets a full publish.
func (p *publisher) sync(ctx context.Context, o object) error {
	if err := p.ready(); err != nil {
		return err
	}
	doc, err := p.current(ctx, o)
	if err != nil {
		return err
	}
	for range 5 {
		p.wmu.Lock()
		err := p.put(ctx, o.key(), doc)
		p.wmu.Unlock()
		if errors.Is(err, errNoManifest) {
			_, err = p.all(ctx)
			return err
		}
		if err != nil {
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

// ready says why the publisher cannot publish, if it cannot.
func (p *publisher) ready() error {
	if p.kv == nil {
		return errors.New("no catalog bucket")
	}
	if p.sign == nil {
		return errors.New("no catalog signing key")
	}
	return nil
}

// errNoManifest: the bucket has no manifest that HQ signed, so a change
// to one key cannot be published alone.
var errNoManifest = errors.New("no catalog manifest")

// put makes a key hold doc, signed, or deletes it when doc is nil, and
// writes the manifest that lists the change: first the value, then the
// manifest, then the deletion, so an agent never sees a manifest whose
// keys are not there. A key that holds doc already, listed, is left
// alone, so that agents see no new revision. The caller holds wmu.
func (p *publisher) put(ctx context.Context, key string, doc []byte) error {
	for range casTries {
		m, mrev, err := p.manifest(ctx)
		if err != nil {
			return err
		}
		if m == nil {
			return errNoManifest
		}
		seq := nextSeq(m.Seq)
		entries := maps.Clone(m.Entries)
		if doc == nil {
			delete(entries, key)
		} else {
			if err := p.putValue(ctx, key, seq, doc); err != nil {
				return err
			}
			entries[key] = catalogsig.Hash(doc)
		}
		if !maps.Equal(entries, m.Entries) {
			err := p.writeManifest(ctx, seq, entries, mrev)
			if errors.Is(err, jetstream.ErrKeyExists) {
				continue // another publisher wrote a manifest meanwhile
			}
			if err != nil {
				return err
			}
		}
		if doc == nil {
			if err := p.kv.Delete(ctx, key); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
				return err
			}
		}
		return nil
	}
	return errors.New("the catalog manifest kept changing")
}

// casTries bounds the attempts to write a manifest over other publishers'.
const casTries = 10

// nextSeq returns the sequence of the catalog after prev: the time in Unix
// milliseconds, or prev+1 when that is not later, so sequences only grow,
// also when the manifest was lost.
func nextSeq(prev uint64) uint64 {
	return max(prev+1, uint64(time.Now().UnixMilli()))
}

// manifest returns the bucket's manifest and its revision; nil when there
// is none or it is not HQ's (its revision is still returned, so it can be
// replaced).
func (p *publisher) manifest(ctx context.Context) (*catalogsig.Manifest, uint64, error) {
	e, err := p.kv.Get(ctx, catalogsig.ManifestKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read the catalog manifest: %w", err)
	}
	m, err := p.ver.OpenManifest(e.Value())
	if err != nil {
		p.log.Warn("api: the catalog manifest is not HQ's; replacing it", "err", err)
		return nil, e.Revision(), nil
	}
	return m, e.Revision(), nil
}

// writeManifest writes the manifest of seq over the one at revision mrev
// (none when 0); jetstream.ErrKeyExists when another was written since.
func (p *publisher) writeManifest(ctx context.Context, seq uint64, entries map[string]string, mrev uint64) error {
	v := p.sign.SignManifest(seq, entries)
	var err error
	if mrev == 0 {
		_, err = p.kv.Create(ctx, catalogsig.ManifestKey, v)
	} else {
		_, err = p.kv.Update(ctx, catalogsig.ManifestKey, v, mrev)
	}
	if err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("write the catalog manifest: %w", err)
	}
	return err
}

// putValue makes key hold doc signed for seq, unless it holds doc signed
// by HQ already.
func (p *publisher) putValue(ctx context.Context, key string, seq uint64, doc []byte) error {
	if cur, ok := p.payload(ctx, key); ok && bytes.Equal(cur, doc) {
		return nil
	}
	_, err := p.kv.Put(ctx, key, p.sign.Sign(key, seq, doc))
	return err
}

// payload returns the document a key holds, when HQ signed it for that
// key.
func (p *publisher) payload(ctx context.Context, key string) ([]byte, bool) {
	e, err := p.kv.Get(ctx, key)
	if err != nil {
		return nil, false
	}
	env, err := p.ver.Open(key, e.Value())
	if err != nil {
		return nil, false
	}
	return env.Payload, true
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

// all makes the bucket hold exactly the database's offers and segments,
// signed, and a manifest listing them: it puts every document the bucket
// lacks or holds otherwise, writes the manifest, and deletes every key of
// an object the database does not hold. Objects that change meanwhile are
// published again from the database.
func (p *publisher) all(ctx context.Context) (publishResult, error) {
	var res publishResult
	if err := p.ready(); err != nil {
		return res, err
	}
	p.mu.Lock()
	gen := p.gen
	p.mu.Unlock()
	before, err := p.db.Catalog(ctx)
	if err != nil {
		return res, err
	}
	want := docsByObject(before)
	p.wmu.Lock()
	res, err = p.allLocked(ctx, want)
	p.wmu.Unlock()
	if err != nil {
		return res, err
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

// allLocked publishes want and its manifest, then deletes the other keys.
// The caller holds wmu.
func (p *publisher) allLocked(ctx context.Context, want map[object][]byte) (publishResult, error) {
	var res publishResult
	put := map[string]bool{}
	entries := make(map[string]string, len(want))
	for o, doc := range want {
		entries[o.key()] = catalogsig.Hash(doc)
	}
	for try := 0; ; try++ {
		if try == casTries {
			return res, errors.New("the catalog manifest kept changing")
		}
		m, mrev, err := p.manifest(ctx)
		if err != nil {
			return res, err
		}
		var prev uint64
		if m != nil {
			prev = m.Seq
		}
		seq := nextSeq(prev)
		for o, doc := range want {
			if cur, ok := p.payload(ctx, o.key()); ok && bytes.Equal(cur, doc) {
				continue
			}
			if _, err := p.kv.Put(ctx, o.key(), p.sign.Sign(o.key(), seq, doc)); err != nil {
				return res, fmt.Errorf("publish %s: %w", o.key(), err)
			}
			put[o.key()] = true
		}
		// An empty catalog is published only over one that was not:
		// agents keep a catalog file's offers until HQ has a catalog.
		if (m == nil && len(want) > 0) || (m != nil && !maps.Equal(m.Entries, entries)) {
			err := p.writeManifest(ctx, seq, entries, mrev)
			if errors.Is(err, jetstream.ErrKeyExists) {
				continue
			}
			if err != nil {
				return res, err
			}
		}
		break
	}
	res.Put, res.Unchanged = len(put), len(want)-len(put)
	keys, err := p.kv.ListKeys(ctx)
	if err != nil {
		return res, fmt.Errorf("list catalog keys: %w", err)
	}
	var stale []string
	for key := range keys.Keys() {
		if _, ok := entries[key]; !ok && key != catalogsig.ManifestKey {
			stale = append(stale, key)
		}
	}
	for _, key := range stale {
		if err := p.kv.Delete(ctx, key); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			return res, fmt.Errorf("delete %s: %w", key, err)
		}
		res.Deleted++
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
// HQ's database, signed with sign, as POST /api/v1/publish does, for tools
// that change the database without the API.
func Publish(ctx context.Context, db *store.DB, kv jetstream.KeyValue, sign *catalogsig.Signer) error {
	_, err := newPublisher(ctx, db, kv, sign, slog.New(slog.DiscardHandler)).all(ctx)
	return err
}
