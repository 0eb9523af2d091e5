// Package uplink connects a store's agent to HQ over NATS JetStream. It
// drains the outbox into the events stream, sends heartbeats, keeps the
// agent's catalog in step with HQ's catalog bucket and its suggestion
// model with HQ's (model.go), and reads customers' merged profiles.
//
// Invariants:
//   - An event leaves the outbox only after JetStream has acknowledged it
//     (stored it, and on HQ's servers synced it). Each is published with its
//     id as Nats-Msg-Id; HQ drops ids it already has, at any age, so a
//     publish repeated after a lost acknowledgement is harmless.
//   - Events are published oldest first; after a failure the drain starts
//     again at the oldest event not acknowledged.
//   - The agent starts and serves without HQ: the connection is retried
//     forever, and the outbox keeps what cannot be sent.
//   - A catalog from HQ is applied whole or not at all: one that fails
//     validation is refused, the agent keeps serving the one it had, and
//     the heartbeat says why.
//   - With a CatalogKey, a catalog is applied only when HQ's key signed
//     every value in the bucket and the manifest vouches for each key it
//     serves, and never when it is older than the one served
//     (catalogsig.Verifier.Verify). A refusal is counted in
//     posoffer_catalog_refused_total by reason.
package uplink

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/posoffer/posoffer/agent/store"
	"github.com/posoffer/posoffer/protocol"
	"github.com/posoffer/posoffer/protocol/catalogsig"
	"github.com/posoffer/posoffer/protocol/decide"
)

// Options configure an Uplink.
type Options struct {
	URL   string // nats://host:port, comma-separated for a cluster
	Creds string // a NATS .creds file or nkey seed file (see credsOption), optional
	Store string // this store's id
	Agent string // the agent's version, for heartbeats
	Zone  string // the store's IANA time zone, for heartbeats
	DB    *store.Store

	// Apply makes a catalog document from HQ the one the agent serves, or
	// returns why it cannot (the document is then kept out).
	Apply func(revision int64, doc []byte) error
	// Catalog returns the revision of the catalog being served.
	Catalog func() int64
	// CatalogKey is HQ's catalog public key: only catalogs it signed are
	// applied, and their revision is their manifest's sequence. Required
	// unless AllowUnsigned.
	CatalogKey ed25519.PublicKey
	// AllowUnsigned applies whatever the catalog bucket holds, with the
	// bucket's revision: for a test bench, never a store. It lets
	// suggestion models in unchecked too.
	AllowUnsigned bool
	// ApplyModel makes a suggestion model from HQ, verified, parsed and
	// kept in DB, the one suggestions are chosen with (model.go).
	ApplyModel func(*decide.Model)

	Heartbeat time.Duration // between heartbeats; 0: 10s
	AckWait   time.Duration // for the stream's acknowledgement of a publish; 0: 10s
	Batch     int           // events published before waiting for their acknowledgements; 0: 1000
	Logger    *slog.Logger
	Registry  prometheus.Registerer // nil: none
}

