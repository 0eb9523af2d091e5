package firmware

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/posoffer/posoffer/protocol"
	"github.com/posoffer/posoffer/protocol/frame"
)

// fuzzModels returns the test models of one format.
func fuzzModels(tb testing.TB, format string) []*Model {
	var ms []*Model
	for _, m := range testModels(tb) {
		if m.Format() == format {
			ms = append(ms, m)
		}
	}
	return ms
}

// addGoldenSeeds adds the payload of every golden case of a model of
// format, and the raw bytes of the cases that do not frame, each for
// every one of n models.
func addGoldenSeeds(f *testing.F, format string, n int) {
	for _, c := range goldenCases(f) {
		m, err := Load(modelsDir, c.model)
		if err != nil {
			f.Fatal(err)
		}
		if m.Format() != format {
			continue
		}
		in, err := os.ReadFile(filepath.Join(c.dir, "in.bin"))
		if err != nil {
			f.Fatal(err)
		}
		if payload, err := readWire(m, in); err == nil {
			in = payload
		}
		for i := range n {
			f.Add(in, byte(i))
		}
	}
}

// checkDecode is what both fuzzers check of a payload for a model: no
// panic; an error is ErrPayload; what is accepted is a JSON object in
// UTF-8; EncodeRequest of it, when it succeeds, can be framed and reads
// back as the same JSON; and a reply made of the payload's bytes makes
// the round trip through EncodeReply and DecodeReply.
func checkDecode(t *testing.T, m *Model, payload []byte, kind int) {
	v1, err := m.DecodeRequest(payload)
	if err != nil {
		if !errors.Is(err, ErrPayload) {
			t.Fatalf("%s: DecodeRequest(%q): error %v is not ErrPayload", m.Name, payload, err)
		}
	} else {
		if !utf8.Valid(v1) || !json.Valid(v1) || v1[0] != '{' {
			t.Fatalf("%s: DecodeRequest(%q) = %q: not a UTF-8 JSON object", m.Name, payload, v1)
		}
		again, err := m.EncodeRequest(v1)
		if err == nil {
			if _, err := frame.Encode(m.Frame, again); err != nil {
				t.Fatalf("%s: EncodeRequest(%s) = %q cannot be framed: %v", m.Name, v1, again, err)
			}
			back, err := m.DecodeRequest(again)
			if err != nil {
				t.Fatalf("%s: DecodeRequest(EncodeRequest(%s)) of %q: %v", m.Name, v1, again, err)
			}
			if !reflect.DeepEqual(jsonValue(t, back), jsonValue(t, v1)) {
				t.Fatalf("%s: %q decodes to %s, which goes through %q to %s", m.Name, payload, v1, again, back)
			}
		} else if !errors.Is(err, ErrPayload) {
			t.Fatalf("%s: EncodeRequest(%s): error %v is not ErrPayload", m.Name, v1, err)
		}
	}
	checkReply(t, m, payload, kind)
}

// checkReply builds a reply from s, a few bytes of it per field (an
// offers reply, an ack or an error, as kind says), and checks that what
// EncodeReply writes can be framed and that DecodeReply reads it; for a
// JSON model, as the same message.
func checkReply(t *testing.T, m *Model, s []byte, kind int) {
	const n = 24  // short enough that a reply always fits the model
	valid := true // every part is UTF-8, so JSON keeps it as it is
	part := func(i int) string {
		lo := min(len(s), i*n)
		p := string(s[lo:min(len(s), lo+n)])
		valid = valid && utf8.ValidString(p)
		return p
	}
	offers := protocol.NewOffersReply(part(0), part(1), []protocol.Offer{
		{ID: part(2), Name: part(3), Text: part(4), Discount: int64(len(s)), Why: part(3),
			Lines: []protocol.LineReward{{Line: len(s) % 500, Qty: 1, Discount: int64(len(s))}}},
	}, []protocol.Nudge{{Offer: part(5), Text: part(6), Missing: protocol.Missing{Spend: -int64(len(s))}}})
	offers.Catalog = int64(len(s))
	for _, msg := range []*protocol.Message{
		offers,
		protocol.NewAck(part(0), part(1)),
		protocol.NewError(part(0), part(1), part(2)),
	}[kind%3:][:1] {
		b, err := m.EncodeReply(msg)
		if err != nil {
			t.Fatalf("%s: EncodeReply(%+v): %v", m.Name, msg, err)
		}
		if _, err := frame.Encode(m.Frame, b); err != nil {
			t.Fatalf("%s: EncodeReply(%+v) = %q cannot be framed: %v", m.Name, msg, b, err)
		}
		got, err := m.DecodeReply(b)
		if err != nil {
			t.Fatalf("%s: DecodeReply(EncodeReply(%+v)) of %q: %v", m.Name, msg, b, err)
		}
		if m.Format() == formatJSON && valid {
			if want := carried(msg, formatJSON); !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: through %q:\n got %+v\nwant %+v", m.Name, b, got, want)
			}
		}
	}
}

// FuzzDecodeKV fuzzes the key=value models, one chosen by sel, with
// payloads seeded from the golden cases.
func FuzzDecodeKV(f *testing.F) {
	models := fuzzModels(f, formatKV)
	addGoldenSeeds(f, formatKV, len(models))
	for _, s := range []string{"T=B|L1.SKU=a|L2.Q=-0|CPN=A,,B|O1.id=x|N1.AMT=3", "L0.X=1", "L500.SKU=x", "=|==|a=b=c", "N1.qty=1|N1.AMT=2"} {
		for i := range models {
			f.Add([]byte(s), byte(i))
		}
	}
	f.Fuzz(func(t *testing.T, payload []byte, sel byte) {
		n := len(models)
		checkDecode(t, models[int(sel)%n], payload, int(sel)/n)
	})
}

// FuzzDecodeJSON fuzzes the JSON models, one chosen by sel, field
// mappings included, with payloads seeded from the golden cases.
func FuzzDecodeJSON(f *testing.F) {
	models := fuzzModels(f, formatJSON)
	addGoldenSeeds(f, formatJSON, len(models))
	for _, s := range []string{`{"t":"B","items":[{"code":"a","n":1},2],"used":null}`, `{"V":2,"o":[{"oid":1}],"n":[{"need":{}}]}`,
		`{"no":"a","NO":"b","id":"c"}`, "{\"\\u0074\":\"\xe3\x81\x82\"}", `{"items":[{"code":"a","CODE":"b"}]}`} {
		for i := range models {
			f.Add([]byte(s), byte(i))
		}
	}
	f.Fuzz(func(t *testing.T, payload []byte, sel byte) {
		n := len(models)
		checkDecode(t, models[int(sel)%n], payload, int(sel)/n)
	})
}
