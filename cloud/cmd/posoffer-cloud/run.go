package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/posoffer/posoffer/cloud/alerts"
	"github.com/posoffer/posoffer/cloud/api"
	"github.com/posoffer/posoffer/cloud/bus"
	"github.com/posoffer/posoffer/cloud/config"
	"github.com/posoffer/posoffer/cloud/decide"
	"github.com/posoffer/posoffer/cloud/ingest"
	"github.com/posoffer/posoffer/cloud/store"
	"github.com/posoffer/posoffer/cloud/web"
	"github.com/posoffer/posoffer/protocol"
)

// configFlag parses --config and loads the configuration.
func configFlag(name string, args []string, stderr io.Writer, more func(*flag.FlagSet)) (*config.Config, *flag.FlagSet, int) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration `file` (see posoffer-cloud config sample)")
	if more != nil {
		more(fs)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, nil, exitOK
		}
		return nil, nil, exitUsage
	}
	if *path == "" {
		fmt.Fprintf(stderr, "posoffer-cloud %s: --config is required (posoffer-cloud config sample prints one)\n", name)
		return nil, nil, exitUsage
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintf(stderr, "posoffer-cloud: %v\n", err)
		return nil, nil, exitUsage
	}
	return cfg, fs, -1
}

// openDB opens HQ's database for a command, or says why not on stderr and
// returns nil.
func openDB(ctx context.Context, cfg *config.Config, stderr io.Writer) *store.DB {
	db, err := store.Open(ctx, cfg.DB, cfg.DataDir)
	if err != nil {
		fmt.Fprintf(stderr, "posoffer-cloud: %v\n", err)
		return nil
	}
	return db
}

func runCmd(ctx context.Context, args []string, stderr io.Writer) int {
	cfg, _, code := configFlag("run", args, stderr, nil)
	if cfg == nil {
		return code
	}
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	if err := serve(ctx, cfg, log); err != nil {
		log.Error("stopped", "err", err)
		return exitFail
	}
	log.Info("stopped")
	return exitOK
}

