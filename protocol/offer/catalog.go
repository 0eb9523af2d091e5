package offer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"os"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/posoffer/posoffer/protocol"
)

// Limits on what a catalog may hold.
const (
	// MaxAmount is the largest amount of money, in minor units, that an
	// offer may name: the protocol's limit for a price.
	MaxAmount = protocol.MaxAmount
	// MaxQty is the largest unit count an offer may name: the protocol's
	// limit for a line.
	MaxQty = protocol.MaxQty
)

// Statuses of an offer. Only StatusActive offers are ever eligible.
const (
	StatusDraft  = "draft"
	StatusActive = "active"
	StatusPaused = "paused"
	StatusEnded  = "ended"
)

// Reward types.
const (
	RewardPercentOff  = "percent_off"
	RewardAmountOff   = "amount_off"
	RewardBuyXGetY    = "buy_x_get_y"
	RewardFreeItem    = "free_item"
	RewardBundlePrice = "bundle_price"
	RewardTieredSpend = "tiered_spend"
	RewardPoints      = "points"
)

// ErrInvalid is wrapped by every error that refuses a catalog, an offer or
// a segment; the error's text lists each problem on a line of its own.
var ErrInvalid = errors.New("invalid catalog")

// Catalog is a validated set of offers and segments, compiled for
// evaluation. It is immutable and safe for concurrent use.
type Catalog struct {
	// Revision is the catalog revision reported in every reply.
	Revision int64

	offers   []*Offer // in document order
	segments []*Segment
	byID     map[string]*Offer
	idx      index
}

// Offers returns the catalog's offers in document order.
func (c *Catalog) Offers() []*Offer { return c.offers }

// Offer returns the offer with the given id, or nil.
func (c *Catalog) Offer(id string) *Offer { return c.byID[id] }

// Offer is one validated offer.
type Offer struct {
	ID     string
	Name   string
	Text   string // what the cashier sees; Name when the document has none
	Status string
	Limits Limits

	ord        int32 // position in the catalog
	active     bool  // Status is active
	validFrom  time.Time
	validUntil time.Time
	sched      *schedule
	stores     []string
	segAny     []string
	segNone    []string
	known      bool
	cond       *cond
	reward     reward
	priority   int64
	group      string
	exclusive  bool
	why        string
}

// Limits caps how often an offer applies. Zero means no cap.
type Limits struct {
	PerTransaction               int64
	PerCustomerPerDay            int64
	PerCustomer                  int64
	TotalRedemptions             int64
	Budget                       int64
	ImpressionsPerCustomerPerDay int64
}

// Segment is a named condition over a customer's profile.
type Segment struct {
	ID   string
	Name string
	when *cond
}

// schedule is a weekly window in store-local time.
type schedule struct {
	days  uint8 // bit per time.Weekday; 0x7f is every day
	from  int   // minutes after midnight
	until int   // minutes after midnight, up to 24*60
}

// Load reads a catalog file, JSON or YAML.
func Load(path string) (*Catalog, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read catalog: %w", err)
	}
	c, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("catalog %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes and validates a catalog document, JSON or YAML.
func Parse(b []byte) (*Catalog, error) {
	doc, err := decodeDocument(b)
	if err != nil {
		return nil, err
	}
	var p problems
	r := newReader(&p, "", "", doc)
	if r == nil {
		return nil, invalid(p.list)
	}
	before := len(p.list)
	switch v := r.integer("version", 0, 1<<31, 0); {
	case !r.has("version"):
		r.fail("version", "required: the catalog format version, 1")
	case v != 1 && len(p.list) == before:
		r.fail("version", "unsupported catalog format version %d (this build reads version 1)", v)
	}
	c := &Catalog{Revision: r.integer("revision", 0, 1<<62, 0), byID: map[string]*Offer{}}
	ids := map[string]bool{}
	for i, v := range r.list("offers") {
		o := parseOffer(&p, i, v)
		id := idOf(v)
		if ids[id] && id != "" {
			p.add(quoteID("offer", id, i), "id", "duplicate offer id")
			continue
		}
		ids[id] = true
		if o == nil {
			continue
		}
		o.ord = int32(len(c.offers))
		c.byID[o.ID] = o
		c.offers = append(c.offers, o)
	}
	seen := map[string]bool{}
	for i, v := range r.list("segments") {
		s := parseSegment(&p, i, v)
		if s == nil {
			continue
		}
		if seen[s.ID] {
			p.add(quoteID("segment", s.ID, i), "id", "duplicate segment id")
			continue
		}
		seen[s.ID] = true
		c.segments = append(c.segments, s)
	}
	r.done()
	if len(p.list) > 0 {
		return nil, invalid(p.list)
	}
	c.idx = buildIndex(c.offers)
	return c, nil
}

func invalid(list []string) error {
	if len(list) == 1 {
		return fmt.Errorf("%w: %s", ErrInvalid, list[0])
	}
	return fmt.Errorf("%w: %d problems:\n%s", ErrInvalid, len(list), joinLines(list))
}

// decodeDocument turns JSON or YAML into plain values. JSON numbers stay
// exact (json.Number).
func decodeDocument(b []byte) (any, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty document", ErrInvalid)
	}
	var v any
	if b[0] == '{' || b[0] == '[' {
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		if err := d.Decode(&v); err != nil {
			return nil, fmt.Errorf("%w: not valid JSON: %v", ErrInvalid, jsonErr(b, err))
		}
		if d.More() {
			return nil, fmt.Errorf("%w: not valid JSON: unexpected data after the document", ErrInvalid)
		}
		return v, nil
	}
	if err := yaml.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("%w: not valid YAML: %v", ErrInvalid, err)
	}
	return normalizeYAML(v), nil
}

