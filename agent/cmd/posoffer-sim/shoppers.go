package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/posoffer/posoffer/agent/internal/shopsim"
	"github.com/posoffer/posoffer/protocol"
)

const shoppersUsage = `usage: posoffer-sim shoppers [flags]

Simulates shoppers who want different things at different times of day,
at an agent whose suggestions HQ learns, and measures how close the
agent's choices come to what each shopper truly wants: the uptake of the
learned choice, of the fixed rule and of an oracle, and the true uplift
against what HQ measures. By default it starts its own HQ and agent
(posoffer-cloud and posoffer-agent next to this program, on PATH, or in
--bin); with --broker and --hq it uses running ones.

`

// shoppersCfg is what posoffer-sim shoppers runs with.
type shoppersCfg struct {
	seed                    uint64
	days, shoppers, custs   int
	segments, shiftDay, k   int
	catalog, population     string
	asJSON, chart, verbose  bool
	tz                      *time.Location
	start                   time.Time
	bin, keep               string
	dayTimeout              time.Duration
	broker, store, terminal string
	passwordFile, hqURL     string
	tokenFile, metricsURL   string
	password, token         string
	loadCatalog             bool
}

func shoppersCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("shoppers", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, shoppersUsage)
		fs.PrintDefaults()
	}
	var c shoppersCfg
	fs.Uint64Var(&c.seed, "seed", 1, "random seed: the same seed makes the same shoppers")
	fs.IntVar(&c.days, "days", 28, "simulated days")
	fs.IntVar(&c.shoppers, "shoppers", 400, "visits a day")
	fs.IntVar(&c.custs, "customers", 0, "loyalty customers the visits come from (default: --shoppers)")
	fs.IntVar(&c.segments, "segments", 0, "this many segments (default: the world's own; fewer: its first, shares scaled; more: the rest generated from --seed)")
	fs.IntVar(&c.shiftDay, "shift-day", -1, "the day shoppers' wants change (default: the population's; 0: never)")
	fs.IntVar(&c.k, "max-suggestions", 2, "the agent's decide.max_suggestions: how many suggestions a policy makes")
	fs.StringVar(&c.catalog, "catalog", "", "catalog `file` (the offer language) instead of the built-in world's; needs --population")
	fs.StringVar(&c.population, "population", "", "population `file` (docs/population.md) instead of the built-in world's; needs --catalog")
	fs.BoolVar(&c.asJSON, "json", false, "print the result as one JSON object on the last line")
	fs.BoolVar(&c.chart, "chart", false, "print regret per day as an ASCII chart after the table")
	fs.BoolVar(&c.verbose, "v", false, "log progress to stderr")
	tz := fs.String("tz", "UTC", "the store's time `zone`: dayparts are in it (the agent's timezone)")
	start := fs.String("start", "2026-03-02", "the first simulated `date`")
	fs.StringVar(&c.bin, "bin", "", "`dir` of posoffer-agent and posoffer-cloud (default: next to this program, then PATH)")
	fs.StringVar(&c.keep, "keep", "", "keep the started HQ's and agent's files and logs in `dir` (default: a temporary directory, removed)")
	fs.DurationVar(&c.dayTimeout, "day-timeout", 90*time.Second, "how long to wait after a day for HQ's model to reach the agent")
	fs.StringVar(&c.broker, "broker", "", "a running agent's MQTT broker `URL` (with --hq: use running ones)")
	fs.StringVar(&c.store, "store", "s001", "the running agent's store `id`")
	fs.StringVar(&c.terminal, "terminal", "t01", "the terminal `id` to shop as")
	fs.StringVar(&c.passwordFile, "password-file", "", "the terminal's MQTT password `file`")
	fs.StringVar(&c.password, "password", "", "the terminal's MQTT password (visible to other users of the host: prefer --password-file)")
	fs.StringVar(&c.token, "token", "", "an HQ API token (visible to other users of the host: prefer --token-file)")
	fs.StringVar(&c.hqURL, "hq", "", "a running HQ's `URL` (http://host:port)")
	fs.StringVar(&c.tokenFile, "token-file", "", "`file` of an HQ API token (admin with --load-catalog, else analyst)")
	fs.StringVar(&c.metricsURL, "agent-metrics", "", "the running agent's metrics `URL` (http://host:port/metrics), to wait for its model")
	fs.BoolVar(&c.loadCatalog, "load-catalog", false, "with --hq: load the catalog into HQ and publish it first")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "posoffer-sim shoppers: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	var err error
	if c.tz, err = time.LoadLocation(*tz); err != nil {
		fmt.Fprintf(stderr, "posoffer-sim shoppers: --tz: %v\n", err)
		return 2
	}
	if c.start, err = time.ParseInLocation(time.DateOnly, *start, c.tz); err != nil {
		fmt.Fprintf(stderr, "posoffer-sim shoppers: --start: want YYYY-MM-DD: %v\n", err)
		return 2
	}
	if c.custs == 0 {
		c.custs = c.shoppers
	}
	switch {
	case c.days < 1 || c.days > 3650:
		err = errors.New("--days must be 1 to 3650")
	case c.shoppers < 1 || c.shoppers > 100_000:
		err = errors.New("--shoppers must be 1 to 100000")
	case c.custs < 1 || c.custs > 1_000_000:
		err = errors.New("--customers must be 1 to 1000000")
	case c.segments < 0 || c.segments > 100:
		err = errors.New("--segments must be 1 to 100")
	case c.k < 1 || c.k > 10:
		err = errors.New("--max-suggestions must be 1 to 10")
	case (c.catalog == "") != (c.population == ""):
		err = errors.New("--catalog and --population go together: a world is both")
	case (c.broker == "") != (c.hqURL == ""):
		err = errors.New("--broker and --hq go together: a running agent and its HQ")
	case c.hqURL != "" && c.tokenFile == "" && c.token == "":
		err = errors.New("--hq needs --token-file or --token: the model and the uplift report need a token")
	}
	if err != nil {
		fmt.Fprintf(stderr, "posoffer-sim shoppers: %v\n", err)
		return 2
	}

	var w *shopsim.World
	if c.catalog != "" {
		if w, err = shopsim.Load(c.catalog, c.population); err != nil {
			fmt.Fprintf(stderr, "posoffer-sim shoppers: %v\n", err)
			return 2
		}
	} else {
		w = shopsim.Builtin()
	}
	if c.segments > 0 {
		w.Resize(c.segments, c.seed)
	}
	if c.shiftDay >= 0 {
		w.SetShiftDay(c.shiftDay)
	}

	logw := io.Discard
	if c.verbose {
		logw = stderr
	}
	sum, err := simulate(ctx, &c, w, logw)
	if err != nil {
		fmt.Fprintf(stderr, "posoffer-sim shoppers: %v\n", err)
		return 1
	}
	sum.Table(stdout)
	if c.chart {
		fmt.Fprintln(stdout)
		sum.Chart(stdout)
	}
	if c.asJSON {
		b, _ := json.Marshal(sum)
		fmt.Fprintf(stdout, "%s\n", b)
	}
	return 0
}

