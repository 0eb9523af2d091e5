package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/posoffer/posoffer/agent/config"
	"github.com/posoffer/posoffer/agent/discovery"
	"github.com/posoffer/posoffer/agent/mqtt"
	"github.com/posoffer/posoffer/agent/mqtt/passwd"
	"github.com/posoffer/posoffer/agent/serial"
	"github.com/posoffer/posoffer/agent/service"
	"github.com/posoffer/posoffer/agent/store"
	"github.com/posoffer/posoffer/agent/uplink"
	"github.com/posoffer/posoffer/protocol"
	"github.com/posoffer/posoffer/protocol/catalogsig"
	"github.com/posoffer/posoffer/protocol/decide"
	"github.com/posoffer/posoffer/protocol/offer"
)

func runCmd(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration `file` (see posoffer-agent config sample)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if *path == "" {
		fmt.Fprintln(stderr, "posoffer-agent run: --config is required (posoffer-agent config sample prints one)")
		return exitUsage
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintf(stderr, "posoffer-agent: %v\n", err)
		return exitUsage
	}
	serials, err := serialConfigs(cfg, *path)
	if err != nil {
		fmt.Fprintf(stderr, "posoffer-agent: %v\n", err)
		return exitUsage
	}
	log := slog.New(slog.NewJSONHandler(stderr, nil)).With("store", cfg.Store)
	if os.Getenv("GOMAXPROCS") == "" {
		// A goroutine in fsync (every checkout, every impression batch)
		// holds its P until the runtime notices, which can take
		// milliseconds; on a 2-core till that stalls every terminal's
		// reply. Spare Ps keep replies flowing meanwhile
		// (BenchmarkAgentOverMQTT, BENCHMARKS.md).
		runtime.GOMAXPROCS(max(4, 2*runtime.NumCPU()))
	}
	if err := serve(ctx, cfg, serials, log); err != nil {
		log.Error("stopped", "err", err)
		return exitFail
	}
	log.Info("stopped")
	return exitOK
}

