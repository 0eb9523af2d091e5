package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/posoffer/posoffer/agent/service"
	"github.com/posoffer/posoffer/agent/store"
	"github.com/posoffer/posoffer/protocol"
	"github.com/posoffer/posoffer/protocol/offer"
)

// BenchmarkAgentOverMQTT measures the agent as a terminal sees it: the time
// from publishing a basket to receiving the offers reply, at 500 baskets a
// second from 10 terminals, with 10,000 offers and 100,000 customer
// profiles loaded. In the same run, an echo responder on the same broker
// (it republishes each message unchanged) gets the same messages at the
// same rate: its latency is what the broker and MQTT cost, and
// p99-over-echo-us is what the agent adds. Run it for the embedded broker
// and for a Mosquitto it starts with set_tcp_nodelay (skipped when
// mosquitto is not installed). Each op is one basket; see BENCHMARKS.md.
func BenchmarkAgentOverMQTT(b *testing.B) {
	catalog, basketOf := benchWorld(10_000)
	b.Run("broker=embedded", func(b *testing.B) { benchAgent(b, catalog, basketOf, "") })
	b.Run("broker=mosquitto", func(b *testing.B) {
		url := startMosquitto(b)
		benchAgent(b, catalog, basketOf, url)
	})
}

const (
	benchProfiles = 100_000
	warmup        = 500 // baskets before measuring
)

func benchAgent(b *testing.B, catalog string, basketOf func(r *rand.Rand, id, txn string) []byte, broker string) {
	dir := b.TempDir()
	preloadProfiles(b, dir, benchProfiles)
	a := startAgentWith(b, dir, "", catalog, broker)

	// The embedded broker lets each terminal only its own topics: there
	// is no echo baseline there (no identity may publish what another
	// reads but the agent), and each terminal connects as itself.
	withEcho := !a.authenticated
	echoIn, echoOut := "posoffer-bench/"+a.store+"/echo/in", "posoffer-bench/"+a.store+"/echo/out"
	if withEcho {
		echo := benchClient(b, a.broker, "echo-"+a.store)
		echo.Subscribe(echoIn, 1, func(c paho.Client, m paho.Message) {
			c.Publish(echoOut, 1, false, m.Payload()) // never waits: paho handlers must not block
		}).Wait()
	}

	var mu sync.Mutex
	sentAt := map[string]time.Time{}
	var agentLat, echoLat []time.Duration
	done := make(chan struct{}, 1<<16)
	receive := func(lat *[]time.Duration, prefix string) paho.MessageHandler {
		return func(_ paho.Client, m paho.Message) {
			now := time.Now()
			var r struct {
				ID string `json:"id"`
				Re string `json:"re"`
			}
			json.Unmarshal(m.Payload(), &r)
			key := prefix + r.Re + r.ID // the echo returns the basket itself: its id
			mu.Lock()
			if t0, ok := sentAt[key]; ok {
				*lat = append(*lat, now.Sub(t0))
				delete(sentAt, key)
			}
			mu.Unlock()
			done <- struct{}{}
		}
	}
	// terms[i] publishes as terminal i: one client for all, or each
	// terminal as itself.
	terms := make([]paho.Client, 10)
	if withEcho {
		term := benchClient(b, a.broker, "terminals-"+a.store)
		term.Subscribe(fmt.Sprintf(protocol.TopicOutT, a.store, "+"), 1, receive(&agentLat, "a:")).Wait()
		term.Subscribe(echoOut, 1, receive(&echoLat, "e:")).Wait()
		for i := range terms {
			terms[i] = term
		}
	} else {
		for i := range terms {
			id := fmt.Sprintf("t%02d", i)
			terms[i] = dialAs(b, a, id)
			b.Cleanup(func() { terms[i].Disconnect(100) })
			out, _ := protocol.TopicOut(a.store, id)
			terms[i].Subscribe(out, 1, receive(&agentLat, "a:")).Wait()
		}
	}

	r := rand.New(rand.NewPCG(1, 2))
	tick := time.NewTicker(2 * time.Millisecond) // 500 baskets a second
	defer tick.Stop()
	sent := 0
	// Warm up for a second (connections, the store's pages), unmeasured.
	for i := range warmup {
		<-tick.C
		terminal := fmt.Sprintf("t%02d", i%10)
		in, _ := protocol.TopicIn(a.store, terminal)
		terms[i%10].Publish(in, 1, false, basketOf(r, fmt.Sprintf("w-%d", i), "warm"))
		sent++
		if withEcho {
			terms[i%10].Publish(echoIn, 1, false, basketOf(r, fmt.Sprintf("w-%d", i), "warm"))
			sent++
		}
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		<-tick.C
		terminal := fmt.Sprintf("t%02d", i%10)
		id := fmt.Sprintf("m-%d", i)
		payload := basketOf(r, id, fmt.Sprintf("%s-%d", terminal, i/10))
		in, _ := protocol.TopicIn(a.store, terminal)
		mu.Lock()
		now := time.Now()
		sentAt["a:"+id] = now
		if withEcho {
			sentAt["e:"+id] = now
		}
		mu.Unlock()
		terms[i%10].Publish(in, 1, false, payload)
		sent++
		if withEcho {
			terms[i%10].Publish(echoIn, 1, false, payload)
			sent++
		}
	}
	b.StopTimer()
	timeout := time.After(5 * time.Second)
	for got := 0; got < sent; got++ {
		select {
		case <-done:
		case <-timeout:
			b.Fatalf("%d of %d replies after 5s", got, sent)
		}
	}
	b.ReportMetric(float64(a.ready.Milliseconds()), "ready-ms")
	ap, ep := percentiles(agentLat), percentiles(echoLat)
	b.ReportMetric(ap[0], "agent-p50-us")
	b.ReportMetric(ap[1], "agent-p99-us")
	if withEcho {
		b.ReportMetric(ep[0], "echo-p50-us")
		b.ReportMetric(ep[1], "echo-p99-us")
		b.ReportMetric(ap[1]-ep[1], "p99-over-echo-us")
	}
	rss, anon := rssOf(b, a.cmd.Process.Pid)
	b.ReportMetric(rss, "rss-MB")
	b.ReportMetric(anon, "rss-anon-MB")
	if got := metric(b, a, "posoffer_baskets_total"); got != strconv.Itoa(len(agentLat)+warmup) {
		b.Errorf("the agent evaluated %s baskets, %d replies arrived", got, len(agentLat))
	}
}