func serve(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	signer, err := catalogSigner(cfg)
	if err != nil {
		return err
	}
	db, err := store.Open(ctx, cfg.DB, cfg.DataDir)
	if err != nil {
		return err
	}
	defer db.Close()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	refusedNATS := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "posoffer_cloud_nats_refused_total",
		Help: "What the embedded NATS server refused: connections without valid credentials (auth), and publishes and subscriptions outside a client's permissions."},
		[]string{"kind"})
	reg.MustRegister(refusedNATS)
	nc, natsSrv, stopNATS, err := connect(ctx, cfg, db, log, refusalLogger(refusedNATS, log.With("component", "nats")))
	if err != nil {
		return err
	}
	defer stopNATS()
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ectx, cancel := context.WithTimeout(ctx, 30*time.Second)
	cons, err := bus.Ensure(ectx, js, cfg.NATS.DuplicateWindow)
	if err != nil {
		cancel()
		return err
	}
	kv, err := js.KeyValue(ectx, protocol.CatalogBucket)
	cancel()
	if err != nil {
		return fmt.Errorf("catalog bucket: %w", err)
	}
	// The database is the catalog's truth: a change saved just before a
	// crash, and never published, reaches the stores now.
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	if err := api.Publish(pctx, db, kv, signer); err != nil {
		log.Warn("catalog not republished at start; POST /api/v1/publish retries it", "err", err)
	}
	cancel()

	stored := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "posoffer_cloud_events_total",
		Help: "Events ingested: new (stored) and repeated (an id already stored, skipped)."}, []string{"result"})
	refusedEvents := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "posoffer_cloud_events_refused_total",
		Help: "Events terminated for good, by reason (store_mismatch: an event naming another store than its subject's)."},
		[]string{"reason"})
	repaired := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "posoffer_cloud_nats_recreated_total",
		Help: "Streams, consumers and buckets found deleted and made again."}, []string{"what"})
	var busOK atomic.Bool
	busOK.Store(true)
	reg.MustRegister(stored, refusedEvents, repaired, prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "posoffer_cloud_nats_ready",
		Help: "1 while HQ is connected to NATS and its stream, consumer and buckets are there."}, func() float64 {
		if nc.IsConnected() && busOK.Load() {
			return 1
		}
		return 0
	}))
	wctx, stopWatch := context.WithCancel(ctx)
	var watchers sync.WaitGroup
	defer func() { stopWatch(); watchers.Wait() }()
	watchers.Go(func() {
		watchBus(wctx, js, cfg, db, kv, signer, time.Second, &busOK, repaired, log.With("component", "bus"))
	})
	if natsSrv != nil {
		watchers.Go(func() { followStores(wctx, db, natsSrv, time.Second, log.With("component", "nats")) })
	}

	learner := decide.New(decide.Options{DB: db, JS: js, Signer: signer, Interval: cfg.Decide.Interval,
		Settings: decide.Settings{Groups: cfg.Decide.Groups, Window: cfg.Decide.Window, HalfLife: cfg.Decide.HalfLife, MinSupport: cfg.Decide.MinSupport,
			MinLift: cfg.Decide.MinLift, Holdout: cfg.Decide.Holdout},
		Logger: log.With("component", "decide"), Registry: reg})
	watchers.Go(func() { learner.Run(wctx) })
	alerter, err := newAlerts(cfg, db, reg, log.With("component", "alerts"))
	if err != nil {
		return err
	}
	watchers.Go(func() { alerter.Run(wctx) })

	ictx, stopIngest := context.WithCancel(ctx)
	ingested := make(chan error, 1)
	go func() {
		ingested <- ingest.Run(ictx, ingest.Options{DB: db, JS: js, Consumer: cons, Logger: log.With("component", "ingest"),
			Refused: func(reason string) { refusedEvents.WithLabelValues(reason).Inc() },
			Stored: func(added, total int) {
				stored.WithLabelValues("new").Add(float64(added))
				stored.WithLabelValues("repeated").Add(float64(total - added))
			}})
	}()
	defer func() { stopIngest(); <-ingested }()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !nc.IsConnected() {
			http.Error(w, "nats not connected", http.StatusServiceUnavailable)
			return
		}
		if !busOK.Load() {
			http.Error(w, "nats stream, consumer or bucket missing; recreating", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	// The API on /api/v1/; the dashboard, which asks the API whose token a
	// browser holds, on every other path.
	hqAPI := api.New(api.Options{DB: db, Catalog: kv, Signer: signer, Logger: log.With("component", "api"), Context: ctx,
		Registry: reg, StoreGroups: cfg.Decide.Groups, Currency: cfg.Currency, Zone: cfg.Location})
	mux.Handle(api.Prefix, hqAPI)
	mux.Handle("/", web.New(web.Options{API: hqAPI, Logger: log.With("component", "web")}))
	ln, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		return fmt.Errorf("http: %w", err)
	}
	srv, err := newHTTPServer(mux, cfg.HTTP, reg)
	if err != nil {
		return err
	}
	go srv.Serve(srv.listen(ln))
	defer srv.Close()

	log.Info("ready", "http", cfg.HTTP.Listen, "db", dbKind(cfg.DB))
	<-ctx.Done()
	return nil
}

// newAlerts sets up the budget alerts of the configuration.
func newAlerts(cfg *config.Config, db *store.DB, reg prometheus.Registerer, log *slog.Logger) (*alerts.Alerts, error) {
	opts := alerts.Options{DB: db, Webhook: cfg.Alerts.WebhookURL, Currency: cfg.Currency, Interval: cfg.Alerts.Interval,
		Registry: reg, Logger: log}
	if cfg.Currency != "" {
		opts.MinorUnit, _ = protocol.MinorUnit(cfg.Currency) // checked with the configuration
	}
	if f := cfg.Alerts.WebhookSecretFile; f != "" {
		secret, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("alerts.webhook_secret_file: %w", err)
		}
		if opts.Secret = bytes.TrimSpace(secret); len(opts.Secret) < 16 {
			return nil, fmt.Errorf("alerts.webhook_secret_file: %s: want a secret of at least 16 bytes", f)
		}
	}
	return alerts.New(opts), nil
}

func dbKind(dsn string) string {
	if dsn == "" {
		return "sqlite"
	}
	return "postgres" // never the DSN: it may hold a password
}