// jsonErr adds a line and column to a JSON syntax error.
func jsonErr(b []byte, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line := 1 + bytes.Count(b[:se.Offset], []byte("\n"))
		col := int(se.Offset) - bytes.LastIndexByte(b[:se.Offset], '\n') - 1
		return fmt.Errorf("line %d, column %d: %v", line, col, err)
	}
	return err
}

// normalizeYAML makes YAML values look like JSON ones: maps with
// non-string keys become string-keyed.
func normalizeYAML(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			t[k] = normalizeYAML(e)
		}
	case map[any]any:
		m := make(map[string]any, len(t))
		for k, e := range t {
			m[fmt.Sprint(k)] = normalizeYAML(e)
		}
		return m
	case []any:
		for i, e := range t {
			t[i] = normalizeYAML(e)
		}
	}
	return v
}

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

func parseOffer(p *problems, i int, v any) *Offer {
	where := quoteID("offer", idOf(v), i)
	r := newReader(p, where, "", v)
	if r == nil {
		return nil
	}
	before := len(p.list)
	o := &Offer{}
	o.ID = r.str("id", true)
	if r.isString("id") && !validID(o.ID) {
		r.fail("id", "must be 1 to 64 characters of a-z, 0-9 and -, got %q", o.ID)
	}
	o.Name = r.str("name", false)
	o.Text = r.str("text", false)
	if o.Text == "" {
		o.Text = o.Name
	}
	o.Status = r.str("status", true)
	o.active = o.Status == StatusActive
	switch o.Status {
	case StatusDraft, StatusActive, StatusPaused, StatusEnded, "":
	default:
		r.fail("status", "must be draft, active, paused or ended, got %q", o.Status)
	}
	o.validFrom, _ = r.instant("valid_from")
	o.validUntil, _ = r.instant("valid_until")
	if !o.validFrom.IsZero() && !o.validUntil.IsZero() && !o.validFrom.Before(o.validUntil) {
		r.fail("valid_until", "must be after valid_from")
	}
	if s := r.object("schedule"); s != nil {
		o.sched = parseSchedule(s)
	}
	o.stores = r.strings("stores", validStoreID, "a store id (1 to 32 characters of a-z, 0-9 and -)")
	if a := r.object("audience"); a != nil {
		o.segAny = a.strings("segments_any", validID, "a segment id")
		o.segNone = a.strings("segments_none", validID, "a segment id")
		o.known = a.boolean("known_customer")
		a.done()
	}
	if cv, ok := r.get("condition"); ok {
		o.cond = parseCond(p, where, "condition", cv, false)
	} else {
		o.cond = &cond{kind: condTrue}
	}
	if rw := r.object("reward"); rw != nil {
		o.reward = parseReward(rw)
	} else if !r.has("reward") {
		r.fail("reward", "required")
	}
	if l := r.object("limits"); l != nil {
		o.Limits = Limits{
			PerTransaction:               l.integer("per_transaction", 0, MaxQty, 0),
			PerCustomerPerDay:            l.integer("per_customer_per_day", 0, MaxQty, 0),
			PerCustomer:                  l.integer("per_customer", 0, MaxQty, 0),
			TotalRedemptions:             l.integer("total_redemptions", 0, 1<<40, 0),
			Budget:                       l.amount("budget"),
			ImpressionsPerCustomerPerDay: l.integer("impressions_per_customer_per_day", 0, MaxQty, 0),
		}
		l.done()
	}
	if s := r.object("stacking"); s != nil {
		o.priority = s.integer("priority", -1_000_000, 1_000_000, 0)
		o.group = s.str("group", false)
		o.exclusive = s.boolean("exclusive")
		s.done()
	}
	r.done()
	if len(p.list) > before || o.cond == nil {
		return nil
	}
	o.why = explainOffer(o)
	return o
}

