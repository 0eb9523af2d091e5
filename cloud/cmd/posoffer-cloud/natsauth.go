package main

// HQ's side of NATS: its identity, the embedded server's users (HQ and the
// stores not revoked, followed as they change), and the watch that makes
// again a stream, consumer or bucket someone deleted.

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/posoffer/posoffer/cloud/api"
	"github.com/posoffer/posoffer/cloud/bus"
	"github.com/posoffer/posoffer/cloud/config"
	"github.com/posoffer/posoffer/cloud/store"
	"github.com/posoffer/posoffer/protocol/catalogsig"
)

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
func watchBus(ctx context.Context, js jetstream.JetStream, cfg *config.Config, db *store.DB, kv jetstream.KeyValue, signer *catalogsig.Signer,
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
				err = api.Publish(cctx, db, kv, signer)
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
