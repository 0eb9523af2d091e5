package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/posoffer/posoffer/protocol"
)

// stream sends checkouts from one till until stop is closed, and returns
// the txns it sent and the ones the agent acknowledged.
func stream(t *testing.T, a *agent, prefix string, stop <-chan struct{}) (sent, acked []string) {
	term := newTerminal(t, a)
	defer term.close()
	for i := 0; ; i++ {
		select {
		case <-stop:
			return sent, acked
		default:
		}
		txn := fmt.Sprintf("%s-%d", prefix, i)
		sent = append(sent, txn)
		if r := term.send("m-"+txn, checkoutMsg(txn), time.Second); r != nil && r.Type == protocol.TypeAck {
			acked = append(acked, txn)
		} else if r == nil {
			return sent, acked // killed meanwhile
		}
	}
}

// settle sends every txn again until the agent acknowledges it, as a till
// does with a checkout whose answer it never got.
func settle(t *testing.T, a *agent, txns []string) {
	t.Helper()
	settleAs(t, a, txns, loyaltyID)
}

// settleAs is settle for a customer of the given loyalty id.
func settleAs(t *testing.T, a *agent, txns []string, loyalty string) {
	t.Helper()
	term := newTerminal(t, a)
	defer term.close()
	for _, txn := range txns {
		msg := strings.Replace(checkoutMsg(txn), loyaltyID, loyalty, 1)
		if r := term.send("m-"+txn, msg, 5*time.Second); r == nil || r.Type != protocol.TypeAck {
			t.Fatalf("checkout %s sent again: %+v", txn, r)
		}
	}
}

// checkExactlyOnce waits until HQ holds every txn, then checks that it
// holds each exactly once and nothing else.
func checkExactlyOnce(t *testing.T, h *hq, storeID string, txns []string) {
	t.Helper()
	db := h.db(t)
	var got map[string]int
	ok := waitFor(60*time.Second, func() bool {
		got = redemptions(t, db, storeID)
		return len(got) >= len(txns)
	})
	if !ok {
		t.Errorf("after 60s HQ has %d of %d checkouts", len(got), len(txns))
	}
	time.Sleep(500 * time.Millisecond) // anything extra would arrive now
	got = redemptions(t, db, storeID)
	want := map[string]bool{}
	for _, txn := range txns {
		want[txn] = true
		if got[txn] != 1 {
			t.Errorf("checkout %s is in HQ %d times, want 1", txn, got[txn])
		}
	}
	for txn, n := range got {
		if !want[txn] {
			t.Errorf("HQ has checkout %s (%d times), which no till completed", txn, n)
		}
	}
}

// TestExactlyOnceThroughKills streams checkouts through an agent while
// killing it with SIGKILL four times, and HQ once; afterwards HQ holds
// every acknowledged checkout exactly once.
func TestExactlyOnceThroughKills(t *testing.T) {
	h := newHQ(t, "")
	h.push(t, testCatalog) // on a shared NATS, the bucket holds what the last test left
	a := newAgent(t, h, h.natsURL, testCatalog)
	var all, again []string
	for round := range 4 {
		stop := make(chan struct{})
		done := make(chan []string)
		go func() {
			sent, acked := stream(t, a, fmt.Sprintf("K%d", round), stop)
			// Sent again below: every one not acknowledged, and some
			// that were.
			answered := map[string]bool{}
			for _, txn := range acked {
				answered[txn] = true
			}
			for i, txn := range sent {
				if !answered[txn] || i%20 == 0 {
					again = append(again, txn)
				}
			}
			done <- sent
		}()
		time.Sleep(time.Duration(300+rand.IntN(500)) * time.Millisecond)
		a.cmd.Process.Kill() // while checkouts are in flight
		a.cmd.Wait()
		if round == 1 {
			h.kill() // HQ too, in the middle of ingesting
		}
		close(stop)
		all = append(all, <-done...)
		if round == 1 {
			h.start(t)
		}
		a.start(t)
	}
	// A till repeats a checkout it got no answer to; the agent records it
	// once whatever happened before the kill.
	settle(t, a, again)
	if len(all) < 20 {
		t.Fatalf("only %d checkouts sent; the test did not exercise the agent", len(all))
	}
	checkExactlyOnce(t, h, a.store, all)
	t.Logf("%d checkouts across 4 agent kills and 1 HQ kill", len(all))
}

