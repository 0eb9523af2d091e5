package uplink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/posoffer/posoffer/agent/internal/natstest"
	"github.com/posoffer/posoffer/agent/store"
	"github.com/posoffer/posoffer/protocol"
)

// BenchmarkDrain measures, in one run on one NATS server, how fast a
// store's backlog reaches HQ's stream after an outage: b.N events (at
// least 100,000) waiting in the outbox, drained by the uplink
// (drain-ev/s), beside raw asynchronous publishing of as many events of
// the same size to the same stream (publish-ev/s). The server is the one
// at POSOFFER_TEST_NATS_URL, or else one in-process that syncs every write
// before acknowledging it, as HQ's embedded server does.
func BenchmarkDrain(b *testing.B) {
	n := max(b.N, 100_000)
	url := os.Getenv("POSOFFER_TEST_NATS_URL")
	if url == "" {
		url = natstest.Start(b, server.Options{JetStream: true, SyncAlways: true}).ClientURL()
	}
	nc, err := nats.Connect(url)
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(1000))
	ctx := context.Background()
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: protocol.EventsStream,
		Subjects: []string{protocol.EventsSubjects}, Storage: jetstream.FileStorage, Duplicates: 2 * time.Minute}); err != nil {
		b.Fatal(err)
	}
	storeID := fmt.Sprintf("bench%d", time.Now().UnixNano()%1e9)
	db, err := store.Open(filepath.Join(b.TempDir(), "agent.db"), store.Options{MaxOutbox: int64(2 * n)})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	// The backlog: impressions, written as the agent writes them, in batches.
	at := time.Now().UTC()
	for left := n; left > 0; left -= 10_000 {
		var batch []store.Impression
		for i := range min(left, 10_000) {
			batch = append(batch, store.Impression{CustomerKey: strings.Map(func(r rune) rune { return r - '0' + 'a' }, fmt.Sprintf("%026o", i)), At: at, Day: 20_000,
				Offers: []string{fmt.Sprintf("offer-%02d", i%40)}})
		}
		if err := db.RecordImpressions(storeID, batch); err != nil {
			b.Fatal(err)
		}
	}
	sample, err := db.Peek(1)
	if err != nil || len(sample) != 1 {
		b.Fatal("no backlog", err)
	}
	b.ResetTimer()

	// Raw publishing of as many events of the same size.
	subject, _ := protocol.EventSubject(storeID, protocol.EventImpression)
	start := time.Now()
	for range n {
		id, _ := uuid.NewV7()
		var e protocol.Event
		json.Unmarshal(sample[0].Event, &e)
		e.ID = id.String()
		data, _ := json.Marshal(&e)
		for {
			_, err := js.PublishAsync(subject, data, jetstream.WithMsgID(e.ID))
			if err == nil {
				break
			}
			if !errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
				b.Fatal(err)
			}
			<-js.PublishAsyncComplete()
		}
	}
	<-js.PublishAsyncComplete()
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "publish-ev/s")

	// The uplink draining the backlog.
	start = time.Now()
	u, err := Start(Options{URL: url, Store: storeID, DB: db, Apply: func(int64, []byte) error { return nil }, AllowUnsigned: true})
	if err != nil {
		b.Fatal(err)
	}
	defer u.Close()
	for {
		st, err := db.Outbox()
		if err != nil {
			b.Fatal(err)
		}
		if st.Depth == 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "drain-ev/s")
}