// env is the agent and HQ a simulation runs against.
type env struct {
	broker, store, terminal, password string
	hq, token, metrics                string
	stop                              func()
}

func simulate(ctx context.Context, c *shoppersCfg, w *shopsim.World, logw io.Writer) (*shopsim.Summary, error) {
	var e *env
	var err error
	if c.broker != "" {
		e, err = runningEnv(ctx, c, w)
	} else {
		e, err = startEnv(ctx, c, w, logw)
	}
	if err != nil {
		return nil, err
	}
	defer e.stop()

	k, err := dial(e.broker, e.store, e.terminal, e.password)
	if err != nil {
		return nil, err
	}
	defer k.c.Disconnect(100)
	till := &mqttTill{k: k, terminal: e.terminal}
	hq := &hqClient{url: e.hq, token: e.token, metrics: e.metrics}

	r := rand.New(rand.NewPCG(c.seed, 0x5eed))
	customers := w.Customers(r, c.custs)
	idOf := func(i int) string { return fmt.Sprintf("49%04d%07d", c.seed%10000, i) }
	st := &shopsim.Stats{Warmup: 7, K: c.k}
	var last time.Time
	for day := 1; day <= c.days; day++ {
		began := time.Now()
		for _, v := range w.Visits(r, day, c.start, c.shoppers, customers, idOf) {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			t, err := w.Shop(till, r, v, c.k, c.tz)
			if err != nil {
				return nil, fmt.Errorf("day %d: %w", day, err)
			}
			st.Add(t)
			last = t.At
		}
		shopped := time.Since(began)
		fmt.Fprintf(logw, "day %d shopped in %v\n", day, shopped.Round(time.Millisecond))
		// HQ learns between days, from data time, as it would overnight.
		rev, err := hq.waitModel(ctx, last, c.dayTimeout)
		if err != nil {
			return nil, fmt.Errorf("after day %d: %w", day, err)
		}
		d := st.Days()[day-1]
		fmt.Fprintf(logw, "day %d: %d transactions in %v, learned %.3f fixed %.3f oracle %.3f; model %d after %v\n",
			day, d.Transactions, shopped.Round(time.Millisecond), d.Learned, d.Fixed, d.Oracle, rev, (time.Since(began) - shopped).Round(time.Millisecond))
	}
	sum := &shopsim.Summary{Seed: c.seed, Days: c.days, Shoppers: c.shoppers, ShiftDay: w.ShiftDay()}
	st.Summarize(sum)
	if err := hq.uplift(ctx, sum, c.start, c.start.AddDate(0, 0, c.days+1)); err != nil {
		// The shoppers' figures stand without HQ's.
		sum.HQSays = "no uplift report: " + err.Error()
	}
	return sum, nil
}

