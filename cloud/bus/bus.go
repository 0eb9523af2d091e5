// Package bus is HQ's side of NATS JetStream: the embedded server that lets
// one command run HQ on a laptop, and the stream and KV buckets that agents
// and HQ share (their names are in protocol).
//
// Invariants:
//   - The embedded server syncs every JetStream write to disk before it
//     acknowledges it (sync_interval: always), so an event an agent has
//     deleted from its outbox survives a power cut at HQ.
//   - Ensure creates what is missing and updates what differs, and never
//     deletes data; it works on NATS servers from 2.9 on.
package bus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/posoffer/posoffer/protocol"
	"github.com/posoffer/posoffer/protocol/decide"
)

// Consumer is the durable pull consumer that every HQ replica shares, so
// each event goes to one replica at a time.
const Consumer = "posoffer-cloud"

// DuplicateWindow is how long the stream drops a repeated Nats-Msg-Id by
// default. HQ's store drops repeats at any age; the window only saves it
// work.
const DuplicateWindow = 2 * time.Minute

// Retention is how long the stream keeps events: long enough for HQ to be
// down for a while without losing what stores sent meanwhile.
const Retention = 14 * 24 * time.Hour

// StartServer runs an embedded NATS server with JetStream on listen
// (host:port), keeping its data under dir, that requires no
// authentication: for tests and benchmarks. HQ runs Start.
func StartServer(dir, listen string) (*server.Server, error) {
	s, err := Start(dir, listen, nil)
	if err != nil {
		return nil, err
	}
	return s.Server, nil
}

// Auth is who may use the embedded server (see Users).
type Auth struct {
	HQ     string      // HQ's public nkey: every permission
	Stores []StoreUser // the stores not revoked
	// AllowAnonymous lets a client without credentials in, as HQ: only
	// for development on one machine.
	AllowAnonymous bool
	// Refused, when set, is told of each connection the server refuses
	// ("auth") and each publish or subscription it refuses ("publish",
	// "subscribe"), with the server's words (the client, its key and the
	// subject).
	Refused func(kind, detail string)
}

// Server is the embedded NATS server and the options it was started with.
type Server struct {
	*server.Server
	mu   sync.Mutex
	opts *server.Options
	auth Auth
}

// Start runs an embedded NATS server with JetStream on listen
// (host:port), keeping its data under dir. With auth, only its users may
// connect, each with its permissions; with nil, anyone may.
func Start(dir, listen string, auth *Auth) (*Server, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("nats listen %q: %w", listen, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return nil, fmt.Errorf("nats listen %q: bad port", listen)
	}
	opts := &server.Options{
		ServerName: "posoffer-cloud",
		Host:       host,
		Port:       p,
		JetStream:  true,
		StoreDir:   filepath.Join(dir, "jetstream"),
		SyncAlways: true,
		NoSigs:     true,
		NoLog:      true,
	}
	if p == 0 {
		opts.Port = server.RANDOM_PORT
	}
	bs := &Server{opts: opts}
	if auth != nil {
		bs.auth = *auth
		if err := bs.setUsers(opts); err != nil {
			return nil, err
		}
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("nats server: %w", err)
	}
	if auth != nil && auth.Refused != nil {
		s.SetLoggerV2(refusals(auth.Refused), false, false, false)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("nats server on %s did not start within 10s", listen)
	}
	bs.Server = s
	return bs, nil
}

// setUsers puts the users of s.auth into opts.
func (s *Server) setUsers(opts *server.Options) error {
	users, err := Users(s.auth.HQ, s.auth.Stores)
	if err != nil {
		return err
	}
	opts.Nkeys = users
	opts.NoAuthUser = ""
	if s.auth.AllowAnonymous {
		opts.NoAuthUser = s.auth.HQ
	}
	return nil
}

// Stores returns the stores the server lets in now.
func (s *Server) Stores() []StoreUser {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.auth.Stores)
}

// SetStores makes stores the only stores allowed, at once: the
// connections of a store no longer among them are closed, and it cannot
// connect again.
func (s *Server) SetStores(stores []StoreUser) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.auth.HQ == "" {
		return errors.New("set stores: the server was started without authentication")
	}
	s.auth.Stores = stores
	opts := s.opts.Clone()
	if err := s.setUsers(opts); err != nil {
		return err
	}
	if err := s.ReloadOptions(opts); err != nil {
		return fmt.Errorf("nats server: reload users: %w", err)
	}
	s.opts = opts
	return nil
}

// refusals is a server logger that tells of refused connections,
// publishes and subscriptions, and drops everything else (the server's
// own log is off).
type refusals func(kind, detail string)

func (r refusals) Errorf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	switch {
	case strings.Contains(msg, "Publish Violation"):
		r("publish", msg)
	case strings.Contains(msg, "Subscription Violation"):
		r("subscribe", msg)
	case strings.Contains(msg, server.ErrAuthentication.Error()):
		r("auth", msg)
	}
}
func (refusals) Noticef(string, ...any) {}
func (refusals) Warnf(string, ...any)   {}
func (refusals) Fatalf(string, ...any)  {}
func (refusals) Debugf(string, ...any)  {}
func (refusals) Tracef(string, ...any)  {}