// Uplink is the agent's connection to HQ.
type Uplink struct {
	opts Options
	log  *slog.Logger
	nc   *nats.Conn
	js   jetstream.JetStream

	kick     chan struct{}
	beat     chan struct{}          // a heartbeat now: just connected
	rejected atomic.Pointer[string] // why the last catalog from HQ was refused
	profiles atomic.Pointer[jetstream.KeyValue]
	lastErr  atomic.Pointer[string] // the last error NATS reported, logged once in a row

	verifier  *catalogsig.Verifier // nil: AllowUnsigned
	published prometheus.Counter
	failures  prometheus.Counter
	refused   *prometheus.CounterVec // catalogs from HQ refused, by reason

	modelRefused  *prometheus.CounterVec // suggestion models from HQ refused, by reason
	modelRejected atomic.Pointer[string] // why the last one was refused
	modelSeen     [sha256.Size]byte      // the model value last handled (the model watch only)

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Start connects to NATS (in the background when it cannot at once) and
// starts the drain, the heartbeat and the catalog watch.
func Start(opts Options) (*Uplink, error) {
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = 10 * time.Second
	}
	if opts.Batch <= 0 {
		opts.Batch = 1000
	}
	if opts.AckWait <= 0 {
		opts.AckWait = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	u := &Uplink{opts: opts, log: opts.Logger, kick: make(chan struct{}, 1), beat: make(chan struct{}, 1)}
	switch {
	case len(opts.CatalogKey) == ed25519.PublicKeySize:
		u.verifier = catalogsig.NewVerifier(opts.CatalogKey)
	case len(opts.CatalogKey) != 0:
		return nil, fmt.Errorf("hq catalog key: %d bytes, not an ed25519 public key", len(opts.CatalogKey))
	case !opts.AllowUnsigned:
		return nil, errors.New("hq catalog key: none given; catalogs from hq cannot be checked")
	}
	no := []nats.Option{
		nats.Name("posoffer-agent-" + opts.Store),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.RetryOnFailedConnect(true), // start offline, connect when HQ is reachable
		nats.ReconnectBufSize(-1),       // publishes fail while disconnected; the outbox keeps them
		// Refused credentials are retried too: HQ lets a store it has
		// just added in within seconds.
		nats.IgnoreAuthErrorAbort(),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			msg := err.Error()
			if old := u.lastErr.Swap(&msg); old == nil || *old != msg {
				u.log.Warn("hq's nats refused something; is this store's identity valid (posoffer-cloud store list)?", "err", err)
			}
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			u.log.Warn("hq connection lost; events wait in the outbox", "err", err)
		}),
		nats.ConnectHandler(func(*nats.Conn) {
			u.log.Info("hq connected")
			u.connected()
		}),
		nats.ReconnectHandler(func(*nats.Conn) {
			u.log.Info("hq connection back")
			u.connected()
		}),
	}
	if opts.Creds != "" {
		o, err := credsOption(opts.Creds)
		if err != nil {
			return nil, err
		}
		no = append(no, o)
	}
	// Replies come under the store's own prefix: HQ's servers let a store
	// read those and no other store's.
	if inbox, err := protocol.StoreInboxPrefix(opts.Store); err == nil {
		no = append(no, nats.CustomInboxPrefix(inbox))
	}
	nc, err := nats.Connect(opts.URL, no...)
	if err != nil {
		return nil, fmt.Errorf("hq at %s: %w", opts.URL, err)
	}
	// A publish never acknowledged (a stream without a leader) must fail in
	// time, or its place in the window is never given back.
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(opts.Batch),
		jetstream.WithPublishAsyncTimeout(opts.AckWait))
	if err != nil {
		nc.Close()
		return nil, err
	}
	u.nc, u.js = nc, js
	u.published = prometheus.NewCounter(prometheus.CounterOpts{Name: "posoffer_uplink_published_total",
		Help: "Events HQ's stream has acknowledged and the outbox has let go."})
	u.failures = prometheus.NewCounter(prometheus.CounterOpts{Name: "posoffer_uplink_failures_total",
		Help: "Attempts to drain the outbox that failed (HQ unreachable or refusing)."})
	u.refused = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "posoffer_catalog_refused_total",
		Help: "States of HQ's catalog bucket refused, by reason: unsigned, unknown_signer, bad_signature, " +
			"wrong_key, malformed, no_manifest, mismatch, rollback, invalid (fails validation)."}, []string{"reason"})
	u.modelRefused = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "posoffer_decide_model_refused_total",
		Help: "Suggestion models from HQ refused, by reason: unsigned, unknown_signer, bad_signature, " +
			"wrong_key, malformed, rollback, invalid (does not parse)."}, []string{"reason"})
	if opts.Registry != nil {
		for _, c := range []prometheus.Collector{u.published, u.failures, u.refused, u.modelRefused,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "posoffer_uplink_connected", Help: "1 while connected to HQ's NATS."},
				func() float64 {
					if nc.IsConnected() {
						return 1
					}
					return 0
				}),
		} {
			if err := opts.Registry.Register(c); err != nil {
				nc.Close()
				return nil, err
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	u.cancel = cancel
	u.wg.Go(func() { u.drain(ctx) })
	u.wg.Go(func() { u.heartbeats(ctx) })
	u.wg.Go(func() { u.watchCatalog(ctx) })
	u.wg.Go(func() { u.watchModel(ctx) })
	return u, nil
}

// credsOption authenticates with the file at path: a NATS credentials
// file (a user JWT and its seed, for clusters with decentralized auth) or
// an nkey seed file, such as posoffer-cloud store add writes.
func credsOption(path string) (nats.Option, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("hq credentials: %w", err)
	}
	if bytes.Contains(b, []byte("BEGIN NATS USER JWT")) {
		return nats.UserCredentials(path), nil
	}
	o, err := nats.NkeyOptionFromSeed(path)
	if err != nil {
		return nil, fmt.Errorf("hq credentials %s: neither a .creds file nor an nkey seed: %w", path, err)
	}
	return o, nil
}

