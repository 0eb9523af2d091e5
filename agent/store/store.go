// Package store is the agent's durable state, in one bbolt file: the
// catalog it serves, customer profiles keyed by customer_key, the counters
// that offer limits read, the checkouts it has recorded (by txn, so a
// repeated checkout is counted once), and the outbox of events waiting for
// HQ, in the order they happened.
//
// Invariants:
//   - A checkout is written in one transaction (its txn mark, counters,
//     profile and events) and synced to disk before RecordCheckout returns:
//     the caller acknowledges the terminal only after that.
//   - Only the honoured part of a checkout's claims (Claim) goes to the
//     counters, the profile's points and the redemption events.
//   - An event leaves the outbox only by Remove, after HQ acknowledged it.
//   - When the outbox holds MaxOutbox events, impressions are dropped and
//     counted; checkouts, redemptions, discrepancies and profile deltas are
//     always kept.
//   - Nothing here ever sees a raw loyalty id: customers are customer_keys.
package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	bolt "go.etcd.io/bbolt"

	"github.com/posoffer/posoffer/protocol"
	"github.com/posoffer/posoffer/protocol/offer"
)

var (
	bucketMeta     = []byte("meta")     // catalog, counts
	bucketProfiles = []byte("profiles") // customer_key -> offer.Profile JSON
	bucketCounters = []byte("counters") // see counterKey
	bucketTxns     = []byte("txns")     // txn -> checkout mark JSON
	bucketOutbox   = []byte("outbox")   // 8-byte sequence -> protocol.Event JSON

	keyCatalog    = []byte("catalog")
	keyCatalogRev = []byte("catalog_revision")
	keyHQCatalog  = []byte("hq_catalog_seq") // the newest signed catalog from HQ ever applied
	keyDepth      = []byte("outbox_depth")
	keyDropped    = []byte("dropped_impressions")
	keyDamage     = []byte("damage")           // the Damage this file replaced, JSON
	keyModel      = []byte("decide_model")     // the last good decide.Model from HQ, JSON
	keyModelFloor = []byte("decide_model_seq") // the newest model revision and signed sequence applied, 16 bytes
)

// Options tune a store. The zero value is usable.
type Options struct {
	// MaxOutbox is the outbox size past which impressions are dropped;
	// 0 is 1,000,000 events.
	MaxOutbox int64
	// HistoryDays is how many days of purchase history a profile keeps;
	// 0 is 180.
	HistoryDays int
	// Now is the clock that names a damaged file moved aside; nil is
	// time.Now.
	Now func() time.Time
}

func (o Options) now() time.Time {
	if o.Now != nil {
		return o.Now().UTC()
	}
	return time.Now().UTC()
}

// Store is the agent's bbolt file. It is safe for concurrent use.
type Store struct {
	db     *bolt.DB
	opts   Options
	path   string
	damage *Damage                // non-nil: started on a fresh file after a damaged one
	broken atomic.Pointer[Damage] // non-nil: bbolt failed on the file while running
}

// Open opens (or creates) the store file at path, after checking it (see
// Verify and Damage): a damaged file is moved aside, never deleted, and the
// store starts on a fresh one.
func Open(path string, opts Options) (*Store, error) {
	if opts.MaxOutbox <= 0 {
		opts.MaxOutbox = 1_000_000
	}
	if opts.HistoryDays <= 0 {
		opts.HistoryDays = 180
	}
	db, damage, err := openChecked(path, opts.now())
	if err != nil {
		return nil, err
	}
	return &Store{db: db, opts: opts, path: path, damage: damage}, nil
}

// openBolt opens the bbolt file and creates the buckets. It runs only on a
// file that Verify passed, or a new one.
func openBolt(path string) (*bolt.DB, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout: 2 * time.Second, // another agent holds the file
		// Start with a map large enough that growing the file rarely has
		// to wait for every open read transaction.
		InitialMmapSize: 256 << 20,
	})
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketMeta, bucketProfiles, bucketCounters, bucketTxns, bucketOutbox} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	return db, nil
}

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