func parseSchedule(r *reader) *schedule {
	s := &schedule{until: 24 * 60}
	days := r.strings("days", func(d string) bool { _, ok := weekdays[d]; return ok }, "one of mon, tue, wed, thu, fri, sat, sun")
	for _, d := range days {
		s.days |= 1 << weekdays[d]
	}
	if len(days) == 0 {
		s.days = 0x7f
	}
	from, until := r.str("from", false), r.str("until", false)
	var ok bool
	if from != "" {
		if s.from, ok = clock(from); !ok || s.from == 24*60 {
			r.fail("from", "must be a time of day HH:MM from 00:00 to 23:59, got %q", from)
		}
	}
	if until != "" {
		if s.until, ok = clock(until); !ok || s.until == 0 && from == "" {
			r.fail("until", "must be a time of day HH:MM from 00:01 to 24:00, got %q", until)
		}
	}
	if s.from == s.until {
		r.fail("until", "must differ from from (%q)", from)
	}
	r.done()
	return s
}

// idOf returns the id of a document that may not be an object at all, for
// naming it in errors.
func idOf(v any) string {
	m, _ := v.(map[string]any)
	id, _ := m["id"].(string)
	return id
}

// clock parses HH:MM into minutes after midnight; 24:00 is allowed.
func clock(s string) (int, bool) {
	if len(s) != 5 || s[2] != ':' {
		return 0, false
	}
	h, err1 := strconv.Atoi(s[:2])
	m, err2 := strconv.Atoi(s[3:])
	if err1 != nil || err2 != nil || h < 0 || m < 0 || m > 59 || h > 24 || h == 24 && m != 0 {
		return 0, false
	}
	return h*60 + m, true
}

func parseSegment(p *problems, i int, v any) *Segment {
	where := quoteID("segment", idOf(v), i)
	r := newReader(p, where, "", v)
	if r == nil {
		return nil
	}
	before := len(p.list)
	s := &Segment{ID: r.str("id", true), Name: r.str("name", false)}
	if r.isString("id") && !validID(s.ID) {
		r.fail("id", "must be 1 to 64 characters of a-z, 0-9 and -, got %q", s.ID)
	}
	if cv, ok := r.get("when"); ok {
		s.when = parseCond(p, where, "when", cv, true)
	} else {
		r.fail("when", "required")
	}
	r.done()
	if len(p.list) > before || s.when == nil {
		return nil
	}
	return s
}

// selector matches basket lines by SKU, category or brand. Each name
// carries its hash, so that a basket line, hashed once, is tested against a
// selector with integer compares; names are compared only on a hash match.
type selector struct {
	skus, categories, brands    []string
	hskus, hcategories, hbrands []uint64
}

// seed hashes selector names and basket attributes alike, within one
// process.
var seed = maphash.MakeSeed()

func hashes(l []string) []uint64 {
	if len(l) == 0 {
		return nil
	}
	h := make([]uint64, len(l))
	for i, s := range l {
		h[i] = maphash.String(seed, s)
	}
	return h
}

func (s *selector) empty() bool {
	return len(s.skus) == 0 && len(s.categories) == 0 && len(s.brands) == 0
}

// match reports whether a line with these attributes matches. An empty
// selector matches every line. (Baskets use lineIndex.match instead.)
func (s *selector) match(sku, category, brand string) bool {
	if s.empty() {
		return true
	}
	return contains(s.skus, sku) || category != "" && contains(s.categories, category) ||
		brand != "" && contains(s.brands, brand)
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// parseSelector reads the selector keys of r (which may hold other keys).
func parseSelector(r *reader) selector {
	s := selector{
		skus:       r.strings("skus", nil, ""),
		categories: r.strings("categories", nil, ""),
		brands:     r.strings("brands", nil, ""),
	}
	s.hskus, s.hcategories, s.hbrands = hashes(s.skus), hashes(s.categories), hashes(s.brands)
	return s
}

func (s *selector) String() string {
	var parts []string
	for _, f := range []struct {
		name string
		list []string
	}{{"sku", s.skus}, {"category", s.categories}, {"brand", s.brands}} {
		if len(f.list) > 0 {
			parts = append(parts, f.name+" "+strings.Join(f.list, "/"))
		}
	}
	if len(parts) == 0 {
		return "any item"
	}
	return strings.Join(parts, " or ")
}
