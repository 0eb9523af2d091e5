package serial

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/posoffer/posoffer/agent/firmware"
	"github.com/posoffer/posoffer/protocol"
	"github.com/posoffer/posoffer/protocol/frame"
)

// These tests run a Line in process, under the race detector when the
// tests are, against ports made of channels; the tests in
// agent/cmd/posoffer-agent run the agent on real pseudo-terminals.

// chanPort is an open port: the test writes what the terminal sends to in,
// and reads what the agent sends from out.
type chanPort struct {
	in     chan []byte
	out    chan []byte
	fail   chan struct{} // closed: the device is gone
	closed atomic.Bool
	rest   []byte
}

func newChanPort() *chanPort {
	return &chanPort{in: make(chan []byte, 64), out: make(chan []byte, 256), fail: make(chan struct{})}
}

func (p *chanPort) Read(b []byte) (int, error) {
	if len(p.rest) == 0 {
		select {
		case p.rest = <-p.in:
		case <-p.fail:
			return 0, ErrGone
		case <-time.After(readTimeout):
			return 0, nil
		}
	}
	n := copy(b, p.rest)
	p.rest = p.rest[n:]
	return n, nil
}

func (p *chanPort) Write(b []byte) (int, error) {
	select {
	case p.out <- append([]byte(nil), b...):
	case <-p.fail:
		return 0, ErrGone
	}
	return len(b), nil
}

func (p *chanPort) Close() error { p.closed.Store(true); return nil }

// acker answers every message with an ack, after delay, and counts them.
type acker struct {
	delay time.Duration
	n     atomic.Int64
}

func (h *acker) Handle(_ context.Context, _ string, payload []byte) *protocol.Message {
	h.n.Add(1)
	time.Sleep(h.delay)
	m, err := protocol.Decode(payload)
	if err != nil {
		return protocol.ErrorReply(err)
	}
	return protocol.NewAck(m.ID, m.Txn)
}

// rig runs a Line of the default model whose opener hands out the ports
// sent on ports.
type rig struct {
	m      *firmware.Model
	h      *acker
	ports  chan *chanPort
	cancel context.CancelFunc
	done   chan struct{}
}

func newRig(t *testing.T, delay time.Duration) *rig {
	t.Helper()
	m, err := firmware.Load("../../firmware-configs", "acme-tp100")
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{m: m, h: &acker{delay: delay}, ports: make(chan *chanPort, 8), done: make(chan struct{})}
	open := func(string, *firmware.Model) (Port, error) {
		select {
		case p := <-r.ports:
			return p, nil
		default:
			return nil, errors.New("no device")
		}
	}
	l := NewLine(Config{Terminal: "t01", Path: "/dev/null", Model: m}, Options{Handler: r.h, Open: open})
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { defer close(r.done); l.Run(ctx) }()
	t.Cleanup(r.stop)
	return r
}

func (r *rig) stop() {
	r.cancel()
	<-r.done
}

func (r *rig) request(t *testing.T, p *chanPort, id string) []byte {
	t.Helper()
	b, err := frame.Encode(r.m.Frame, []byte(`{"v":1,"type":"hello","id":"`+id+`","model":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	p.in <- b
	return b
}

// next returns the next thing the agent wrote, within d.
func next(t *testing.T, p *chanPort, d time.Duration) []byte {
	t.Helper()
	select {
	case b := <-p.out:
		return b
	case <-time.After(d):
		t.Fatalf("agent wrote nothing within %v", d)
	}
	return nil
}

func TestLineAcksWhileHandling(t *testing.T) {
	r := newRig(t, 800*time.Millisecond) // slower than the 500 ms ACK timeout
	p := newChanPort()
	r.ports <- p
	r.request(t, p, "m1")
	if b := next(t, p, 2*time.Second); b[0] != frame.ACK {
		t.Fatalf("first frame answered %q, want ACK", b)
	}
	start := time.Now()
	r.request(t, p, "m2") // while m1 is being handled
	if b := next(t, p, 2*time.Second); b[0] != frame.ACK {
		t.Fatalf("second frame answered %q, want ACK", b)
	}
	if took := time.Since(start); took > r.m.AckTimeout {
		t.Errorf("second frame acknowledged after %v, beyond the terminal's %v", took, r.m.AckTimeout)
	}
}

func TestLineRetryAcrossReopenIsHandledOnce(t *testing.T) {
	r := newRig(t, 0)
	p := newChanPort()
	r.ports <- p
	frameBytes := r.request(t, p, "m1")
	next(t, p, 2*time.Second) // ACK
	reply := next(t, p, 2*time.Second)
	close(p.fail) // the adapter drops out before the terminal's ACK
	p2 := newChanPort()
	r.ports <- p2
	p2.in <- frameBytes // the terminal's retry, on the port opened again
	if b := next(t, p2, 3*time.Second); b[0] != frame.ACK {
		t.Fatalf("retry answered %q, want ACK", b)
	}
	if again := next(t, p2, 2*time.Second); string(again) != string(reply) {
		t.Errorf("retry answered %q, want the same reply %q", again, reply)
	}
	if n := r.h.n.Load(); n != 1 {
		t.Errorf("handled %d times, want once", n)
	}
	if !p.closed.Load() {
		t.Error("the lost port was not closed")
	}
}

func TestLineStopsCleanly(t *testing.T) {
	r := newRig(t, 0)
	var wg sync.WaitGroup
	for i := range 3 { // ports that come and go while requests flow
		p := newChanPort()
		r.ports <- p
		wg.Go(func() {
			r.request(t, p, "m"+string(rune('a'+i)))
			time.Sleep(150 * time.Millisecond)
			close(p.fail)
		})
		wg.Wait()
	}
	stopped := make(chan struct{})
	go func() { r.stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not return within 2s of cancel")
	}
}