// TestOfflineStoreCatchesUp cuts the store's link to HQ and stops HQ for
// longer than the stream's duplicate window; checkouts go on at the store
// and all arrive once when both are back. Then an event HQ already has is
// published again, long after the window: HQ still counts it once.
func TestOfflineStoreCatchesUp(t *testing.T) {
	h := newHQ(t, ", duplicate_window: 1s")
	h.push(t, testCatalog) // on a shared NATS, the bucket holds what the last test left
	link := newProxy(t, strings.TrimPrefix(h.natsURL, "nats://"))
	a := newAgent(t, h, link.url(), testCatalog)
	settle(t, a, []string{"before-1", "before-2"})

	link.cut()
	h.stop(t)
	var txns []string
	for i := range 150 {
		txns = append(txns, fmt.Sprintf("off-%d", i))
	}
	settle(t, a, txns) // the store keeps serving and recording
	time.Sleep(1500 * time.Millisecond)
	if depth := outboxDepth(t, a); depth < 150 {
		t.Errorf("outbox depth %d while offline, want at least 150", depth)
	}
	h.start(t)
	link.restore()
	checkExactlyOnce(t, h, a.store, append(txns, "before-1", "before-2"))
	if !waitFor(10*time.Second, func() bool { return outboxDepth(t, a) == 0 }) {
		t.Errorf("outbox not drained: %d", outboxDepth(t, a))
	}

	// Publish a stored checkout's redemption again, after the window.
	nc := h.connect(t)
	js, _ := jetstream.New(nc)
	id, _ := uuid.NewV7()
	e := protocol.Event{ID: id.String(), Kind: protocol.EventRedemption, Store: a.store, At: time.Now().UTC(), Txn: "replayed",
		Redemption: &protocol.RedemptionEvent{Offer: "coffee-2-pastry", Discount: 280}}
	b, _ := json.Marshal(e)
	subject, _ := protocol.EventSubject(a.store, e.Kind)
	db := h.db(t)
	for range 2 {
		if _, err := js.Publish(context.Background(), subject, b, jetstream.WithMsgID(e.ID)); err != nil {
			t.Fatal(err)
		}
		if !waitFor(10*time.Second, func() bool { return redemptions(t, db, a.store)["replayed"] > 0 }) {
			t.Fatal("the published redemption did not reach HQ")
		}
		time.Sleep(1500 * time.Millisecond) // past the stream's duplicate window
	}
	if n := redemptions(t, db, a.store)["replayed"]; n != 1 {
		t.Errorf("an event published twice, 1.5 s apart, is in HQ %d times, want 1", n)
	}
}

func outboxDepth(t *testing.T, a *agent) int64 {
	t.Helper()
	resp, err := http.Get("http://" + a.http + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Outbox struct {
			Depth int64 `json:"depth"`
		} `json:"outbox"`
	}
	json.NewDecoder(resp.Body).Decode(&st)
	return st.Outbox.Depth
}

// TestCatalogFromHQ pushes catalogs at HQ and watches a running agent's
// replies change; an agent restarted without HQ serves the last catalog
// it had.
func TestCatalogFromHQ(t *testing.T) {
	h := newHQ(t, "")
	offerDoc := func(id string, percent int) string {
		return fmt.Sprintf(`{"id":%q,"status":"active","reward":{"type":"percent_off","percent":%d}}`, id, percent)
	}
	h.push(t, `{"version":1,"offers":[`+offerDoc("hq-five", 5)+`]}`)
	a := newAgent(t, h, h.natsURL, "")
	offered := func(id string) (string, int64) {
		term := newTerminal(t, a)
		defer term.close()
		r := term.send(id, basketMsg(id), 5*time.Second)
		if r == nil || r.Type != protocol.TypeOffers {
			return fmt.Sprintf("%+v", r), 0
		}
		var ids []string
		for _, o := range r.Offers {
			ids = append(ids, o.ID)
		}
		return strings.Join(ids, ","), r.Catalog
	}
	if got, _ := offered("b1"); got != "hq-five" {
		t.Fatalf("offers %q from the catalog HQ had at start, want hq-five", got)
	}

	// The file's offers are added or updated; one it ends stops applying.
	ended := strings.Replace(offerDoc("hq-five", 5), `"active"`, `"ended"`, 1)
	h.push(t, `{"version":1,"offers":[`+ended+`,`+offerDoc("hq-ten", 10)+`]}`)
	start := time.Now()
	var rev int64
	if !waitFor(2*time.Second, func() bool { got, r := offered("b2"); rev = r; return got == "hq-ten" }) {
		got, _ := offered("b3")
		t.Fatalf("2s after the push the agent offers %q, want hq-ten", got)
	}
	t.Logf("catalog change reached the agent's replies in %v", time.Since(start).Round(time.Millisecond))

	// An offer HQ's checks would refuse, signed with HQ's key and put
	// straight into the bucket: the agent refuses the catalog whole and
	// keeps serving the last one.
	nc := h.connect(t)
	js, _ := jetstream.New(nc)
	kv, err := js.KeyValue(context.Background(), protocol.CatalogBucket)
	if err != nil {
		t.Fatal(err)
	}
	hqWrite(t, kv, "offer.broken", []byte(`{"id":"broken","status":"active","reward":{"type":"percent_off","percent":250}}`))
	if !waitFor(3*time.Second, func() bool { return strings.Contains(agentStatus(t, a), "catalog_rejected") }) {
		t.Errorf("status does not report the refused catalog: %s", agentStatus(t, a))
	}
	if got, r := offered("b4"); got != "hq-ten" || r != rev {
		t.Errorf("after a bad catalog the agent offers %q (catalog %d), want hq-ten (catalog %d)", got, r, rev)
	}
	hqWrite(t, kv, "offer.broken", nil)
	nc.Close()
	if !waitFor(3*time.Second, func() bool { return !strings.Contains(agentStatus(t, a), "catalog_rejected") }) {
		t.Errorf("status still reports a refused catalog once it is fixed: %s", agentStatus(t, a))
	}
	if _, rev = offered("b4b"); rev == 0 {
		t.Fatal("no catalog revision")
	}

	// Restarted with HQ gone: the last catalog it applied.
	h.stop(t)
	a.stop(t)
	a.start(t)
	if got, r := offered("b5"); got != "hq-ten" || r != rev {
		t.Errorf("restarted offline, the agent offers %q (catalog %d), want hq-ten (catalog %d)", got, r, rev)
	}
}

