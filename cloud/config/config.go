// Package config reads posoffer-cloud's configuration file: versioned,
// strict YAML. An unknown key or a value of the wrong type is an error that
// names the file and line.
package config

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/posoffer/posoffer/protocol"
	"github.com/posoffer/posoffer/protocol/decide"
)

// Sample is a documented configuration with every key.
//
//go:embed sample.yaml
var Sample []byte

// Version is the configuration format this build reads.
const Version = 1

// ErrInvalid is wrapped by every error about a configuration's content.
var ErrInvalid = errors.New("invalid configuration")

// Config is posoffer-cloud's configuration.
type Config struct {
	Version int    `yaml:"version"`
	DataDir string `yaml:"data_dir"`
	HTTP    HTTP   `yaml:"http"`
	NATS    NATS   `yaml:"nats"`
	DB      string `yaml:"db"` // empty: SQLite in data_dir; or postgres://...
	// CatalogSigningKeyFile is HQ's ed25519 key that signs every catalog
	// it publishes (PEM, PKCS #8), made at first use; empty is
	// DefaultCatalogSigningKey in data_dir.
	CatalogSigningKeyFile string `yaml:"catalog_signing_key_file"`
	Decide                Decide `yaml:"decide"`
	// Currency is the tenant's ISO 4217 currency: every amount in
	// checkouts, offers and reports is in its minor unit. Empty: the
	// dashboard shows amounts as plain numbers of minor units.
	Currency string `yaml:"currency"`
	// Timezone is HQ's IANA time zone: HQ's today and the default span of
	// reports, and the zone of times shown without a store. Each store's
	// days are counted in its own zone.
	Timezone string `yaml:"timezone"`
	// Location is Timezone, loaded.
	Location *time.Location `yaml:"-"`
	Alerts   Alerts         `yaml:"alerts"`
}

// Alerts are HQ's budget alerts: an offer's discount at a store reaching
// 80% and 100% of its budget there. They show on the dashboard, and go to
// a webhook when one is set.
type Alerts struct {
	// WebhookURL receives each alert as a JSON POST (http:// or
	// https://); empty: none.
	WebhookURL string `yaml:"webhook_url"`
	// WebhookSecretFile holds a secret that signs each POST
	// (X-Posoffer-Signature: sha256=HMAC); empty: unsigned.
	WebhookSecretFile string `yaml:"webhook_secret_file"`
	// Interval is how often budgets are checked.
	Interval time.Duration `yaml:"interval"`
}

// Decide is how HQ learns what the till suggests (docs/decide.md).
type Decide struct {
	// Interval is how often HQ recomputes the model from its checkouts.
	Interval time.Duration `yaml:"interval"`
	// Window is how far back from the newest checkout HQ learns.
	Window time.Duration `yaml:"window"`
	// HalfLife is the age at which a suggestion counts half.
	HalfLife time.Duration `yaml:"half_life"`
	// MinSupport, MinLift: the least a cross-sell rule must have.
	MinSupport float64 `yaml:"min_support"`
	MinLift    float64 `yaml:"min_lift"`
	// Holdout is the share of customers who get no suggestions.
	Holdout float64 `yaml:"holdout"`
	// Groups puts stores in groups: store id to group id. A store not
	// listed is in the group "all". HQ learns per group by this, not by
	// the group an agent says it is in.
	Groups map[string]string `yaml:"groups"`
}

// DefaultCatalogSigningKey is the name of the catalog signing key in
// data_dir when catalog_signing_key_file is empty.
const DefaultCatalogSigningKey = "catalog-signing.pem"

// HTTP is the HQ API and dashboard listener.
type HTTP struct {
	Listen string `yaml:"listen"`
	// ReadHeaderTimeout is how long a request's headers may take to
	// arrive; a client that sends them slower loses its connection.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// BodyTimeout is how long a request's body may take to arrive, from
	// when its headers did: a slower body is answered 408 and the
	// connection closed. The live feed, which sends no body, is not cut.
	BodyTimeout time.Duration `yaml:"body_timeout"`
	// IdleTimeout is how long a kept-alive connection may wait for its
	// next request.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MaxHeaderBytes bounds a request's headers.
	MaxHeaderBytes int `yaml:"max_header_bytes"`
}

