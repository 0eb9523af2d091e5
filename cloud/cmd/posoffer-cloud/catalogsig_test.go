package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/posoffer/posoffer/protocol"
	"github.com/posoffer/posoffer/protocol/catalogsig"
)

// hqWrite changes one key of the catalog bucket as HQ's publisher does,
// signed with HQ's key and listed in a new manifest (doc nil deletes it):
// for documents that HQ's own checks would never publish.
func hqWrite(t *testing.T, kv jetstream.KeyValue, key string, doc []byte) {
	t.Helper()
	ctx := context.Background()
	e, err := kv.Get(ctx, catalogsig.ManifestKey)
	if err != nil {
		t.Fatal(err)
	}
	m, err := hqSigner.Verifier().OpenManifest(e.Value())
	if err != nil {
		t.Fatal(err)
	}
	seq := max(m.Seq+1, uint64(time.Now().UnixMilli()))
	if doc != nil {
		if _, err := kv.Put(ctx, key, hqSigner.Sign(key, seq, doc)); err != nil {
			t.Fatal(err)
		}
		m.Entries[key] = catalogsig.Hash(doc)
	} else {
		delete(m.Entries, key)
	}
	if _, err := kv.Put(ctx, catalogsig.ManifestKey, hqSigner.SignManifest(seq, m.Entries)); err != nil {
		t.Fatal(err)
	}
	if doc == nil {
		kv.Delete(ctx, key)
	}
}

// bucketState returns every key of the bucket and its value.
func bucketState(t *testing.T, kv jetstream.KeyValue) map[string][]byte {
	t.Helper()
	ctx := context.Background()
	keys, err := kv.Keys(ctx)
	if err != nil && !errors.Is(err, jetstream.ErrNoKeysFound) {
		t.Fatal(err)
	}
	m := map[string][]byte{}
	for _, k := range keys {
		if e, err := kv.Get(ctx, k); err == nil {
			m[k] = e.Value()
		}
	}
	return m
}

// setBucket makes the bucket hold exactly state, putting the manifest
// last.
func setBucket(t *testing.T, kv jetstream.KeyValue, state map[string][]byte) {
	t.Helper()
	ctx := context.Background()
	for k := range bucketState(t, kv) {
		if _, ok := state[k]; !ok {
			kv.Delete(ctx, k)
		}
	}
	for k, v := range state {
		if k != catalogsig.ManifestKey {
			kv.Put(ctx, k, v)
		}
	}
	if v, ok := state[catalogsig.ManifestKey]; ok {
		kv.Put(ctx, catalogsig.ManifestKey, v)
	}
}

// TestCatalogKeyCommand: posoffer-cloud catalog key prints the public half
// of the configured signing key, as a PEM the agent reads.
func TestCatalogKeyCommand(t *testing.T) {
	dir := t.TempDir()
	cfg := dir + "/cloud.yaml"
	os.WriteFile(cfg, []byte("version: 1\ndata_dir: "+dir+"/data\ncatalog_signing_key_file: "+signingKeyFile+"\n"), 0o644)
	out, err := exec.Command(cloudBin, "catalog", "key", "--config", cfg).Output()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(catalogPubFile)
	if !bytes.Equal(out, want) {
		t.Fatalf("catalog key printed\n%s\nwant\n%s", out, want)
	}
	// Without a key file named, one is made in data_dir.
	os.WriteFile(cfg, []byte("version: 1\ndata_dir: "+dir+"/data\n"), 0o644)
	out, err = exec.Command(cloudBin, "catalog", "key", "--config", cfg).Output()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := catalogsig.ParsePublicKey(out); err != nil || bytes.Equal(out, want) {
		t.Fatalf("catalog key with the default file: %v\n%s", err, out)
	}
	if fi, err := os.Stat(dir + "/data/catalog-signing.pem"); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("default signing key file: %v %v", fi, err)
	}
}

