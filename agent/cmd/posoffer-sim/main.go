// Command posoffer-sim acts as one or more store terminals, for store
// technicians checking an agent and for posoffer's own tests.
//
//	posoffer-sim basket --broker URL --store ID --terminal ID --file basket.json
//
// sends one basket (or any message) and prints the agent's reply;
//
//	posoffer-sim load --broker URL --store ID --terminals N --rate R --duration D [--json] [--show]
//
// runs transactions from N terminals at R messages a second: items are
// scanned one by one (the basket is sent after each scan), then the
// checkout applies the offers of the last reply. Customers come from a
// population that returns; some shop without a loyalty card. It prints what
// was sent and answered, errors, and reply latency percentiles.
//
//	posoffer-sim shoppers [--seed N] [--days N] [--shoppers N] [--segments N] [--shift-day N] [--json]
//
// simulates shoppers who want different things at different times of day
// (a built-in world, or --catalog and --population files) at an agent whose
// suggestions HQ learns, starting its own HQ and agent or using running
// ones, and reports the uptake of the learned suggestions against the
// fixed rule and an oracle, and the true uplift against HQ's measure
// (docs/population.md);
//
//	posoffer-sim serial --port PATH --model NAME [--firmware-dir DIR] --file msg.json [--file ...]
//
// acts as a serial terminal of a model (a file in firmware-configs/): it
// sends each message in the model's dialect and framing, with its retries,
// and prints each reply as protocol v1 JSON;
//
//	posoffer-sim null-modem --a PATH --b PATH
//
// joins two new pseudo-terminals like a null-modem cable, so an agent and
// posoffer-sim serial can talk over real serial I/O without hardware.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/posoffer/posoffer/protocol"
)