func percentiles(d []time.Duration) [2]float64 {
	slices.Sort(d)
	if len(d) == 0 {
		return [2]float64{}
	}
	us := func(x time.Duration) float64 { return float64(x.Nanoseconds()) / 1000 }
	return [2]float64{us(d[len(d)/2]), us(d[len(d)*99/100])}
}

func benchClient(b *testing.B, broker, id string) paho.Client {
	c := paho.NewClient(paho.NewClientOptions().AddBroker(broker).SetClientID(id).SetOrderMatters(false))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		b.Fatalf("connect %s: %v", broker, tok.Error())
	}
	b.Cleanup(func() { c.Disconnect(100) })
	return c
}

// rssOf returns a process's resident memory and the anonymous part of it
// (heap and stacks, without the mapped store file), in MB.
func rssOf(b *testing.B, pid int) (rss, anon float64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1, -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(fields[1], 64)
		switch fields[0] {
		case "VmRSS:":
			rss = kb / 1024
		case "RssAnon:":
			anon = kb / 1024
		}
	}
	return rss, anon
}

// benchWorld returns a catalog of n offers over an assortment and a basket
// maker over the same assortment: the model of BenchmarkEvaluate in
// protocol/offer (80% SKU, 15% brand, 5% category offers; 3n SKUs, n/2
// brands, n/10 categories), with baskets of 5 to 20 lines, 70% of them
// with a loyalty card from the profiled population.
func benchWorld(n int) (string, func(r *rand.Rand, id, txn string) []byte) {
	skus, brands, cats := 3*n, n/2, n/10
	r := rand.New(rand.NewPCG(uint64(n), 9))
	offers := make([]map[string]any, 0, n)
	for i := range n {
		var sel map[string]any
		switch k := r.IntN(20); {
		case k < 16:
			sel = map[string]any{"skus": []string{fmt.Sprintf("S%d", r.IntN(skus))}}
		case k < 19:
			sel = map[string]any{"brands": []string{fmt.Sprintf("B%d", r.IntN(brands))}}
		default:
			sel = map[string]any{"categories": []string{fmt.Sprintf("C%d", r.IntN(cats))}}
		}
		cond := map[string]any{"min_qty": 1 + r.IntN(2)}
		for k, v := range sel {
			cond[k] = v
		}
		offers = append(offers, map[string]any{"id": fmt.Sprintf("o%d", i), "status": "active",
			"condition": map[string]any{"items": cond},
			"reward":    map[string]any{"type": "percent_off", "target": sel, "percent": 5 + r.IntN(30)},
			"stacking":  map[string]any{"priority": r.IntN(5)}})
	}
	doc, _ := json.Marshal(map[string]any{"version": 1, "revision": 1, "offers": offers})
	basketOf := func(r *rand.Rand, id, txn string) []byte {
		m := protocol.Message{V: 1, Type: protocol.TypeBasket, ID: id, Txn: txn}
		if r.IntN(10) < 7 {
			m.Customer = loyaltyOf(r.IntN(benchProfiles))
		}
		for range 5 + r.IntN(16) {
			k := r.IntN(skus)
			m.Lines = append(m.Lines, protocol.Line{SKU: fmt.Sprintf("S%d", k), Qty: 1 + int64(r.IntN(3)),
				Price: int64(50 + r.IntN(40)*25), Category: fmt.Sprintf("C%d", k%cats), Brand: fmt.Sprintf("B%d", (k/7)%brands)})
		}
		b, _ := protocol.Encode(&m)
		return b
	}
	return string(doc), basketOf
}