// Close stops the uplink; events not yet acknowledged stay in the outbox.
func (u *Uplink) Close() {
	u.cancel()
	u.wg.Wait()
	u.nc.Close()
}

// Connected reports whether the uplink is connected to HQ's NATS.
func (u *Uplink) Connected() bool { return u.nc.IsConnected() }

// connected starts a drain and a heartbeat at once.
func (u *Uplink) connected() {
	u.Kick()
	u.beatNow()
}

// beatNow sends a heartbeat at once: HQ should know what changed.
func (u *Uplink) beatNow() {
	select {
	case u.beat <- struct{}{}:
	default:
	}
}

// Kick tells the uplink that the outbox has new events.
func (u *Uplink) Kick() {
	select {
	case u.kick <- struct{}{}:
	default:
	}
}

// Rejected returns why the last catalog from HQ was refused, or "".
func (u *Uplink) Rejected() string {
	if p := u.rejected.Load(); p != nil {
		return *p
	}
	return ""
}

// drain publishes the outbox until ctx is done.
func (u *Uplink) drain(ctx context.Context) {
	const minBackoff, maxBackoff = 100 * time.Millisecond, 10 * time.Second
	backoff := minBackoff
	for ctx.Err() == nil {
		n, err := u.drainOnce(ctx)
		if err != nil {
			u.failures.Inc()
			if backoff == minBackoff || backoff == maxBackoff {
				u.log.Warn("events not sent to hq; retrying", "err", err, "in", backoff)
			}
			sleep(ctx, backoff)
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		backoff = minBackoff
		if n == 0 {
			select {
			case <-ctx.Done():
			case <-u.kick:
			case <-time.After(time.Second):
			}
		}
	}
}

// drainOnce publishes a batch of the oldest events, waits for their
// acknowledgements, and removes from the outbox the ones acknowledged
// before the first failure.
func (u *Uplink) drainOnce(ctx context.Context) (int, error) {
	if !u.nc.IsConnected() {
		return 0, nats.ErrConnectionClosed
	}
	batch, err := u.opts.DB.Peek(u.opts.Batch)
	if err != nil || len(batch) == 0 {
		return 0, err
	}
	var futures []jetstream.PubAckFuture
	var firstErr error
	for _, p := range batch {
		var head struct {
			ID    string             `json:"id"`
			Kind  protocol.EventKind `json:"kind"`
			Store string             `json:"store"`
		}
		if err := json.Unmarshal(p.Event, &head); err != nil {
			firstErr = fmt.Errorf("outbox event %d: %w", p.Seq, err)
			break
		}
		subject, err := protocol.EventSubject(head.Store, head.Kind)
		if err != nil {
			firstErr = fmt.Errorf("outbox event %s: %w", head.ID, err)
			break
		}
		m := &nats.Msg{Subject: subject, Data: p.Event, Header: nats.Header{}}
		m.Header.Set(protocol.MsgIDHeader, head.ID)
		f, err := u.js.PublishMsgAsync(m)
		if err != nil {
			firstErr = err
			break
		}
		futures = append(futures, f)
	}
	timeout := time.NewTimer(u.opts.AckWait + time.Second)
	defer timeout.Stop()
	acked := 0
wait:
	for _, f := range futures {
		select {
		case <-f.Ok():
			acked++
		case err := <-f.Err():
			firstErr = err
			break wait
		case <-timeout.C:
			firstErr = fmt.Errorf("no acknowledgement from hq's stream within %v", u.opts.AckWait)
			break wait
		case <-ctx.Done():
			firstErr = ctx.Err()
			break wait
		}
	}
	if acked > 0 {
		seqs := make([]uint64, acked)
		for i := range acked {
			seqs[i] = batch[i].Seq
		}
		if err := u.opts.DB.Remove(seqs...); err != nil {
			return 0, err
		}
		u.published.Add(float64(acked))
	}
	return acked, firstErr
}

func (u *Uplink) heartbeats(ctx context.Context) {
	t := time.NewTicker(u.opts.Heartbeat)
	defer t.Stop()
	for {
		u.heartbeat(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-u.beat:
		}
	}
}

// heartbeat publishes the agent's state. A heartbeat that cannot be sent
// is not kept: the next one replaces it.
func (u *Uplink) heartbeat(ctx context.Context) {
	if !u.nc.IsConnected() {
		return
	}
	st, err := u.opts.DB.Outbox()
	if err != nil {
		return
	}
	hb := &protocol.Heartbeat{Agent: protocol.CleanText(u.opts.Agent, protocol.MaxTextLen), OutboxDepth: st.Depth, Dropped: st.Dropped,
		Zone: u.opts.Zone}
	if u.opts.Catalog != nil {
		hb.Catalog = u.opts.Catalog()
	}
	if !st.Oldest.IsZero() {
		hb.OutboxOldestMS = time.Since(st.Oldest).Milliseconds()
	}
	if st.Full {
		hb.Alarms = append(hb.Alarms, "outbox full: impressions are being dropped")
	}
	if r := u.Rejected(); r != "" {
		// The reason may run over several lines; HQ takes one of text.
		hb.Alarms = append(hb.Alarms, protocol.CleanText(r, protocol.MaxTextLen))
	}
	if d := u.opts.DB.Damage(); d != nil {
		hb.StoreDamaged = d.MovedTo
		hb.Alarms = append(hb.Alarms, "store_damaged: "+d.Message())
	}
	id, err := uuid.NewV7()
	if err != nil {
		return
	}
	e := &protocol.Event{ID: id.String(), Kind: protocol.EventHeartbeat, Store: u.opts.Store, At: time.Now().UTC(), Heartbeat: hb}
	b, err := json.Marshal(e)
	if err != nil {
		return
	}
	subject, err := protocol.EventSubject(u.opts.Store, protocol.EventHeartbeat)
	if err != nil {
		return
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := u.js.Publish(pctx, subject, b, jetstream.WithMsgID(e.ID)); err != nil {
		u.log.Debug("heartbeat not sent", "err", err)
	}
}

// watchCatalog follows HQ's catalog bucket and applies each new state of
// it, until ctx is done.
func (u *Uplink) watchCatalog(ctx context.Context) {
	for ctx.Err() == nil {
		err := u.watchOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		u.log.Debug("catalog watch stopped; restarting", "err", err)
		sleep(ctx, 2*time.Second)
	}
}

// settle is how long the watch waits after a change for more, so that a
// catalog HQ publishes as many keys is applied once.
const settle = 200 * time.Millisecond

func (u *Uplink) watchOnce(ctx context.Context) error {
	if !u.nc.IsConnected() {
		return nats.ErrConnectionClosed
	}
	kv, err := u.js.KeyValue(ctx, protocol.CatalogBucket)
	if err != nil {
		return err
	}
	if pkv, err := u.js.KeyValue(ctx, protocol.ProfilesBucket); err == nil {
		u.profiles.Store(&pkv)
	}
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return err
	}
	defer w.Stop()
	keys := map[string][]byte{}
	var revision uint64
	live := false // past the bucket's current values
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("watch closed")
			}
			if e == nil {
				live = true
				u.apply(keys, revision)
				continue
			}
			revision = max(revision, e.Revision())
			if e.Operation() == jetstream.KeyValuePut {
				keys[e.Key()] = e.Value()
			} else {
				delete(keys, e.Key())
			}
			if live {
				timer.Reset(settle)
			}
		case <-timer.C:
			u.apply(keys, revision)
		}
	}
}

