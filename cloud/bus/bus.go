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
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/posoffer/posoffer/protocol"
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
// (host:port), keeping its data under dir.
func StartServer(dir, listen string) (*server.Server, error) {
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
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("nats server: %w", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("nats server on %s did not start within 10s", listen)
	}
	return s, nil
}

// Connect connects to NATS at url with the credentials file (optional),
// reconnecting forever.
func Connect(url, creds, name string) (*nats.Conn, error) {
	opts := []nats.Option{nats.Name(name), nats.MaxReconnects(-1), nats.ReconnectWait(time.Second)}
	if creds != "" {
		opts = append(opts, nats.UserCredentials(creds))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to nats %s: %w", url, err)
	}
	return nc, nil
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
