package firmware

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/posoffer/posoffer/protocol"
)

// kvCodec translates key=value payloads: KEY=VALUE fields joined by a
// separator, list items as LIST<n>.KEY, coupons comma-separated. The
// format is documented in firmware-configs/README.md.
type kvCodec struct {
	sep byte
	d   *dialect
}

// maxItems is the highest item number of a list: the most lines a basket
// may have, and more than enough for applied offers, offers and nudges.
const maxItems = protocol.MaxLines

// kvObject is a v1 object being built from key=value fields, its members
// in the order their keys came.
type kvObject struct {
	members []member
	keys    map[string]string // v1 name -> the key that gave it
	coupons []string          // the message's coupons, when a key gave them
	items   map[string][]*kvObject
}

func newKVObject() *kvObject {
	return &kvObject{keys: map[string]string{}, items: map[string][]*kvObject{}}
}

// toV1 reads the key=value fields of text into a v1 JSON object. Keys
// that name no v1 field are skipped, as JSON ignores fields it does not
// define. "v": 1 is added when there is no v, and "lines": [] to a basket
// or checkout without lines.
func (c *kvCodec) toV1(text string) ([]byte, error) {
	if text == "" {
		return nil, errors.New("empty payload: want KEY=VALUE fields")
	}
	msg := newKVObject()
	for n, f := range strings.Split(text, string(c.sep)) {
		if f == "" {
			continue // a trailing or doubled separator
		}
		if err := c.field(msg, f, n+1); err != nil {
			return nil, err
		}
	}
	for _, mb := range msg.members {
		for i, it := range msg.items[mb.name] {
			if it == nil {
				list := c.d.top.names.terminal(mb.name)
				return nil, fmt.Errorf("%s%d is missing: the items of %s are numbered from 1 without gaps", list, i+1, list)
			}
		}
	}
	typ := ""
	if mb, ok := msg.member("type"); ok {
		_ = json.Unmarshal(mb.val, &typ)
	}
	if _, ok := msg.member("lines"); !ok && (typ == protocol.TypeBasket || typ == protocol.TypeCheckout) {
		msg.members = append(msg.members, member{name: "lines"})
	}
	if _, ok := msg.member("v"); !ok {
		msg.members = append([]member{{name: "v", val: json.RawMessage("1")}}, msg.members...)
	}
	return c.appendObject(nil, msg, c.d.top), nil
}

func (o *kvObject) member(name string) (member, bool) {
	for _, mb := range o.members {
		if mb.name == name {
			return mb, true
		}
	}
	return member{}, false
}

// field reads field number n, KEY=VALUE, into msg.
func (c *kvCodec) field(msg *kvObject, f string, n int) error {
	key, val, ok := strings.Cut(f, "=")
	if !ok {
		return fmt.Errorf("field %d has no \"=\": want KEY=VALUE", n)
	}
	list, num, name, ok := splitKey(key)
	if !ok {
		return fmt.Errorf("field %d: the key is not NAME or LIST<n>.NAME (names are A-Z, a-z, 0-9, _ and -)", n)
	}
	top := c.d.top
	if list == "" {
		v1, ok := top.names.v1(name)
		switch kind := top.kinds[v1]; {
		case !ok:
			return nil // not a v1 field: ignored
		case kind == kindItems:
			return fmt.Errorf("%s (%s) is a list: its items are %s1.NAME=VALUE, %s2.NAME=VALUE and so on", key, v1, key, key)
		case kind == kindList:
			if _, seen := msg.keys[v1]; !seen {
				msg.keys[v1] = key
				msg.members = append(msg.members, member{name: v1})
			}
			if val != "" {
				msg.coupons = append(msg.coupons, strings.Split(val, ",")...)
			}
			return nil
		}
		return c.set(msg, top, v1, key, v1, val)
	}

	v1list, ok := top.names.v1(list)
	if !ok {
		return nil // not a v1 list: ignored
	}
	if top.kinds[v1list] != kindItems {
		return fmt.Errorf("field %d: %s (%s) is not a list, so %s is not a key", n, list, v1list, quoteName(key))
	}
	if num < 1 || num > maxItems {
		return fmt.Errorf("field %d: %s: items are numbered from 1 to %d", n, quoteName(key), maxItems)
	}
	if _, seen := msg.keys[v1list]; !seen {
		msg.keys[v1list] = list
		msg.members = append(msg.members, member{name: v1list})
	}
	items := msg.items[v1list]
	for len(items) < num {
		items = append(items, nil)
	}
	if items[num-1] == nil {
		items[num-1] = newKVObject()
	}
	msg.items[v1list] = items
	l := c.d.items[v1list]
	v1, ok := l.names.v1(name)
	if !ok {
		return nil
	}
	return c.set(items[num-1], l, v1, key, v1list+"["+strconv.Itoa(num-1)+"]."+v1, val)
}