// NATS is where stores' events arrive and catalogs leave.
type NATS struct {
	URL    string `yaml:"url"`    // nats://... of an existing cluster; empty: the embedded server
	Listen string `yaml:"listen"` // the embedded server's listener
	// CredsFile is HQ's credentials on the cluster at url: a .creds file
	// or an nkey seed. The embedded server ignores it: HQ is its own nkey
	// seed in data_dir there.
	CredsFile string `yaml:"creds_file"`
	// AllowAnonymous lets clients without credentials into the embedded
	// server, with HQ's permissions: only for development on one machine.
	AllowAnonymous bool `yaml:"allow_anonymous"`
	// DuplicateWindow is how long the events stream drops a repeated
	// event id; HQ's database drops repeats at any age.
	DuplicateWindow time.Duration `yaml:"duplicate_window"`
}

func defaults() Config {
	return Config{HTTP: HTTP{Listen: "127.0.0.1:8080", ReadHeaderTimeout: 5 * time.Second, BodyTimeout: 10 * time.Second,
		IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}, NATS: NATS{Listen: "127.0.0.1:4222", DuplicateWindow: 2 * time.Minute},
		Decide: Decide{Interval: time.Hour, Window: 28 * 24 * time.Hour, HalfLife: 7 * 24 * time.Hour, MinSupport: 0.005,
			MinLift: 1.2, Holdout: 0.05}, Timezone: "UTC", Alerts: Alerts{Interval: 30 * time.Second}}
}

// Load reads and validates the configuration file at path.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	return Parse(path, b)
}

