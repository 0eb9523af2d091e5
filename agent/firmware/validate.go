package firmware

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/posoffer/posoffer/protocol/frame"
)

// Limits of a model's settings.
var (
	// baudRates are the standard line speeds.
	baudRates = []int{1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200}
	parities  = []string{"none", "odd", "even", "mark", "space"}
)

const (
	minMaxPayload      = 64 // a hello, with room to spare
	minAckTimeout      = 10 * time.Millisecond
	maxAckTimeout      = 10 * time.Second
	minResponseTimeout = 100 * time.Millisecond
	maxResponseTimeout = time.Minute
	maxRetries         = 10

	defaultAckTimeout      = 500 * time.Millisecond
	defaultResponseTimeout = 2 * time.Second
	defaultRetries         = 3
	defaultSeparator       = '|'
)

// model checks the file and fills m, reporting every problem.
func (f *file) model(m *Model) {
	switch v, ok := f.int("version"); {
	case !f.has("version"):
		f.at("version", "required: the model file format, %d", FileVersion)
	case ok && v != FileVersion:
		f.at("version", "this agent reads model files of version %d, got %d", FileVersion, v)
	}
	m.Description, _ = f.str("description")
	f.line(m)
	f.framing(m)
	m.ResponseTimeout = f.timeout("response_timeout", defaultResponseTimeout, minResponseTimeout, maxResponseTimeout)
	f.payload(m)
}

func (f *file) line(m *Model) {
	switch v, ok := f.int("line.baud"); {
	case !f.has("line.baud"):
		f.at("line.baud", "required: the line speed, one of %s", ints(baudRates))
	case ok && !slices.Contains(baudRates, v):
		f.at("line.baud", "%d is not a standard rate (%s)", v, ints(baudRates))
	case ok:
		m.Baud = v
	}
	m.DataBits = 8
	if v, ok := f.int("line.data_bits"); ok {
		if v != 7 && v != 8 {
			f.at("line.data_bits", "must be 7 or 8, got %d (5 and 6 bit lines cannot carry text)", v)
		}
		m.DataBits = v
	}
	m.Parity = "none"
	if v, ok := f.str("line.parity"); ok {
		if !slices.Contains(parities, v) {
			f.at("line.parity", "must be one of %s, got %q", strings.Join(parities, ", "), v)
		}
		m.Parity = v
	}
	m.StopBits = 1
	if v, ok := f.int("line.stop_bits"); ok {
		if v != 1 && v != 2 {
			f.at("line.stop_bits", "must be 1 or 2, got %d", v)
		}
		m.StopBits = v
	}
}

func (f *file) framing(m *Model) {
	lines := false
	if v, ok := f.str("framing.mode"); ok {
		switch v {
		case "stx":
		case "lines":
			lines = true
		default:
			f.at("framing.mode", "must be stx (STX payload ETX LRC) or lines (one payload per line), got %q", v)
		}
	}
	if lines {
		m.Frame = frame.Config{Lines: true}
		for _, k := range []string{"stx", "etx", "ack", "nak", "lrc_seed", "lrc_covers_stx"} {
			if f.has("framing." + k) {
				f.at("framing."+k, "only for mode stx: a lines device sends no STX, ETX, ACK, NAK or LRC")
			}
		}
	} else {
		m.Frame = frame.Default()
		ctl := []struct {
			key string
			b   *byte
		}{{"stx", &m.Frame.STX}, {"etx", &m.Frame.ETX}, {"ack", &m.Frame.ACK}, {"nak", &m.Frame.NAK}}
		for _, c := range ctl {
			key := "framing." + c.key
			if v, ok := f.byte(key); ok {
				if v >= 0x20 {
					f.at(key, "must be an ASCII control byte, 0x00 to 0x1f, got %#02x: a payload may hold any other byte", v)
					continue
				}
				*c.b = v
			}
		}
		for i, c := range ctl {
			for _, d := range ctl[i+1:] {
				if *c.b == *d.b {
					at, other := d, c // report it where the file sets one
					if !f.has("framing." + d.key) {
						at, other = c, d
					}
					f.at("framing."+at.key, "%#02x is also the %s: stx, etx, ack and nak must all differ", *c.b, other.key)
				}
			}
		}
		if v, ok := f.byte("framing.lrc_seed"); ok {
			m.Frame.LRCSeed = v
		}
		if v, ok := f.bool("framing.lrc_covers_stx"); ok {
			m.Frame.LRCCoversSTX = v
		}
	}
	m.Frame.MaxPayload = frame.DefaultMaxPayload
	if v, ok := f.int("framing.max_payload"); ok {
		if v < minMaxPayload || v > frame.MaxPayloadLimit {
			f.at("framing.max_payload", "must be %d to %d bytes, got %d", minMaxPayload, frame.MaxPayloadLimit, v)
		}
		m.Frame.MaxPayload = v
	}

	m.Acks = !lines
	if v, ok := f.bool("framing.acks"); ok {
		if v && lines {
			f.at("framing.acks", "a lines device has no ACK/NAK: remove acks, or use mode stx")
		}
		m.Acks = v
	}
	if !m.Acks {
		for _, k := range []string{"ack_timeout", "retries"} {
			if f.has("framing." + k) {
				f.at("framing."+k, "only with acks: this model has no ACK/NAK, so nothing is retried")
			}
		}
		return
	}
	m.AckTimeout = f.timeout("framing.ack_timeout", defaultAckTimeout, minAckTimeout, maxAckTimeout)
	m.Retries = defaultRetries
	if v, ok := f.int("framing.retries"); ok {
		if v < 0 || v > maxRetries {
			f.at("framing.retries", "must be 0 to %d, got %d", maxRetries, v)
		}
		m.Retries = v
	}
}