// TestCatalogWrittenByOthersNeverReachesATill: HQ's catalog reaches the
// agent and a till's reply; then an attacker who can write to the
// catalog bucket tries, in every way the signature and the manifest
// stop, to give customers 100% off. Each time the till keeps getting the
// catalog HQ published, the agent says on /status why it refused the
// bucket and counts the refusal, and once the bucket is HQ's again the
// alarm clears.
func TestCatalogWrittenByOthersNeverReachesATill(t *testing.T) {
	h := newHQ(t, "")
	keepCatalog(t, h)
	offerDoc := func(id string, percent int) string {
		return `{"id":"` + id + `","status":"active","reward":{"type":"percent_off","percent":` + strconv.Itoa(percent) + `}}`
	}
	// HQ's launch mistake, published and then fixed: its signed values are
	// what an attacker replays.
	h.push(t, `{"version":1,"offers":[`+offerDoc("hq-ten", 100)+`]}`)
	// The attacker holds HQ's NATS identity, so can write to the bucket,
	// but not HQ's signing key.
	nc := h.connect(t)
	js, _ := jetstream.New(nc)
	kv, err := js.KeyValue(context.Background(), protocol.CatalogBucket)
	if err != nil {
		t.Fatal(err)
	}
	old := bucketState(t, kv)
	h.push(t, `{"version":1,"offers":[`+offerDoc("hq-ten", 10)+`]}`)
	good := bucketState(t, kv)
	if bytes.Equal(old[catalogsig.ManifestKey], good[catalogsig.ManifestKey]) {
		t.Fatal("the second push did not write a new manifest")
	}

	a := newAgent(t, h, h.natsURL, "")
	// The basket is 980; HQ's catalog takes 10% off it.
	reply := func(id string) (string, int64) {
		term := newTerminal(t, a)
		defer term.close()
		r := term.send(id, basketMsg(id), 5*time.Second)
		if r == nil || r.Type != protocol.TypeOffers {
			return "no reply", 0
		}
		var got []string
		for _, o := range r.Offers {
			got = append(got, o.ID+":"+strconv.FormatInt(o.Discount, 10))
		}
		return strings.Join(got, ","), r.Catalog
	}
	const want = "hq-ten:98"
	var rev int64
	if !waitFor(5*time.Second, func() bool { var got string; got, rev = reply("first"); return got == want }) {
		got, _ := reply("first-again")
		t.Fatalf("the till gets %q from HQ's catalog, want %q; agent logs:\n%s", got, want, a.logs)
	}
	if rev < time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli() {
		t.Errorf("catalog revision %d: want the manifest's sequence (Unix milliseconds)", rev)
	}

	attacker := catalogsig.NewSigner(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, ed25519.SeedSize)))
	evil := []byte(offerDoc("evil", 100))
	tampered := bytes.Replace(good["offer.hq-ten"], []byte(`"percent":10`), []byte(`"percent":100`), 1)
	if bytes.Equal(tampered, good["offer.hq-ten"]) {
		t.Fatalf("offer.hq-ten in the bucket: %s", good["offer.hq-ten"])
	}
	with := func(changes map[string][]byte) map[string][]byte {
		s := map[string][]byte{}
		for k, v := range good {
			s[k] = v
		}
		for k, v := range changes {
			s[k] = v
		}
		return s
	}
	for _, tc := range []struct {
		name, reason string
		state        map[string][]byte
	}{
		{"an unsigned 100% offer", "unsigned", with(map[string][]byte{"offer.evil": evil})},
		{"a 100% offer signed with another key", "unknown_signer", with(map[string][]byte{
			"offer.evil": attacker.Sign("offer.evil", 1<<62, evil)})},
		{"another key's manifest listing its offer", "unknown_signer", with(map[string][]byte{
			"offer.evil":           attacker.Sign("offer.evil", 1<<62, evil),
			catalogsig.ManifestKey: attacker.SignManifest(1<<62, map[string]string{"offer.evil": catalogsig.Hash(evil)})})},
		{"HQ's offer edited to 100%", "bad_signature", with(map[string][]byte{"offer.hq-ten": tampered})},
		{"HQ's old 100% value copied under another key", "wrong_key", with(map[string][]byte{"offer.evil": old["offer.hq-ten"]})},
		{"HQ's old 100% value put back", "mismatch", with(map[string][]byte{"offer.hq-ten": old["offer.hq-ten"]})},
		{"HQ's old catalog replayed, manifest and all", "rollback", old},
	} {
		t.Run(tc.name, func(t *testing.T) {
			counter := `posoffer_catalog_refused_total{reason="` + tc.reason + `"}`
			before, _ := strconv.Atoi(metric(t, a.http, counter))
			setBucket(t, kv, tc.state)
			if !waitFor(5*time.Second, func() bool {
				return strings.Contains(agentStatus(t, a), "refused ("+tc.reason+")")
			}) {
				t.Fatalf("/status does not say the bucket was refused (%s): %s", tc.reason, agentStatus(t, a))
			}
			if got, r := reply("attacked"); got != want || r != rev {
				t.Errorf("the till gets %q (catalog %d), want %q (catalog %d)", got, r, want, rev)
			}
			if after, _ := strconv.Atoi(metric(t, a.http, counter)); after <= before {
				t.Errorf("%s went from %d to %d", counter, before, after)
			}
			setBucket(t, kv, good)
			if !waitFor(5*time.Second, func() bool { return !strings.Contains(agentStatus(t, a), "catalog_rejected") }) {
				t.Fatalf("the bucket is HQ's again and /status still says: %s", agentStatus(t, a))
			}
			if got, r := reply("after"); got != want || r != rev {
				t.Errorf("the till gets %q (catalog %d), want %q (catalog %d)", got, r, want, rev)
			}
		})
	}
	// The heartbeat carried the alarm to HQ at some point: the last one
	// is clean again; what matters here is that nothing reached a till.
	var st struct {
		Catalog int64 `json:"catalog"`
	}
	json.Unmarshal([]byte(agentStatus(t, a)), &st)
	if st.Catalog != rev {
		t.Errorf("/status catalog %d, want %d", st.Catalog, rev)
	}
}
