// Package serial connects terminals on RS-232 ports to the agent. Each
// configured port has a Line: it opens the port with its terminal model's
// settings (agent/firmware), finds frames in what arrives (protocol/frame),
// turns each request into a protocol message for the agent's service, and
// sends the reply back in the model's dialect.
//
// The exchange, for models with acknowledgements:
//
//	terminal: STX request ETX LRC      agent: ACK (or NAK: bad LRC, oversize, card data)
//	agent:    STX reply ETX LRC        terminal: ACK (or NAK, or silence: the agent resends)
//
// Invariants:
//   - A good frame is acknowledged as soon as it has arrived, before it is
//     handled; a bad one is refused with NAK and never handled.
//   - A frame equal to the last request, within the time the model's
//     terminal retries for, is the terminal's retry after a lost ACK or
//     reply: it is acknowledged and answered again with the same reply, and
//     not handled a second time, even across a reopening of the port.
//   - A reply is resent on NAK or after the model's ACK timeout, at most
//     the model's retries times. A new request ends the wait.
//   - A frame that carries payment-card track data is refused and counted;
//     its bytes are not logged, kept or hashed.
//   - A reply too long for the model's frame loses its explanations, then
//     its texts, then its nudges, then its last offers, until it fits;
//     such replies are counted.
//   - A port that fails or disappears is opened again with backoff, forever,
//     and its state shows in Status and the posoffer_serial_port_up metric.
//   - One request at a time per port, in the order they arrive.
package serial

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/posoffer/posoffer/agent/firmware"
	"github.com/posoffer/posoffer/protocol"
	"github.com/posoffer/posoffer/protocol/frame"
)

// Handler answers one protocol v1 message from a terminal; agent/service
// implements it.
type Handler interface {
	Handle(ctx context.Context, terminal string, payload []byte) *protocol.Message
}

// Config is one serial terminal.
type Config struct {
	Terminal string          // the terminal's id
	Path     string          // the port, e.g. /dev/ttyS0 or /dev/serial/by-id/...
	Model    *firmware.Model // how the terminal speaks
}

// Options are what every Line shares.
type Options struct {
	Handler Handler
	Open    Opener // nil: OpenTarm
	Logger  *slog.Logger
	Metrics *Metrics // nil: none
}

// Status is the state of one line, for /status.
type Status struct {
	Terminal string    `json:"terminal"`
	Port     string    `json:"port"`
	Model    string    `json:"model"`
	Up       bool      `json:"up"`
	Since    time.Time `json:"since"`           // when Up last changed
	Error    string    `json:"error,omitempty"` // why it is down
}

// Line serves one terminal on one port.
type Line struct {
	cfg  Config
	opts Options
	log  *slog.Logger

	mu sync.Mutex
	st Status

	last last // used by one session at a time
}