// Connect connects to NATS at url with the credentials file (optional;
// see CredsOption), reconnecting forever.
func Connect(url, creds, name string) (*nats.Conn, error) {
	opts := []nats.Option{nats.Name(name), nats.MaxReconnects(-1), nats.ReconnectWait(time.Second)}
	if creds != "" {
		o, err := CredsOption(creds)
		if err != nil {
			return nil, err
		}
		opts = append(opts, o)
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to nats %s: %w", url, err)
	}
	return nc, nil
}

// CredsOption returns the option that authenticates with the file at
// path: a NATS credentials file (a user JWT and its seed, for clusters
// with decentralized auth) or an nkey seed file (HQ's and the stores'
// identities).
func CredsOption(path string) (nats.Option, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("nats credentials: %w", err)
	}
	if bytes.Contains(b, []byte("BEGIN NATS USER JWT")) {
		return nats.UserCredentials(path), nil
	}
	o, err := nats.NkeyOptionFromSeed(path)
	if err != nil {
		return nil, fmt.Errorf("nats credentials %s: neither a .creds file nor an nkey seed: %w", path, err)
	}
	return o, nil
}

// Ensure creates or updates the events stream (with a duplicate window of
// dupWindow, 0 for DuplicateWindow), HQ's consumer and the KV buckets.
func Ensure(ctx context.Context, js jetstream.JetStream, dupWindow time.Duration) (jetstream.Consumer, error) {
	if dupWindow <= 0 {
		dupWindow = DuplicateWindow
	}
	subjects := protocol.EventsSubjects
	cfg := jetstream.StreamConfig{
		Name:       protocol.EventsStream,
		Subjects:   []string{subjects},
		Storage:    jetstream.FileStorage,
		Retention:  jetstream.LimitsPolicy,
		MaxAge:     Retention,
		Duplicates: dupWindow,
		Discard:    jetstream.DiscardOld,
	}
	st, err := js.Stream(ctx, cfg.Name)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		st, err = js.CreateStream(ctx, cfg)
	case err == nil:
		st, err = js.UpdateStream(ctx, cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", cfg.Name, err)
	}
	cons, err := st.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:       Consumer,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       30 * time.Second,
		MaxAckPending: 20_000,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return nil, fmt.Errorf("consumer %s: %w", Consumer, err)
	}
	for _, kv := range []jetstream.KeyValueConfig{
		{Bucket: protocol.CatalogBucket, History: 1, Storage: jetstream.FileStorage},
		{Bucket: protocol.ProfilesBucket, History: 1, Storage: jetstream.FileStorage},
		decideBucket,
	} {
		if _, err := js.KeyValue(ctx, kv.Bucket); errors.Is(err, jetstream.ErrBucketNotFound) {
			_, err = js.CreateKeyValue(ctx, kv)
			if err != nil && !errors.Is(err, jetstream.ErrBucketExists) {
				return nil, fmt.Errorf("kv %s: %w", kv.Bucket, err)
			}
		} else if err != nil {
			return nil, fmt.Errorf("kv %s: %w", kv.Bucket, err)
		}
	}
	return cons, nil
}

// decideBucket is where HQ publishes the model of learned suggestions.
var decideBucket = jetstream.KeyValueConfig{Bucket: decide.Bucket, History: 1, Storage: jetstream.FileStorage}

// DecideBucket returns the bucket of learned suggestions, created when it
// is not there (as when someone deleted it).
func DecideBucket(ctx context.Context, js jetstream.JetStream) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, decide.Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, decideBucket)
		if errors.Is(err, jetstream.ErrBucketExists) {
			kv, err = js.KeyValue(ctx, decide.Bucket)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("kv %s: %w", decide.Bucket, err)
	}
	return kv, nil
}

// Missing returns what Ensure makes that is not there now ("stream",
// "consumer", "catalog bucket", "profiles bucket", "decide bucket"), as when someone
// deleted it; an error when NATS cannot say.
func Missing(ctx context.Context, js jetstream.JetStream) ([]string, error) {
	var missing []string
	_, err := js.Stream(ctx, protocol.EventsStream)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		missing = append(missing, "stream", "consumer")
	case err != nil:
		return nil, err
	default:
		_, err := js.Consumer(ctx, protocol.EventsStream, Consumer)
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			missing = append(missing, "consumer")
		} else if err != nil {
			return nil, err
		}
	}
	for what, bucket := range map[string]string{"catalog bucket": protocol.CatalogBucket,
		"profiles bucket": protocol.ProfilesBucket, "decide bucket": decide.Bucket} {
		if _, err := js.KeyValue(ctx, bucket); errors.Is(err, jetstream.ErrBucketNotFound) {
			missing = append(missing, what)
		} else if err != nil {
			return nil, err
		}
	}
	return missing, nil
}