func agentStatus(t *testing.T, a *agent) string {
	t.Helper()
	resp, err := http.Get("http://" + a.http + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}

// TestProfileAcrossStores: a customer earns a segment with checkouts at
// one store, and the next store they visit sees it, through HQ's merged
// profile.
func TestProfileAcrossStores(t *testing.T) {
	h := newHQ(t, "")
	catalog := `{"version":1,
 "segments":[{"id":"coffee-fan","when":{"history":{"categories":["coffee"],"min_qty":4}}}],
 "offers":[
  {"id":"coffee-2-pastry","status":"active","condition":{"items":{"categories":["coffee"],"min_qty":2}},
   "reward":{"type":"free_item","target":{"categories":["pastry"]},"qty":1}},
  {"id":"fans-10","status":"active","audience":{"segments_any":["coffee-fan"]},"reward":{"type":"percent_off","percent":10}}]}`
	h.push(t, catalog)
	a, b := newAgent(t, h, h.natsURL, ""), newAgent(t, h, h.natsURL, "")
	loyalty := fmt.Sprintf("49%011d", rand.IntN(1e11)) // a customer of this test's own
	settleAs(t, a, []string{"a-1", "a-2"}, loyalty)    // 2 coffees each: 4 in all, at store a

	nc := h.connect(t)
	js, _ := jetstream.New(nc)
	kv, err := js.KeyValue(context.Background(), protocol.ProfilesBucket)
	if err != nil {
		t.Fatal(err)
	}
	// The customer_key, as every store of the tenant derives it.
	mac := hmac.New(sha256.New, []byte(tenantKey))
	mac.Write([]byte(loyalty))
	key := strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(mac.Sum(nil)))[:26]
	var merged struct {
		Visits int64 `json:"visits"`
	}
	if !waitFor(10*time.Second, func() bool {
		e, err := kv.Get(context.Background(), key)
		if err != nil {
			return false
		}
		json.Unmarshal(e.Value(), &merged)
		return merged.Visits == 2
	}) {
		t.Fatalf("HQ's merged profile has %d visits after 10s, want 2", merged.Visits)
	}
	term := newTerminal(t, b)
	defer term.close()
	basket := strings.Replace(basketMsg("b1"), `"txn"`, `"customer":"`+loyalty+`","txn"`, 1)
	r := term.send("b1", basket, 5*time.Second)
	if r == nil {
		t.Fatal("no reply from store b")
	}
	var ids []string
	for _, o := range r.Offers {
		ids = append(ids, o.ID)
	}
	if !strings.Contains(strings.Join(ids, ","), "fans-10") {
		t.Errorf("store b offers %v to a customer who bought 4 coffees at store a, want fans-10 among them", ids)
	}

	// Both stores' heartbeats reached HQ, with the catalog they serve.
	db := h.db(t)
	seen := map[string]bool{}
	waitFor(5*time.Second, func() bool {
		rows, err := db.Stores(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range rows {
			if (s.Store == a.store || s.Store == b.store) && s.Agent != "" && s.Catalog == r.Catalog && !s.LastSeen.IsZero() {
				seen[s.Store] = true
			}
		}
		return len(seen) == 2
	})
	if len(seen) != 2 {
		t.Errorf("stores with a heartbeat at HQ serving catalog %d: %v, want %s and %s", r.Catalog, seen, a.store, b.store)
	}
}

// TestProfileFetchHasABudget: with the link to HQ hanging, a basket of a
// customer the store has not asked HQ about is answered from the store's
// own profile once the 50 ms budget is spent, not after NATS's timeouts.
func TestProfileFetchHasABudget(t *testing.T) {
	h := newHQ(t, "")
	h.push(t, testCatalog) // on a shared NATS, the bucket holds what the last test left
	link := newProxy(t, strings.TrimPrefix(h.natsURL, "nats://"))
	a := newAgent(t, h, link.url(), testCatalog)
	if !waitFor(5*time.Second, func() bool { return strings.Contains(agentStatus(t, a), `"connected": true`) }) {
		t.Fatalf("agent not connected to HQ: %s", agentStatus(t, a))
	}
	time.Sleep(300 * time.Millisecond) // the uplink has its buckets
	link.freeze(true)
	defer link.freeze(false)
	term := newTerminal(t, a)
	defer term.close()
	basket := strings.Replace(basketMsg("b1"), `"txn"`, `"customer":"4900000000042","txn"`, 1)
	start := time.Now()
	r := term.send("b1", basket, 5*time.Second)
	took := time.Since(start)
	if r == nil || r.Type != protocol.TypeOffers || len(r.Offers) != 1 {
		t.Fatalf("reply %+v, want the offers of the store's own view", r)
	}
	if took > time.Second {
		t.Errorf("reply took %v with HQ hanging; the budget is 50 ms", took)
	}
	if got := metric(t, a.http, `posoffer_remote_profiles_total{result="unanswered"}`); got != "1" {
		t.Errorf("unanswered profile fetches = %q, want 1", got)
	}
	t.Logf("reply in %v with HQ hanging", took.Round(time.Millisecond))
}

// metric returns one metric's value from the /metrics of the process at
// addr (host:port), "" when it has none.
func metric(t *testing.T, addr, name string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	io.Copy(&b, resp.Body)
	for _, line := range strings.Split(b.String(), "\n") {
		if strings.HasPrefix(line, name+" ") {
			return strings.TrimPrefix(line, name+" ")
		}
	}
	return ""
}

// TestReplicasShareOneConsumer runs two HQ replicas on one PostgreSQL and
// one NATS: they share the durable consumer, and every checkout is stored
// once.
func TestReplicasShareOneConsumer(t *testing.T) {
	if os.Getenv("POSOFFER_TEST_PG_URL") == "" {
		t.Skip("replicas share a PostgreSQL: set POSOFFER_TEST_PG_URL")
	}
	h1 := newHQ(t, "")
	h1.push(t, testCatalog) // on a shared NATS, the bucket holds what the last test left
	h2 := newReplica(t, h1)
	a := newAgent(t, h1, h1.natsURL, testCatalog)
	b := newAgent(t, h1, h1.natsURL, testCatalog)
	var txns []string
	for i := range 300 {
		txns = append(txns, fmt.Sprintf("r-%d", i))
	}
	done := make(chan struct{})
	go func() { settle(t, b, txns); close(done) }()
	settle(t, a, txns)
	<-done
	checkExactlyOnce(t, h1, a.store, txns)
	checkExactlyOnce(t, h1, b.store, txns)
	t.Logf("events stored by replica 1: %s, by replica 2: %s", metric(t, h1.http, `posoffer_cloud_events_total{result="new"}`),
		metric(t, h2.http, `posoffer_cloud_events_total{result="new"}`))
}

// TestCatalogPushRefusesABadFile: a file the agents would refuse changes
// nothing at HQ, and the error names the offer and the field.
func TestCatalogPushRefusesABadFile(t *testing.T) {
	h := newHQ(t, "")
	f := filepath.Join(h.dir, "bad.json")
	os.WriteFile(f, []byte(`{"version":1,"offers":[{"id":"ok","status":"active","reward":{"type":"percent_off","percent":5}},
 {"id":"bad","status":"active","reward":{"type":"percent_off","percent":250}}]}`), 0o644)
	out, err := exec.Command(cloudBin, "catalog", "push", "--config", h.config, "--file", f).CombinedOutput()
	if code := exitCode(err); code != exitUsage || !strings.Contains(string(out), `offer "bad"`) {
		t.Fatalf("exit %d, output %q; want exit 2 naming offer \"bad\"", code, out)
	}
	cat, err := h.db(t).Catalog(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(cat.Offers)+len(cat.Segments) != 0 {
		t.Errorf("HQ holds %d offers after a refused push, want none", len(cat.Offers))
	}
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}