// Backoff between attempts to open a port.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// NewLine returns a Line for cfg; Run serves it.
func NewLine(cfg Config, opts Options) *Line {
	if opts.Open == nil {
		opts.Open = OpenTarm
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	l := &Line{cfg: cfg, opts: opts, log: opts.Logger.With("terminal", cfg.Terminal, "port", cfg.Path, "model", cfg.Model.Name)}
	l.st = Status{Terminal: cfg.Terminal, Port: cfg.Path, Model: cfg.Model.Name, Since: time.Now(), Error: "not opened yet"}
	return l
}

// Status returns the line's state.
func (l *Line) Status() Status {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.st
}

func (l *Line) setUp(up bool, err error) {
	l.mu.Lock()
	changed := l.st.Up != up || l.st.Since.IsZero()
	if changed {
		l.st.Since = time.Now()
	}
	l.st.Up = up
	l.st.Error = ""
	if err != nil {
		l.st.Error = err.Error()
	}
	l.mu.Unlock()
	if m := l.opts.Metrics; m != nil {
		m.up.WithLabelValues(l.cfg.Terminal).Set(map[bool]float64{true: 1, false: 0}[up])
	}
	switch {
	case up:
		l.log.Info("serial port open")
	case changed:
		l.log.Warn("serial port down; retrying", "err", err)
	}
}

// Run serves the line until ctx is done, opening the port again whenever
// it fails.
func (l *Line) Run(ctx context.Context) {
	l.setUp(false, errors.New("not opened yet"))
	backoff := minBackoff
	for ctx.Err() == nil {
		p, err := l.opts.Open(l.cfg.Path, l.cfg.Model)
		if err == nil {
			backoff = minBackoff
			l.setUp(true, nil)
			if m := l.opts.Metrics; m != nil {
				m.opens.WithLabelValues(l.cfg.Terminal).Inc()
			}
			err = l.serve(ctx, p)
			if ctx.Err() != nil {
				return
			}
		}
		l.setUp(false, err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// input is what the reader goroutine found on the port.
type input struct {
	ev   frame.Event // Payload is a copy
	card bool        // a frame carrying card data, already refused
	err  error
}

// serve runs one session on an open port, until ctx is done or the port
// fails; it closes the port.
func (l *Line) serve(ctx context.Context, p Port) error {
	in := make(chan input, 64)
	stop := make(chan struct{})
	var wmu sync.Mutex // one write at a time: an ACK never lands inside a reply
	write := func(b []byte) error {
		wmu.Lock()
		defer wmu.Unlock()
		if _, err := p.Write(b); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		return nil
	}
	go l.read(p, write, in, stop)
	defer func() {
		close(stop)
		for range in { // the reader ends within one read timeout
		}
		p.Close()
	}()
	s := &session{l: l, m: l.cfg.Model, ctx: ctx, write: write}
	s.timer = time.NewTimer(time.Hour)
	s.timer.Stop()
	defer s.timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case x, ok := <-in:
			if !ok {
				return errors.New("reader stopped")
			}
			if x.err != nil {
				return x.err
			}
			if err := s.handle(x); err != nil {
				return err
			}
		case <-s.timer.C:
			if err := s.resend("no ACK"); err != nil {
				return err
			}
		}
	}
}

// read feeds what arrives on p to a frame decoder and sends the events on
// in, until stop is closed or p fails; it closes in. It acknowledges each
// frame as it arrives (ACK, or NAK for a bad one), so a terminal hears back
// within its ACK timeout even while the previous request is being handled.
func (l *Line) read(p Port, write func([]byte) error, in chan<- input, stop <-chan struct{}) {
	defer close(in)
	m := l.cfg.Model
	dec, err := frame.NewDecoder(m.Frame)
	if err != nil { // firmware.Parse validated it
		in <- input{err: err}
		return
	}
	send := func(x input) bool {
		select {
		case in <- x:
			return true
		case <-stop:
			return false
		}
	}
	answer := func(b byte) error {
		if !m.Acks {
			return nil
		}
		return write([]byte{b})
	}
	buf := make([]byte, 1024)
	for {
		select {
		case <-stop:
			return
		default:
		}
		n, err := p.Read(buf)
		alive := true
		dec.Feed(buf[:n], func(e frame.Event) {
			if !alive {
				return
			}
			x := input{ev: e}
			switch e.Kind {
			case frame.EventFrame:
				if x.card = protocol.ContainsCardData(e.Payload); x.card {
					x.ev.Payload = nil // not kept, not even in memory
					x.err = answer(m.Frame.NAK)
				} else {
					x.ev.Payload = append([]byte(nil), e.Payload...)
					x.err = answer(m.Frame.ACK)
				}
			case frame.EventBadLRC, frame.EventOversize:
				x.ev.Payload = nil
				x.err = answer(m.Frame.NAK)
			}
			alive = send(x) && x.err == nil
		})
		if err != nil {
			send(input{err: err})
			return
		}
		if !alive {
			return
		}
	}
}

// session is the exchange state of one open port.
type session struct {
	l     *Line
	m     *firmware.Model
	ctx   context.Context
	write func([]byte) error

	pending []byte // a reply waiting for the terminal's ACK
	tries   int    // times pending was resent
	timer   *time.Timer
}

// last is the line's last request and its framed reply, kept across
// reopenings of the port: a terminal's retry after a lost ACK or reply is
// answered with it rather than handled again.
type last struct {
	sum   [sha256.Size]byte
	reply []byte
	at    time.Time
}

func (s *session) count(kind string) {
	if m := s.l.opts.Metrics; m != nil {
		m.frames.WithLabelValues(s.l.cfg.Terminal, kind).Inc()
	}
}

func (s *session) handle(x input) error {
	switch x.ev.Kind {
	case frame.EventFrame:
		if x.card {
			s.count("card_data")
			return s.refuse(protocol.CodeCardData, "payment card data is not accepted here")
		}
		return s.request(x.ev.Payload)
	case frame.EventBadLRC:
		s.count("bad_lrc")
		return s.refuse(protocol.CodeBadMessage, "frame check (LRC) failed; send it again")
	case frame.EventOversize:
		s.count("oversize")
		return s.refuse(protocol.CodeTooLarge, "frame longer than this model allows")
	case frame.EventGarbage:
		if m := s.l.opts.Metrics; m != nil {
			m.garbage.WithLabelValues(s.l.cfg.Terminal).Add(float64(x.ev.N))
		}
	case frame.EventACK:
		s.settle()
	case frame.EventNAK:
		if s.pending != nil {
			return s.resend("NAK")
		}
	}
	return nil
}

// refuse answers a frame that cannot be handled. Where the model has
// acknowledgements the reader has sent the NAK; where it has none, the
// terminal gets an error reply instead. Either way the line's last request
// stays what it was.
func (s *session) refuse(code, message string) error {
	if s.m.Acks {
		return nil
	}
	b, err := s.frame(protocol.NewError("", code, message))
	if err != nil || b == nil {
		return err
	}
	return s.send(b)
}

// dupWindow is how long after a request the same bytes are taken for the
// terminal's retry: every retry the model makes, and its wait for a reply.
func dupWindow(m *firmware.Model) time.Duration {
	return time.Duration(m.Retries+1)*ackWait(m, m.Frame.MaxPayload) + m.ResponseTimeout
}

func (s *session) request(payload []byte) error {
	s.settle() // a new request ends the wait for the last reply's ACK
	sum := sha256.Sum256(payload)
	l := s.l
	if l.last.reply != nil && sum == l.last.sum && time.Since(l.last.at) < dupWindow(s.m) {
		s.count("duplicate")
		return s.send(l.last.reply)
	}
	l.last = last{}
	s.count("request")
	var reply *protocol.Message
	if v1, err := s.m.DecodeRequest(payload); err != nil {
		s.count("undecodable")
		reply = protocol.NewError("", protocol.CodeBadMessage, err.Error())
	} else {
		reply = l.opts.Handler.Handle(s.ctx, l.cfg.Terminal, v1)
	}
	b, err := s.frame(reply)
	if err != nil || b == nil {
		return err
	}
	l.last = last{sum: sum, reply: b, at: time.Now()}
	return s.send(b)
}

// frame encodes a reply in the model's dialect, trimmed to fit, and frames
// it; nil when it cannot be sent at all (logged).
func (s *session) frame(m *protocol.Message) ([]byte, error) {
	payload, trimmed, err := fit(s.m, m)
	if err != nil {
		s.l.log.Error("reply cannot be sent in this model's dialect", "type", m.Type, "err", err)
		trimmed = false
		if payload, _, err = fit(s.m, protocol.NewError(m.Re, protocol.CodeInternal, "reply cannot be encoded for this terminal model")); err != nil {
			return nil, nil
		}
	}
	b, err := frame.Encode(s.m.Frame, payload)
	if err != nil {
		s.l.log.Error("reply cannot be framed", "type", m.Type, "err", err)
		return nil, nil
	}
	if mt := s.l.opts.Metrics; trimmed && mt != nil {
		mt.trimmed.WithLabelValues(s.l.cfg.Terminal).Inc()
	}
	return b, nil
}

// send writes a framed reply and, with acknowledgements, waits for its ACK.
func (s *session) send(b []byte) error {
	if err := s.write(b); err != nil {
		return err
	}
	if s.m.Acks {
		s.pending, s.tries = b, 0
		s.timer.Reset(ackWait(s.m, len(b)))
	}
	return nil
}

// ackWait is how long to wait for the ACK of n bytes just written: the
// model's ACK timeout, after the time the bytes take on the line (a write
// returns once they are queued, and 1 KiB takes a second at 9600 baud).
func ackWait(m *firmware.Model, n int) time.Duration {
	bits := 1 + m.DataBits + m.StopBits // start, data and stop bits
	if m.Parity != "none" && m.Parity != "" {
		bits++
	}
	return m.AckTimeout + time.Duration(n*bits)*time.Second/time.Duration(m.Baud)
}

func (s *session) resend(why string) error {
	if s.pending == nil {
		return nil
	}
	if s.tries >= s.m.Retries {
		s.l.log.Warn("reply not acknowledged; giving up", "after", why, "tries", s.tries+1)
		if m := s.l.opts.Metrics; m != nil {
			m.unacked.WithLabelValues(s.l.cfg.Terminal).Inc()
		}
		s.settle()
		return nil
	}
	s.tries++
	if m := s.l.opts.Metrics; m != nil {
		m.retransmits.WithLabelValues(s.l.cfg.Terminal).Inc()
	}
	if err := s.write(s.pending); err != nil {
		return err
	}
	s.timer.Reset(ackWait(s.m, len(s.pending)))
	return nil
}

func (s *session) settle() {
	s.pending = nil
	s.timer.Stop()
}

// fit encodes m in the model's dialect within its frame's payload limit,
// dropping what a cashier needs least until it fits: explanations, then
// texts, then nudges, then the last offers. It reports whether anything
// was dropped.
func fit(model *firmware.Model, m *protocol.Message) ([]byte, bool, error) {
	limit := model.Frame.MaxPayload
	if limit == 0 {
		limit = frame.DefaultMaxPayload
	}
	var b []byte
	var err error
	fits := func(m *protocol.Message) bool {
		b, err = model.EncodeReply(m)
		return err == nil && len(b) <= limit
	}
	if fits(m) {
		return b, false, nil
	}
	c := *m
	c.Offers = append([]protocol.Offer(nil), m.Offers...)
	c.Nudges = append([]protocol.Nudge(nil), m.Nudges...)
	c.Suggestions = append([]protocol.Suggestion(nil), m.Suggestions...)
	cuts := []func(){
		func() { c.Candidates, c.Holdout = nil, false }, // for audits, never for the cashier
		func() {
			for i := range c.Offers {
				c.Offers[i].Why = ""
			}
			for i := range c.Suggestions {
				c.Suggestions[i].Why = ""
			}
		},
		func() {
			for i := range c.Offers {
				c.Offers[i].Name, c.Offers[i].Text = "", ""
			}
			for i := range c.Nudges {
				c.Nudges[i].Text = ""
			}
			for i := range c.Suggestions {
				c.Suggestions[i].Text = ""
			}
			c.Message = ""
		},
		// The chosen nudges are in nudges too: what is lost is the
		// cross-sells, and the order of the choice.
		func() { c.Suggestions = nil },
		func() { c.Nudges = nil },
	}
	for _, cut := range cuts {
		if cut(); fits(&c) {
			return b, true, nil
		}
	}
	// The most offers, from the first, that fit: a binary search.
	all := c.Offers
	lo, hi := 0, len(all)-1 // all of them do not fit
	var best []byte
	for lo <= hi {
		mid := (lo + hi) / 2
		if c.Offers = all[:mid]; fits(&c) {
			best, lo = b, mid+1
		} else {
			hi = mid - 1
		}
	}
	if best != nil {
		return best, true, nil
	}
	if err == nil {
		err = fmt.Errorf("reply of %d bytes does not fit in %d", len(b), limit)
	}
	return nil, true, err
}

// Metrics are the serial lines' Prometheus metrics, labelled by terminal.
type Metrics struct {
	frames      *prometheus.CounterVec
	garbage     *prometheus.CounterVec
	retransmits *prometheus.CounterVec
	unacked     *prometheus.CounterVec
	trimmed     *prometheus.CounterVec
	opens       *prometheus.CounterVec
	up          *prometheus.GaugeVec
}

// NewMetrics registers the serial metrics with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	t := []string{"terminal"}
	m := &Metrics{
		frames: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "posoffer_serial_frames_total",
			Help: "Frames received, by kind: request, duplicate, bad_lrc, oversize, card_data, undecodable."}, []string{"terminal", "kind"}),
		garbage: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "posoffer_serial_garbage_bytes_total",
			Help: "Bytes received outside any frame, skipped."}, t),
		retransmits: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "posoffer_serial_retransmits_total",
			Help: "Replies sent again after a NAK or no ACK."}, t),
		unacked: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "posoffer_serial_replies_unacknowledged_total",
			Help: "Replies the terminal never acknowledged, after every retry."}, t),
		trimmed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "posoffer_serial_replies_trimmed_total",
			Help: "Replies shortened to fit the terminal model's frame."}, t),
		opens: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "posoffer_serial_port_opens_total",
			Help: "Times the port was opened: more than one means it was lost and found again."}, t),
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "posoffer_serial_port_up",
			Help: "1 while the terminal's port is open, 0 while the agent is trying to open it."}, t),
	}
	for _, c := range []prometheus.Collector{m.frames, m.garbage, m.retransmits, m.unacked, m.trimmed, m.opens, m.up} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
