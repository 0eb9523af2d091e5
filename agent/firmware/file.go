package firmware

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// FileVersion is the model file format this build reads: the file's
// version key.
const FileVersion = 1

// sections lists every key of a model file, by section; "" is the top
// level. A key that names a section holds the keys listed under it.
var sections = map[string][]string{
	"":        {"version", "description", "line", "framing", "response_timeout", "payload"},
	"line":    {"baud", "data_bits", "parity", "stop_bits"},
	"framing": {"mode", "stx", "etx", "ack", "nak", "lrc_seed", "lrc_covers_stx", "max_payload", "acks", "ack_timeout", "retries"},
	"payload": {"format", "charset", "separator", "fields", "line_fields", "applied_fields", "offer_fields", "nudge_fields", "types"},
}

// file is a model file being read: the value of every key, and the
// problems found so far, each FILE:LINE: KEY: what.
type file struct {
	name     string
	keys     map[string]*yaml.Node // key path ("line.baud") -> its key node
	vals     map[string]*yaml.Node // key path -> its value node
	problems []string
}

// readFile parses doc and records its keys, reporting unknown and repeated
// ones. Only a document that is not YAML at all is an error here; every
// other problem is collected for Parse to report with the rest.
func readFile(name string, doc []byte) (*file, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(doc, &root); err != nil {
		msg, pos := strings.TrimPrefix(err.Error(), "yaml: "), name
		if rest, ok := strings.CutPrefix(msg, "line "); ok {
			if n, after, ok := strings.Cut(rest, ": "); ok {
				msg, pos = after, name+":"+n
			}
		}
		return nil, &modelError{problems: []string{pos + ": not valid YAML: " + msg}}
	}
	f := &file{name: name, keys: map[string]*yaml.Node{}, vals: map[string]*yaml.Node{}}
	if len(root.Content) == 0 {
		f.add(0, "", "empty file: a model file needs at least version, line.baud and payload.format")
		return f, nil
	}
	f.section(root.Content[0], "")
	return f, nil
}

// add records a problem at line (0: the file as a whole) with key (""
// for none).
func (f *file) add(line int, key, format string, args ...any) {
	pos := f.name
	if line > 0 {
		pos += ":" + strconv.Itoa(line)
	}
	msg := fmt.Sprintf(format, args...)
	if key != "" {
		msg = key + ": " + msg
	}
	f.problems = append(f.problems, pos+": "+msg)
}

// at records a problem with a key, at the key's line when the file has it.
func (f *file) at(key, format string, args ...any) {
	line := 0
	if k := f.keys[key]; k != nil {
		line = k.Line
	}
	f.add(line, key, format, args...)
}

// has reports whether the file gives key a value.
func (f *file) has(key string) bool { return f.vals[key] != nil }

// section records the keys of the mapping n, which is the section path.
func (f *file) section(n *yaml.Node, path string) {
	if n.Kind != yaml.MappingNode {
		f.add(n.Line, path, "must be a section of keys, got %s", describe(n))
		return
	}
	allowed := sections[path]
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := join(path, k.Value)
		switch {
		case k.Kind != yaml.ScalarNode:
			f.add(k.Line, path, "a key must be a name, got %s", describe(k))
			continue
		case !slices.Contains(allowed, k.Value):
			f.add(k.Line, key, "unknown key (%s has: %s)", sectionName(path), strings.Join(allowed, ", "))
			continue
		case f.keys[key] != nil:
			f.add(k.Line, key, "given twice (also on line %d)", f.keys[key].Line)
			continue
		case v.Kind == yaml.AliasNode:
			f.add(v.Line, key, "aliases (*name) are not supported in model files")
			continue
		}
		f.keys[key] = k
		if isNull(v) {
			continue // "key:" with nothing: as if absent
		}
		f.vals[key] = v
		if _, ok := sections[key]; ok {
			f.section(v, key)
		}
	}
}

func sectionName(path string) string {
	if path == "" {
		return "the top level"
	}
	return path
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

// describe names a YAML value for an error: its text if it is a scalar.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a section"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	return strconv.Quote(n.Value)
}

// scalar returns the value of key if it is a scalar with one of tags,
// and reports it otherwise. ok is false when the key is absent or wrong.
func (f *file) scalar(key, want string, tags ...string) (*yaml.Node, bool) {
	n := f.vals[key]
	if n == nil {
		return nil, false
	}
	if n.Kind != yaml.ScalarNode || !slices.Contains(tags, n.ShortTag()) {
		f.at(key, "must be %s, got %s", want, describe(n))
		return nil, false
	}
	return n, true
}

// int returns the whole number at key.
func (f *file) int(key string) (int, bool) {
	n, ok := f.scalar(key, "a whole number", "!!int")
	if !ok {
		return 0, false
	}
	var v int32
	if err := n.Decode(&v); err != nil {
		f.at(key, "must be a whole number, got %s", describe(n))
		return 0, false
	}
	return int(v), true
}

// byte returns the byte value at key: a number from 0 to 255, such as 2
// or 0x02.
func (f *file) byte(key string) (byte, bool) {
	v, ok := f.int(key)
	if ok && (v < 0 || v > 0xFF) {
		f.at(key, "must be a byte value from 0x00 to 0xff, got %d", v)
		return 0, false
	}
	return byte(v), ok
}

// bool returns the true or false at key.
func (f *file) bool(key string) (bool, bool) {
	n, ok := f.scalar(key, "true or false", "!!bool")
	if !ok {
		return false, false
	}
	v, err := strconv.ParseBool(n.Value)
	if err != nil {
		f.at(key, "must be true or false, got %s", describe(n))
		return false, false
	}
	return v, true
}

// str returns the text at key. Numbers and booleans are text too, as
// written (a terminal's type code may be 01).
func (f *file) str(key string) (string, bool) {
	n, ok := f.scalar(key, "text", "!!str", "!!int", "!!float", "!!bool")
	if !ok {
		return "", false
	}
	return n.Value, true
}

// duration returns the duration at key, such as 500ms or 2s.
func (f *file) duration(key string) (time.Duration, bool) {
	n, ok := f.scalar(key, "a duration such as 500ms or 2s", "!!str", "!!int", "!!float")
	if !ok {
		return 0, false
	}
	d, err := time.ParseDuration(n.Value)
	switch {
	case err != nil && n.ShortTag() != "!!str":
		f.at(key, "%s has no unit: write it as %sms or %ss", n.Value, n.Value, n.Value)
		return 0, false
	case err != nil:
		f.at(key, "must be a duration such as 500ms or 2s, got %s", describe(n))
		return 0, false
	}
	return d, true
}

// pair is one entry of a mapping key: from the terminal's name to a v1
// name, or from a type code to a v1 type.
type pair struct {
	from, to string
	line     int
}

// pairs returns the entries of the mapping at key, in file order, and
// reports entries that are not two pieces of text or repeat a name.
func (f *file) pairs(key string) []pair {
	n := f.vals[key]
	if n == nil {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		f.at(key, "must be a section of TERMINAL_NAME: v1_name entries, got %s", describe(n))
		return nil
	}
	var ps []pair
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch {
		case k.Kind != yaml.ScalarNode || isNull(k) || k.Value == "":
			f.add(k.Line, key, "each entry must be TERMINAL_NAME: v1_name, got the name %s", describe(k))
		case v.Kind != yaml.ScalarNode || isNull(v):
			f.add(v.Line, key+"."+k.Value, "must be a v1 name, got %s", describe(v))
		case seen[k.Value] > 0:
			f.add(k.Line, key+"."+k.Value, "given twice (also on line %d)", seen[k.Value])
		default:
			seen[k.Value] = k.Line
			ps = append(ps, pair{from: k.Value, to: v.Value, line: k.Line})
		}
	}
	return ps
}
