package firmware

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/posoffer/posoffer/protocol"
)

// kind is how a key=value payload writes a v1 field.
type kind uint8

const (
	kindText  kind = iota + 1 // text, as is
	kindInt                   // a whole number in decimal, such as -12 or 350
	kindType                  // the message type, through payload.types
	kindList                  // coupons: comma-separated, and the key may repeat
	kindItems                 // a list of objects: one LIST<n>.FIELD key per field of item n
)

type field struct {
	name string
	kind kind
}

// levelSpec is one level of a v1 message whose field names a model may
// rename: the message itself, or the objects of one of its lists.
type levelSpec struct {
	key  string   // the model file key under payload that renames them
	list string   // the v1 list whose objects are at this level; "" for the message
	what string   // what one of its fields is called, for errors
	json []string // its v1 fields, as JSON payloads carry them
	kv   []field  // the v1 fields that key=value payloads carry
}

// levels are the levels of a v1 message. JSON payloads carry every field;
// key=value payloads carry a subset, and a nudge's missing qty and spend
// as the nudge's own keys. An offers reply's suggestions (and candidates)
// may be renamed as a whole in JSON, and keep their v1 names inside, like
// an offer's lines; key=value payloads leave them out: the chosen nudges
// are in nudges, which is what a till's firmware reads.
var levels = []levelSpec{
	{
		key: "fields", what: "message field",
		json: []string{"v", "type", "id", "re", "txn", "ts", "customer", "coupons", "currency", "lines", "paid", "applied",
			"model", "firmware", "catalog", "eval_us", "offers", "nudges", "suggestions", "candidates", "holdout",
			"code", "message"},
		kv: []field{{"v", kindInt}, {"type", kindType}, {"id", kindText}, {"re", kindText}, {"txn", kindText},
			{"ts", kindText}, {"customer", kindText}, {"coupons", kindList}, {"currency", kindText},
			{"lines", kindItems}, {"paid", kindInt}, {"applied", kindItems}, {"model", kindText},
			{"firmware", kindText}, {"catalog", kindInt}, {"offers", kindItems}, {"nudges", kindItems},
			{"code", kindText}, {"message", kindText}},
	},
	{
		key: "line_fields", list: "lines", what: "line field",
		json: []string{"sku", "qty", "price", "category", "brand", "name"},
		kv: []field{{"sku", kindText}, {"qty", kindInt}, {"price", kindInt}, {"category", kindText},
			{"brand", kindText}, {"name", kindText}},
	},
	{
		key: "applied_fields", list: "applied", what: "field of an applied offer",
		json: []string{"offer", "discount", "points"},
		kv:   []field{{"offer", kindText}, {"discount", kindInt}, {"points", kindInt}},
	},
	{
		key: "offer_fields", list: "offers", what: "field of an offer",
		json: []string{"id", "name", "text", "discount", "points", "lines", "why"},
		kv:   []field{{"id", kindText}, {"text", kindText}, {"discount", kindInt}, {"points", kindInt}},
	},
	{
		key: "nudge_fields", list: "nudges", what: "field of a nudge",
		json: []string{"offer", "text", "missing"},
		kv:   []field{{"offer", kindText}, {"text", kindText}, {"qty", kindInt}, {"spend", kindInt}},
	},
}

// missingFields are the nudge fields of a key=value payload that are the
// nudge's "missing" object in v1.
var missingFields = []string{"qty", "spend"}

// messageTypes are the v1 message types, which payload.types may rename.
var messageTypes = []string{
	protocol.TypeBasket, protocol.TypeCheckout, protocol.TypeVoid, protocol.TypeHello,
	protocol.TypeOffers, protocol.TypeAck, protocol.TypeError,
}

// names is a one-to-one renaming between a terminal's names and v1 names:
// of the fields of one level, or of the message types.
type names struct {
	toV1   map[string]string // terminal name -> v1 name, for every v1 name
	fromV1 map[string]string // v1 name -> terminal name
}

// v1 returns the v1 name of the terminal's name s, and whether s names
// a v1 name at all.
func (n names) v1(s string) (string, bool) {
	v, ok := n.toV1[s]
	return v, ok
}

// terminal returns the terminal's name for the v1 name s, or s itself.
func (n names) terminal(s string) string {
	if t, ok := n.fromV1[s]; ok {
		return t
	}
	return s
}

// level is one built level: its names and, for key=value payloads, the
// kind of each of its v1 fields.
type level struct {
	spec  *levelSpec
	names names
	kinds map[string]kind
}

// dialect is how a model names things: every level and the types.
type dialect struct {
	top   *level
	items map[string]*level // v1 list name -> the level of its objects
	types names
}

