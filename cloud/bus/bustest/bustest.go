// Package bustest runs HQ's side of NATS for tests: an embedded server
// with HQ's stream, consumer and buckets, and publishing as agents do.
package bustest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/posoffer/posoffer/cloud/bus"
	"github.com/posoffer/posoffer/protocol"
)

// Start runs an embedded NATS server on a random local port with HQ's
// stream, consumer and buckets (bus.Ensure), stopped when the test ends,
// and returns a JetStream client of it and the ingest consumer.
func Start(t testing.TB) (jetstream.JetStream, jetstream.Consumer) {
	t.Helper()
	srv, err := bus.StartServer(t.TempDir(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cons, err := bus.Ensure(ctx, js, 0)
	if err != nil {
		t.Fatal(err)
	}
	return js, cons
}

// Publish publishes events on their subjects, each with its id as the
// message id, as an agent does, and fails the test at the first refused.
func Publish(t testing.TB, js jetstream.JetStream, events []*protocol.Event) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, e := range events {
		subject, err := protocol.EventSubject(e.Store, e.Kind)
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.Publish(ctx, subject, b, jetstream.WithMsgID(e.ID)); err != nil {
			t.Fatalf("publish %s: %v", subject, err)
		}
	}
}
