package offer

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/posoffer/posoffer/protocol"
)

// A document is decoded in two steps: JSON or YAML into plain values
// (maps, slices, strings, numbers), then walked by a reader that knows the
// schema. The reader records every problem with its path instead of stopping
// at the first, so one load tells an author everything that is wrong.

// maxErrors bounds how many problems one load reports.
const maxErrors = 50

// problems collects validation errors, each already naming where it is.
type problems struct {
	list []string
}

func (p *problems) add(where, path, format string, args ...any) {
	if len(p.list) >= maxErrors {
		return
	}
	msg := fmt.Sprintf(format, args...)
	switch {
	case where != "" && path != "":
		msg = where + ": " + path + ": " + msg
	case where != "":
		msg = where + ": " + msg
	case path != "":
		msg = path + ": " + msg
	}
	p.list = append(p.list, msg)
}

// reader walks one object of a document. where names the thing being read
// (`offer "x"`), path is the field path inside it.
type reader struct {
	p     *problems
	where string
	path  string
	m     map[string]any
	known []string
}

func newReader(p *problems, where, path string, v any) *reader {
	m, ok := v.(map[string]any)
	if !ok {
		p.add(where, path, "must be an object, got %s", kindOf(v))
		return nil
	}
	return &reader{p: p, where: where, path: path, m: m}
}

func (r *reader) at(key string) string {
	if key == "" {
		return r.path
	}
	if r.path == "" {
		return key
	}
	return r.path + "." + key
}

func (r *reader) fail(key, format string, args ...any) {
	r.p.add(r.where, r.at(key), format, args...)
}

// get returns the raw value of key and marks the key as known.
func (r *reader) get(key string) (any, bool) {
	r.known = append(r.known, key)
	v, ok := r.m[key]
	if ok && v == nil {
		return nil, false // null is the same as missing
	}
	return v, ok
}