var (
	kvName   = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)
	typeCode = regexp.MustCompile(`^[\x21-\x7e]{1,32}$`)
)

// dialect reads payload.fields, payload.*_fields and payload.types for
// format, reporting every problem.
func (f *file) dialect(format string, sep byte) *dialect {
	d := &dialect{items: map[string]*level{}}
	for i := range levels {
		spec := &levels[i]
		key := "payload." + spec.key
		var v1, other []string
		kinds := map[string]kind{}
		if format == formatKV {
			for _, fd := range spec.kv {
				v1 = append(v1, fd.name)
				kinds[fd.name] = fd.kind
			}
			for _, name := range spec.json {
				if _, ok := kinds[name]; !ok {
					other = append(other, name)
				}
			}
		} else {
			v1 = spec.json
		}
		valid := func(s string) string {
			if format == formatKV && !kvName.MatchString(s) {
				return "a key=value name is 1 to 32 characters of A-Z, a-z, 0-9, _ and -"
			}
			if format == formatJSON && (len(s) > 64 || !utf8.ValidString(s) || strings.ContainsFunc(s, isControl)) {
				return "a JSON name is 1 to 64 bytes of UTF-8 text without control characters"
			}
			return ""
		}
		ps := f.pairs(key)
		l := &level{spec: spec, kinds: kinds}
		l.names = f.names(key, ps, v1, other, spec.what, valid)
		if spec.list != "" {
			d.items[spec.list] = l
			continue
		}
		d.top = l
		if format != formatKV {
			continue
		}
		// LIST<n>.FIELD: the name of a list must not end in a digit, or
		// L1 with item 2 would read as L12.
		for _, p := range ps {
			if kinds[p.to] == kindItems && p.from[len(p.from)-1] >= '0' && p.from[len(p.from)-1] <= '9' {
				f.add(p.line, key+"."+p.from, "the name of a list must not end in a digit: item 2 of %s would be %s2.FIELD", p.from, p.from)
			}
		}
	}
	types := f.pairs("payload.types")
	d.types = f.names("payload.types", types, messageTypes, nil, "message type", func(s string) string {
		switch {
		case !typeCode.MatchString(s):
			return "a type code is 1 to 32 printable ASCII characters, no spaces"
		case format == formatKV && (strings.IndexByte(s, sep) >= 0 || strings.Contains(s, "=")):
			return fmt.Sprintf("a type code must not hold the separator %q or =", sep)
		}
		return ""
	})
	return d
}

// names checks the pairs of key, each from a terminal's name to one of
// the v1 names, and returns the renaming: one to one, every v1 name not
// renamed keeping its own. other lists v1 names that this format does not
// carry; valid says what is wrong with a terminal name, or "".
func (f *file) names(key string, ps []pair, v1, other []string, what string, valid func(string) string) names {
	n := names{toV1: map[string]string{}, fromV1: map[string]string{}}
	byV1 := map[string]pair{}
	for _, p := range ps {
		at := key + "." + p.from
		if msg := valid(p.from); msg != "" {
			f.add(p.line, at, "%s", msg)
			continue
		}
		switch q, dup := byV1[p.to]; {
		case slices.Contains(other, p.to):
			f.add(p.line, at, "%s is a v1 %s that key=value payloads do not carry (they carry: %s)",
				p.to, what, strings.Join(v1, ", "))
		case !slices.Contains(v1, p.to):
			f.add(p.line, at, "%q is not a v1 %s: want one of %s", p.to, what, strings.Join(v1, ", "))
		case dup:
			f.add(p.line, at, "%s is already the v1 name of %s (line %d): two terminal names cannot mean one %s",
				p.to, q.from, q.line, what)
		default:
			byV1[p.to] = p
		}
	}
	for _, name := range v1 {
		n.fromV1[name] = name
	}
	for to, p := range byV1 {
		n.fromV1[to] = p.from
	}
	// A terminal name that is also a v1 name not renamed would mean two
	// fields: the one it renames and the v1 one.
	for _, p := range ps {
		if q, ok := byV1[p.to]; !ok || q != p {
			continue
		}
		if slices.Contains(v1, p.from) && n.fromV1[p.from] == p.from && p.from != p.to {
			f.add(p.line, key+"."+p.from, "%s means %s here, so the v1 %s %s needs a terminal name of its own: add an entry for it",
				p.from, p.to, what, p.from)
		}
	}
	for v, t := range n.fromV1 {
		n.toV1[t] = v
	}
	return n
}

// isControl reports whether r is an ASCII or C1 control character.
func isControl(r rune) bool { return r < 0x20 || r >= 0x7f && r < 0xa0 }
