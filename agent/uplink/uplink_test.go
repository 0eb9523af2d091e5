package uplink

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/posoffer/posoffer/agent/internal/natstest"
	"github.com/posoffer/posoffer/agent/store"
	"github.com/posoffer/posoffer/protocol"
)

// TestDrainRecoversFromLostAcknowledgements: publishes that are never
// acknowledged (something takes them, as a stream without a leader would)
// must not hold the publish window for ever; once HQ's stream is healthy,
// the outbox drains.
func TestDrainRecoversFromLostAcknowledgements(t *testing.T) {
	srv := natstest.Start(t, server.Options{JetStream: true})
	nc := natstest.Connect(t, srv.ClientURL())
	sink, _ := nc.Subscribe(protocol.EventsSubjects, func(*nats.Msg) {}) // takes them, answers nothing
	nc.Flush()

	db, err := store.Open(filepath.Join(t.TempDir(), "agent.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var batch []store.Impression
	for i := range 10 {
		batch = append(batch, store.Impression{CustomerKey: strings.Map(func(r rune) rune { return r - '0' + 'a' }, fmt.Sprintf("%026o", i)), At: time.Now().UTC(), Day: 20_000,
			Offers: []string{"o"}})
	}
	if err := db.RecordImpressions("s1", batch); err != nil {
		t.Fatal(err)
	}
	u, err := Start(Options{URL: srv.ClientURL(), Store: "s1", DB: db, Batch: 5, Heartbeat: time.Hour,
		AckWait: 300 * time.Millisecond, Apply: func(int64, []byte) error { return nil }, AllowUnsigned: true})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	time.Sleep(time.Second) // publishes go into the sink, unacknowledged
	if st, _ := db.Outbox(); st.Depth != 10 {
		t.Fatalf("outbox depth %d with nothing acknowledged, want 10", st.Depth)
	}
	sink.Unsubscribe()
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: protocol.EventsStream,
		Subjects: []string{protocol.EventsSubjects}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		st, err := db.Outbox()
		if err != nil {
			t.Fatal(err)
		}
		if st.Depth == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox depth %d 15s after the stream is healthy, want 0", st.Depth)
		}
		time.Sleep(50 * time.Millisecond)
	}
	info, err := js.Stream(context.Background(), protocol.EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	if n := info.CachedInfo().State.Msgs; n != 10 {
		t.Errorf("stream holds %d events, want 10", n)
	}
}