// apply makes the bucket's state the catalog served, when it is a
// catalog that may be served: signed by HQ and newer than the one served
// (or, with AllowUnsigned, any other revision). Otherwise it keeps the
// catalog served, and says why.
func (u *Uplink) apply(keys map[string][]byte, revision uint64) {
	if u.verifier == nil {
		u.applyUnsigned(keys, revision)
		return
	}
	var served uint64
	if u.opts.Catalog != nil {
		served = uint64(max(u.opts.Catalog(), 0))
	}
	// The floor is the newest catalog from HQ ever applied, also when a
	// catalog_file is served since the last start.
	floor, err := u.opts.DB.HQCatalogSeq()
	if err != nil {
		u.log.Error("catalog from hq not checked: the store cannot say which was the last", "err", err)
		return
	}
	floor = max(floor, served)
	cat, err := u.verifier.Verify(keys, floor)
	switch {
	case errors.Is(err, catalogsig.ErrPending):
		u.log.Debug("catalog from hq half published; waiting for its manifest", "why", err)
		return
	case err != nil:
		u.refuse(catalogsig.Reason(err), 0, err)
		return
	case cat == nil: // an empty bucket: HQ has published nothing yet
		return
	case cat.Seq == served:
		if u.Rejected() != "" {
			u.rejected.Store(nil)
			u.log.Info("catalog bucket holds the catalog served again", "revision", served)
			u.beatNow()
		}
		return
	}
	doc, err := catalogDoc(cat.Entries, int64(cat.Seq))
	if err == nil {
		err = u.opts.Apply(int64(cat.Seq), doc)
	}
	if err != nil {
		u.refuse("invalid", cat.Seq, err)
		return
	}
	if err := u.opts.DB.SetHQCatalogSeq(cat.Seq); err != nil {
		u.log.Error("catalog sequence not recorded", "seq", cat.Seq, "err", err)
	}
	u.applied(cat.Seq)
}

