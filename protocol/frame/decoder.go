package frame

import "fmt"

// Kind is what a decoder Event reports.
type Kind uint8

// The kinds of Event.
const (
	// EventFrame is a good frame; Payload holds it. Answer ACK.
	EventFrame Kind = iota + 1
	// EventBadLRC is a whole frame whose LRC does not match; Payload holds
	// what arrived. Answer NAK.
	EventBadLRC
	// EventOversize is a frame longer than MaxPayload, skipped to its end
	// (or to the STX of the next frame). Answer NAK.
	EventOversize
	// EventGarbage is bytes outside any frame, skipped: noise, a frame cut
	// short by a new STX, or, for lines, blank lines.
	EventGarbage
	// EventACK is an ACK byte between frames.
	EventACK
	// EventNAK is a NAK byte between frames.
	EventNAK
)

func (k Kind) String() string {
	switch k {
	case EventFrame:
		return "frame"
	case EventBadLRC:
		return "bad-lrc"
	case EventOversize:
		return "oversize"
	case EventGarbage:
		return "garbage"
	case EventACK:
		return "ack"
	case EventNAK:
		return "nak"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Event is one thing a Decoder found in its input.
type Event struct {
	Kind Kind
	// Payload is the payload of an EventFrame or EventBadLRC, without the
	// framing. It is the decoder's buffer, valid only until the callback
	// returns: copy it to keep it. Do not log it: it may carry card data.
	Payload []byte
	// N is how many input bytes the event covers: a whole frame from STX
	// to LRC (or line with its "\r\n"), a run of garbage, or 1 for an ACK
	// or NAK.
	N int
}

type state uint8

const (
	idle     state = iota // between frames
	inFrame               // after STX, reading the payload
	wantLRC               // after ETX
	skipping              // in a frame longer than MaxPayload
	skipLRC               // after the ETX of a frame being skipped
)

// Decoder finds frames in a byte stream that arrives in chunks of any size.
// It holds a buffer of at most MaxPayload bytes (one more for lines) and
// never grows it. A Decoder is not safe for concurrent use.
type Decoder struct {
	cfg  Config
	max  int
	buf  []byte // the payload so far
	st   state
	lrc  byte // the LRC so far
	held int  // input bytes of the unfinished frame, its STX included
}

// NewDecoder returns a Decoder for frames under cfg.
func NewDecoder(cfg Config) (*Decoder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d := &Decoder{cfg: cfg, max: cfg.maxPayload()}
	size := d.max
	if cfg.Lines {
		size++ // room for the "\r" that is stripped
	}
	d.buf = make([]byte, 0, size)
	return d, nil
}

// Buffered returns how many bytes fed so far belong to an unfinished frame
// and have not been reported by an event yet.
func (d *Decoder) Buffered() int { return d.held }

// Feed decodes p, the next bytes from the line, and calls fn for each event
// they complete, in order. Feed consumes all of p; a frame that p leaves
// unfinished is finished by a later Feed. fn must not be nil or call Feed,
// and must copy Event.Payload to keep it.
func (d *Decoder) Feed(p []byte, fn func(Event)) {
	garbage := 0 // a run of garbage not reported yet
	flush := func() {
		if garbage > 0 {
			fn(Event{Kind: EventGarbage, N: garbage})
			garbage = 0
		}
	}
	if d.cfg.Lines {
		d.feedLines(p, fn, &garbage, flush)
		flush()
		return
	}
	c := &d.cfg
	for _, b := range p {
		switch d.st {
		case idle:
			switch b {
			case c.STX:
				flush()
				d.start()
			case c.ACK:
				flush()
				fn(Event{Kind: EventACK, N: 1})
			case c.NAK:
				flush()
				fn(Event{Kind: EventNAK, N: 1})
			default:
				garbage++
			}
		case inFrame:
			switch {
			case b == c.STX:
				fn(Event{Kind: EventGarbage, N: d.held}) // cut short
				d.start()
			case b == c.ETX:
				d.held++
				d.lrc ^= b
				d.st = wantLRC
			case len(d.buf) == d.max:
				d.held++
				d.buf = d.buf[:0]
				d.st = skipping
			default:
				d.held++
				d.lrc ^= b
				d.buf = append(d.buf, b)
			}
		case wantLRC:
			kind := EventFrame
			if b != d.lrc {
				kind = EventBadLRC
			}
			fn(Event{Kind: kind, Payload: d.buf, N: d.held + 1})
			d.end()
		case skipping:
			switch b {
			case c.STX:
				fn(Event{Kind: EventOversize, N: d.held})
				d.start()
			case c.ETX:
				d.held++
				d.st = skipLRC
			default:
				d.held++
			}
		case skipLRC:
			fn(Event{Kind: EventOversize, N: d.held + 1})
			d.end()
		}
	}
	flush()
}

// start begins a frame at its STX.
func (d *Decoder) start() {
	d.buf = d.buf[:0]
	d.lrc = d.cfg.lrcStart()
	d.held = 1
	d.st = inFrame
}

// end returns to between frames.
func (d *Decoder) end() {
	d.buf = d.buf[:0]
	d.held = 0
	d.st = idle
}

// feedLines is Feed for frames that are lines. The decoder is in state
// idle (no bytes of a line yet), inFrame or skipping.
func (d *Decoder) feedLines(p []byte, fn func(Event), garbage *int, flush func()) {
	for _, b := range p {
		if b != '\n' {
			d.held++
			switch {
			case d.st == skipping:
			case len(d.buf) == cap(d.buf):
				d.buf = d.buf[:0]
				d.st = skipping
			default:
				d.buf = append(d.buf, b)
				d.st = inFrame
			}
			continue
		}
		line, n := d.buf, d.held+1
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		switch {
		case d.st == skipping || len(line) > d.max:
			flush()
			fn(Event{Kind: EventOversize, N: n})
		case len(line) == 0:
			*garbage += n
		default:
			flush()
			fn(Event{Kind: EventFrame, Payload: line, N: n})
		}
		d.end()
	}
}