// serve runs the agent until ctx is done.
func serve(ctx context.Context, cfg *config.Config, serials []serial.Config, log *slog.Logger) error {
	key, err := os.ReadFile(cfg.TenantKeyFile)
	if err != nil {
		return fmt.Errorf("tenant key: %w", err)
	}
	key = bytes.TrimSpace(key)
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	db, err := store.Open(filepath.Join(cfg.DataDir, "agent.db"), store.Options{MaxOutbox: cfg.Cloud.MaxOutbox})
	if err != nil {
		return err
	}
	defer db.Close()
	if d := db.Damage(); d != nil {
		log.Error(d.Message(), "alarm", alarmStoreDamaged, "moved_to", d.MovedTo, "reason", d.Reason)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := registerStoreMetrics(reg, db); err != nil {
		return err
	}
	var up *uplink.Uplink // set before any terminal is served
	opts := service.Options{
		Store: cfg.Store, Location: cfg.Location, TenantKey: key,
		MaxNudges: cfg.Offers.MaxNudges, PointsPer: cfg.Offers.PointsPer,
		Logger: log, Registry: reg,
		Decide: service.Decide{MaxSuggestions: cfg.Decide.MaxSuggestions, Policy: cfg.Decide.Policy,
			Group: cfg.Decide.StoreGroup, Seed: cfg.Decide.Seed, ReportCandidates: cfg.Decide.ReportCandidates},
		TerminalClock: cfg.Clock.Source == config.ClockTerminal,
	}
	if opts.Decide.MaxSuggestions == 0 {
		opts.Decide.MaxSuggestions = -1 // none
	}
	if opts.TerminalClock {
		log.Warn("clock.source is terminal: baskets and checkouts are evaluated and recorded at the time the terminal says; " +
			"for simulators and replays only, never a store")
	}
	if cfg.Cloud.NATSURL != "" {
		opts.Remote = func(ctx context.Context, key string) ([]byte, error) { return up.Profile(ctx, key) }
		opts.Recorded = func() { up.Kick() }
	}
	svc, err := service.New(db, opts)
	if err != nil {
		return err
	}
	defer svc.Close()
	if err := loadCatalog(cfg, db, svc, log); err != nil {
		return err
	}
	restoreModel(db, svc, log)
	if cfg.Cloud.NATSURL != "" {
		catalogKey, err := hqCatalogKey(cfg, log)
		if err != nil {
			return err
		}
		up, err = uplink.Start(uplink.Options{
			URL: cfg.Cloud.NATSURL, Creds: cfg.Cloud.CredsFile, Store: cfg.Store, Agent: version, Zone: cfg.Timezone, DB: db,
			CatalogKey: catalogKey, AllowUnsigned: cfg.Cloud.AllowUnsignedCatalog,
			Apply: func(revision int64, doc []byte) error {
				cat, err := offer.Parse(doc)
				if err != nil {
					return err
				}
				if err := db.SaveCatalog(revision, doc); err != nil {
					return err
				}
				svc.SetCatalog(cat)
				return nil
			},
			Catalog: func() int64 {
				if c := svc.Catalog(); c != nil {
					return c.Revision
				}
				return 0
			},
			ApplyModel: svc.SetModel,
			Logger:     log.With("component", "uplink"), Registry: reg,
		})
		if err != nil {
			return err
		}
		defer up.Close()
	}
	// Parsing a large catalog leaves garbage several times its size; give
	// it back now rather than hold it until the heap grows into it.
	debug.FreeOSMemory()

	broker := cfg.MQTT.Broker
	password := ""
	if cfg.MQTT.PasswordFile != "" {
		b, err := os.ReadFile(cfg.MQTT.PasswordFile)
		if err != nil {
			return fmt.Errorf("mqtt password: %w", err)
		}
		password = string(bytes.TrimSpace(b))
	}
	var ifaces []net.Interface
	if cfg.Discovery.Advertise || broker == config.BrokerMDNS {
		if ifaces, err = discovery.Interfaces(cfg.Discovery.Interfaces); err != nil && broker == config.BrokerMDNS {
			return fmt.Errorf("mqtt.broker is mdns: %w", err)
		}
	}
	if broker == config.BrokerMDNS {
		fctx, cancel := context.WithTimeout(ctx, discovery.DefaultTimeout)
		broker, err = discovery.FindBroker(fctx, ifaces)
		cancel()
		if err != nil {
			return fmt.Errorf("mqtt.broker is mdns: %w", err)
		}
		log.Info("mqtt broker found on the LAN", "broker", broker)
	}
	username := cfg.MQTT.Username
	var clientTLS *tls.Config
	if broker == "" {
		b, err := startBroker(cfg, reg, log)
		if err != nil {
			return err
		}
		defer b.Close()
		broker = "tcp://" + cfg.MQTT.Listen
		username, password = mqtt.AgentUser, b.AgentSecret
	} else if cfg.MQTT.TLS.CAFile != "" {
		pool, err := mqtt.CertPool(cfg.MQTT.TLS.CAFile)
		if err != nil {
			return err
		}
		clientTLS = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	lines, stopLines, err := startSerial(svc, serials, reg, log)
	if err != nil {
		return err
	}
	defer stopLines()

	var connected atomic.Bool
	client, err := mqtt.Connect(mqtt.Options{
		Broker: broker, Store: cfg.Store, Username: username, Password: password, TLS: clientTLS,
		Logger: log.With("component", "mqtt"), Connected: connected.Store,
	}, svc)
	if err != nil {
		return err
	}
	defer client.Close()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		switch {
		case svc.Catalog() == nil:
			http.Error(w, "no catalog", http.StatusServiceUnavailable)
		case !connected.Load():
			http.Error(w, "mqtt not connected", http.StatusServiceUnavailable)
		default:
			fmt.Fprintln(w, "ready")
		}
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		st := status{Store: cfg.Store, MQTT: connected.Load(), Serial: []serial.Status{}, Alarms: storeAlarms(db)}
		if up != nil {
			st.HQ = &hqStatus{Connected: up.Connected(), CatalogRejected: up.Rejected(), ModelRejected: up.ModelRejected()}
		}
		if ob, err := db.Outbox(); err == nil {
			st.Outbox = outboxStatus{Depth: ob.Depth, Dropped: ob.Dropped, Full: ob.Full}
			if !ob.Oldest.IsZero() {
				st.Outbox.OldestSeconds = time.Since(ob.Oldest).Seconds()
			}
		}
		if c := svc.Catalog(); c != nil {
			st.Catalog = c.Revision
		}
		if m := svc.Model(); m != nil {
			st.Model = m.Revision
		}
		for _, l := range lines {
			st.Serial = append(st.Serial, l.Status())
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(st)
	})
	ln, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		return fmt.Errorf("http: %w", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()

	if cfg.Discovery.Advertise {
		mqttPort := 0
		if cfg.MQTT.Broker == "" {
			mqttPort = discovery.LANPort(cfg.MQTT.Listen)
		}
		stop, err := discovery.Advertise(discovery.Advert{Store: cfg.Store, Version: protocol.Version, AgentVersion: version,
			MQTTPort: mqttPort, HTTPPort: ln.Addr().(*net.TCPAddr).Port, Interfaces: ifaces})
		if err != nil {
			log.Warn("not advertising on the LAN; terminals must be given the agent's address", "err", err)
		} else {
			defer stop()
		}
	}

	log.Info("ready", "mqtt", broker, "http", cfg.HTTP.Listen)
	<-ctx.Done()
	return nil
}

// status is what GET /status reports: the agent's connections at a glance.
type status struct {
	Store   string          `json:"store"`
	Catalog int64           `json:"catalog"`
	Model   int64           `json:"decide_model"` // the suggestion model's revision; 0: none
	MQTT    bool            `json:"mqtt_connected"`
	Serial  []serial.Status `json:"serial"`
	HQ      *hqStatus       `json:"hq,omitempty"` // nil: a store without a cloud
	Outbox  outboxStatus    `json:"outbox"`
	Alarms  []alarm         `json:"alarms"`
}

type hqStatus struct {
	Connected       bool   `json:"connected"`
	CatalogRejected string `json:"catalog_rejected,omitempty"` // why HQ's last catalog was refused
	ModelRejected   string `json:"model_rejected,omitempty"`   // why HQ's last suggestion model was refused
}

type outboxStatus struct {
	Depth         int64   `json:"depth"`
	OldestSeconds float64 `json:"oldest_seconds"`
	Dropped       int64   `json:"dropped_impressions"`
	Full          bool    `json:"full"`
}

// startSerial serves every serial terminal until the returned stop is
// called.
func startSerial(svc *service.Service, serials []serial.Config, reg prometheus.Registerer, log *slog.Logger) ([]*serial.Line, func(), error) {
	m, err := serial.NewMetrics(reg)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var lines []*serial.Line
	for _, c := range serials {
		l := serial.NewLine(c, serial.Options{Handler: svc, Logger: log.With("component", "serial"), Metrics: m})
		lines = append(lines, l)
		wg.Go(func() { l.Run(ctx) })
	}
	return lines, func() { cancel(); wg.Wait() }, nil
}

// hqCatalogKey reads HQ's catalog public key: nil, with a warning, when
// the configuration allows unsigned catalogs instead.
func hqCatalogKey(cfg *config.Config, log *slog.Logger) (ed25519.PublicKey, error) {
	if cfg.Cloud.CatalogKeyFile == "" {
		log.Warn("cloud.allow_unsigned_catalog: catalogs from hq are served unchecked; anyone who can write to the catalog bucket sets this store's offers")
		return nil, nil
	}
	k, err := catalogsig.LoadPublicKey(cfg.Cloud.CatalogKeyFile)
	if err != nil {
		return nil, fmt.Errorf("cloud.catalog_key_file: %w", err)
	}
	log.Info("catalogs from hq are checked", "key_id", catalogsig.KeyID(k))
	return k, nil
}

// loadCatalog serves the configured catalog file, or else the catalog the
// store kept from the last run.
func loadCatalog(cfg *config.Config, db *store.Store, svc *service.Service, log *slog.Logger) error {
	if cfg.CatalogFile != "" {
		raw, err := os.ReadFile(cfg.CatalogFile)
		if err != nil {
			return fmt.Errorf("catalog: %w", err)
		}
		cat, err := offer.Parse(raw)
		if err != nil {
			return fmt.Errorf("catalog %s: %w", cfg.CatalogFile, err)
		}
		if err := db.SaveCatalog(cat.Revision, raw); err != nil {
			return err
		}
		svc.SetCatalog(cat)
		log.Info("catalog loaded", "file", cfg.CatalogFile, "revision", cat.Revision, "offers", len(cat.Offers()))
		return nil
	}
	_, raw, err := db.Catalog()
	if err != nil || raw == nil {
		log.Warn("no catalog yet: baskets are answered busy until one arrives")
		return err
	}
	cat, err := offer.Parse(raw)
	if err != nil {
		return fmt.Errorf("stored catalog: %w", err)
	}
	svc.SetCatalog(cat)
	log.Info("catalog restored", "revision", cat.Revision)
	return nil
}

// restoreModel chooses suggestions with the model the store kept from HQ, if
// any: the agent suggests offline too. A stored model that no longer
// parses is left for HQ's next one.
func restoreModel(db *store.Store, svc *service.Service, log *slog.Logger) {
	doc, _, _, err := db.Model()
	if err != nil || doc == nil {
		return
	}
	m, err := decide.ParseModel(doc)
	if err != nil {
		log.Error("stored suggestion model unreadable; suggesting without one until hq sends another", "err", err)
		return
	}
	svc.SetModel(m)
	log.Info("suggestion model restored", "revision", m.Revision)
}

// embeddedBroker is the embedded broker and the agent's secret on it.
type embeddedBroker struct {
	*mqtt.Broker
	AgentSecret string
}

// startBroker runs the embedded broker: terminals authenticate with the
// credentials in mqtt.terminals_file (or a client certificate on the TLS
// listener); the agent with a secret made now, known only to this process.
func startBroker(cfg *config.Config, reg prometheus.Registerer, log *slog.Logger) (*embeddedBroker, error) {
	secret := passwd.NewSecret()
	o := mqtt.BrokerOptions{
		Store: cfg.Store, Listen: cfg.MQTT.Listen, PasswordsFile: cfg.MQTT.TerminalsFile,
		AllowAnonymous: cfg.MQTT.AllowAnonymous, AgentSecret: secret,
		Logger: log.With("component", "broker"), Registry: reg,
	}
	if t := cfg.MQTT.TLS; t.Listen != "" {
		c, err := mqtt.TLSConfig(t.CertFile, t.KeyFile, t.ClientCAFile)
		if err != nil {
			return nil, err
		}
		o.TLSListen, o.TLS = t.Listen, c
	}
	if cfg.MQTT.AllowAnonymous {
		log.Warn("mqtt.allow_anonymous is on: any client on the network may act as a terminal")
	}
	b, err := mqtt.StartBroker(o)
	if err != nil {
		return nil, err
	}
	return &embeddedBroker{Broker: b, AgentSecret: secret}, nil
}
