package uplink

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/posoffer/posoffer/agent/internal/natstest"
	"github.com/posoffer/posoffer/agent/store"
	"github.com/posoffer/posoffer/protocol"
)

// TestHeartbeatReportsADamagedStore: an agent that started on a fresh
// store file because its file was damaged says so in every heartbeat, in
// store_damaged and in alarms.
func TestHeartbeatReportsADamagedStore(t *testing.T) {
	srv := natstest.Start(t, server.Options{JetStream: true})
	nc := natstest.Connect(t, srv.ClientURL())
	beats := make(chan *nats.Msg, 10)
	subject, _ := protocol.EventSubject("s1", protocol.EventHeartbeat)
	nc.ChanSubscribe(subject, beats)
	nc.Flush()

	path := filepath.Join(t.TempDir(), "agent.db")
	os.WriteFile(path, []byte("not a bbolt file at all"), 0o600)
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if db.Damage() == nil {
		t.Fatal("the store did not report the damaged file")
	}
	u, err := Start(Options{URL: srv.ClientURL(), Store: "s1", DB: db, Heartbeat: time.Hour, AllowUnsigned: true,
		Apply: func(int64, []byte) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	select {
	case m := <-beats:
		var e protocol.Event
		if err := json.Unmarshal(m.Data, &e); err != nil || e.Heartbeat == nil {
			t.Fatalf("heartbeat %s: %v", m.Data, err)
		}
		h := e.Heartbeat
		if h.StoreDamaged != db.Damage().MovedTo {
			t.Errorf("store_damaged %q, want %q", h.StoreDamaged, db.Damage().MovedTo)
		}
		if len(h.Alarms) != 1 || !strings.HasPrefix(h.Alarms[0], "store_damaged: ") || len(h.Alarms[0]) > 1024 {
			t.Errorf("alarms %q", h.Alarms)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no heartbeat")
	}
}
