package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/posoffer/posoffer/agent/internal/storetest"
	"github.com/posoffer/posoffer/agent/store"
	"github.com/posoffer/posoffer/protocol"
	"github.com/posoffer/posoffer/protocol/offer"
)

// TestAgentStartsOnAFreshStoreAfterDamage runs the agent on a store file
// with a few hundred profiles, records a checkout, stops it, damages the
// file each way storetest knows (truncations, zeroed meta pages, garbage
// in a branch page, random bytes) and starts it again. The agent must
// start, not crash; move the file aside intact; raise the alarm on
// /status, in posoffer_store_damaged and its log; and serve a basket and
// acknowledge a checkout into the fresh file.
func TestAgentStartsOnAFreshStoreAfterDamage(t *testing.T) {
	for _, how := range storetest.Damages {
		t.Run(how, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "data", "agent.db")
			os.MkdirAll(filepath.Dir(path), 0o700)
			seed, err := store.Open(path, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			profiles := map[string]*offer.Profile{}
			for i := range 600 {
				key := strings.Map(func(r rune) rune { return 'a' + (r - '0') }, fmt.Sprintf("%026d", i))
				profiles[key] = &offer.Profile{Visits: 1, FirstVisit: "2026-01-01"}
			}
			if err := seed.SaveProfiles(profiles); err != nil {
				t.Fatal(err)
			}
			seed.Close()

			a := startAgent(t, dir, "")
			if st := agentStatus(t, a); st.Alarms == nil || len(st.Alarms) != 0 {
				t.Fatalf("alarms on a sound file: %#v, want []", st.Alarms)
			}
			if got := metric(t, a, "posoffer_store_damaged"); got != "0" {
				t.Fatalf("posoffer_store_damaged = %q on a sound file", got)
			}
			term := newTerminal(t, a, "t01")
			if r := term.send(t, "m-1", checkoutMsg("m-1", "T1")); r.Type != protocol.TypeAck {
				t.Fatalf("checkout: %+v", r)
			}
			a.stop(t)

			storetest.Damage(t, path, how)
			damaged, _ := os.ReadFile(path)
			b := startAgent(t, dir, a.store)
			st := agentStatus(t, b)
			if len(st.Alarms) != 1 || st.Alarms[0].Code != "store_damaged" ||
				!strings.HasPrefix(st.Alarms[0].MovedTo, path+".damaged-") {
				t.Fatalf("status alarms %+v, want store_damaged", st.Alarms)
			}
			moved := st.Alarms[0].MovedTo
			if got, err := os.ReadFile(moved); err != nil || string(got) != string(damaged) {
				t.Errorf("the damaged file is not at %s as it was: %v", moved, err)
			}
			if got := metric(t, b, "posoffer_store_damaged"); got != "1" {
				t.Errorf("posoffer_store_damaged = %q, want 1", got)
			}
			if logs := b.logs.String(); !strings.Contains(logs, moved) || !strings.Contains(logs, "recoverable") {
				t.Errorf("the log does not say where the damaged file went:\n%s", logs)
			}
			term = newTerminal(t, b, "t01")
			if r := term.send(t, "m-2", basketMsg("m-2", "T2")); r.Type != protocol.TypeOffers || len(r.Offers) == 0 {
				t.Fatalf("basket after damage: %+v", r)
			}
			if r := term.send(t, "m-3", checkoutMsg("m-3", "T2")); r.Type != protocol.TypeAck {
				t.Fatalf("checkout after damage: %+v", r)
			}
			b.stop(t)

			// The acknowledged checkout is in the fresh file, which is
			// sound; the alarm stays while the damaged file is kept.
			db, err := store.Open(path, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if d := db.Damage(); d == nil || d.MovedTo != moved {
				t.Fatalf("reopened: damage %+v, want the alarm about %s still", d, moved)
			}
			pending, _ := db.Peek(100)
			found := false
			for _, p := range pending {
				if e, err := protocol.DecodeEvent(p.Event); err == nil && e.Kind == protocol.EventCheckout && e.Txn == "T2" {
					found = true
				}
			}
			if !found {
				t.Error("the checkout acknowledged after the damage is not in the fresh file")
			}
		})
	}
}