// timeout returns the duration at key, def when absent, and reports one
// outside [lo, hi].
func (f *file) timeout(key string, def, lo, hi time.Duration) time.Duration {
	d, ok := f.duration(key)
	if !ok {
		return def
	}
	if d < lo || d > hi {
		f.at(key, "must be %v to %v, got %v", lo, hi, d)
	}
	return d
}

func (f *file) payload(m *Model) {
	switch v, ok := f.str("payload.format"); {
	case !f.has("payload.format"):
		f.at("payload.format", "required: json or kv (key=value)")
	case ok && v != formatJSON && v != formatKV:
		f.at("payload.format", "must be json or kv (key=value), got %q", v)
	case ok:
		m.format = v
	}

	m.cs = charset{name: charsetUTF8, ascii: m.DataBits == 7}
	if v, ok := f.str("payload.charset"); ok {
		switch v {
		case charsetUTF8:
		case charsetShiftJIS:
			m.cs = charset{name: v, sjis: true}
			if m.DataBits == 7 {
				f.at("payload.charset", "shift_jis needs 8 data bits, and line.data_bits is 7")
			}
		default:
			f.at("payload.charset", "must be utf-8 or shift_jis, got %q", v)
		}
	}

	sep := byte(defaultSeparator)
	if f.has("payload.separator") {
		if m.format != formatKV {
			f.at("payload.separator", "only for format kv")
		} else if v, ok := f.separator(m.Frame); ok {
			sep = v
		}
	}
	if m.format == "" {
		return // the dialect depends on the format
	}
	d := f.dialect(m.format, sep)
	if m.format == formatKV {
		m.codec = &kvCodec{sep: sep, d: d}
	} else {
		m.codec = &jsonCodec{d: d}
	}
}

// separator returns the kv separator: one character, such as "|" or
// "\x1c", or its code, such as 0x1c.
func (f *file) separator(fr frame.Config) (byte, bool) {
	const key = "payload.separator"
	var c byte
	if n := f.vals[key]; n.ShortTag() == "!!int" {
		v, ok := f.byte(key)
		if !ok {
			return 0, false
		}
		c = v
	} else {
		s, ok := f.str(key)
		if !ok {
			return 0, false
		}
		if len(s) != 1 {
			f.at(key, "must be one character, such as \"|\" or \"\\x1c\", got %q", s)
			return 0, false
		}
		c = s[0]
	}
	var why string
	switch {
	case c >= 0x80:
		why = "must be an ASCII character"
	case c == 0 || c == '\n' || c == '\r':
		why = "must not be NUL or end a line"
	case 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.':
		why = "must not be a character of a key (A-Z, a-z, 0-9, _, - and .)"
	case c == '=':
		why = "must not be =, which ends the key"
	case c == ',':
		why = "must not be \",\", which separates coupons"
	case c == ' ':
		why = "must not be a space: values hold spaces"
	case !fr.Lines && (c == fr.STX || c == fr.ETX || c == fr.ACK || c == fr.NAK):
		why = "must not be the framing's stx, etx, ack or nak"
	}
	if why != "" {
		f.at(key, "%s, got %q", why, c)
		return 0, false
	}
	return c, true
}

// ints lists numbers for an error: "1200, 2400, 4800".
func ints(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ", ")
}
