package decide

import (
	"crypto/sha256"
	"encoding/binary"
	"sort"
	"strings"
	"time"

	"github.com/posoffer/posoffer/protocol"
)

// Context is where a choice is made. Its Key is what posteriors are kept
// by, and what a checkout's decision record names.
type Context struct {
	Segment string // see SegmentOf
	Daypart string // see DaypartOf
	Group   string // the store's group; DefaultGroup when none is configured
}

// DefaultGroup is the group of a store configured with none.
const DefaultGroup = "all"

// Key is "{segment}|{daypart}|{group}".
func (c Context) Key() string { return c.Segment + "|" + c.Daypart + "|" + c.Group }

// ParseContext splits a context key.
func ParseContext(key string) (Context, bool) {
	if !protocol.ValidContextKey(key) {
		return Context{}, false
	}
	p := strings.Split(key, "|")
	return Context{Segment: p[0], Daypart: p[1], Group: p[2]}, true
}

// Dayparts, by store-local hour: night [22, 5), morning [5, 11), midday
// [11, 14), afternoon [14, 17), evening [17, 22).
const (
	Night     = "night"
	Morning   = "morning"
	Midday    = "midday"
	Afternoon = "afternoon"
	Evening   = "evening"
)

// Dayparts lists the dayparts in the order of the day.
var Dayparts = []string{Night, Morning, Midday, Afternoon, Evening}

// DaypartOf is the daypart of t in loc.
func DaypartOf(t time.Time, loc *time.Location) string {
	switch h := t.In(loc).Hour(); {
	case h < 5 || h >= 22:
		return Night
	case h < 11:
		return Morning
	case h < 14:
		return Midday
	case h < 17:
		return Afternoon
	default:
		return Evening
	}
}

// Segment values other than catalog segments.
const (
	SegmentAnonymous = "anon" // no customer, and a basket without categories
	SegmentNew       = "new"  // a customer with no history, and a basket without categories
)

// SegmentOf is the segment part of a context: what the choice may know of
// who is buying, from what the agent holds.
//
//   - "taste:{category}": the category the customer spent most on, over
//     their history and this basket (anonymous: this basket), ties by
//     name; categories are lowercased, and anything but a-z, 0-9 and -
//     becomes -;
//   - else "seg:{a}+{b}": the catalog segments the customer is in,
//     sorted (the first three);
//   - else SegmentNew for a customer, SegmentAnonymous for none.
//
// The taste comes first because it needs nothing from the catalog:
// customers who buy alike are chosen for alike, whatever segments the
// catalog happens to define. Catalog segments still decide who may get an
// offer at all (its audience).
func SegmentOf(customer bool, segments []string, spendByCategory map[string]int64) string {
	// "Bakery" in the basket and "bakery" in the history are one taste.
	spend := make(map[string]int64, len(spendByCategory))
	for c, v := range spendByCategory {
		if c = cleanPart(c); c != "" {
			spend[c] += v
		}
	}
	best, bestSpend := "", int64(-1)
	for c, v := range spend {
		if v > bestSpend || v == bestSpend && c < best {
			best, bestSpend = c, v
		}
	}
	switch {
	case best != "":
		return clip("taste:" + best)
	case len(segments) > 0:
		s := append([]string(nil), segments...)
		sort.Strings(s)
		if len(s) > 3 {
			s = s[:3]
		}
		return clip("seg:" + strings.Join(s, "+"))
	case customer:
		return SegmentNew
	default:
		return SegmentAnonymous
	}
}

// cleanPart lowercases s and turns what a context key may not hold into -.
func cleanPart(s string) string {
	b := []byte(strings.ToLower(s))
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			b[i] = '-'
		}
	}
	return strings.Trim(string(b), "-")
}

func clip(s string) string {
	if len(s) > protocol.MaxContextPartLen {
		return s[:protocol.MaxContextPartLen]
	}
	return s
}

// HoldoutID is what holdout membership hangs on: the customer_key, the same
// in every store and on every day; for an anonymous basket, the
// transaction.
func HoldoutID(customerKey, store, terminal, txn string) string {
	if customerKey != "" {
		return customerKey
	}
	return "txn:" + store + "/" + terminal + "/" + txn
}

// InHoldout reports whether id (HoldoutID) is in the holdout of the given
// share: the first 8 bytes of SHA-256("posoffer holdout v1\x00" + id), as
// a fraction of 2^64, are below share.
func InHoldout(id string, share float64) bool {
	if share <= 0 {
		return false
	}
	h := sha256.Sum256([]byte("posoffer holdout v1\x00" + id))
	u := binary.BigEndian.Uint64(h[:8])
	return float64(u>>11)/(1<<53) < share
}
