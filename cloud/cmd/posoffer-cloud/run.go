package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/posoffer/posoffer/cloud/api"
	"github.com/posoffer/posoffer/cloud/bus"
	"github.com/posoffer/posoffer/cloud/config"
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

// hqCreds returns the credentials file HQ connects with: with the
// embedded server, HQ's own nkey seed (see hqSeed); with a cluster,
// nats.creds_file, or none.
func hqCreds(cfg *config.Config) (string, error) {
	if cfg.NATS.URL != "" {
		return cfg.NATS.CredsFile, nil
	}
	return hqSeed(cfg)
}

// hqSeed returns HQ's own nkey seed file, nats-hq.nk in data_dir, created
// (mode 0600) on first use.
func hqSeed(cfg *config.Config) (string, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return "", fmt.Errorf("data dir: %w", err)
	}
	path := filepath.Join(cfg.DataDir, bus.HQSeedFile)
	if _, err := bus.LoadOrCreateSeed(path); err != nil {
		return "", err
	}
	return path, nil
}

// activeStores returns the stores whose identity is not revoked.
func activeStores(ctx context.Context, db *store.DB) ([]bus.StoreUser, error) {
	ids, err := db.StoreIdentities(ctx)
	if err != nil {
		return nil, err
	}
	var out []bus.StoreUser
	for _, id := range ids {
		if id.RevokedAt.IsZero() {
			out = append(out, bus.StoreUser{Store: id.Store, PublicKey: id.PublicKey})
		}
	}
	return out, nil
}

// connect returns a connection to HQ's NATS: the configured cluster, or
// the embedded server, started here (stop it after closing the
// connection), which only HQ and the stores of db let in.
func connect(ctx context.Context, cfg *config.Config, db *store.DB, log *slog.Logger, refused func(kind, detail string)) (nc *nats.Conn, srv *bus.Server, stop func(), err error) {
	url, stop := cfg.NATS.URL, func() {}
	creds, err := hqCreds(cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	if url == "" {
		hq, err := bus.SeedPublicKey(creds)
		if err != nil {
			return nil, nil, nil, err
		}
		stores, err := activeStores(ctx, db)
		if err != nil {
			return nil, nil, nil, err
		}
		srv, err = bus.Start(cfg.DataDir, cfg.NATS.Listen, &bus.Auth{HQ: hq, Stores: stores,
			AllowAnonymous: cfg.NATS.AllowAnonymous, Refused: refused})
		if err != nil {
			return nil, nil, nil, err
		}
		stop = func() { srv.Shutdown(); srv.WaitForShutdown() }
		url = srv.ClientURL()
		log.Info("embedded nats server", "listen", cfg.NATS.Listen, "stores", len(stores), "allow_anonymous", cfg.NATS.AllowAnonymous)
	}
	nc, err = bus.Connect(url, creds, "posoffer-cloud")
	if err != nil {
		stop()
		return nil, nil, nil, err
	}
	return nc, srv, stop, nil
}

// refusalLogger counts what the embedded server refuses, and logs the
// first refusal of each kind every minute, with how many were not logged.
func refusalLogger(count *prometheus.CounterVec, log *slog.Logger) func(kind, detail string) {
	var mu sync.Mutex
	last, skipped := map[string]time.Time{}, map[string]int{}
	return func(kind, detail string) {
		count.WithLabelValues(kind).Inc()
		mu.Lock()
		defer mu.Unlock()
		if time.Since(last[kind]) < time.Minute {
			skipped[kind]++
			return
		}
		log.Warn("nats refused a client", "kind", kind, "detail", detail, "not_logged_since", skipped[kind])
		last[kind], skipped[kind] = time.Now(), 0
	}
}

// followStores gives the embedded server the stores of db whenever they
// change (a store added or revoked), checking every interval, until ctx is
// done. A revoked store's connections are closed then.
func followStores(ctx context.Context, db *store.DB, srv *bus.Server, interval time.Duration, log *slog.Logger) {
	for {
		stores, err := activeStores(ctx, db)
		switch {
		case err != nil:
			if ctx.Err() == nil {
				log.Warn("store identities not read", "err", err)
			}
		case !slices.Equal(stores, srv.Stores()):
			if err := srv.SetStores(stores); err != nil {
				log.Error("store identities not applied", "err", err)
			} else {
				log.Info("store identities applied", "stores", len(stores))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

// watchBus checks every interval that the events stream, HQ's consumer and
// the buckets are there, and makes again what someone deleted; ok is false
// from the moment one is found missing until all are back.
func watchBus(ctx context.Context, js jetstream.JetStream, cfg *config.Config, db *store.DB, kv jetstream.KeyValue,
	interval time.Duration, ok *atomic.Bool, repaired *prometheus.CounterVec, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		missing, err := bus.Missing(cctx, js)
		if err == nil && len(missing) > 0 {
			ok.Store(false)
			log.Warn("nats: recreating what was deleted", "missing", missing)
			for _, m := range missing {
				repaired.WithLabelValues(m).Inc()
			}
			if _, err = bus.Ensure(cctx, js, cfg.NATS.DuplicateWindow); err == nil && slices.Contains(missing, "catalog bucket") {
				err = api.Publish(cctx, db, kv)
			}
			if err != nil {
				log.Error("nats: not recreated; retrying", "err", err)
			}
		} else if err == nil {
			ok.Store(true)
		}
		cancel()
	}
}

func serve(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
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
	if err := api.Publish(pctx, db, kv); err != nil {
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
	watchers.Go(func() { watchBus(wctx, js, cfg, db, kv, time.Second, &busOK, repaired, log.With("component", "bus")) })
	if natsSrv != nil {
		watchers.Go(func() { followStores(wctx, db, natsSrv, time.Second, log.With("component", "nats")) })
	}

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
	hqAPI := api.New(api.Options{DB: db, Catalog: kv, Logger: log.With("component", "api"), Context: ctx})
	mux.Handle(api.Prefix, hqAPI)
	mux.Handle("/", web.New(web.Options{API: hqAPI, Logger: log.With("component", "web")}))
	ln, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		return fmt.Errorf("http: %w", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()

	log.Info("ready", "http", cfg.HTTP.Listen, "db", dbKind(cfg.DB))
	<-ctx.Done()
	return nil
}

func dbKind(dsn string) string {
	if dsn == "" {
		return "sqlite"
	}
	return "postgres" // never the DSN: it may hold a password
}