// done reports every key that no getter asked for.
func (r *reader) done() {
	var unknown []string
	for k := range r.m {
		if !slices.Contains(r.known, k) {
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	for _, k := range unknown {
		r.fail(k, "unknown field")
	}
}

// has reports whether key is given; null counts as not given, as in get.
func (r *reader) has(key string) bool {
	v, ok := r.m[key]
	return ok && v != nil
}

func (r *reader) str(key string, required bool) string {
	v, ok := r.get(key)
	if !ok {
		if required {
			r.fail(key, "required")
		}
		return ""
	}
	s, ok := v.(string)
	if !ok {
		r.fail(key, "must be a string, got %s", kindOf(v))
	}
	return s
}

// isString reports whether key is present and holds a string.
func (r *reader) isString(key string) bool {
	v, ok := r.get(key)
	_, isStr := v.(string)
	return ok && isStr
}

func (r *reader) boolean(key string) bool {
	v, ok := r.get(key)
	if !ok {
		return false
	}
	b, ok := v.(bool)
	if !ok {
		r.fail(key, "must be true or false, got %s", kindOf(v))
	}
	return b
}

// integer reads a whole number in [lo, hi]; a missing key gives def.
func (r *reader) integer(key string, lo, hi, def int64) int64 {
	v, ok := r.get(key)
	if !ok {
		return def
	}
	n, ok := wholeNumber(v)
	if !ok {
		r.fail(key, "must be a whole number, got %s", describe(v))
		return def
	}
	if n < lo || n > hi {
		if lo == 0 && n < 0 {
			r.fail(key, "must not be negative, got %d", n)
		} else {
			r.fail(key, "must be between %d and %d, got %d", lo, hi, n)
		}
		return def
	}
	return n
}

// amount reads money in minor units: a whole number from 0 to MaxAmount.
func (r *reader) amount(key string) int64 {
	return r.integer(key, 0, MaxAmount, 0)
}

// percent reads a percentage in (0, 100] with at most two decimals and
// returns it in hundredths of a percent (12.5 is 1250).
func (r *reader) percent(key string, required bool, def int64) int64 {
	v, ok := r.get(key)
	if !ok {
		if required {
			r.fail(key, "required")
		}
		return def
	}
	f, ok := number(v)
	if !ok {
		r.fail(key, "must be a number, got %s", describe(v))
		return def
	}
	h := math.Round(f * 100)
	if math.Abs(f*100-h) > 1e-6 {
		r.fail(key, "at most two decimals, got %v", f)
		return def
	}
	if h <= 0 || h > 10000 {
		r.fail(key, "must be above 0 and at most 100, got %v", f)
		return def
	}
	return int64(h)
}

// multiplier reads a points multiplier in (0, 100] with at most two
// decimals, in hundredths.
func (r *reader) multiplier(key string) int64 {
	v, ok := r.get(key)
	if !ok {
		return 0
	}
	f, ok := number(v)
	h := math.Round(f * 100)
	if !ok || math.Abs(f*100-h) > 1e-6 || h < 100 || h > 10000 {
		r.fail(key, "must be a number from 1 to 100 with at most two decimals, got %s", describe(v))
		return 0
	}
	return int64(h)
}

func (r *reader) instant(key string) (time.Time, bool) {
	v, ok := r.get(key)
	if !ok {
		return time.Time{}, false
	}
	switch t := v.(type) {
	case time.Time:
		return t, true
	case string:
		ts, err := time.Parse(time.RFC3339, t)
		if err != nil {
			r.fail(key, "must be an RFC 3339 time such as 2026-11-01T00:00:00Z, got %q", t)
			return time.Time{}, false
		}
		return ts, true
	}
	r.fail(key, "must be an RFC 3339 time, got %s", kindOf(v))
	return time.Time{}, false
}

// object returns a reader for a nested object, or nil when key is missing
// or is not an object (which is reported).
func (r *reader) object(key string) *reader {
	v, ok := r.get(key)
	if !ok {
		return nil
	}
	return newReader(r.p, r.where, r.at(key), v)
}

// list returns the elements of a list field, reporting a non-list.
func (r *reader) list(key string) []any {
	v, ok := r.get(key)
	if !ok {
		return nil
	}
	l, ok := v.([]any)
	if !ok {
		r.fail(key, "must be a list, got %s", kindOf(v))
	}
	return l
}

// strings reads a list of non-empty strings, checked by valid when given.
func (r *reader) strings(key string, valid func(string) bool, want string) []string {
	l := r.list(key)
	if len(l) == 0 {
		return nil
	}
	out := make([]string, 0, len(l))
	for i, v := range l {
		s, ok := v.(string)
		switch {
		case !ok:
			r.fail(key+"["+strconv.Itoa(i)+"]", "must be a string, got %s", kindOf(v))
		case s == "":
			r.fail(key+"["+strconv.Itoa(i)+"]", "must not be empty")
		case valid != nil && !valid(s):
			r.fail(key+"["+strconv.Itoa(i)+"]", "must be %s, got %q", want, s)
		default:
			out = append(out, s)
		}
	}
	return out
}

func wholeNumber(v any) (int64, bool) {
	switch n := v.(type) {
	case json.Number:
		i, err := strconv.ParseInt(string(n), 10, 64)
		return i, err == nil
	case int:
		return int64(n), true
	case int64:
		return n, true
	case uint64:
		if n > math.MaxInt64 {
			return 0, false
		}
		return int64(n), true
	case float64:
		if n != math.Trunc(n) || math.Abs(n) > 1<<53 {
			return 0, false
		}
		return int64(n), true
	}
	return 0, false
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(n), 64)
		return f, err == nil && !math.IsInf(f, 0) && !math.IsNaN(f)
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case uint64:
		return float64(n), true
	case float64:
		return n, !math.IsInf(n, 0) && !math.IsNaN(n)
	}
	return 0, false
}

func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number, int, int64, uint64, float64:
		return "a number"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	case time.Time:
		return "a time"
	}
	return fmt.Sprintf("%T", v)
}

// describe is kindOf with the value for numbers, so "1.5" reads better than
// "a number" when a whole number was wanted.
func describe(v any) string {
	switch n := v.(type) {
	case json.Number:
		return string(n)
	case int, int64, uint64:
		return fmt.Sprint(n)
	case float64:
		return strconv.FormatFloat(n, 'g', -1, 64)
	case string:
		return strconv.Quote(n)
	}
	return kindOf(v)
}

func validID(s string) bool      { return protocol.ValidOfferID(s) }
func validStoreID(s string) bool { return protocol.ValidStoreID(s) }

func quoteID(kind string, id string, i int) string {
	if validID(id) {
		return kind + " " + strconv.Quote(id)
	}
	return kind + "s[" + strconv.Itoa(i) + "]"
}

func joinLines(l []string) string { return strings.Join(l, "\n") }