// Parse validates a configuration document; name is its file, for errors.
func Parse(name string, b []byte) (*Config, error) {
	cfg := defaults()
	d := yaml.NewDecoder(bytes.NewReader(b))
	d.KnownFields(true)
	if err := d.Decode(&cfg); err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		if err.Error() == "EOF" {
			msg = "empty file (see posoffer-cloud config sample)"
		}
		return nil, fmt.Errorf("%w: %s: %s", ErrInvalid, name, strings.ReplaceAll(msg, "\n", "; "))
	}
	var problems []string
	bad := func(key, format string, args ...any) {
		problems = append(problems, fmt.Sprintf("%s: %s: %s", name, key, fmt.Sprintf(format, args...)))
	}
	if cfg.Version != Version {
		bad("version", "must be %d, got %d", Version, cfg.Version)
	}
	if cfg.DataDir == "" {
		bad("data_dir", "is required: where HQ keeps its database and, with the embedded server, its NATS data")
	}
	if _, _, err := net.SplitHostPort(cfg.HTTP.Listen); err != nil {
		bad("http.listen", "must be host:port such as 127.0.0.1:8080, got %q", cfg.HTTP.Listen)
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"http.read_header_timeout", cfg.HTTP.ReadHeaderTimeout}, {"http.body_timeout", cfg.HTTP.BodyTimeout},
		{"http.idle_timeout", cfg.HTTP.IdleTimeout}} {
		if d.v < 100*time.Millisecond || d.v > time.Hour {
			bad(d.key, "must be 100ms to 1h, got %v", d.v)
		}
	}
	if cfg.HTTP.MaxHeaderBytes < 4<<10 || cfg.HTTP.MaxHeaderBytes > 1<<20 {
		bad("http.max_header_bytes", "must be 4096 to 1048576, got %d", cfg.HTTP.MaxHeaderBytes)
	}
	if cfg.NATS.URL != "" {
		for _, u := range strings.Split(cfg.NATS.URL, ",") {
			if pu, err := url.Parse(strings.TrimSpace(u)); err != nil || (pu.Scheme != "nats" && pu.Scheme != "tls") {
				bad("nats.url", "must be nats://host:port (comma-separated for a cluster), got %q", cfg.NATS.URL)
				break
			}
		}
	} else if _, _, err := net.SplitHostPort(cfg.NATS.Listen); err != nil {
		bad("nats.listen", "must be host:port such as 127.0.0.1:4222, got %q", cfg.NATS.Listen)
	}
	if cfg.NATS.CredsFile != "" && cfg.NATS.URL == "" {
		bad("nats.creds_file", "applies to a cluster (nats.url) only; with the embedded server HQ is nats-hq.nk in data_dir")
	}
	if cfg.NATS.AllowAnonymous && cfg.NATS.URL != "" {
		bad("nats.allow_anonymous", "applies to the embedded server only; a cluster's own configuration decides who connects")
	}
	if cfg.NATS.DuplicateWindow < 100*time.Millisecond || cfg.NATS.DuplicateWindow > 24*time.Hour {
		bad("nats.duplicate_window", "must be 100ms to 24h, got %v", cfg.NATS.DuplicateWindow)
	}
	if cfg.DB != "" && !strings.HasPrefix(cfg.DB, "postgres://") && !strings.HasPrefix(cfg.DB, "postgresql://") {
		bad("db", "must be empty (SQLite in data_dir) or a postgres:// URL")
	}
	if cfg.Currency != "" {
		if _, err := protocol.MinorUnit(cfg.Currency); err != nil {
			bad("currency", "must be an ISO 4217 code such as JPY or EUR, got %q", cfg.Currency)
		}
	}
	if loc, err := time.LoadLocation(cfg.Timezone); err != nil || cfg.Timezone == "" || cfg.Timezone == "Local" {
		bad("timezone", "must be an IANA time zone such as Asia/Tokyo or Europe/Paris, got %q", cfg.Timezone)
	} else {
		cfg.Location = loc
	}
	if u := cfg.Alerts.WebhookURL; u != "" {
		if pu, err := url.Parse(u); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			bad("alerts.webhook_url", "must be an http:// or https:// URL, got %q", u)
		}
	}
	if cfg.Alerts.WebhookSecretFile != "" && cfg.Alerts.WebhookURL == "" {
		bad("alerts.webhook_secret_file", "signs the webhook's calls: set alerts.webhook_url too")
	}
	if iv := cfg.Alerts.Interval; iv < 100*time.Millisecond || iv > time.Hour {
		bad("alerts.interval", "must be 100ms to 1h, got %v", iv)
	}
	dc := cfg.Decide
	if dc.Interval < 100*time.Millisecond || dc.Interval > 7*24*time.Hour {
		bad("decide.interval", "must be 100ms to 168h, got %v", dc.Interval)
	}
	if dc.Window < time.Hour || dc.Window > 366*24*time.Hour {
		bad("decide.window", "must be 1h to 8784h (366 days), got %v", dc.Window)
	}
	if dc.HalfLife < time.Minute || dc.HalfLife > 366*24*time.Hour {
		bad("decide.half_life", "must be 1m to 8784h (366 days), got %v", dc.HalfLife)
	}
	if !(dc.MinSupport > 0 && dc.MinSupport <= 1) {
		bad("decide.min_support", "must be above 0 and at most 1, got %v", dc.MinSupport)
	}
	if !(dc.MinLift >= 1 && dc.MinLift <= 1000) {
		bad("decide.min_lift", "must be 1 to 1000, got %v", dc.MinLift)
	}
	if !(dc.Holdout >= 0 && dc.Holdout <= 0.5) {
		bad("decide.holdout", "must be 0 to 0.5, got %v", dc.Holdout)
	}
	for _, st := range slices.Sorted(maps.Keys(dc.Groups)) {
		switch g := dc.Groups[st]; {
		case !protocol.ValidStoreID(st):
			bad("decide.groups", "%q is not a store id", st)
		case !decide.ValidGroup(g):
			bad("decide.groups."+st, "%q is not a group id (1 to 32 of a-z, 0-9 and -)", g)
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w:\n%s", ErrInvalid, strings.Join(problems, "\n"))
	}
	if cfg.CatalogSigningKeyFile == "" {
		cfg.CatalogSigningKeyFile = filepath.Join(cfg.DataDir, DefaultCatalogSigningKey)
	}
	return &cfg, nil
}