// set gives the v1 field name of o, at level l, the value of key.
func (c *kvCodec) set(o *kvObject, l *level, name, key, path, val string) error {
	if prev, seen := o.keys[name]; seen {
		if prev == key {
			return fmt.Errorf("%s (%s) is given twice", key, path)
		}
		return fmt.Errorf("%s and %s (%s) are both given", prev, key, path)
	}
	o.keys[name] = key
	var raw []byte
	switch l.kinds[name] {
	case kindInt:
		n, ok := parseInt(val)
		if !ok {
			return fmt.Errorf("%s (%s): want a whole number, such as 12 or -3", key, path)
		}
		raw = strconv.AppendInt(nil, n, 10)
	case kindType:
		if v1, ok := c.d.types.v1(val); ok {
			val = v1
		}
		raw = appendJSONString(nil, val)
	default:
		raw = appendJSONString(nil, val)
	}
	o.members = append(o.members, member{name: name, val: raw})
	return nil
}

// parseInt reads a whole number in decimal: an optional minus sign and 1
// to 18 digits, so it always fits an int64.
func parseInt(s string) (int64, bool) {
	digits := strings.TrimPrefix(s, "-")
	if len(digits) == 0 || len(digits) > 18 || strings.Trim(digits, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// splitKey splits a key into a list's name, the item number and the
// field's name, list "" for a key of the message itself.
func splitKey(key string) (list string, num int, name string, ok bool) {
	head, name, dotted := strings.Cut(key, ".")
	if !dotted {
		return "", 0, key, kvName.MatchString(key)
	}
	list = strings.TrimRight(head, "0123456789")
	digits := head[len(list):]
	if list == "" || digits == "" || len(digits) > 4 || !kvName.MatchString(list) || !kvName.MatchString(name) {
		return "", 0, "", false
	}
	num, _ = strconv.Atoi(digits)
	return list, num, name, true
}

// appendObject appends o, of level l, as JSON.
func (c *kvCodec) appendObject(dst []byte, o *kvObject, l *level) []byte {
	dst = append(dst, '{')
	var missing []member // a nudge's qty and spend
	n := 0
	for _, mb := range o.members {
		if l.spec.list == "nudges" && (mb.name == missingFields[0] || mb.name == missingFields[1]) {
			missing = append(missing, mb)
			continue
		}
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
		dst = appendJSONString(dst, mb.name)
		dst = append(dst, ':')
		switch {
		case mb.name == "coupons" && l.spec.list == "":
			dst = append(dst, '[')
			for i, s := range o.coupons {
				if i > 0 {
					dst = append(dst, ',')
				}
				dst = appendJSONString(dst, s)
			}
			dst = append(dst, ']')
		case mb.val == nil: // a list
			dst = append(dst, '[')
			for i, it := range o.items[mb.name] {
				if i > 0 {
					dst = append(dst, ',')
				}
				dst = c.appendObject(dst, it, c.d.items[mb.name])
			}
			dst = append(dst, ']')
		default:
			dst = append(dst, mb.val...)
		}
	}
	if len(missing) > 0 {
		if n > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `"missing":{`...)
		for i, mb := range missing {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, mb.name)
			dst = append(dst, ':')
			dst = append(dst, mb.val...)
		}
		dst = append(dst, '}')
	}
	return append(dst, '}')
}

// fromV1 writes the v1 JSON object v1 as key=value fields. Fields the
// format does not carry are left out. For a reply, text that a value
// cannot hold is made safe (see kvWriter.text); otherwise it is an error.
func (c *kvCodec) fromV1(v1 []byte, reply bool) (string, error) {
	ms, err := parseObject(v1)
	if err != nil {
		return "", err
	}
	w := kvWriter{c: c, reply: reply, done: map[string]bool{}}
	top := c.d.top
	for _, mb := range ms {
		kind, ok := top.kinds[mb.name]
		if !ok || isJSONNull(mb.val) {
			continue
		}
		if w.done[mb.name] {
			return "", fmt.Errorf("%s is given twice", mb.name)
		}
		w.done[mb.name] = true
		key := top.names.terminal(mb.name)
		switch kind {
		case kindItems:
			err = w.items(key, mb.name, mb.val)
		case kindList:
			err = w.list(key, mb.name, mb.val)
		default:
			err = w.scalar(key, mb.name, kind, mb.val)
		}
		if err != nil {
			return "", err
		}
	}
	if w.b.Len() == 0 {
		return "", errors.New("the message has no field that key=value payloads carry")
	}
	return w.b.String(), nil
}

