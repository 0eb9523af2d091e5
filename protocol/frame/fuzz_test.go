package frame

import (
	"bytes"
	"testing"
)

// fuzzConfig picks a framing from one byte: default or lines, seed,
// whether the LRC covers STX, and a small or default limit.
func fuzzConfig(sel byte) Config {
	cfg := Default()
	if sel&1 != 0 {
		cfg.LRCSeed = 0x7F
	}
	cfg.LRCCoversSTX = sel&2 != 0
	if sel&4 != 0 {
		cfg.MaxPayload = 1 + int(sel>>4) // 1 to 16
	}
	cfg.Lines = sel&8 != 0
	return cfg
}

// FuzzDecoder feeds arbitrary bytes in arbitrary chunks and checks that the
// decoder never panics, holds no more than its limit, accounts for every
// byte, and gives the same events however the bytes are split; and that a
// payload framed by Encode, after any bytes at all, decodes to itself.
func FuzzDecoder(f *testing.F) {
	f.Add([]byte("\x02{\"v\":1}\x03\x7a"), byte(0), byte(1))
	f.Add([]byte("noise\x02ab\x03\x00\x06\x15\x02abc\x02xy\x03\x7b"), byte(4), byte(3))
	f.Add([]byte("\x02abcdefghijklmnopqrstuvwxyz\x03\x02\x02a\x03b"), byte(0x34), byte(2))
	f.Add([]byte("a=1\r\nb=2\n\n\r\nabcdefghijklmnopqrstuvwxyz\nc"), byte(0x3c), byte(5))
	f.Fuzz(func(t *testing.T, in []byte, sel, chunk byte) {
		cfg := fuzzConfig(sel)
		whole := decodeAll(t, cfg, in, 0) // checks the limit and the accounting
		split := decodeAll(t, cfg, in, 1+int(chunk))
		if !equalEvents(whole, split) {
			t.Fatalf("chunks of %d change the events:\n%v\n%v", 1+int(chunk), whole, split)
		}

		// The payload is the input without the bytes that cannot be in it.
		payload := bytes.Map(func(r rune) rune {
			if !cfg.Lines && (r == STX || r == ETX) || cfg.Lines && r == '\n' {
				return -1
			}
			return r
		}, in)
		payload = payload[:min(len(payload), cfg.maxPayload())]
		if cfg.Lines {
			payload = bytes.TrimRight(payload, "\r")
			if len(payload) == 0 {
				payload = []byte("x")
			}
		}
		framed, err := Encode(cfg, payload)
		if err != nil {
			t.Fatalf("Encode(%q): %v", payload, err)
		}
		// After the fuzzed bytes and one more, a frame still comes through:
		// the extra byte is the LRC if they end with an ETX (the byte after
		// an ETX is always the LRC, even an STX), and the frame's STX ends
		// whatever else came before. For lines, a newline ends it.
		lead := append(bytes.Clone(in), 'x')
		if cfg.Lines {
			lead[len(lead)-1] = '\n'
		}
		evs := decodeAll(t, cfg, append(lead, framed...), 1+int(chunk))
		if last := evs[len(evs)-1]; last.Kind != EventFrame || last.Payload != string(payload) {
			t.Fatalf("Encode(%q) = %q after %q decodes to %v", payload, framed, lead, evs)
		}
	})
}

// equalEvents compares events (garbage runs are joined by decodeAll).
func equalEvents(a, b []ev) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
