package firmware

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/posoffer/posoffer/protocol/frame"
)

// minimal is the least a model file says.
const minimal = `version: 1
line:
  baud: 9600
payload:
  format: json
`

func TestParseDefaults(t *testing.T) {
	m, err := Parse("dir/acme-tp100.yaml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	want := &Model{
		Name: "acme-tp100", Baud: 9600, DataBits: 8, Parity: "none", StopBits: 1,
		Frame: frame.Default(), Acks: true, AckTimeout: 500 * time.Millisecond,
		ResponseTimeout: 2 * time.Second, Retries: 3,
	}
	got := *m
	got.format, got.cs, got.codec = "", charset{}, nil
	if !reflect.DeepEqual(&got, want) {
		t.Errorf("Parse(minimal) =\n%+v\nwant\n%+v", got, *want)
	}
	if m.Format() != "json" || m.Charset() != "utf-8" {
		t.Errorf("format %q, charset %q; want json, utf-8", m.Format(), m.Charset())
	}
	if s := m.String(); s != "acme-tp100 (9600 8N1, stx, json, utf-8)" {
		t.Errorf("String() = %q", s)
	}
}

func TestParseSettings(t *testing.T) {
	m, err := Parse("x.yaml", []byte(`version: 1
description: a lines device
line: {baud: 19200, data_bits: 7, parity: even, stop_bits: 2}
framing: {mode: lines, max_payload: 512}
response_timeout: 1500ms
payload: {format: kv, separator: 0x1c}
`))
	if err != nil {
		t.Fatal(err)
	}
	if m.Baud != 19200 || m.DataBits != 7 || m.Parity != "even" || m.StopBits != 2 || m.Description != "a lines device" {
		t.Errorf("line settings: %+v", m)
	}
	if m.Frame != (frame.Config{Lines: true, MaxPayload: 512}) || m.Acks || m.AckTimeout != 0 || m.Retries != 0 {
		t.Errorf("framing: %+v, acks %v %v %d", m.Frame, m.Acks, m.AckTimeout, m.Retries)
	}
	if m.ResponseTimeout != 1500*time.Millisecond || !m.cs.ascii {
		t.Errorf("response timeout %v, ascii %v", m.ResponseTimeout, m.cs.ascii)
	}
	if c, ok := m.codec.(*kvCodec); !ok || c.sep != 0x1c {
		t.Errorf("codec %#v, want kv with separator 0x1c", m.codec)
	}

	m, err = Parse("y.yaml", []byte(`version: 1
line: {baud: 9600}
framing: {stx: 0x01, etx: 0x04, ack: 0x11, nak: 0x13, lrc_seed: 0x7F, lrc_covers_stx: true, acks: false}
payload: {format: kv, separator: "\x1d", charset: shift_jis}
`))
	if err != nil {
		t.Fatal(err)
	}
	want := frame.Config{STX: 1, ETX: 4, ACK: 0x11, NAK: 0x13, LRCSeed: 0x7F, LRCCoversSTX: true, MaxPayload: frame.DefaultMaxPayload}
	if m.Frame != want || m.Acks || m.Retries != 0 || !m.cs.sjis {
		t.Errorf("got %+v, acks %v, retries %d; want frame %+v without acks", m.Frame, m.Acks, m.Retries, want)
	}
}

// TestParseErrors checks that each wrong file is refused with an error
// naming the file, the line and the key.
func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		want      []string // each must be in the error
	}{
		{"not a standard rate", "version: 1\nline:\n  baud: 9601\npayload:\n  format: json\n",
			[]string{"m.yaml:3: line.baud: 9601 is not a standard rate (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)"}},
		{"no baud", "version: 1\npayload:\n  format: json\n", []string{"m.yaml: line.baud: required"}},
		{"baud as text", "version: 1\nline: {baud: fast}\npayload: {format: json}\n", []string{`m.yaml:2: line.baud: must be a whole number, got "fast"`}},
		{"baud with a fraction", "version: 1\nline: {baud: 9600.5}\npayload: {format: json}\n", []string{`line.baud: must be a whole number, got "9600.5"`}},
		{"unknown key", minimal + "baudrate: 9600\n", []string{"m.yaml:6: baudrate: unknown key (the top level has: version, description"}},
		{"unknown key in a section", "version: 1\nline:\n  baud: 9600\n  speed: 1\npayload: {format: json}\n", []string{"m.yaml:4: line.speed: unknown key (line has: baud, data_bits, parity, stop_bits)"}},
		{"key twice", minimal + "version: 1\n", []string{"m.yaml:6: version: given twice (also on line 1)"}},
		{"no version", "line: {baud: 9600}\npayload: {format: json}\n", []string{"m.yaml: version: required"}},
		{"other version", strings.Replace(minimal, "version: 1", "version: 2", 1), []string{"m.yaml:1: version: this agent reads model files of version 1, got 2"}},
		{"section twice", minimal + "line: {}\n", []string{"m.yaml:6: line: given twice (also on line 2)"}},
		{"data bits", "version: 1\nline: {baud: 9600, data_bits: 5}\npayload: {format: json}\n", []string{"m.yaml:2: line.data_bits: must be 7 or 8, got 5"}},
		{"parity", "version: 1\nline: {baud: 9600, parity: None}\npayload: {format: json}\n", []string{`line.parity: must be one of none, odd, even, mark, space, got "None"`}},
		{"stop bits", "version: 1\nline: {baud: 9600, stop_bits: 3}\npayload: {format: json}\n", []string{"line.stop_bits: must be 1 or 2, got 3"}},
		{"mode", minimal + "framing: {mode: frames}\n", []string{`m.yaml:6: framing.mode: must be stx (STX payload ETX LRC) or lines (one payload per line), got "frames"`}},
		{"STX is ETX", minimal + "framing:\n  stx: 0x03\n", []string{"m.yaml:7: framing.stx: 0x03 is also the etx: stx, etx, ack and nak must all differ"}},
		{"ACK is NAK", minimal + "framing:\n  ack: 0x15\n", []string{"m.yaml:7: framing.ack: 0x15 is also the nak"}},
		{"printable STX", minimal + "framing: {stx: 0x41}\n", []string{"framing.stx: must be an ASCII control byte, 0x00 to 0x1f, got 0x41"}},
		{"STX out of range", minimal + "framing: {stx: 300}\n", []string{"framing.stx: must be a byte value from 0x00 to 0xff, got 300"}},
		{"seed on lines", minimal + "framing: {mode: lines, lrc_seed: 0x7F}\n", []string{"m.yaml:6: framing.lrc_seed: only for mode stx"}},
		{"acks on lines", minimal + "framing: {mode: lines, acks: true}\n", []string{"framing.acks: a lines device has no ACK/NAK"}},
		{"acks as text", minimal + "framing: {acks: sometimes}\n", []string{`framing.acks: must be true or false, got "sometimes"`}},
		{"timeout without acks", minimal + "framing: {acks: false, ack_timeout: 1s, retries: 2}\n",
			[]string{"framing.ack_timeout: only with acks", "framing.retries: only with acks"}},
		{"tiny max payload", minimal + "framing: {max_payload: 10}\n", []string{"framing.max_payload: must be 64 to 65536 bytes, got 10"}},
		{"huge max payload", minimal + "framing: {max_payload: 70000}\n", []string{"framing.max_payload: must be 64 to 65536 bytes, got 70000"}},
		{"zero ack timeout", minimal + "framing: {ack_timeout: 0s}\n", []string{"framing.ack_timeout: must be 10ms to 10s, got 0s"}},
		{"absurd ack timeout", minimal + "framing: {ack_timeout: 1h}\n", []string{"framing.ack_timeout: must be 10ms to 10s, got 1h0m0s"}},
		{"timeout without unit", minimal + "framing: {ack_timeout: 500}\n", []string{"framing.ack_timeout: 500 has no unit: write it as 500ms or 500s"}},
		{"timeout as words", minimal + "response_timeout: soon\n", []string{`response_timeout: must be a duration such as 500ms or 2s, got "soon"`}},
		{"negative retries", minimal + "framing: {retries: -1}\n", []string{"framing.retries: must be 0 to 10, got -1"}},
		{"many retries", minimal + "framing: {retries: 11}\n", []string{"framing.retries: must be 0 to 10, got 11"}},
		{"zero response timeout", minimal + "response_timeout: 0s\n", []string{"m.yaml:6: response_timeout: must be 100ms to 1m0s, got 0s"}},
		{"no format", "version: 1\nline: {baud: 9600}\n", []string{"payload.format: required: json or kv"}},
		{"unknown format", "version: 1\nline: {baud: 9600}\npayload: {format: xml}\n", []string{`m.yaml:3: payload.format: must be json or kv (key=value), got "xml"`}},
		{"unknown charset", "version: 1\nline: {baud: 9600}\npayload: {format: json, charset: latin1}\n", []string{`payload.charset: must be utf-8 or shift_jis, got "latin1"`}},
		{"shift_jis on 7 bits", "version: 1\nline: {baud: 9600, data_bits: 7}\npayload: {format: kv, charset: shift_jis}\n",
			[]string{"payload.charset: shift_jis needs 8 data bits"}},
		{"separator for json", "version: 1\nline: {baud: 9600}\npayload: {format: json, separator: ;}\n", []string{"payload.separator: only for format kv"}},
		{"long separator", "version: 1\nline: {baud: 9600}\npayload: {format: kv, separator: '||'}\n", []string{`payload.separator: must be one character, such as "|" or "\x1c", got "||"`}},
		{"separator =", "version: 1\nline: {baud: 9600}\npayload: {format: kv, separator: '='}\n", []string{"payload.separator: must not be =, which ends the key"}},
		{"separator letter", "version: 1\nline: {baud: 9600}\npayload: {format: kv, separator: x}\n", []string{"payload.separator: must not be a character of a key"}},
		{"separator comma", "version: 1\nline: {baud: 9600}\npayload: {format: kv, separator: ','}\n", []string{"payload.separator: must not be \",\", which separates coupons"}},
		{"separator STX", "version: 1\nline: {baud: 9600}\npayload: {format: kv, separator: 0x02}\n", []string{"payload.separator: must not be the framing's stx, etx, ack or nak"}},
		{"no such field", minimal + "  fields: {typ: kind}\n", []string{`m.yaml:6: payload.fields.typ: "kind" is not a v1 message field: want one of v, type, id`}},
		{"field of another level", minimal + "  fields: {code: sku}\n", []string{`payload.fields.code: "sku" is not a v1 message field`}},
		{"two names onto one", minimal + "  line_fields:\n    code: sku\n    jan: sku\n",
			[]string{"m.yaml:8: payload.line_fields.jan: sku is already the v1 name of code (line 7): two terminal names cannot mean one line field"}},
		{"a v1 name taken", minimal + "  fields: {id: txn}\n",
			[]string{"payload.fields.id: id means txn here, so the v1 message field id needs a terminal name of its own"}},
		{"kv does not carry", "version: 1\nline: {baud: 9600}\npayload:\n  format: kv\n  offer_fields: {WHY: why}\n",
			[]string{"m.yaml:5: payload.offer_fields.WHY: why is a v1 field of an offer that key=value payloads do not carry (they carry: id, text, discount, points)"}},
		{"kv name", "version: 1\nline: {baud: 9600}\npayload:\n  format: kv\n  fields: {'TR NO': txn}\n", []string{"payload.fields.TR NO: a key=value name is 1 to 32 characters"}},
		{"kv list name with a digit", "version: 1\nline: {baud: 9600}\npayload:\n  format: kv\n  fields: {L1: lines}\n",
			[]string{"payload.fields.L1: the name of a list must not end in a digit: item 2 of L1 would be L12.FIELD"}},
		{"json name", minimal + "  fields: {\"a\\tb\": id}\n", []string{"a JSON name is 1 to 64 bytes of UTF-8 text without control characters"}},
		{"unknown type", minimal + "  types: {BSK: bask}\n", []string{`payload.types.BSK: "bask" is not a v1 message type: want one of basket, checkout, void, hello, offers, ack, error`}},
		{"two codes for a type", minimal + "  types: {BSK: basket, BK: basket}\n", []string{"payload.types.BK: basket is already the v1 name of BSK"}},
		{"a type taken", minimal + "  types: {void: basket}\n", []string{"payload.types.void: void means basket here, so the v1 message type void needs a terminal name of its own"}},
		{"type code with the separator", "version: 1\nline: {baud: 9600}\npayload:\n  format: kv\n  types: {'B|': basket}\n", []string{`a type code must not hold the separator '|' or =`}},
		{"fields as a list", minimal + "  fields: [typ]\n", []string{"m.yaml:6: payload.fields: must be a section of TERMINAL_NAME: v1_name entries, got a list"}},
		{"mapping value a list", minimal + "  fields: {typ: [type]}\n", []string{"payload.fields.typ: must be a v1 name, got a list"}},
		{"section as a value", "version: 1\nline: 9600\npayload: {format: json}\n", []string{`m.yaml:2: line: must be a section of keys, got "9600"`}},
		{"alias", "version: 1\nx: &b 9600\nline: {baud: *b}\npayload: {format: json}\n", []string{"x: unknown key", "line.baud: aliases (*name) are not supported"}},
		{"empty", "", []string{"m.yaml: empty file"}},
		{"not YAML", "version: 1\nline:\n  - a\n b: c\n", []string{"m.yaml:3: not valid YAML"}},
		{"every problem at once", "version: 3\nline: {baud: 1}\npayload: {format: x}\n",
			[]string{"m.yaml:1: version:", "m.yaml:2: line.baud:", "m.yaml:3: payload.format:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Parse("m.yaml", []byte(tc.doc))
			if err == nil {
				t.Fatalf("Parse = %+v, want an error", m)
			}
			if !errors.Is(err, ErrModel) {
				t.Errorf("error %v does not wrap ErrModel", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error:\n%v\nwant it to contain:\n%s", err, w)
				}
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(name, doc string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("b-model.yaml", minimal)
	write("a-model.yaml", minimal)
	write("Not_A_Model.yaml", minimal)
	write("README.md", "# models")
	write("broken.yaml", "version: 1\n")
	if err := os.Mkdir(filepath.Join(dir, "testcases.yaml"), 0o755); err != nil {
		t.Fatal(err)
	}

	names, err := List(dir)
	if err != nil || !reflect.DeepEqual(names, []string{"a-model", "b-model", "broken"}) {
		t.Errorf("List = %q, %v", names, err)
	}
	m, err := Load(dir, "a-model")
	if err != nil || m.Name != "a-model" {
		t.Fatalf("Load(a-model) = %v, %v", m, err)
	}

	for _, tc := range []struct {
		model, want string
	}{
		{"nope", `unknown model "nope"; known in ` + dir + ": a-model, b-model, broken"},
		{"../a-model", `model "../a-model": a model is named by 1 to 64 characters of a-z, 0-9 and -`},
		{"A-Model", "a model is named by"},
		{"", "a model is named by"},
		{"broken", filepath.Join(dir, "broken.yaml") + ": line.baud: required"},
	} {
		_, err := Load(dir, tc.model)
		if !errors.Is(err, ErrModel) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Load(%q) = %v, want ErrModel containing %q", tc.model, err, tc.want)
		}
	}
	if _, err := Load(filepath.Join(dir, "none"), "x"); !errors.Is(err, ErrModel) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load from a missing dir = %v", err)
	}
	if _, err := List(filepath.Join(dir, "none")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("List of a missing dir = %v", err)
	}
}

// TestShippedModels checks that every model in firmware-configs parses and
// can frame a reply.
func TestShippedModels(t *testing.T) {
	names := shippedModels(t)
	if len(names) < 3 {
		t.Fatalf("firmware-configs has %d models, want at least 3: %q", len(names), names)
	}
	for _, name := range names {
		m, err := Load(modelsDir, name)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if err := m.Frame.Validate(); err != nil {
			t.Errorf("%s: frame: %v", name, err)
		}
		if m.Description == "" {
			t.Errorf("%s: no description", name)
		}
	}
}