const usage = `usage: posoffer-sim <command> [flags]

commands:
  basket   send one message file and print the reply
  load     drive realistic traffic and report latency
  shoppers simulate shoppers and measure the learned suggestions against the fixed rule and an oracle
  discover list the agents on the LAN (mDNS); exit 1 when none answers
  serial   act as a serial terminal of a model: send message files, print the replies
  null-modem  join two new pseudo-terminals like a cable, to try serial without hardware
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "basket":
		return basketCmd(ctx, args[1:], stdout, stderr)
	case "load":
		return loadCmd(ctx, args[1:], stdout, stderr)
	case "shoppers":
		return shoppersCmd(ctx, args[1:], stdout, stderr)
	case "discover":
		return discoverCmd(ctx, args[1:], stdout, stderr)
	case "serial":
		return serialCmd(ctx, args[1:], stdout, stderr)
	case "null-modem":
		return nullModemCmd(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "posoffer-sim: unknown command %q\n%s", args[0], usage)
	return 2
}

// conn is a connection to the broker that matches replies to requests.
type conn struct {
	c     paho.Client
	store string

	mu      sync.Mutex
	waiting map[string]chan *protocol.Message // by message id
}

func dial(broker, store, username, password string) (*conn, error) {
	if !protocol.ValidStoreID(store) {
		return nil, fmt.Errorf("--store %q is not a store id", store)
	}
	var err error
	k := &conn{store: store, waiting: map[string]chan *protocol.Message{}}
	clientID := fmt.Sprintf("posoffer-sim-%d", time.Now().UnixNano())
	filter := fmt.Sprintf(protocol.TopicOutT, store, "+") // every terminal of the store
	if username != "" {
		// A terminal logged in as itself: its client id is its username,
		// and it may read only its own replies.
		clientID = username
		if filter, err = protocol.TopicOut(store, username); err != nil {
			return nil, fmt.Errorf("--username %q is not a terminal id", username)
		}
	}
	opts := paho.NewClientOptions().AddBroker(broker).
		SetClientID(clientID).SetProtocolVersion(4).
		SetUsername(username).SetPassword(password).SetOrderMatters(false)
	k.c = paho.NewClient(opts)
	if tok := k.c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		return nil, fmt.Errorf("connect to %s: %v", broker, tok.Error())
	}
	tok := k.c.Subscribe(filter, protocol.MQTTQoS, func(_ paho.Client, m paho.Message) {
		r, err := protocol.Decode(m.Payload())
		if err != nil {
			return
		}
		k.mu.Lock()
		ch := k.waiting[r.Re]
		delete(k.waiting, r.Re)
		k.mu.Unlock()
		if ch != nil {
			ch <- r
		}
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		return nil, fmt.Errorf("subscribe %s: %v", filter, tok.Error())
	}
	return k, nil
}

// request sends a message from terminal and returns a channel for the
// reply to id.
func (k *conn) request(terminal, id string, payload []byte) (<-chan *protocol.Message, error) {
	topic, err := protocol.TopicIn(k.store, terminal)
	if err != nil {
		return nil, err
	}
	ch := make(chan *protocol.Message, 1)
	k.mu.Lock()
	k.waiting[id] = ch
	k.mu.Unlock()
	k.c.Publish(topic, protocol.MQTTQoS, false, payload)
	return ch, nil
}

func (k *conn) forget(id string) {
	k.mu.Lock()
	delete(k.waiting, id)
	k.mu.Unlock()
}

type connFlags struct {
	broker, store, username, passwordFile, password *string
}

func addConnFlags(fs *flag.FlagSet) connFlags {
	return connFlags{
		broker:       fs.String("broker", "tcp://127.0.0.1:1883", "the store's MQTT broker `URL`"),
		store:        fs.String("store", "s001", "the store `id`"),
		username:     fs.String("username", "", "MQTT username (default: the terminal id, when a password is given)"),
		passwordFile: fs.String("password-file", "", "MQTT password `file` (the secret posoffer-agent terminal add printed)"),
		password:     fs.String("password", "", "MQTT password (visible to other users of the host: prefer --password-file)"),
	}
}

// dial connects as terminal: with the password given, it logs in as
// --username, or else as the terminal itself.
func (f connFlags) dial(terminal string) (*conn, error) {
	password := *f.password
	if *f.passwordFile != "" {
		b, err := os.ReadFile(*f.passwordFile)
		if err != nil {
			return nil, err
		}
		password = strings.TrimSpace(string(b))
	}
	user := *f.username
	if user == "" && password != "" {
		user = terminal
	}
	return dial(*f.broker, *f.store, user, password)
}

// readCredentials reads a file of "terminal password" lines (# starts a
// comment).
func readCredentials(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	creds := map[string]string{}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, pw, ok := strings.Cut(line, " ")
		if !ok || !protocol.ValidTerminalID(id) {
			return nil, fmt.Errorf("%s:%d: want a terminal id, a space and its password", path, i+1)
		}
		creds[id] = strings.TrimSpace(pw)
	}
	return creds, nil
}

func basketCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("basket", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf := addConnFlags(fs)
	terminal := fs.String("terminal", "t01", "the terminal `id` to send as")
	file := fs.String("file", "", "the message `file` to send (required)")
	timeout := fs.Duration("timeout", 5*time.Second, "how long to wait for the reply")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *file == "" {
		fmt.Fprintln(stderr, "posoffer-sim basket: --file is required")
		return 2
	}
	b, err := os.ReadFile(*file)
	if err != nil {
		fmt.Fprintf(stderr, "posoffer-sim: %v\n", err)
		return 2
	}
	var head struct {
		ID string `json:"id"`
	}
	json.Unmarshal(b, &head)
	k, err := cf.dial(*terminal)
	if err != nil {
		fmt.Fprintf(stderr, "posoffer-sim: %v\n", err)
		return 1
	}
	defer k.c.Disconnect(100)
	start := time.Now()
	ch, err := k.request(*terminal, head.ID, b)
	if err != nil {
		fmt.Fprintf(stderr, "posoffer-sim: %v\n", err)
		return 2
	}
	select {
	case r := <-ch:
		out, _ := json.MarshalIndent(r, "", "  ")
		fmt.Fprintf(stdout, "%s\n", out)
		fmt.Fprintf(stderr, "reply in %v\n", time.Since(start).Round(time.Microsecond))
		return 0
	case <-time.After(*timeout):
		fmt.Fprintf(stderr, "posoffer-sim: no reply to %q within %v (is the agent running for store %s?)\n", head.ID, *timeout, *cf.store)
		return 1
	case <-ctx.Done():
		return 1
	}
}

// product is an item terminals scan.
type product struct {
	SKU, Category, Brand, Name string
	Price                      int64
}

// products is the simulated store's range; it matches the sample catalog
// in deploy/sample.
var products = []product{
	{"COF-001", "coffee", "posoffer-roasters", "Blend M", 350},
	{"COF-002", "coffee", "posoffer-roasters", "Latte M", 420},
	{"PAS-014", "pastry", "", "Melon pan", 280},
	{"PAS-021", "pastry", "", "Croissant", 240},
	{"ONI-002", "onigiri", "", "Salmon onigiri", 140},
	{"ONI-007", "onigiri", "", "Tuna mayo onigiri", 160},
	{"ONI-011", "onigiri", "", "Kombu onigiri", 130},
	{"TEA-500", "tea", "acme", "Green tea 500ml", 160},
	{"TEA-350", "tea", "acme", "Barley tea 350ml", 130},
	{"BEN-031", "bento", "", "Karaage bento", 598},
	{"BEN-044", "bento", "", "Salmon bento", 648},
	{"SNK-101", "snack", "crunch", "Rice crackers", 198},
	{"SNK-102", "snack", "crunch", "Potato chips", 168},
	{"MAG-007", "magazine", "", "Weekly news", 450},
}

// stats collects what load saw.
type stats struct {
	Sent      int64              `json:"sent"`
	Answered  int64              `json:"answered"`
	Errors    int64              `json:"errors"`
	Timeouts  int64              `json:"timeouts"`
	Checkouts int64              `json:"checkouts"`
	Offers    int64              `json:"offers_shown"`
	Discount  int64              `json:"discount_given"`
	ByType    map[string]int64   `json:"replies_by_type"`
	Latency   map[string]float64 `json:"latency_ms"`

	mu  sync.Mutex
	lat []time.Duration
}

func loadCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf := addConnFlags(fs)
	terminals := fs.Int("terminals", 4, "how many terminals")
	rate := fs.Float64("rate", 20, "messages a second, over all terminals")
	duration := fs.Duration("duration", 10*time.Second, "how long to run")
	customers := fs.Int("customers", 500, "the size of the loyalty-card population")
	seed := fs.Uint64("seed", 1, "random seed")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	show := fs.Bool("show", false, "print each transaction's offers as they come")
	credentials := fs.String("credentials", "", "`file` of \"terminal password\" lines: each terminal t01, t02... logs in as itself")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *terminals < 1 || *terminals > 1000 || *rate <= 0 || *duration <= 0 || *customers < 1 {
		fmt.Fprintln(stderr, "posoffer-sim load: --terminals 1..1000, --rate, --duration and --customers must be positive")
		return 2
	}
	// Without credentials, one anonymous connection carries every
	// terminal; with them, each terminal logs in as itself.
	var creds map[string]string
	if *credentials != "" {
		var err error
		if creds, err = readCredentials(*credentials); err != nil {
			fmt.Fprintf(stderr, "posoffer-sim: %v\n", err)
			return 2
		}
	}
	conns := map[string]*conn{}
	connFor := func(id string) (*conn, error) {
		if creds == nil {
			id = ""
		}
		if k, ok := conns[id]; ok {
			return k, nil
		}
		var k *conn
		var err error
		if id == "" {
			k, err = cf.dial("")
		} else if pw, ok := creds[id]; !ok {
			return nil, fmt.Errorf("terminal %s has no password in %s", id, *credentials)
		} else {
			k, err = dial(*cf.broker, *cf.store, id, pw)
		}
		if err != nil {
			return nil, err
		}
		conns[id] = k
		return k, nil
	}
	defer func() {
		for _, k := range conns {
			k.c.Disconnect(100)
		}
	}()

	st := &stats{ByType: map[string]int64{}}
	ctx, cancel := context.WithTimeout(ctx, *duration)
	defer cancel()
	tick := time.NewTicker(time.Duration(float64(time.Second) / *rate))
	defer tick.Stop()
	slots := make([]chan struct{}, *terminals)
	var wg sync.WaitGroup
	var msgID atomic.Int64
	for i := range slots {
		slots[i] = make(chan struct{}, 1)
		r := rand.New(rand.NewPCG(*seed, uint64(i)))
		id := fmt.Sprintf("t%02d", i+1)
		k, err := connFor(id)
		if err != nil {
			fmt.Fprintf(stderr, "posoffer-sim: %v\n", err)
			return 1
		}
		t := &till{id: id, k: k, r: r, st: st, customers: *customers, ids: &msgID, show: show, out: stdout}
		wg.Go(func() { t.run(ctx, slots[i]) })
	}
	next := 0
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-tick.C:
			select { // a terminal still waiting for its reply skips its turn
			case slots[next] <- struct{}{}:
			default:
			}
			next = (next + 1) % len(slots)
		}
	}
	wg.Wait()
	st.report()
	if *asJSON {
		out, _ := json.MarshalIndent(st, "", "  ")
		fmt.Fprintf(stdout, "%s\n", out)
	} else {
		fmt.Fprintf(stdout, "sent %d, answered %d, errors %d, timeouts %d, checkouts %d; latency ms p50 %.3f p99 %.3f p999 %.3f\n",
			st.Sent, st.Answered, st.Errors, st.Timeouts, st.Checkouts, st.Latency["p50"], st.Latency["p99"], st.Latency["p999"])
	}
	if st.Answered == 0 {
		return 1
	}
	return 0
}

func (st *stats) report() {
	slices.Sort(st.lat)
	pct := func(p float64) float64 {
		if len(st.lat) == 0 {
			return 0
		}
		return float64(st.lat[min(len(st.lat)-1, int(float64(len(st.lat))*p))].Microseconds()) / 1000
	}
	st.Latency = map[string]float64{"p50": pct(0.5), "p99": pct(0.99), "p999": pct(0.999), "max": pct(1)}
}

// till is one simulated terminal running transactions.
type till struct {
	id        string
	k         *conn
	r         *rand.Rand
	st        *stats
	customers int
	ids       *atomic.Int64
	show      *bool
	out       io.Writer

	txn      int
	customer string
	lines    []protocol.Line
	scans    int // items this transaction scans
	scanned  int
	last     *protocol.Message // the last offers reply
}

func (t *till) run(ctx context.Context, turn <-chan struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-turn:
			t.step()
		}
	}
}

// step sends the next message of the current transaction: a basket after
// a scan, or the checkout.
func (t *till) step() {
	if t.scans == 0 { // a new transaction
		t.txn++
		t.scans, t.scanned, t.lines, t.last = 1+t.r.IntN(8), 0, []protocol.Line{}, nil
		t.customer = ""
		if t.r.IntN(10) < 7 { // most customers show a card; a few return often
			n := int(float64(t.customers) * t.r.Float64() * t.r.Float64())
			t.customer = fmt.Sprintf("49%011d", n)
		}
	}
	m := &protocol.Message{V: protocol.Version, Txn: fmt.Sprintf("%s-%06d", t.id, t.txn), Customer: t.customer}
	if t.scanned < t.scans {
		p := products[t.r.IntN(len(products))]
		if i := slices.IndexFunc(t.lines, func(l protocol.Line) bool { return l.SKU == p.SKU }); i >= 0 {
			t.lines[i].Qty++
		} else {
			t.lines = append(t.lines, protocol.Line{SKU: p.SKU, Qty: 1, Price: p.Price, Category: p.Category, Brand: p.Brand, Name: p.Name})
		}
		t.scanned++
		m.Type = protocol.TypeBasket
	} else {
		m.Type = protocol.TypeCheckout
		subtotal := int64(0)
		for _, l := range t.lines {
			subtotal += l.Qty * l.Price
		}
		discount := int64(0)
		if t.last != nil {
			for _, o := range t.last.Offers {
				m.Applied = append(m.Applied, protocol.Applied{Offer: o.ID, Discount: o.Discount, Points: o.Points})
				discount += o.Discount
			}
		}
		paid := subtotal - discount
		m.Paid = &paid
	}
	m.Lines = slices.Clone(t.lines)
	m.ID = fmt.Sprintf("m-%d", t.ids.Add(1))
	payload, err := protocol.Encode(m)
	if err != nil {
		return
	}
	start := time.Now()
	ch, err := t.k.request(t.id, m.ID, payload)
	atomic.AddInt64(&t.st.Sent, 1)
	if err != nil {
		return
	}
	// A message sent is answered or timed out, also when the run ends
	// meanwhile: every message sent is accounted for.
	select {
	case r := <-ch:
		t.record(m, r, time.Since(start))
	case <-time.After(5 * time.Second):
		t.k.forget(m.ID)
		atomic.AddInt64(&t.st.Timeouts, 1)
	}
	if m.Type == protocol.TypeCheckout {
		t.scans = 0
	}
}

func (t *till) record(m, r *protocol.Message, took time.Duration) {
	st := t.st
	st.mu.Lock()
	defer st.mu.Unlock()
	st.Answered++
	st.ByType[r.Type]++
	st.lat = append(st.lat, took)
	switch r.Type {
	case protocol.TypeError:
		st.Errors++
	case protocol.TypeOffers:
		t.last = r
		st.Offers += int64(len(r.Offers))
	case protocol.TypeAck:
		st.Checkouts++
		for _, a := range m.Applied {
			st.Discount += a.Discount
		}
		if *t.show && len(m.Applied) > 0 {
			fmt.Fprintf(t.out, "%s %s: ", t.id, m.Txn)
			for i, a := range m.Applied {
				if i > 0 {
					fmt.Fprint(t.out, ", ")
				}
				fmt.Fprintf(t.out, "%s -%d", a.Offer, a.Discount)
			}
			fmt.Fprintln(t.out)
		}
	}
	if r.Type == protocol.TypeError && *t.show {
		fmt.Fprintf(t.out, "%s %s: error %s: %s\n", t.id, m.Txn, r.Code, r.Message)
	}
}
