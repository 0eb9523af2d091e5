package frame

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// ev is an Event with its payload copied, for comparing.
type ev struct {
	Kind    Kind
	Payload string
	N       int
}

func (e ev) String() string { return fmt.Sprintf("%s(%q, %d)", e.Kind, e.Payload, e.N) }

// decodeAll feeds in to a new decoder in chunks of at most chunk bytes
// (all at once for 0) and returns the events, with the runs of garbage that
// chunk boundaries split joined again. It checks that every byte is
// accounted for and that the buffer never grows.
func decodeAll(t testing.TB, cfg Config, in []byte, chunk int) []ev {
	t.Helper()
	d, err := NewDecoder(cfg)
	if err != nil {
		t.Fatal(err)
	}
	capacity := cap(d.buf)
	var evs []ev
	covered := 0
	fn := func(e Event) {
		if e.N <= 0 {
			t.Fatalf("event %v covers %d bytes", e.Kind, e.N)
		}
		if len(e.Payload) > d.max {
			t.Fatalf("payload of %d bytes, max %d", len(e.Payload), d.max)
		}
		covered += e.N
		if n := len(evs); n > 0 && e.Kind == EventGarbage && evs[n-1].Kind == EventGarbage {
			evs[n-1].N += e.N
			return
		}
		evs = append(evs, ev{e.Kind, string(e.Payload), e.N})
	}
	for p := in; len(p) > 0; {
		n := len(p)
		if chunk > 0 {
			n = min(n, chunk)
		}
		d.Feed(p[:n], fn)
		p = p[n:]
		if cap(d.buf) != capacity {
			t.Fatalf("buffer grew from %d to %d", capacity, cap(d.buf))
		}
	}
	if covered+d.Buffered() != len(in) {
		t.Fatalf("events cover %d bytes and %d are buffered, of %d fed", covered, d.Buffered(), len(in))
	}
	return evs
}