// SaveCatalog keeps the catalog document the agent serves, with its
// revision, so that the agent starts offline with what it last had.
func (s *Store) SaveCatalog(revision int64, doc []byte) error {
	return s.update(func(tx *bolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		if err := m.Put(keyCatalog, doc); err != nil {
			return err
		}
		return m.Put(keyCatalogRev, u64(uint64(revision)))
	})
}

// Catalog returns the catalog document last saved, or nil.
func (s *Store) Catalog() (revision int64, doc []byte, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		doc = clone(m.Get(keyCatalog))
		revision = int64(get64(m.Get(keyCatalogRev)))
		return nil
	})
	return revision, doc, err
}

// SetHQCatalogSeq records the sequence of a signed catalog from HQ just
// applied, unless a newer one was recorded: the floor below which HQ's
// catalogs are refused as replays, kept apart from the catalog served,
// which a catalog_file replaces at each start.
func (s *Store) SetHQCatalogSeq(seq uint64) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		if get64(m.Get(keyHQCatalog)) >= seq {
			return nil
		}
		return m.Put(keyHQCatalog, u64(seq))
	})
}

// HQCatalogSeq returns the newest sequence SetHQCatalogSeq recorded, 0
// for none.
func (s *Store) HQCatalogSeq() (uint64, error) {
	var seq uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		seq = get64(tx.Bucket(bucketMeta).Get(keyHQCatalog))
		return nil
	})
	return seq, err
}

// SaveModel keeps HQ's suggestion model (decide.Model JSON, verified and
// parsed) of the given revision, signed for sequence seq, and raises the
// rollback floor to both, in one transaction: the agent starts offline
// with it, and never takes an older one.
func (s *Store) SaveModel(revision int64, seq uint64, doc []byte) error {
	return s.update(func(tx *bolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		rev, sq := modelFloor(m.Get(keyModelFloor))
		if err := m.Put(keyModel, doc); err != nil {
			return err
		}
		return m.Put(keyModelFloor, append(u64(uint64(max(rev, revision))), u64(max(sq, seq))...))
	})
}

// Model returns the model document SaveModel kept (nil: none) and the
// rollback floor: the newest revision and signed sequence ever saved.
func (s *Store) Model() (doc []byte, revision int64, seq uint64, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		doc = clone(m.Get(keyModel))
		revision, seq = modelFloor(m.Get(keyModelFloor))
		return nil
	})
	return doc, revision, seq, err
}

func modelFloor(v []byte) (int64, uint64) {
	if len(v) != 16 {
		return 0, 0
	}
	return int64(get64(v[:8])), get64(v[8:])
}

// Profile returns a customer's profile, or nil for a customer not seen yet.
func (s *Store) Profile(customerKey string) (*offer.Profile, error) {
	var p *offer.Profile
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketProfiles).Get([]byte(customerKey))
		if b == nil {
			return nil
		}
		p = new(offer.Profile)
		return json.Unmarshal(b, p)
	})
	if err != nil {
		return nil, fmt.Errorf("read profile: %w", err)
	}
	return p, nil
}

// SaveProfiles stores profiles as they are, in one transaction: merged
// profiles from HQ, or an import.
func (s *Store) SaveProfiles(profiles map[string]*offer.Profile) error {
	return s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketProfiles)
		for key, p := range profiles {
			if !protocol.ValidCustomerKey(key) {
				return fmt.Errorf("save profile: %q is not a customer_key", key)
			}
			v, err := json.Marshal(p)
			if err != nil {
				return err
			}
			if err := b.Put([]byte(key), v); err != nil {
				return err
			}
		}
		return nil
	})
}

