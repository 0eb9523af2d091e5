package frame

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestEncode(t *testing.T) {
	seeded := Default()
	seeded.LRCSeed = 0x7F
	withSTX := Default()
	withSTX.LRCCoversSTX = true
	other := Config{STX: '<', ETX: '>', ACK: 'Y', NAK: 'N', MaxPayload: 8}
	lines := Config{Lines: true, MaxPayload: 8}
	small := Default()
	small.MaxPayload = 4

	for _, tc := range []struct {
		name    string
		cfg     Config
		payload string
		want    string // "" for an error
		err     error
	}{
		// 'A' ^ ETX = 0x41 ^ 0x03 = 0x42.
		{name: "default", cfg: Default(), payload: "A", want: "\x02A\x03\x42"},
		{name: "default json", cfg: Default(), payload: `{"v":1}`, want: "\x02{\"v\":1}\x03" + string([]byte{lrcOf(`{"v":1}`) ^ 0x03})},
		{name: "empty", cfg: Default(), payload: "", want: "\x02\x03\x03"},
		{name: "seed 0x7F", cfg: seeded, payload: "A", want: "\x02A\x03\x3d"},
		{name: "STX in the LRC", cfg: withSTX, payload: "A", want: "\x02A\x03\x40"},
		{name: "LRC equal to STX", cfg: Default(), payload: "\x01", want: "\x02\x01\x03\x02"},
		{name: "other delimiters", cfg: other, payload: "AB", want: "<AB>" + string([]byte{'A' ^ 'B' ^ '>'})},
		{name: "ACK and NAK in a payload", cfg: Default(), payload: "\x06\x15", want: "\x02\x06\x15\x03\x10"},
		{name: "at the limit", cfg: small, payload: "abcd", want: "\x02abcd\x03\x07"},
		{name: "line", cfg: lines, payload: "type=basket", err: ErrPayload},
		{name: "line short", cfg: lines, payload: "a=1\rb=2", want: "a=1\rb=2\n"},

		{name: "STX in payload", cfg: Default(), payload: "a\x02b", err: ErrPayload},
		{name: "ETX in payload", cfg: Default(), payload: "a\x03", err: ErrPayload},
		{name: "other ETX in payload", cfg: other, payload: "a>", err: ErrPayload},
		{name: "too long", cfg: small, payload: "abcde", err: ErrPayload},
		{name: "default too long", cfg: Default(), payload: strings.Repeat("x", DefaultMaxPayload+1), err: ErrPayload},
		{name: "line with newline", cfg: lines, payload: "a\nb", err: ErrPayload},
		{name: "line ending in CR", cfg: lines, payload: "ab\r", err: ErrPayload},
		{name: "empty line", cfg: lines, payload: "", err: ErrPayload},
		{name: "STX is ETX", cfg: Config{STX: 2, ETX: 2, ACK: 6, NAK: 0x15}, payload: "a", err: ErrConfig},
		{name: "ACK is STX", cfg: Config{STX: 2, ETX: 3, ACK: 2, NAK: 0x15}, payload: "a", err: ErrConfig},
		{name: "zero config", cfg: Config{}, payload: "a", err: ErrConfig},
		{name: "max too large", cfg: Config{STX: 2, ETX: 3, ACK: 6, NAK: 0x15, MaxPayload: MaxPayloadLimit + 1}, payload: "a", err: ErrConfig},
		{name: "max negative", cfg: Config{Lines: true, MaxPayload: -1}, payload: "a", err: ErrConfig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "line" {
				tc.err, tc.want = nil, "type=basket\n"
				tc.cfg.MaxPayload = 0 // the default
			}
			got, err := Encode(tc.cfg, []byte(tc.payload))
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("Encode(%q) = %q, %v; want %v", tc.payload, got, err, tc.err)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("Encode(%q) = %q, %v; want %q", tc.payload, got, err, tc.want)
			}
			// Append adds to what is there, and the decoder gets it back.
			dst, err := Append([]byte("prefix"), tc.cfg, []byte(tc.payload))
			if err != nil || string(dst) != "prefix"+tc.want {
				t.Errorf("Append = %q, %v", dst, err)
			}
			evs := decodeAll(t, tc.cfg, []byte(tc.want), 1)
			if len(evs) != 1 || evs[0].Kind != EventFrame || string(evs[0].Payload) != tc.payload {
				t.Errorf("decoding %q: %v", tc.want, evs)
			}
		})
	}
}

func lrcOf(s string) byte {
	var x byte
	for i := 0; i < len(s); i++ {
		x ^= s[i]
	}
	return x
}

func TestAppendLeavesDstOnError(t *testing.T) {
	dst := []byte("keep")
	got, err := Append(dst, Default(), []byte("a\x03"))
	if err == nil || !bytes.Equal(got, dst) {
		t.Errorf("Append = %q, %v; want %q and an error", got, err, dst)
	}
}