func TestDecoder(t *testing.T) {
	frame := func(cfg Config, payload string) string {
		b, err := Encode(cfg, []byte(payload))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	def := Default()
	small := Default()
	small.MaxPayload = 4
	seeded := Default()
	seeded.LRCSeed, seeded.LRCCoversSTX = 0x7F, true
	lines := Config{Lines: true, MaxPayload: 4}

	for _, tc := range []struct {
		name string
		cfg  Config
		in   string
		want []ev
		held int // bytes left buffered
	}{
		{name: "one frame", cfg: def, in: frame(def, `{"v":1}`), want: []ev{{EventFrame, `{"v":1}`, 10}}},
		{name: "two frames", cfg: def, in: frame(def, "ab") + frame(def, "cd"),
			want: []ev{{EventFrame, "ab", 5}, {EventFrame, "cd", 5}}},
		{name: "empty frame", cfg: def, in: "\x02\x03\x03", want: []ev{{EventFrame, "", 3}}},
		{name: "bad LRC", cfg: def, in: "\x02ab\x03\x01" + frame(def, "ab"),
			want: []ev{{EventBadLRC, "ab", 5}, {EventFrame, "ab", 5}}},
		{name: "seeded LRC read as default is bad", cfg: def, in: frame(seeded, "ab"), want: []ev{{EventBadLRC, "ab", 5}}},
		{name: "seeded", cfg: seeded, in: frame(seeded, "ab"), want: []ev{{EventFrame, "ab", 5}}},
		{name: "LRC equal to STX is an LRC", cfg: def, in: frame(def, "\x01") + frame(def, "x"),
			want: []ev{{EventFrame, "\x01", 4}, {EventFrame, "x", 4}}},
		{name: "garbage before, between, after", cfg: def, in: "noise" + frame(def, "a") + "\x00\xff" + frame(def, "b") + "tail",
			want: []ev{{EventGarbage, "", 5}, {EventFrame, "a", 4}, {EventGarbage, "", 2}, {EventFrame, "b", 4}, {EventGarbage, "", 4}}},
		{name: "ETX and LRC outside a frame are garbage", cfg: def, in: "\x03\x42" + frame(def, "a"),
			want: []ev{{EventGarbage, "", 2}, {EventFrame, "a", 4}}},
		{name: "STX restarts", cfg: def, in: "\x02abc" + frame(def, "xy"),
			want: []ev{{EventGarbage, "", 4}, {EventFrame, "xy", 5}}},
		{name: "STX after ETX is the LRC", cfg: def, in: "\x02ab\x03\x02xz\x03\x01",
			want: []ev{{EventBadLRC, "ab", 5}, {EventGarbage, "", 4}}},
		{name: "ACK and NAK between frames", cfg: def, in: "\x06" + frame(def, "a") + "z\x15\x06",
			want: []ev{{EventACK, "", 1}, {EventFrame, "a", 4}, {EventGarbage, "", 1}, {EventNAK, "", 1}, {EventACK, "", 1}}},
		{name: "ACK and NAK inside a frame are payload", cfg: def, in: frame(def, "\x06\x15"), want: []ev{{EventFrame, "\x06\x15", 5}}},
		{name: "at the limit", cfg: small, in: frame(small, "abcd"), want: []ev{{EventFrame, "abcd", 7}}},
		{name: "oversize, then a frame", cfg: small, in: "\x02abcdefgh\x03\x99" + frame(small, "ok"),
			want: []ev{{EventOversize, "", 11}, {EventFrame, "ok", 5}}},
		{name: "oversize by one", cfg: small, in: "\x02abcde\x03\x99", want: []ev{{EventOversize, "", 8}}},
		{name: "oversize whose LRC is STX", cfg: small, in: "\x02abcdef\x03\x02" + frame(small, "ok"),
			want: []ev{{EventOversize, "", 9}, {EventFrame, "ok", 5}}},
		{name: "oversize cut by STX", cfg: small, in: "\x02abcdefg" + frame(small, "ok"),
			want: []ev{{EventOversize, "", 8}, {EventFrame, "ok", 5}}},
		{name: "unfinished frame stays buffered", cfg: def, in: frame(def, "a") + "\x02abc", want: []ev{{EventFrame, "a", 4}}, held: 4},
		{name: "unfinished before LRC", cfg: def, in: "\x02abc\x03", held: 5},
		{name: "unfinished oversize", cfg: small, in: "\x02abcdefghij", held: 11},
		{name: "other bytes", cfg: Config{STX: '<', ETX: '>', ACK: '+', NAK: '-'}, in: "x<ab>" + string([]byte{'a' ^ 'b' ^ '>'}) + "+-",
			want: []ev{{EventGarbage, "", 1}, {EventFrame, "ab", 5}, {EventACK, "", 1}, {EventNAK, "", 1}}},

		{name: "lines", cfg: lines, in: "a=1\nb=2\r\n", want: []ev{{EventFrame, "a=1", 4}, {EventFrame, "b=2", 5}}},
		{name: "lines at the limit", cfg: lines, in: "abcd\nabcd\r\n", want: []ev{{EventFrame, "abcd", 5}, {EventFrame, "abcd", 6}}},
		{name: "lines oversize", cfg: lines, in: "abcde\nabcdefghij\r\nok\n",
			want: []ev{{EventOversize, "", 6}, {EventOversize, "", 12}, {EventFrame, "ok", 3}}},
		{name: "lines CR kept inside", cfg: lines, in: "a\rb\n", want: []ev{{EventFrame, "a\rb", 4}}},
		{name: "lines only one CR stripped", cfg: lines, in: "a\r\r\n", want: []ev{{EventFrame, "a\r", 4}}},
		{name: "blank lines are garbage", cfg: lines, in: "\n\r\nab\n\n", want: []ev{{EventGarbage, "", 3}, {EventFrame, "ab", 3}, {EventGarbage, "", 1}}},
		{name: "lines STX and ETX are payload", cfg: lines, in: "\x02a\x03\n", want: []ev{{EventFrame, "\x02a\x03", 4}}},
		{name: "lines unfinished", cfg: lines, in: "ab\nabc", want: []ev{{EventFrame, "ab", 3}}, held: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The same events whether the bytes come at once, one by one,
			// or in chunks of any size.
			for _, chunk := range []int{0, 1, 2, 3, 7} {
				d, _ := NewDecoder(tc.cfg)
				got := decodeAll(t, tc.cfg, []byte(tc.in), chunk)
				if !slices.Equal(got, tc.want) {
					t.Errorf("chunks of %d:\n got %v\nwant %v", chunk, got, tc.want)
				}
				d.Feed([]byte(tc.in), func(Event) {})
				if d.Buffered() != tc.held {
					t.Errorf("Buffered() = %d, want %d", d.Buffered(), tc.held)
				}
			}
		})
	}
}

