package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/posoffer/posoffer/protocol"
	"github.com/posoffer/posoffer/protocol/decide"
)

// ItemBrand is the kind of item key that names a line's brand. Rules never
// hang on it; HQ keeps it to know which baskets hold the items of an offer
// that selects by brand.
const ItemBrand = "brand"

// ItemsOf is what HQ keeps of a basket for mining: the item keys of its
// lines (decide.ItemKey of the SKU, of the lowercased category and of the
// lowercased brand), each once, sorted and newline-joined. A value holding
// a newline is left out: it could not be told from two.
func ItemsOf(lines []protocol.EventLine) string {
	keys := make([]string, 0, 3*len(lines))
	add := func(kind, v string) {
		if v != "" && !strings.ContainsRune(v, '\n') {
			keys = append(keys, decide.ItemKey(kind, v))
		}
	}
	for _, l := range lines {
		add(decide.ItemSKU, l.SKU)
		add(decide.ItemCategory, strings.ToLower(l.Category))
		add(ItemBrand, strings.ToLower(l.Brand))
	}
	slices.Sort(keys)
	return strings.Join(slices.Compact(keys), "\n")
}

// SplitItems undoes the join of ItemsOf.
func SplitItems(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// Basket is a stored checkout as mining sees it.
type Basket struct {
	AtUS  int64
	Store string
	// Context is its decision's context; "" when the checkout has none.
	Context string
	Items   string // ItemsOf its lines
}

// EachBasket calls fn with each checkout at or after fromUS (unix
// microseconds), in no particular order. The Basket passed is reused
// between calls.
func (db *DB) EachBasket(ctx context.Context, fromUS int64, fn func(*Basket)) error {
	var b Basket
	err := db.each(ctx, func(r rows) error {
		if err := r.Scan(&b.AtUS, &b.Store, &b.Context, &b.Items); err != nil {
			return err
		}
		fn(&b)
		return nil
	}, "SELECT at_us, store, decision_context, items FROM checkouts WHERE at_us >= $1", fromUS)
	if err != nil {
		return fmt.Errorf("baskets: %w", err)
	}
	return nil
}

// Decision is a stored checkout's decision record and what became of it.
type Decision struct {
	ID       string // the checkout event's id
	AtUS     int64
	Store    string
	Context  string
	Policy   string
	Model    int64
	Holdout  bool
	Subtotal int64
	// Suggested are its suggestions in the order chosen; a checkout
	// whose decision suggested nothing has none.
	Suggested []Suggestion
}

// Suggestion is one offer a decision suggested and whether it converted:
// the offer is among the redemptions of the same (store, terminal, txn).
type Suggestion struct {
	Offer     string
	Kind      string
	Converted bool
}

// Group is the store group of the decision's context.
func (d *Decision) Group() string {
	if c, ok := decide.ParseContext(d.Context); ok {
		return c.Group
	}
	return ""
}

// EachDecision calls fn with each checkout in [fromUS, toUS) that has a
// decision record, in (at, id) order. The Decision passed is reused
// between calls.
func (db *DB) EachDecision(ctx context.Context, fromUS, toUS int64, fn func(*Decision) error) error {
	var cur Decision
	have := false
	var (
		id, store, dctx, policy, offer, kind string
		at, model, holdout, subtotal, conv   int64
		ord                                  int64
	)
	err := db.each(ctx, func(r rows) error {
		if err := r.Scan(&id, &at, &store, &dctx, &policy, &model, &holdout, &subtotal, &offer, &kind, &ord, &conv); err != nil {
			return err
		}
		if !have || id != cur.ID {
			if have {
				if err := fn(&cur); err != nil {
					return err
				}
			}
			have = true
			cur = Decision{ID: id, AtUS: at, Store: store, Context: dctx, Policy: policy, Model: model,
				Holdout: holdout != 0, Subtotal: subtotal, Suggested: cur.Suggested[:0]}
		}
		if ord >= 0 {
			cur.Suggested = append(cur.Suggested, Suggestion{Offer: offer, Kind: kind, Converted: conv != 0})
		}
		return nil
	}, `SELECT c.id, c.at_us, c.store, c.decision_context, c.decision_policy, c.decision_model, c.decision_holdout,
			c.subtotal, COALESCE(s.offer, ''), COALESCE(s.kind, ''), COALESCE(s.ord, -1),
			CASE WHEN s.offer IS NOT NULL AND EXISTS (SELECT 1 FROM redemptions r
				WHERE r.store = c.store AND r.terminal = c.terminal AND r.txn = c.txn AND r.offer = s.offer)
				THEN 1 ELSE 0 END
		FROM checkouts c LEFT JOIN suggestions s ON s.checkout = c.id
		WHERE c.at_us >= $1 AND c.at_us < $2 AND c.decision_policy <> ''
		ORDER BY c.at_us, c.id, s.ord`, fromUS, toUS)
	if err == nil && have {
		err = fn(&cur)
	}
	if err != nil {
		return fmt.Errorf("decisions: %w", err)
	}
	return nil
}

// DecideStamp is what changes whenever what HQ learns from may have: the
// number of checkouts and redemptions stored and the newest checkout's
// time.
type DecideStamp struct {
	Checkouts, Redemptions int64
	NewestUS               int64 // 0: no checkout
	// Offers and OffersUpdatedUS change with the catalog, which says
	// which items an offer is on.
	Offers, OffersUpdatedUS int64
}

// DecideStamp reads the stamp. The newest checkout's time is what HQ
// learns up to: data time, not the clock.
func (db *DB) DecideStamp(ctx context.Context) (DecideStamp, error) {
	var s DecideStamp
	err := db.each(ctx, func(r rows) error {
		return r.Scan(&s.Checkouts, &s.NewestUS, &s.Redemptions, &s.Offers, &s.OffersUpdatedUS)
	}, `SELECT (SELECT count(*) FROM checkouts), (SELECT COALESCE(max(at_us), 0) FROM checkouts),
		(SELECT count(*) FROM redemptions), (SELECT count(*) FROM offers),
		(SELECT COALESCE(max(updated_us), 0) FROM offers)`)
	if err != nil {
		return DecideStamp{}, fmt.Errorf("decide stamp: %w", err)
	}
	return s, nil
}

// PublishedModel is the model HQ published last.
type PublishedModel struct {
	Revision int64
	Seq      uint64
	Hash     string // of what was learned; equal hashes: nothing to publish
	Doc      []byte // the model's JSON
}

// ErrNoModel: no model was published yet.
var ErrNoModel = errors.New("no model published yet")

// LastModel returns the model published last, or ErrNoModel.
func (db *DB) LastModel(ctx context.Context) (*PublishedModel, error) {
	var m *PublishedModel
	err := db.each(ctx, func(r rows) error {
		var p PublishedModel
		var seq int64
		var doc string
		if err := r.Scan(&p.Revision, &seq, &p.Hash, &doc); err != nil {
			return err
		}
		p.Seq, p.Doc = uint64(seq), []byte(doc)
		m = &p
		return nil
	}, "SELECT revision, seq, hash, doc FROM decide_model WHERE id = 1")
	if err != nil {
		return nil, fmt.Errorf("last model: %w", err)
	}
	if m == nil {
		return nil, ErrNoModel
	}
	return m, nil
}

// ErrModelRace: another writer saved a model since prev was read.
var ErrModelRace = errors.New("another model was saved meanwhile")

// SaveModel records m as the model published last, over prevRevision (0:
// none yet), or returns ErrModelRace when the saved one is not that
// revision any more.
func (db *DB) SaveModel(ctx context.Context, prevRevision int64, m *PublishedModel) error {
	if m.Revision <= prevRevision {
		return fmt.Errorf("save model: revision %d must be above %d", m.Revision, prevRevision)
	}
	err := db.be.write(ctx, func(t tx) error {
		// The write itself checks the revision it replaces, so that two
		// HQ replicas saving at once cannot both win.
		q, args := "INSERT INTO decide_model (id, revision, seq, hash, doc) VALUES (1, $1, $2, $3, $4) "+
			"ON CONFLICT (id) DO NOTHING RETURNING revision", []any{m.Revision, int64(m.Seq), m.Hash, string(m.Doc)}
		if prevRevision > 0 {
			q, args = "UPDATE decide_model SET revision = $1, seq = $2, hash = $3, doc = $4 WHERE id = 1 AND revision = $5 "+
				"RETURNING revision", append(args, prevRevision)
		}
		r, err := t.query(ctx, q, args...)
		if err != nil {
			return err
		}
		saved := r.Next()
		r.Close()
		if err := r.Err(); err != nil {
			return err
		}
		if !saved {
			return ErrModelRace
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("save model: %w", err)
	}
	return nil
}

// Exposure is one suggestion of a stored decision, as learning sees it.
type Exposure struct {
	AtUS      int64
	Context   string
	Offer     string
	Holdout   bool
	Converted bool
}

// EachExposure calls fn with each suggestion of the checkouts in [fromUS,
// toUS), in no particular order. The Exposure passed is reused between
// calls.
func (db *DB) EachExposure(ctx context.Context, fromUS, toUS int64, fn func(*Exposure)) error {
	var x Exposure
	var holdout, conv int64
	err := db.each(ctx, func(r rows) error {
		if err := r.Scan(&x.AtUS, &x.Context, &x.Offer, &holdout, &conv); err != nil {
			return err
		}
		x.Holdout, x.Converted = holdout != 0, conv != 0
		fn(&x)
		return nil
	}, `SELECT c.at_us, c.decision_context, s.offer, c.decision_holdout,
			CASE WHEN EXISTS (SELECT 1 FROM redemptions r
				WHERE r.store = c.store AND r.terminal = c.terminal AND r.txn = c.txn AND r.offer = s.offer)
				THEN 1 ELSE 0 END
		FROM suggestions s JOIN checkouts c ON c.id = s.checkout
		WHERE c.at_us >= $1 AND c.at_us < $2`, fromUS, toUS)
	if err != nil {
		return fmt.Errorf("exposures: %w", err)
	}
	return nil
}