// mqttTill is a terminal on the agent's MQTT broker.
type mqttTill struct {
	k        *conn
	terminal string
	n        atomic.Int64
}

func (t *mqttTill) Send(m *protocol.Message) (*protocol.Message, error) {
	m.ID = fmt.Sprintf("s%d", t.n.Add(1))
	b, err := protocol.Encode(m)
	if err != nil {
		return nil, err
	}
	ch, err := t.k.request(t.terminal, m.ID, b)
	if err != nil {
		return nil, err
	}
	select {
	case r := <-ch:
		return r, nil
	case <-time.After(10 * time.Second):
		t.k.forget(m.ID)
		return nil, fmt.Errorf("no reply to %s %s within 10s", m.Type, m.Txn)
	}
}

// runningEnv is a running agent and HQ, as the flags name them.
func runningEnv(ctx context.Context, c *shoppersCfg, w *shopsim.World) (*env, error) {
	e := &env{broker: c.broker, store: c.store, terminal: c.terminal, hq: strings.TrimRight(c.hqURL, "/"), metrics: c.metricsURL,
		password: c.password, token: c.token, stop: func() {}}
	if c.passwordFile != "" {
		b, err := os.ReadFile(c.passwordFile)
		if err != nil {
			return nil, err
		}
		e.password = strings.TrimSpace(string(b))
	}
	if c.tokenFile != "" {
		b, err := os.ReadFile(c.tokenFile)
		if err != nil {
			return nil, err
		}
		e.token = strings.TrimSpace(string(b))
	}
	if c.loadCatalog {
		hq := &hqClient{url: e.hq, token: e.token}
		if err := hq.loadCatalog(ctx, w.CatalogDocument()); err != nil {
			return nil, err
		}
	}
	return e, nil
}