func TestNewDecoderConfig(t *testing.T) {
	if _, err := NewDecoder(Config{}); err == nil {
		t.Error("NewDecoder(Config{}): no error")
	}
	d, err := NewDecoder(Config{STX: 2, ETX: 3, ACK: 6, NAK: 0x15})
	if err != nil || cap(d.buf) != DefaultMaxPayload {
		t.Errorf("MaxPayload 0: %v, buffer %d; want the default %d", err, cap(d.buf), DefaultMaxPayload)
	}
}

// TestDecoderBounded feeds a megabyte of one endless frame, and of
// garbage, and checks the buffer holds no more than the limit.
func TestDecoderBounded(t *testing.T) {
	for _, cfg := range []Config{Default(), {Lines: true}} {
		d, _ := NewDecoder(cfg)
		capacity := cap(d.buf)
		var events []Kind
		fn := func(e Event) { events = append(events, e.Kind) }
		chunk := bytes.Repeat([]byte("x"), 4096)
		d.Feed([]byte{STX}, fn)
		for range 256 {
			d.Feed(chunk, fn)
		}
		if cap(d.buf) != capacity || len(d.buf) > capacity {
			t.Errorf("lines %v: buffer %d/%d, want at most %d", cfg.Lines, len(d.buf), cap(d.buf), capacity)
		}
		if len(events) != 0 {
			t.Errorf("lines %v: events %v before the frame ended", cfg.Lines, events)
		}
		if d.Buffered() != 1+256*4096 {
			t.Errorf("lines %v: Buffered() = %d", cfg.Lines, d.Buffered())
		}
		end := []byte{ETX, 0}
		if cfg.Lines {
			end = []byte{'\n'}
		}
		d.Feed(end, fn)
		if !slices.Equal(events, []Kind{EventOversize}) {
			t.Errorf("lines %v: events %v, want one oversize", cfg.Lines, events)
		}
	}
}

func TestDecoderNoAllocs(t *testing.T) {
	in, _ := Encode(Default(), []byte(`{"v":1,"type":"basket","id":"m-1","txn":"t-1","lines":[]}`))
	in = append([]byte("garbage\x06"), in...)
	d, _ := NewDecoder(Default())
	frames := 0
	fn := func(e Event) {
		if e.Kind == EventFrame {
			frames++
		}
	}
	allocs := testing.AllocsPerRun(100, func() { d.Feed(in, fn) })
	if allocs != 0 || frames == 0 {
		t.Errorf("Feed: %v allocations, %d frames", allocs, frames)
	}
}

// TestDecoderRandomChunks splits a long stream of frames, garbage and
// acknowledgements at random and checks the events do not depend on where.
func TestDecoderRandomChunks(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	cfg := Default()
	cfg.MaxPayload = 64
	var in []byte
	var want []ev
	for range 500 {
		switch r.IntN(4) {
		case 0, 1:
			p := []byte(strings.Repeat("p", r.IntN(80)))
			if len(p) > cfg.MaxPayload {
				in = append(in, STX)
				in = append(in, p...)
				in = append(in, ETX, 0)
				want = append(want, ev{EventOversize, "", len(p) + 3})
				continue
			}
			in, _ = Append(in, cfg, p)
			want = append(want, ev{EventFrame, string(p), len(p) + 3})
		case 2:
			n := 1 + r.IntN(5)
			in = append(in, bytes.Repeat([]byte{'g'}, n)...)
			if k := len(want) - 1; k >= 0 && want[k].Kind == EventGarbage {
				want[k].N += n
			} else {
				want = append(want, ev{EventGarbage, "", n})
			}
		case 3:
			in = append(in, ACK)
			want = append(want, ev{EventACK, "", 1})
		}
	}
	for range 20 {
		got := decodeAll(t, cfg, in, 1+r.IntN(100))
		if !slices.Equal(got, want) {
			t.Fatalf("events differ from the expected %d", len(want))
		}
	}
}

func BenchmarkDecoder(b *testing.B) {
	payload := bytes.Repeat([]byte(`{"sku":"COF-001","qty":2,"price":350},`), 100)[:3800]
	in, err := Encode(Default(), payload)
	if err != nil {
		b.Fatal(err)
	}
	d, _ := NewDecoder(Default())
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		d.Feed(in, func(Event) {})
	}
}
