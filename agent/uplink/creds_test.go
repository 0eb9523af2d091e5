package uplink

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	"github.com/posoffer/posoffer/agent/store"
)

func TestCredsOption(t *testing.T) {
	dir := t.TempDir()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := kp.Seed()
	files := map[string]string{
		"seed":  string(seed) + "\n",
		"creds": "-----BEGIN NATS USER JWT-----\neyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.e30.c2ln\n------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\n" + string(seed) + "\n------END USER NKEY SEED------\n",
		"junk":  "not a key\n",
	}
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		o, err := credsOption(path)
		if (err == nil) != (name != "junk") || (err == nil && o == nil) {
			t.Errorf("%s: option %v, err %v", name, o != nil, err)
		}
	}
	if _, err := credsOption(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing file: no error")
	}
}

// TestRefusedThenAdmitted: an agent whose identity HQ's server does not
// know yet keeps trying, and connects once the server learns it (as after
// posoffer-cloud store add), with its store's inbox prefix.
func TestRefusedThenAdmitted(t *testing.T) {
	other, _ := nkeys.CreateUser()
	otherPub, _ := other.PublicKey()
	kp, _ := nkeys.CreateUser()
	pub, _ := kp.PublicKey()
	seed, _ := kp.Seed()
	seedFile := filepath.Join(t.TempDir(), "s1.nk")
	os.WriteFile(seedFile, append(seed, '\n'), 0o600)

	opts := &server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoSigs: true, NoLog: true,
		Nkeys: []*server.NkeyUser{{Nkey: otherPub}}}
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server did not start")
	}
	defer srv.Shutdown()

	db, err := store.Open(filepath.Join(t.TempDir(), "agent.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	u, err := Start(Options{URL: srv.ClientURL(), Creds: seedFile, Store: "s1", DB: db, Heartbeat: time.Hour, AllowUnsigned: true,
		Apply: func(int64, []byte) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	time.Sleep(2500 * time.Millisecond) // refused at least twice
	if u.Connected() {
		t.Fatal("connected with a key the server does not know")
	}
	newOpts := opts.Clone()
	newOpts.Nkeys = append(newOpts.Nkeys, &server.NkeyUser{Nkey: pub})
	if err := srv.ReloadOptions(newOpts); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !u.Connected() {
		if time.Now().After(deadline) {
			t.Fatal("not connected 5s after the server learnt the store's key")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if p := u.nc.Opts.InboxPrefix; p != "_INBOX_s1" {
		t.Errorf("inbox prefix %q, want _INBOX_s1", p)
	}
}
