package protocol

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// typeError turns a json.UnmarshalTypeError into a bad_message *Error that
// names the field the way the terminal wrote it, with the index of every
// list on the way (lines[2].qty), and says what was expected and what came.
func typeError(b []byte, te *json.UnmarshalTypeError) *Error {
	path := fieldPath(b, te)
	if path == "" {
		path = "message"
	}
	want := kindOf(te.Type)
	if isInteger(te.Type) {
		if lit, ok := strings.CutPrefix(te.Value, "number "); ok {
			if integral(lit) {
				return newError(CodeBadMessage, "%s: integer out of range, got %s", path, clip(lit))
			}
			return newError(CodeBadMessage, "%s: expected %s, got %s", path, want, clip(lit))
		}
	}
	got, _, _ := strings.Cut(te.Value, " ")
	switch got {
	case "number":
		got = "a number"
	case "string":
		got = "a string"
	case "bool":
		got = "a boolean"
	case "array", "object":
		got = "an " + got
	}
	return newError(CodeBadMessage, "%s: expected %s, got %s", path, want, got)
}

// fieldPath returns the path of the field of a type error, with indices.
//
// encoding/json names the field by its struct path without indices
// (lines.qty), so the path is found again from the error's offset in b,
// which Unmarshal has already checked is valid JSON, and kept if it is the
// same field. (With GOEXPERIMENT=jsonv2, encoding/json gives the indices
// itself, lines.2.qty, and its offset points before the value instead of
// into it.)
func fieldPath(b []byte, te *json.UnmarshalTypeError) string {
	if p, ok := indexedField(te.Field); ok {
		return p
	}
	for _, at := range []int{int(te.Offset) - 1, int(te.Offset)} {
		if p := pathAt(b, at); p != "" && strings.EqualFold(withoutIndices(p), te.Field) {
			return p
		}
	}
	return te.Field
}

// indexedField turns a field path with numeric elements, lines.2.qty, into
// lines[2].qty; ok is false when it has no numeric element.
func indexedField(field string) (path string, ok bool) {
	var sb strings.Builder
	for i, elem := range strings.Split(field, ".") {
		switch {
		case integral(elem) && elem[0] != '-':
			sb.WriteString("[" + elem + "]")
			ok = true
		case i > 0:
			sb.WriteString("." + elem)
		default:
			sb.WriteString(elem)
		}
	}
	return sb.String(), ok
}

// withoutIndices returns path without its list indices: lines.qty for
// lines[2].qty.
func withoutIndices(path string) string {
	var sb strings.Builder
	for i := 0; i < len(path); i++ {
		if path[i] == '[' {
			for i < len(path) && path[i] != ']' {
				i++
			}
			continue
		}
		sb.WriteByte(path[i])
	}
	return sb.String()
}

func isInteger(t reflect.Type) bool {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return false
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	}
	return false
}

// kindOf names the JSON kind that a Go type decodes from.
func kindOf(t reflect.Type) string {
	if isInteger(t) {
		return "an integer"
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return "another kind of value"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return "another kind of value"
}

// integral reports whether a JSON number literal is written as an integer.
func integral(lit string) bool {
	lit = strings.TrimPrefix(lit, "-")
	if lit == "" {
		return false
	}
	for i := 0; i < len(lit); i++ {
		if lit[i] < '0' || lit[i] > '9' {
			return false
		}
	}
	return true
}

// clip returns a number literal for an error message, or only its length
// when it is long: never a part of it.
func clip(lit string) string {
	if len(lit) > 24 {
		return fmt.Sprintf("a number of %d characters", len(lit))
	}
	return lit
}

// pathAt returns the path, such as lines[2].qty, of the innermost value of
// the valid JSON document b that covers byte at, or "" for the whole
// document or when at is outside it. Keys are as the document spells them.
func pathAt(b []byte, at int) string {
	if at < 0 || at >= len(b) {
		return ""
	}
	var path strings.Builder
	i := skipSpace(b, 0)
	for i < len(b) {
		if b[i] != '{' && b[i] != '[' {
			break // a scalar covers at
		}
		obj := b[i] == '{'
		i = skipSpace(b, i+1)
		found := false
		for n := 0; i < len(b) && b[i] != '}' && b[i] != ']'; n++ {
			var key string
			if obj {
				end := skipString(b, i)
				if err := json.Unmarshal(b[i:end], &key); err != nil {
					return ""
				}
				i = skipSpace(b, end)
				i = skipSpace(b, i+1) // the colon
			}
			end := skipValue(b, i)
			if i <= at && at < end {
				if obj {
					if path.Len() > 0 {
						path.WriteByte('.')
					}
					path.WriteString(key)
				} else {
					path.WriteString("[" + strconv.Itoa(n) + "]")
				}
				found = true
				break
			}
			i = skipSpace(b, end)
			if i < len(b) && b[i] == ',' {
				i = skipSpace(b, i+1)
			}
		}
		if !found {
			break // at is on the punctuation of this object or array
		}
	}
	return path.String()
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// skipString returns the index after the string that starts at b[i].
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// skipValue returns the index after the value that starts at b[i].
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return len(b)
	}
	for i < len(b) && !strings.ContainsRune(",}] \t\r\n", rune(b[i])) {
		i++
	}
	return i
}