// kvWriter writes key=value fields.
type kvWriter struct {
	c     *kvCodec
	reply bool
	b     strings.Builder
	done  map[string]bool
}

func (w *kvWriter) write(key, val string) {
	if w.b.Len() > 0 {
		w.b.WriteByte(w.c.sep)
	}
	w.b.WriteString(key)
	w.b.WriteByte('=')
	w.b.WriteString(val)
}

// scalar writes a text, number or type field.
func (w *kvWriter) scalar(key, path string, kind kind, raw json.RawMessage) error {
	if kind == kindInt {
		var n json.Number
		if len(raw) == 0 || raw[0] == '"' || json.Unmarshal(raw, &n) != nil {
			return fmt.Errorf("%s: want a whole number", path)
		}
		if _, ok := parseInt(n.String()); !ok {
			return fmt.Errorf("%s: want a whole number of at most 18 digits", path)
		}
		w.write(key, n.String())
		return nil
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return fmt.Errorf("%s: want text", path)
	}
	if kind == kindType {
		s = w.c.d.types.terminal(s)
	}
	s, err := w.text(path, s, "")
	if err != nil {
		return err
	}
	w.write(key, s)
	return nil
}

// list writes the coupons, comma-separated.
func (w *kvWriter) list(key, path string, raw json.RawMessage) error {
	var ss []string
	if json.Unmarshal(raw, &ss) != nil {
		return fmt.Errorf("%s: want a list of text", path)
	}
	for i, s := range ss {
		at := path + "[" + strconv.Itoa(i) + "]"
		if s == "" && !w.reply {
			return fmt.Errorf("%s: empty, which a key=value payload cannot carry (%s= is no coupons)", at, key)
		}
		var err error
		if ss[i], err = w.text(at, s, ","); err != nil {
			return err
		}
	}
	w.write(key, strings.Join(ss, ",")) // KEY= for none
	return nil
}

// items writes a list of objects as LIST<n>.KEY fields.
func (w *kvWriter) items(list, path string, raw json.RawMessage) error {
	var objs []json.RawMessage
	if json.Unmarshal(raw, &objs) != nil {
		return fmt.Errorf("%s: want a list of objects", path)
	}
	if len(objs) > maxItems {
		return fmt.Errorf("%s: %d items, key=value payloads carry at most %d", path, len(objs), maxItems)
	}
	l := w.c.d.items[path]
	for i, obj := range objs {
		at := path + "[" + strconv.Itoa(i) + "]"
		ms, err := parseObject(obj)
		if err != nil {
			return fmt.Errorf("%s: %w", at, err)
		}
		if l.spec.list == "nudges" {
			ms = flattenMissing(ms)
		}
		prefix := list + strconv.Itoa(i+1) + "."
		done := map[string]bool{}
		for _, mb := range ms {
			kind, ok := l.kinds[mb.name]
			if !ok || isJSONNull(mb.val) {
				continue
			}
			if done[mb.name] {
				return fmt.Errorf("%s.%s is given twice", at, mb.name)
			}
			done[mb.name] = true
			if err := w.scalar(prefix+l.names.terminal(mb.name), at+"."+mb.name, kind, mb.val); err != nil {
				return err
			}
		}
		if len(done) == 0 {
			// Nothing would say the item is there, and the next one would
			// leave a gap.
			return fmt.Errorf("%s: no field that key=value payloads carry", at)
		}
	}
	return nil
}

// flattenMissing replaces a nudge's "missing" object with its members.
func flattenMissing(ms []member) []member {
	for i, mb := range ms {
		if mb.name != "missing" {
			continue
		}
		inner, err := parseObject(mb.val)
		if err != nil {
			return ms // not an object: left out like any field not carried
		}
		return append(append(ms[:i:i], inner...), ms[i+1:]...)
	}
	return ms
}

// text returns s as a value: without the separator, "=", control
// characters or any of also. A reply gets a space for each of them; a
// request is refused.
func (w *kvWriter) text(path, s, also string) (string, error) {
	bad := func(r rune) bool {
		return r < 0x20 || r == 0x7f || r == rune(w.c.sep) || r == '=' || strings.ContainsRune(also, r)
	}
	if !strings.ContainsFunc(s, bad) {
		return s, nil
	}
	if !w.reply {
		return "", fmt.Errorf("%s: holds a control character, the separator %q, \"=\"%s, which a key=value value cannot", path, w.c.sep, orComma(also))
	}
	return strings.Map(func(r rune) rune {
		if bad(r) {
			return ' '
		}
		return r
	}, s), nil
}

func orComma(also string) string {
	if also == "" {
		return ""
	}
	return fmt.Sprintf(" or %q", also)
}

func isJSONNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }
