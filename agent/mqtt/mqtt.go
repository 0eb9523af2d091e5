// Package mqtt carries terminal messages between an MQTT broker and the
// agent's service: it subscribes to posoffer/v1/{store}/+/in, hands each
// message to the service, and publishes the reply on the terminal's out
// topic, all at QoS 1. It can also run the embedded broker (mochi-mqtt) for
// a store that has none.
//
// Invariants:
//   - paho's message handler never blocks (paho deadlocks when one does):
//     it only queues the message for its terminal.
//   - Each terminal's messages are handled one at a time, in order; the
//     terminals of a store are handled in parallel.
//   - A terminal whose queue is full gets a busy error at once.
//   - The retained status topic says online while connected, and offline
//     by last will or on a clean stop.
//   - The embedded broker (StartBroker) lets in only known identities: the
//     agent (AgentUser, a secret made at start), terminals (their id and
//     password from the credentials file, package passwd, or a client
//     certificate whose CN is their id), and anonymous clients only when
//     configured. Each may publish and subscribe only to its own topics and
//     use only its own client id; every refusal is counted in
//     posoffer_mqtt_refused_total. A terminal removed from the file is
//     disconnected within a poll (1s) and refused from then on.
package mqtt

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/posoffer/posoffer/protocol"
)

// Handler answers one terminal message; agent/service implements it.
type Handler interface {
	Handle(ctx context.Context, terminal string, payload []byte) *protocol.Message
}

// queueLen is how many messages of one terminal may wait.
const queueLen = 64

// Options configure a Client.
type Options struct {
	Broker   string // tcp://host:port, or ssl://host:port with TLS
	Store    string
	Username string
	Password string
	// TLS is the client's TLS configuration for an ssl:// broker (nil:
	// the system's roots).
	TLS    *tls.Config
	Logger *slog.Logger
	// Connected, when set, is told of every connection change.
	Connected func(bool)
}

// Client is the agent's connection to the broker.
type Client struct {
	opts   Options
	h      Handler
	c      paho.Client
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	queues map[string]chan []byte
	wg     sync.WaitGroup
}

// Connect connects to the broker, announces the agent online, and serves
// terminals until Close. It returns once connected, or with the error of
// the first attempt.
func Connect(opts Options, h Handler) (*Client, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	status, err := protocol.TopicStatus(opts.Store)
	if err != nil {
		return nil, err
	}
	filter, err := protocol.TopicInFilter(opts.Store)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	resumed := make(chan struct{})
	subscribed := make(chan error, 1)
	cl := &Client{opts: opts, h: h, log: opts.Logger, ctx: ctx, cancel: cancel, queues: map[string]chan []byte{}}
	po := paho.NewClientOptions().
		AddBroker(opts.Broker).
		SetClientID(AgentClientID(opts.Store)).
		SetUsername(opts.Username).
		SetPassword(opts.Password).
		SetCleanSession(false). // the broker keeps our subscription and queued messages across reconnects
		SetAutoReconnect(true).
		SetConnectRetry(false).
		SetMaxReconnectInterval(5*time.Second).
		SetKeepAlive(15*time.Second).
		// Ordered delivery: paho calls receive for one message after
		// another, so each terminal's queue gets them in the broker's order.
		// receive never blocks, which is what ordered delivery requires.
		SetOrderMatters(true).
		SetBinaryWill(status, []byte(protocol.StatusOffline), protocol.MQTTQoS, true).
		SetOnConnectHandler(func(c paho.Client) {
			// paho calls this while it still resumes the session's stored
			// packets, and a publish made now races with that resume (paho
			// 1.5.1 sets the Dup flag of a packet being written): on the
			// first connect, wait until Connect has returned.
			go func() {
				<-resumed
				tok := c.Subscribe(filter, protocol.MQTTQoS, cl.receive)
				var err error
				switch {
				case !tok.WaitTimeout(10 * time.Second):
					err = errors.New("timed out")
				case tok.Error() != nil:
					err = tok.Error()
				case tok.(*paho.SubscribeToken).Result()[filter] > 2:
					err = errors.New("refused by the broker")
				}
				if err != nil {
					cl.log.Error("mqtt subscribe", "filter", filter, "err", err)
				}
				select {
				case subscribed <- err: // the first connect waits for this
				default:
				}
				c.Publish(status, protocol.MQTTQoS, true, protocol.StatusOnline)
				cl.log.Info("mqtt connected", "broker", opts.Broker)
				if opts.Connected != nil {
					opts.Connected(true)
				}
			}()
		}).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			cl.log.Warn("mqtt connection lost", "err", err)
			if opts.Connected != nil {
				opts.Connected(false)
			}
		})
	if opts.TLS != nil {
		po.SetTLSConfig(opts.TLS)
	}
	cl.c = paho.NewClient(po)
	tok := cl.c.Connect()
	ok := tok.WaitTimeout(10 * time.Second)
	close(resumed)
	if !ok {
		cancel()
		return nil, fmt.Errorf("connect to mqtt broker %s: timed out", opts.Broker)
	}
	if err := tok.Error(); err != nil {
		cancel()
		return nil, fmt.Errorf("connect to mqtt broker %s: %w", opts.Broker, err)
	}
	// A terminal's message that arrives before the first subscription is
	// in place would be dropped by the broker: be subscribed before
	// saying connected.
	if err := <-subscribed; err != nil {
		cl.c.Disconnect(0)
		cancel()
		return nil, fmt.Errorf("subscribe to %s on mqtt broker %s: %w", filter, opts.Broker, err)
	}
	return cl, nil
}

// receive is paho's handler: it must not block.
func (cl *Client) receive(_ paho.Client, m paho.Message) {
	store, terminal, err := protocol.ParseTopicIn(m.Topic())
	if err != nil || store != cl.opts.Store {
		return
	}
	payload := append([]byte(nil), m.Payload()...)
	cl.mu.Lock()
	q, ok := cl.queues[terminal]
	if !ok && cl.ctx.Err() == nil {
		q = make(chan []byte, queueLen)
		cl.queues[terminal] = q
		cl.wg.Add(1)
		go cl.serve(terminal, q)
	}
	cl.mu.Unlock()
	if q == nil {
		return
	}
	select {
	case q <- payload:
	default:
		go cl.reply(terminal, protocol.NewError("", protocol.CodeBusy, "too many messages waiting for this terminal; retry"))
	}
}

// serve handles one terminal's messages in order.
func (cl *Client) serve(terminal string, q chan []byte) {
	defer cl.wg.Done()
	for {
		select {
		case <-cl.ctx.Done():
			return
		case p := <-q:
			cl.reply(terminal, cl.h.Handle(cl.ctx, terminal, p))
		}
	}
}

func (cl *Client) reply(terminal string, m *protocol.Message) {
	topic, err := protocol.TopicOut(cl.opts.Store, terminal)
	if err != nil {
		return // ParseTopicIn let through only valid terminals
	}
	b, err := protocol.Encode(m)
	if err != nil {
		cl.log.Error("encode reply", "err", err)
		return
	}
	tok := cl.c.Publish(topic, protocol.MQTTQoS, false, b)
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		cl.log.Warn("publish reply", "terminal", terminal, "err", tok.Error())
	}
}

// Close announces the agent offline, stops serving and disconnects.
func (cl *Client) Close() {
	if status, err := protocol.TopicStatus(cl.opts.Store); err == nil {
		cl.c.Publish(status, protocol.MQTTQoS, true, protocol.StatusOffline).WaitTimeout(2 * time.Second)
	}
	cl.cancel()
	cl.wg.Wait()
	cl.c.Disconnect(500)
}
