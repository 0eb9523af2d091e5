package firmware

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/posoffer/posoffer/protocol/frame"
)

// modelsDir is where the shipped models and their testcases are.
const modelsDir = "../../firmware-configs"

// goldenCase is one directory of firmware-configs/testcases/<model>/.
type goldenCase struct {
	model, name, dir string
}

// goldenCases returns every case of every model that has testcases.
func goldenCases(tb testing.TB) []goldenCase {
	tb.Helper()
	dirs, err := filepath.Glob(filepath.Join(modelsDir, "testcases", "*", "*"))
	if err != nil {
		tb.Fatal(err)
	}
	var cases []goldenCase
	for _, dir := range dirs {
		if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
			cases = append(cases, goldenCase{filepath.Base(filepath.Dir(dir)), filepath.Base(dir), dir})
		}
	}
	return cases
}

// readWire returns the one payload in the bytes of a case, as the agent's
// serial reader gets it from a frame.Decoder configured by the model, or
// the error the agent would NAK it with.
func readWire(m *Model, in []byte) ([]byte, error) {
	dec, err := frame.NewDecoder(m.Frame)
	if err != nil {
		return nil, err
	}
	var payloads [][]byte
	var problems []string
	dec.Feed(in, func(ev frame.Event) {
		switch ev.Kind {
		case frame.EventFrame:
			payloads = append(payloads, bytes.Clone(ev.Payload))
		case frame.EventBadLRC, frame.EventOversize:
			problems = append(problems, "frame: "+ev.Kind.String())
		}
	})
	switch {
	case len(problems) > 0:
		return nil, errors.New(strings.Join(problems, "; "))
	case dec.Buffered() > 0:
		return nil, errors.New("frame: unfinished frame at the end")
	case len(payloads) != 1:
		return nil, errors.New("frame: want one frame, got " + strings.Repeat("another ", len(payloads)))
	}
	return payloads[0], nil
}

// TestGolden runs every case in firmware-configs/testcases: in.bin, as it
// arrives on the wire, through the model's frame decoder and DecodeRequest,
// to want.json (compared as JSON values) or to an error that contains
// want-error.txt.
func TestGolden(t *testing.T) {
	cases := goldenCases(t)
	if len(cases) == 0 {
		t.Fatal("no testcases found")
	}
	models := map[string]int{}
	for _, c := range cases {
		models[c.model]++
		t.Run(c.model+"/"+c.name, func(t *testing.T) {
			m, err := Load(modelsDir, c.model)
			if err != nil {
				t.Fatalf("testcases/%s: %v", c.model, err)
			}
			in, err := os.ReadFile(filepath.Join(c.dir, "in.bin"))
			if err != nil {
				t.Fatal(err)
			}
			var got []byte
			payload, err := readWire(m, in)
			if err == nil {
				got, err = m.DecodeRequest(payload)
			}

			if want, rerr := os.ReadFile(filepath.Join(c.dir, "want-error.txt")); rerr == nil {
				want := strings.TrimSpace(string(want))
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("got %s, %v; want an error containing %q", got, err, want)
				}
				return
			}
			want, rerr := os.ReadFile(filepath.Join(c.dir, "want.json"))
			if rerr != nil {
				t.Fatalf("the case has neither want.json nor want-error.txt: %v", rerr)
			}
			if err != nil {
				t.Fatalf("DecodeRequest: %v", err)
			}
			if !json.Valid(got) {
				t.Fatalf("DecodeRequest returned invalid JSON: %s", got)
			}
			if g, w := jsonValue(t, got), jsonValue(t, want); !reflect.DeepEqual(g, w) {
				t.Fatalf("DecodeRequest:\n got %s\nwant %s", got, bytes.TrimSpace(want))
			}
		})
	}
	for _, name := range shippedModels(t) {
		if models[name] < 3 {
			t.Errorf("model %s has %d testcases, want at least 3", name, models[name])
		}
	}
}

// jsonValue decodes JSON with exact numbers, for comparing.
func jsonValue(tb testing.TB, b []byte) any {
	tb.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		tb.Fatalf("%v in %s", err, b)
	}
	return v
}

// shippedModels lists the models in firmware-configs.
func shippedModels(tb testing.TB) []string {
	tb.Helper()
	names, err := List(modelsDir)
	if err != nil {
		tb.Fatal(err)
	}
	return names
}
