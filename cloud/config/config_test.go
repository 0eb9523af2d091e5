package config

import (
	"bytes"
	"errors"
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
		{"bad body timeout", base + "http: {body_timeout: 0s}\n", "http.body_timeout: must be 100ms to 1h"},
		{"bad header bytes", base + "http: {max_header_bytes: 10}\n", "http.max_header_bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("cloud.yaml", []byte(tc.doc))
			if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
