package firmware

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/posoffer/posoffer/protocol/frame"
)

// Errors of this package, wrapped with the detail.
var (
	// ErrModel: a model file cannot be used: it is missing, not YAML, has
	// an unknown key, or a setting that is out of range or impossible. The
	// error names the file, the line and the key, one problem per line.
	ErrModel = errors.New("invalid terminal model")
	// ErrPayload: a payload cannot be translated: it is not valid in the
	// model's charset or format (no "=" in a key=value field, a number
	// that is not a whole number, a JSON syntax error), or a message cannot
	// be put in the model's format. To a terminal it is what
	// protocol.CodeBadJSON is to one that sends JSON. The error names keys
	// and byte positions, never a value.
	ErrPayload = errors.New("bad terminal payload")
)

// Model is one terminal model: line settings, framing and payload dialect.
// Parse and Load return it; it is never changed afterwards.
type Model struct {
	// Name is the file's base name without .yaml, such as "hikari-kv300".
	Name string
	// Description is the file's free text: vendor, model, firmware.
	Description string

	// Baud is the line speed, a standard rate only: 1200, 2400, 4800,
	// 9600, 19200, 38400, 57600 or 115200.
	Baud int
	// DataBits is 7 or 8. A 7-bit line carries ASCII only: its payloads
	// are UTF-8 with no byte above 0x7F.
	DataBits int
	// Parity is "none", "odd", "even", "mark" or "space".
	Parity string
	// StopBits is 1 or 2.
	StopBits int

	// Frame is how payloads are framed on the line: STX, ETX, ACK and NAK
	// bytes, the LRC seed, whether the LRC covers the STX and the largest
	// payload; or Lines, one payload per line.
	Frame frame.Config
	// Acks is whether each frame is answered with ACK or NAK and sent
	// again after a NAK or AckTimeout of silence. Always false for Lines.
	Acks bool
	// AckTimeout is how long a sender waits for ACK or NAK before sending
	// a frame again; zero when Acks is false.
	AckTimeout time.Duration
	// ResponseTimeout is how long the terminal waits for the agent's reply
	// to a request before it gives up on it.
	ResponseTimeout time.Duration
	// Retries is how many times a frame is sent again after a NAK or an
	// ACK timeout, 0 to 10; zero when Acks is false.
	Retries int

	format string // formatJSON or formatKV
	cs     charset
	codec  codec
}

// Payload formats and charsets, as a model file names them.
const (
	formatJSON = "json"
	formatKV   = "kv"

	charsetUTF8     = "utf-8"
	charsetShiftJIS = "shift_jis"
)

// Format returns the payload format: "json" or "kv".
func (m *Model) Format() string { return m.format }

// Charset returns the payload charset: "utf-8" or "shift_jis".
func (m *Model) Charset() string { return m.cs.name }

// String returns the model's name and settings in one line, such as
// "hikari-kv300 (9600 8E1, stx, kv, shift_jis)", for logs.
func (m *Model) String() string {
	mode := "stx"
	if m.Frame.Lines {
		mode = "lines"
	}
	return fmt.Sprintf("%s (%d %d%c%d, %s, %s, %s)", m.Name, m.Baud, m.DataBits,
		strings.ToUpper(m.Parity)[0], m.StopBits, mode, m.format, m.cs.name)
}

// modelName is what a model may be called: its file name without .yaml.
var modelName = regexp.MustCompile(`^[a-z0-9-]{1,64}$`)

// Load reads and checks dir/<model>.yaml. model must be 1 to 64
// characters of a-z, 0-9 and -. A model that is not there is an error that
// lists the models that are.
func Load(dir, model string) (*Model, error) {
	if !modelName.MatchString(model) {
		return nil, fmt.Errorf("%w: model %q: a model is named by 1 to 64 characters of a-z, 0-9 and -, its file name without .yaml",
			ErrModel, model)
	}
	path := filepath.Join(dir, model+".yaml")
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		known, lerr := List(dir)
		switch {
		case lerr != nil:
			return nil, fmt.Errorf("%w: unknown model %q: %w", ErrModel, model, lerr)
		case len(known) == 0:
			return nil, fmt.Errorf("%w: unknown model %q: %s has no model files (NAME.yaml)", ErrModel, model, dir)
		}
		return nil, fmt.Errorf("%w: unknown model %q; known in %s: %s", ErrModel, model, dir, strings.Join(known, ", "))
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrModel, err)
	}
	return Parse(path, b)
}

// List returns the names of the models in dir, sorted: the base names of
// its .yaml files that are valid model names.
func List(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list terminal models: %w", err)
	}
	var names []string
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".yaml")
		if ok && !e.IsDir() && modelName.MatchString(name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names, nil
}

// Parse reads and checks a model file. name is the file's path: errors
// start with it, and the model's Name is its base name without .yaml.
func Parse(name string, doc []byte) (*Model, error) {
	f, err := readFile(name, doc)
	if err != nil {
		return nil, err
	}
	m := &Model{Name: strings.TrimSuffix(filepath.Base(name), ".yaml")}
	f.model(m)
	if len(f.problems) > 0 {
		return nil, &modelError{problems: f.problems}
	}
	return m, nil
}

// modelError is every problem of a model file, one per line, each
// FILE:LINE: KEY: what is wrong.
type modelError struct {
	problems []string
}

func (e *modelError) Error() string { return strings.Join(e.problems, "\n") }

func (e *modelError) Unwrap() error { return ErrModel }
