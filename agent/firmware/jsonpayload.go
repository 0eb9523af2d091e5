package firmware

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// jsonCodec translates JSON payloads: the same objects as v1, with the
// terminal's names for fields and types.
type jsonCodec struct {
	d *dialect
}

// toV1 renames the terminal's names in the JSON object text to v1 names,
// and adds "v": 1 when there is no v.
func (c *jsonCodec) toV1(text string) ([]byte, error) {
	ms, err := parseObject([]byte(text))
	if err != nil {
		return nil, err
	}
	return c.object(nil, ms, c.d.top, "", true)
}

// fromV1 renames the v1 names in the JSON object v1 to the terminal's.
// Every value is kept as it is, so it never fails for a reply.
func (c *jsonCodec) fromV1(v1 []byte, _ bool) (string, error) {
	ms, err := parseObject(v1)
	if err != nil {
		return "", err
	}
	b, err := c.object(nil, ms, c.d.top, "", false)
	return string(b), err
}

// object appends the object ms of level l, renamed toward v1 or from it,
// to dst. path is where it is in the message, for errors.
func (c *jsonCodec) object(dst []byte, ms []member, l *level, path string, toV1 bool) ([]byte, error) {
	type origin struct {
		name, out string
		renamed   bool
	}
	seen := make(map[string]origin, len(ms))
	top := l.spec.list == ""
	hasV := false
	start := len(dst)
	dst = append(dst, '{')
	for _, mb := range ms {
		out, v1 := l.names.terminal(mb.name), mb.name
		if toV1 {
			out = mb.name
			if name, ok := l.names.v1(mb.name); ok {
				out = name
			}
			v1 = out
		}
		// A renamed field must not meet another of the same name (for
		// encoding/json, of any case): that is two values for one field.
		renamed := out != mb.name
		fold := strings.ToLower(out)
		if o, ok := seen[fold]; ok && o.name != mb.name && (renamed || o.renamed) {
			field := out
			if o.renamed {
				field = o.out
			}
			return nil, fmt.Errorf("%s: %s and %s are both the field %s", where(path), quoteName(o.name), quoteName(mb.name), quoteName(field))
		}
		seen[fold] = origin{mb.name, out, renamed}
		hasV = hasV || fold == "v"

		val := []byte(mb.val)
		if top {
			var err error
			switch items := c.d.items[v1]; {
			case v1 == "type":
				val = c.renameType(val, toV1)
			case items != nil:
				if val, err = c.list(val, items, join(path, v1), toV1); err != nil {
					return nil, err
				}
			}
		}
		if len(dst) > start+1 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, out)
		dst = append(dst, ':')
		dst = append(dst, val...)
	}
	if top && toV1 && !hasV {
		// Added first: a reader sees the version before the rest.
		v := []byte(`"v":1`)
		if len(ms) > 0 {
			v = append(v, ',')
		}
		dst = slices.Insert(dst, start+1, v...)
	}
	dst = append(dst, '}')
	if top {
		var buf bytes.Buffer
		if err := json.Compact(&buf, dst); err != nil {
			return nil, fmt.Errorf("rewriting the JSON object: %w", err)
		}
		return buf.Bytes(), nil
	}
	return dst, nil
}

// renameType maps a "type" that is a string through payload.types.
func (c *jsonCodec) renameType(val []byte, toV1 bool) []byte {
	var s string
	if json.Unmarshal(val, &s) != nil {
		return val // not a string: protocol.Decode says what is wrong
	}
	t := c.d.types.terminal(s)
	if toV1 {
		t = s
		if v1, ok := c.d.types.v1(s); ok {
			t = v1
		}
	}
	if t == s {
		return val
	}
	return appendJSONString(nil, t)
}

// list renames the objects in the JSON array val, of level l. A value
// that is not an array, or an item that is not an object, is kept as it
// is: protocol.Decode says what is wrong with it.
func (c *jsonCodec) list(val []byte, l *level, path string, toV1 bool) ([]byte, error) {
	var items []json.RawMessage
	if len(val) == 0 || val[0] != '[' || json.Unmarshal(val, &items) != nil {
		return val, nil
	}
	out := []byte{'['}
	for i, it := range items {
		if i > 0 {
			out = append(out, ',')
		}
		if t := bytes.TrimLeft(it, " \t\r\n"); len(t) == 0 || t[0] != '{' {
			out = append(out, it...)
			continue
		}
		ms, err := parseObject(it)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", path, i, err)
		}
		if out, err = c.object(out, ms, l, path+"["+strconv.Itoa(i)+"]", toV1); err != nil {
			return nil, err
		}
	}
	return append(out, ']'), nil
}

// member is one member of a JSON object, its value as it came.
type member struct {
	name string
	val  json.RawMessage
}

// parseObject reads the JSON object b, keeping its members in order, a
// repeated name included.
func parseObject(b []byte) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil {
		if err == io.EOF {
			return nil, errors.New("empty payload: want a JSON object")
		}
		return nil, jsonError(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("want a JSON object, got %s", tokenKind(tok))
	}
	var ms []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, jsonError(err)
		}
		name, _ := tok.(string) // the decoder checks that a key is a string
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return nil, jsonError(err)
		}
		ms = append(ms, member{name, val})
	}
	if _, err := dec.Token(); err != nil { // the closing }
		return nil, jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("not one JSON object: more follows it")
	}
	return ms, nil
}

// jsonError describes a JSON syntax error without quoting the input
// beyond the one character it names.
func jsonError(err error) error {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("not a JSON object: %v at byte %d", se, se.Offset)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("not a JSON object: it is cut short")
	}
	return fmt.Errorf("not a JSON object: %v", err)
}

func tokenKind(tok json.Token) string {
	switch t := tok.(type) {
	case json.Delim:
		if t == '[' {
			return "an array"
		}
	case string:
		return "a string"
	case float64, json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return "something else"
}

// appendJSONString appends s as a JSON string, without escaping < > &.
func appendJSONString(dst []byte, s string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return append(dst, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...)
}

// quoteName quotes a name from a payload for an error, cut to 40 bytes.
func quoteName(s string) string {
	if len(s) > 40 {
		return strconv.Quote(strings.ToValidUTF8(s[:40], "")) + "..."
	}
	return strconv.Quote(s)
}

// where names a place in a message for an error.
func where(path string) string {
	if path == "" {
		return "message"
	}
	return path
}