// Counter kinds, the first byte of a counters key.
const (
	ctrStore       = 's' // s offer -> redemptions, discount at this store
	ctrCustomer    = 'c' // c customer 0 offer -> redemptions
	ctrCustomerDay = 'd' // d day customer 0 offer -> redemptions that day
	ctrImpressions = 'i' // i day customer 0 offer -> impressions that day
)

func counterKey(kind byte, day int64, customer, offerID string) []byte {
	k := make([]byte, 0, 1+8+len(customer)+1+len(offerID))
	k = append(k, kind)
	if kind == ctrCustomerDay || kind == ctrImpressions {
		k = binary.BigEndian.AppendUint64(k, uint64(day))
	}
	if kind != ctrStore {
		k = append(k, customer...)
		k = append(k, 0)
	}
	return append(k, offerID...)
}

// Usage returns the limit counts as they stand, for one customer (empty:
// not identified) on one store-local day.
func (s *Store) Usage(customerKey string, day int64) offer.Usage {
	return usage{s, customerKey, day}
}

type usage struct {
	s        *Store
	customer string
	day      int64
}

func (u usage) Counts(offerID string) offer.Counts {
	var c offer.Counts
	u.s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCounters)
		if v := b.Get(counterKey(ctrStore, 0, "", offerID)); len(v) == 16 {
			c.Redemptions, c.Discount = int64(get64(v[:8])), int64(get64(v[8:]))
		}
		if u.customer != "" {
			c.Customer = int64(get64(b.Get(counterKey(ctrCustomer, 0, u.customer, offerID))))
			c.CustomerToday = int64(get64(b.Get(counterKey(ctrCustomerDay, u.day, u.customer, offerID))))
			c.ImpressionsToday = int64(get64(b.Get(counterKey(ctrImpressions, u.day, u.customer, offerID))))
		}
		return nil
	})
	return c
}

// Checkout is a completed transaction to record.
type Checkout struct {
	Txn         string
	Terminal    string
	CustomerKey string // empty: no customer
	At          time.Time
	Day         int64 // store-local day number (offer.Day)
	Lines       []protocol.Line
	Paid        int64
	Currency    string
	Claims      []Claim  // the offers the terminal applied
	Segments    []string // the customer's segments when the transaction began
	// Decision is what the till suggested during the transaction, for
	// the checkout event; nil: nothing.
	Decision *protocol.Decision
	// Shown is what the customer was shown during the transaction;
	// RecordCheckout marks the offers redeemed.
	Shown []protocol.Shown
}

// Claim is one offer a terminal applied at checkout: what it claimed, and
// what the agent honours of it. Only honoured amounts count toward limits,
// budgets, points and HQ's reports; a claim honoured in part is kept as a
// discrepancy event too.
type Claim struct {
	protocol.Applied       // as claimed
	Honoured         int64 // discount honoured, 0 to Applied.Discount
	HonouredPoints   int64 // points honoured, 0 to Applied.Points
	// Redeemed says that the offer applied in this transaction, so the
	// claim counts as a redemption; a claim for an offer that did not is
	// only a discrepancy.
	Redeemed bool
}

// Short reports whether less was honoured than claimed.
func (c *Claim) Short() bool { return c.Honoured < c.Discount || c.HonouredPoints < c.Points }

// RecordCheckout writes a checkout, its redemptions, the customer's updated
// profile and their events in one transaction, synced to disk when it
// returns. A txn already recorded is not recorded again: dup is true.
// Impressions waiting to be written ride along in the same transaction,
// whether or not the checkout is new.
func (s *Store) RecordCheckout(storeID string, ck *Checkout, impressions []Impression) (dup bool, err error) {
	err = s.update(func(tx *bolt.Tx) error {
		if err := s.impressions(tx, storeID, impressions); err != nil {
			return err
		}
		txns := tx.Bucket(bucketTxns)
		if txns.Get([]byte(ck.Txn)) != nil {
			dup = true
			return nil
		}
		mark, _ := json.Marshal(struct {
			At time.Time `json:"at"`
		}{ck.At.UTC()})
		if err := txns.Put([]byte(ck.Txn), mark); err != nil {
			return err
		}
		w := writer{tx: tx, store: storeID, ck: ck}
		var subtotal, discount, points int64
		lines := make([]protocol.EventLine, len(ck.Lines))
		for i, l := range ck.Lines {
			lines[i] = protocol.EventLine{SKU: l.SKU, Qty: l.Qty, Price: l.Price, Category: l.Category, Brand: l.Brand}
			subtotal += l.Qty * l.Price
		}
		for i := range ck.Claims {
			c := &ck.Claims[i]
			if c.Redeemed {
				discount += c.Honoured
				points += c.HonouredPoints
				if err := w.redeem(c); err != nil {
					return err
				}
			}
			if c.Short() {
				if err := w.discrepancy(c); err != nil {
					return err
				}
			}
		}
		if ck.CustomerKey != "" {
			if err := w.profile(lines, ck.Paid, points, s.opts.HistoryDays); err != nil {
				return err
			}
		}
		redeemed := map[string]bool{}
		for _, c := range ck.Claims {
			redeemed[c.Offer] = redeemed[c.Offer] || c.Redeemed
		}
		var shown []protocol.Shown
		for _, sh := range ck.Shown {
			sh.Redeemed = redeemed[sh.Offer]
			shown = append(shown, sh)
		}
		return w.event(protocol.EventCheckout, func(e *protocol.Event) {
			e.Checkout = &protocol.CheckoutEvent{Lines: lines, Subtotal: subtotal, Discount: discount,
				Points: points, Paid: ck.Paid, Currency: ck.Currency, Decision: ck.Decision, Shown: shown}
		})
	})
	if err != nil {
		return false, fmt.Errorf("record checkout %s: %w", ck.Txn, err)
	}
	return dup, nil
}

// writer holds one checkout's write transaction.
type writer struct {
	tx    *bolt.Tx
	store string
	ck    *Checkout
}

func (w *writer) redeem(c *Claim) error {
	b := w.tx.Bucket(bucketCounters)
	k := counterKey(ctrStore, 0, "", c.Offer)
	v := b.Get(k)
	var red, disc uint64
	if len(v) == 16 {
		red, disc = get64(v[:8]), get64(v[8:])
	}
	if err := b.Put(k, append(u64(red+1), u64(disc+uint64(c.Honoured))...)); err != nil {
		return err
	}
	if cu := w.ck.CustomerKey; cu != "" {
		for _, k := range [][]byte{counterKey(ctrCustomer, 0, cu, c.Offer), counterKey(ctrCustomerDay, w.ck.Day, cu, c.Offer)} {
			if err := b.Put(k, u64(get64(b.Get(k))+1)); err != nil {
				return err
			}
		}
	}
	return w.event(protocol.EventRedemption, func(e *protocol.Event) {
		e.Redemption = &protocol.RedemptionEvent{Offer: c.Offer, Discount: c.Honoured, Points: c.HonouredPoints,
			Segments: w.ck.Segments}
		if c.Short() {
			e.Redemption.Claimed, e.Redemption.ClaimedPoints = c.Discount, c.Points
		}
	})
}

// discrepancy records a claim honoured in part; like a redemption, it is
// never dropped from the outbox.
func (w *writer) discrepancy(c *Claim) error {
	return w.event(protocol.EventDiscrepancy, func(e *protocol.Event) {
		e.Discrepancy = &protocol.DiscrepancyEvent{Offer: c.Offer, Claimed: c.Discount, Honoured: c.Honoured,
			ClaimedPoints: c.Points, HonouredPoints: c.HonouredPoints}
	})
}

func (w *writer) profile(lines []protocol.EventLine, paid, points int64, historyDays int) error {
	b := w.tx.Bucket(bucketProfiles)
	var p offer.Profile
	if v := b.Get([]byte(w.ck.CustomerKey)); v != nil {
		if err := json.Unmarshal(v, &p); err != nil {
			return fmt.Errorf("profile %s: %w", w.ck.CustomerKey, err)
		}
	}
	AddVisit(&p, w.ck.Day, lines, paid, points, historyDays)
	v, err := json.Marshal(&p)
	if err != nil {
		return err
	}
	if err := b.Put([]byte(w.ck.CustomerKey), v); err != nil {
		return err
	}
	return w.event(protocol.EventProfile, func(e *protocol.Event) {
		e.Profile = &protocol.ProfileDelta{Visits: 1, Spend: paid, Points: points, Day: civilDate(w.ck.Day), Items: lines}
	})
}

// event appends an event of this checkout to the outbox.
func (w *writer) event(kind protocol.EventKind, fill func(*protocol.Event)) error {
	e := &protocol.Event{Kind: kind, Store: w.store, At: w.ck.At.UTC(), Day: eventDay(w.ck.Day, w.ck.At),
		Terminal: w.ck.Terminal, Txn: w.ck.Txn, Customer: w.ck.CustomerKey}
	fill(e)
	return appendEvent(w.tx, e)
}

func appendEvent(tx *bolt.Tx, e *protocol.Event) error {
	id, err := uuid.NewV7()
	if err != nil {
		return err
	}
	e.ID = id.String()
	// The rules HQ stores by: an event it would refuse is not recorded,
	// and the transaction that would record it fails.
	if err := e.Validate(); err != nil {
		return err
	}
	v, err := json.Marshal(e)
	if err != nil {
		return err
	}
	out := tx.Bucket(bucketOutbox)
	seq, err := out.NextSequence()
	if err != nil {
		return err
	}
	if err := out.Put(u64(seq), v); err != nil {
		return err
	}
	m := tx.Bucket(bucketMeta)
	return m.Put(keyDepth, u64(get64(m.Get(keyDepth))+1))
}

// AddVisit adds one checkout to a profile: a visit on day (a day number),
// its spend, points and items, keeping historyDays of history.
func AddVisit(p *offer.Profile, day int64, lines []protocol.EventLine, paid, points int64, historyDays int) {
	dayString := civilDate(day)
	p.Visits++
	if p.FirstVisit == "" {
		p.FirstVisit = dayString
	}
	if dayString > p.LastVisit {
		p.LastVisit = dayString
	}
	p.LifetimeSpend += paid
	p.Points += points
	var today *offer.HistoryDay
	for i := range p.History {
		if p.History[i].Day == dayString {
			today = &p.History[i]
		}
	}
	if today == nil {
		p.History = append(p.History, offer.HistoryDay{Day: dayString})
		today = &p.History[len(p.History)-1]
	}
	for _, l := range lines {
		found := false
		for j := range today.Items {
			if it := &today.Items[j]; it.SKU == l.SKU {
				it.Qty += l.Qty
				it.Spend += l.Qty * l.Price
				found = true
				break
			}
		}
		if !found {
			today.Items = append(today.Items, offer.HistoryItem{SKU: l.SKU, Category: l.Category, Brand: l.Brand,
				Qty: l.Qty, Spend: l.Qty * l.Price})
		}
	}
	cutoff := civilDate(day - int64(historyDays) + 1)
	kept := p.History[:0]
	for _, h := range p.History {
		if h.Day >= cutoff {
			kept = append(kept, h)
		}
	}
	p.History = kept
}

// eventDay is the store-local date an event says it happened on: day,
// which is the date of at in some zone, so within a day of at's UTC date.
// A day that is not is left out rather than have the event refused; HQ
// then counts it on its date in the store's zone.
func eventDay(day int64, at time.Time) string {
	if d := day - at.Unix()/86400; d < -1 || d > 1 {
		return ""
	}
	return civilDate(day)
}

func civilDate(day int64) string {
	return time.Unix(day*86400, 0).UTC().Format(time.DateOnly)
}

// Impression is offers and nudges shown to a customer (empty: not
// identified) at one moment.
type Impression struct {
	CustomerKey string
	At          time.Time
	Day         int64
	Offers      []string
	Nudges      []string
}

// RecordImpressions counts shown offers and nudges and queues their events,
// the whole batch in one transaction. When the outbox is full they are
// counted as dropped instead of queued; the counters still go up, so
// limits hold.
func (s *Store) RecordImpressions(storeID string, batch []Impression) error {
	return s.update(func(tx *bolt.Tx) error { return s.impressions(tx, storeID, batch) })
}

func (s *Store) impressions(tx *bolt.Tx, storeID string, batch []Impression) error {
	m := tx.Bucket(bucketMeta)
	b := tx.Bucket(bucketCounters)
	for _, imp := range batch {
		for i, id := range append(imp.Offers[:len(imp.Offers):len(imp.Offers)], imp.Nudges...) {
			if imp.CustomerKey != "" {
				k := counterKey(ctrImpressions, imp.Day, imp.CustomerKey, id)
				if err := b.Put(k, u64(get64(b.Get(k))+1)); err != nil {
					return err
				}
			}
			if int64(get64(m.Get(keyDepth))) >= s.opts.MaxOutbox {
				if err := m.Put(keyDropped, u64(get64(m.Get(keyDropped))+1)); err != nil {
					return err
				}
				continue
			}
			e := &protocol.Event{Kind: protocol.EventImpression, Store: storeID, At: imp.At.UTC(), Day: eventDay(imp.Day, imp.At),
				Customer: imp.CustomerKey, Impression: &protocol.ImpressionEvent{Offer: id, Nudge: i >= len(imp.Offers)}}
			if err := appendEvent(tx, e); err != nil {
				return err
			}
		}
	}
	return nil
}

// Pending is an event in the outbox.
type Pending struct {
	Seq   uint64
	Event []byte // protocol.Event JSON
}

// Peek returns up to n of the oldest events in the outbox, oldest first.
func (s *Store) Peek(n int) ([]Pending, error) {
	var out []Pending
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketOutbox).Cursor()
		for k, v := c.First(); k != nil && len(out) < n; k, v = c.Next() {
			out = append(out, Pending{Seq: get64(k), Event: clone(v)})
		}
		return nil
	})
	return out, err
}

// Remove deletes events that HQ has acknowledged.
func (s *Store) Remove(seqs ...uint64) error {
	return s.update(func(tx *bolt.Tx) error {
		out, m := tx.Bucket(bucketOutbox), tx.Bucket(bucketMeta)
		removed := uint64(0)
		for _, seq := range seqs {
			if out.Get(u64(seq)) != nil {
				if err := out.Delete(u64(seq)); err != nil {
					return err
				}
				removed++
			}
		}
		return m.Put(keyDepth, u64(get64(m.Get(keyDepth))-removed))
	})
}

// OutboxStats is the state of the outbox.
type OutboxStats struct {
	Depth   int64
	Oldest  time.Time // zero when empty
	Dropped int64     // impressions dropped because the outbox was full
	Full    bool
}

// Outbox returns the outbox's depth, its oldest event's time and how many
// impressions were dropped.
func (s *Store) Outbox() (OutboxStats, error) {
	var st OutboxStats
	err := s.view(func(tx *bolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		st.Depth, st.Dropped = int64(get64(m.Get(keyDepth))), int64(get64(m.Get(keyDropped)))
		if _, v := tx.Bucket(bucketOutbox).Cursor().First(); v != nil {
			var e struct {
				At time.Time `json:"at"`
			}
			if err := json.Unmarshal(v, &e); err == nil {
				st.Oldest = e.At
			}
		}
		return nil
	})
	st.Full = st.Depth >= s.opts.MaxOutbox
	return st, err
}

func u64(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

func get64(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}