func loyaltyOf(i int) string { return fmt.Sprintf("49%011d", i) }

// preloadProfiles writes n customers' profiles into the agent's store in
// dir, each with a few days of history.
func preloadProfiles(b *testing.B, dir string, n int) {
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		b.Fatal(err)
	}
	db, err := store.Open(filepath.Join(dir, "data", "agent.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	r := rand.New(rand.NewPCG(5, 6))
	batch := map[string]*offer.Profile{}
	for i := range n {
		p := &offer.Profile{Visits: int64(1 + r.IntN(30)), FirstVisit: "2026-01-10", LastVisit: "2026-11-01", LifetimeSpend: int64(r.IntN(200_000))}
		for d := range 3 {
			p.History = append(p.History, offer.HistoryDay{Day: fmt.Sprintf("2026-10-%02d", 10+d),
				Items: []offer.HistoryItem{{SKU: fmt.Sprintf("S%d", r.IntN(30_000)), Qty: 1, Spend: 300}}})
		}
		batch[service.CustomerKey([]byte(tenantKey), loyaltyOf(i))] = p
		if len(batch) == 10_000 || i == n-1 {
			if err := db.SaveProfiles(batch); err != nil {
				b.Fatal(err)
			}
			clear(batch)
		}
	}
}

// startMosquitto runs a Mosquitto on a free port with set_tcp_nodelay, as
// deploy/mosquitto.conf has it, and returns its URL.
func startMosquitto(b *testing.B) string {
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		b.Skip("mosquitto is not installed")
	}
	addr := freePort(b)
	_, port, _ := net.SplitHostPort(addr)
	conf := filepath.Join(b.TempDir(), "mosquitto.conf")
	os.WriteFile(conf, []byte("listener "+port+" 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\n"), 0o644)
	cmd := exec.Command(bin, "-c", conf)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for range 100 {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return "tcp://" + addr
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.Fatal("mosquitto did not start")
	return ""
}
