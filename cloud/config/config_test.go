package config

import (
	"bytes"
	"errors"
	"maps"
	"os"
	"strings"
	"testing"
	"time"
)

func TestSampleIsValidAndShipped(t *testing.T) {
	cfg, err := Parse("sample.yaml", Sample)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.NATS.DuplicateWindow != 2*time.Minute || cfg.HTTP.Listen != "127.0.0.1:8080" {
		t.Errorf("sample: %+v", cfg)
	}
	if cfg.NATS.AllowAnonymous {
		t.Error("the sample lets clients into NATS without credentials")
	}
	shipped, err := os.ReadFile("../../deploy/posoffer-cloud.yaml")
	if err != nil || !bytes.Equal(shipped, Sample) {
		t.Errorf("deploy/posoffer-cloud.yaml differs from the embedded sample (%v)", err)
	}
}

func TestParseRefuses(t *testing.T) {
	base := "version: 1\ndata_dir: /d\n"
	for _, tc := range []struct{ name, doc, want string }{
		{"empty", "", "empty file"},
		{"unknown key", base + "nats: {url: '', lisen: x}\n", "line 3: field lisen not found"},
		{"wrong type", base + "http: {listen: [1]}\n", "line 3"},
		{"version", "version: 2\ndata_dir: /d\n", "version: must be 1"},
		{"no data dir", "version: 1\n", "data_dir: is required"},
		{"bad listen", base + "http: {listen: nowhere}\n", "http.listen"},
		{"bad nats url", base + "nats: {url: 'http://x'}\n", "nats.url"},
		{"bad window", base + "nats: {duplicate_window: 1ms}\n", "nats.duplicate_window"},
		{"bad db", base + "db: mysql://x\n", "db: must be empty"},
		{"bad currency", base + "currency: YEN\n", "currency: must be an ISO 4217 code"},
		{"lowercase currency", base + "currency: jpy\n", "currency: must be an ISO 4217 code"},
		{"bad timezone", base + "timezone: Mars/Olympus\n", "timezone: must be an IANA time zone"},
		{"local timezone", base + "timezone: Local\n", "timezone: must be an IANA time zone"},
		{"bad webhook", base + "alerts: {webhook_url: 'ftp://x'}\n", "alerts.webhook_url"},
		{"secret without webhook", base + "alerts: {webhook_secret_file: /s}\n", "alerts.webhook_secret_file"},
		{"bad alert interval", base + "alerts: {interval: 0s}\n", "alerts.interval"},
		{"creds without a cluster", base + "nats: {creds_file: /x.nk}\n", "nats.creds_file"},
		{"anonymous on a cluster", base + "nats: {url: 'nats://x:4222', allow_anonymous: true}\n", "nats.allow_anonymous"},
		{"bad body timeout", base + "http: {body_timeout: 0s}\n", "http.body_timeout: must be 100ms to 1h"},
		{"bad header bytes", base + "http: {max_header_bytes: 10}\n", "http.max_header_bytes"},
		{"unknown decide key", base + "decide: {intervall: 1s}\n", "field intervall not found"},
		{"bad decide interval", base + "decide: {interval: 1ms}\n", "decide.interval: must be 100ms to 168h"},
		{"bad decide window", base + "decide: {window: 1m}\n", "decide.window"},
		{"bad half life", base + "decide: {half_life: 0s}\n", "decide.half_life"},
		{"bad min support", base + "decide: {min_support: 0}\n", "decide.min_support"},
		{"bad min lift", base + "decide: {min_lift: 0.5}\n", "decide.min_lift"},
		{"holdout too big", base + "decide: {holdout: 0.6}\n", "decide.holdout: must be 0 to 0.5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("cloud.yaml", []byte(tc.doc))
			if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestCatalogSigningKeyDefault(t *testing.T) {
	cfg, err := Parse("cloud.yaml", []byte("version: 1\ndata_dir: /d\n"))
	if err != nil || cfg.CatalogSigningKeyFile != "/d/catalog-signing.pem" {
		t.Fatalf("default key file %q (%v)", cfg.CatalogSigningKeyFile, err)
	}
	cfg, err = Parse("cloud.yaml", []byte("version: 1\ndata_dir: /d\ncatalog_signing_key_file: /k.pem\n"))
	if err != nil || cfg.CatalogSigningKeyFile != "/k.pem" {
		t.Fatalf("key file %q (%v)", cfg.CatalogSigningKeyFile, err)
	}
}

func TestDecideDefaults(t *testing.T) {
	cfg, err := Parse("cloud.yaml", []byte("version: 1\ndata_dir: /d\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := Decide{Interval: time.Hour, Window: 28 * 24 * time.Hour, HalfLife: 7 * 24 * time.Hour, MinSupport: 0.005,
		MinLift: 1.2, Holdout: 0.05}
	same := func(a, b Decide) bool {
		return a.Interval == b.Interval && a.Window == b.Window && a.HalfLife == b.HalfLife &&
			a.MinSupport == b.MinSupport && a.MinLift == b.MinLift && a.Holdout == b.Holdout && maps.Equal(a.Groups, b.Groups)
	}
	if !same(cfg.Decide, want) {
		t.Fatalf("defaults %+v, want %+v", cfg.Decide, want)
	}
	cfg, err = Parse("cloud.yaml", []byte("version: 1\ndata_dir: /d\ndecide: {interval: 1s, holdout: 0}\n"))
	if err != nil || cfg.Decide.Interval != time.Second || cfg.Decide.Holdout != 0 || cfg.Decide.Window != want.Window {
		t.Fatalf("decide %+v (%v)", cfg.Decide, err)
	}
	sample, err := Parse("sample.yaml", Sample)
	if err != nil || !same(sample.Decide, want) {
		t.Fatalf("the sample's decide %+v differs from the defaults (%v)", sample.Decide, err)
	}
}

func TestDecideGroups(t *testing.T) {
	cfg, err := Parse("cloud.yaml", []byte("version: 1\ndata_dir: /d\ndecide: {groups: {s001: north, s002: north}}\n"))
	if err != nil || cfg.Decide.Groups["s002"] != "north" {
		t.Fatalf("groups %+v (%v)", cfg.Decide.Groups, err)
	}
	for doc, want := range map[string]string{
		"decide: {groups: {S001: north}}": `decide.groups: "S001" is not a store id`,
		"decide: {groups: {s001: North}}": `decide.groups.s001: "North" is not a group id`,
		"decide: {groups: {s001: \"\"}}":  `decide.groups.s001: "" is not a group id`,
	} {
		_, err := Parse("cloud.yaml", []byte("version: 1\ndata_dir: /d\n"+doc+"\n"))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", doc, err, want)
		}
	}
}
