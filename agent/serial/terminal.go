package serial

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/posoffer/posoffer/agent/firmware"
	"github.com/posoffer/posoffer/protocol"
	"github.com/posoffer/posoffer/protocol/frame"
)

// Terminal is the other end of a Line: it plays a terminal of a model,
// sending requests in the model's dialect and waiting for the agent's
// replies. posoffer-sim serial and the tests use it to check an agent's
// serial ports.
type Terminal struct {
	p      Port
	m      *firmware.Model
	dec    *frame.Decoder
	queue  []frame.Event
	buf    []byte
	resent int // requests sent again after a NAK or no ACK
}

// ErrNoReply is returned by Request when the agent did not answer in time.
var ErrNoReply = errors.New("no reply from the agent")

// Dial opens path as a terminal of model m; open nil means OpenTarm.
func Dial(path string, m *firmware.Model, open Opener) (*Terminal, error) {
	if open == nil {
		open = OpenTarm
	}
	dec, err := frame.NewDecoder(m.Frame)
	if err != nil {
		return nil, err
	}
	p, err := open(path, m)
	if err != nil {
		return nil, err
	}
	return &Terminal{p: p, m: m, dec: dec, buf: make([]byte, 1024)}, nil
}

// Close closes the port.
func (t *Terminal) Close() error { return t.p.Close() }

// Resent returns how many times a request had to be sent again.
func (t *Terminal) Resent() int { return t.resent }

// Request sends a protocol v1 message (JSON) as this model would and
// returns the agent's reply, retrying as the model says.
func (t *Terminal) Request(ctx context.Context, v1 []byte) (*protocol.Message, error) {
	payload, err := t.m.EncodeRequest(v1)
	if err != nil {
		return nil, err
	}
	b, err := frame.Encode(t.m.Frame, payload)
	if err != nil {
		return nil, err
	}
	if err := t.deliver(ctx, b); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(t.m.ResponseTimeout + ackWait(t.m, t.m.Frame.MaxPayload) - t.m.AckTimeout)
	for {
		ev, err := t.next(ctx, deadline)
		if err != nil {
			return nil, err
		}
		switch ev.Kind {
		case frame.EventFrame:
			if err := t.Ack(); err != nil {
				return nil, err
			}
			return t.m.DecodeReply(ev.Payload)
		case frame.EventBadLRC:
			if t.m.Acks {
				if _, err := t.p.Write([]byte{t.m.Frame.NAK}); err != nil {
					return nil, err
				}
			}
		}
	}
}

// deliver writes a framed request until the agent acknowledges it.
func (t *Terminal) deliver(ctx context.Context, b []byte) error {
	for try := 0; ; try++ {
		if try > 0 {
			t.resent++
		}
		if _, err := t.p.Write(b); err != nil {
			return err
		}
		if !t.m.Acks {
			return nil
		}
		ev, err := t.nextControl(ctx, time.Now().Add(ackWait(t.m, len(b))))
		switch {
		case err == nil && ev.Kind == frame.EventACK:
			return nil
		case err != nil && !errors.Is(err, ErrNoReply):
			return err
		case try >= t.m.Retries:
			return fmt.Errorf("agent did not accept the frame after %d tries", try+1)
		}
	}
}

// nextControl waits for an ACK or a NAK, skipping anything else.
func (t *Terminal) nextControl(ctx context.Context, deadline time.Time) (frame.Event, error) {
	for {
		ev, err := t.next(ctx, deadline)
		if err != nil || ev.Kind == frame.EventACK || ev.Kind == frame.EventNAK {
			return ev, err
		}
	}
}

// Ack acknowledges a frame from the agent.
func (t *Terminal) Ack() error {
	if !t.m.Acks {
		return nil
	}
	_, err := t.p.Write([]byte{t.m.Frame.ACK})
	return err
}

// next returns the next event on the port, waiting until deadline.
func (t *Terminal) next(ctx context.Context, deadline time.Time) (frame.Event, error) {
	for len(t.queue) == 0 {
		if err := ctx.Err(); err != nil {
			return frame.Event{}, err
		}
		if time.Now().After(deadline) {
			return frame.Event{}, ErrNoReply
		}
		n, err := t.p.Read(t.buf)
		t.dec.Feed(t.buf[:n], func(e frame.Event) {
			e.Payload = append([]byte(nil), e.Payload...)
			t.queue = append(t.queue, e)
		})
		if err != nil {
			return frame.Event{}, err
		}
	}
	ev := t.queue[0]
	t.queue = t.queue[1:]
	return ev, nil
}