// applyUnsigned applies the bucket's keys unchecked, unless it is the
// revision being served; a signed value counts as its payload, and the
// manifest is left out.
func (u *Uplink) applyUnsigned(keys map[string][]byte, revision uint64) {
	if revision == 0 || (u.opts.Catalog != nil && u.opts.Catalog() == int64(revision)) {
		return
	}
	docs := make(map[string][]byte, len(keys))
	for k, v := range keys {
		if k == catalogsig.ManifestKey {
			continue
		}
		if e, err := catalogsig.Decode(v); err == nil {
			v = e.Payload
		}
		docs[k] = v
	}
	doc, err := catalogDoc(docs, int64(revision))
	if err == nil {
		err = u.opts.Apply(int64(revision), doc)
	}
	if err != nil {
		u.refuse("invalid", revision, err)
		return
	}
	u.applied(revision)
}

// refuse keeps the catalog served and reports why the bucket's state is
// not applied: on /status, in the heartbeat, in the log and the counter.
func (u *Uplink) refuse(reason string, revision uint64, err error) {
	u.refused.WithLabelValues(reason).Inc()
	msg := fmt.Sprintf("catalog from hq refused (%s): %v", reason, err)
	if revision != 0 {
		msg = fmt.Sprintf("catalog revision %d from hq refused (%s): %v", revision, reason, err)
	}
	u.rejected.Store(&msg)
	u.log.Error("catalog from hq refused; serving the previous one", "reason", reason, "revision", revision, "err", err)
	u.beatNow()
}

func (u *Uplink) applied(revision uint64) {
	u.rejected.Store(nil)
	u.log.Info("catalog from hq applied", "revision", revision)
	u.beatNow()
}

// catalogDoc builds a catalog document from the bucket's keys: offer.{id}
// and segment.{id}, each a JSON document, in key order.
func catalogDoc(keys map[string][]byte, revision int64) ([]byte, error) {
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	sort.Strings(names)
	doc := struct {
		Version  int               `json:"version"`
		Revision int64             `json:"revision"`
		Offers   []json.RawMessage `json:"offers"`
		Segments []json.RawMessage `json:"segments"`
	}{Version: 1, Revision: revision, Offers: []json.RawMessage{}, Segments: []json.RawMessage{}}
	for _, k := range names {
		v := keys[k]
		if !json.Valid(v) {
			return nil, fmt.Errorf("key %s is not JSON", k)
		}
		switch {
		case strings.HasPrefix(k, protocol.OfferKeyPrefix):
			doc.Offers = append(doc.Offers, v)
		case strings.HasPrefix(k, protocol.SegmentKeyPrefix):
			doc.Segments = append(doc.Segments, v)
		default:
			return nil, fmt.Errorf("key %s is neither offer.{id} nor segment.{id}", k)
		}
	}
	return json.Marshal(doc)
}

// Profile returns the customer's profile as HQ merged it across stores,
// nil when HQ has none, or an error when HQ cannot say within ctx.
func (u *Uplink) Profile(ctx context.Context, customerKey string) ([]byte, error) {
	kv := u.profiles.Load()
	if kv == nil || !u.nc.IsConnected() {
		return nil, errors.New("hq not reachable")
	}
	key, err := protocol.ProfileKey(customerKey)
	if err != nil {
		return nil, err
	}
	e, err := (*kv).Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return e.Value(), nil
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
