package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigSampleChecks(t *testing.T) {
	sample, _, code := agent(t, "config", "sample")
	if code != exitOK || !strings.Contains(sample, "tenant_key_file:") {
		t.Fatalf("config sample: exit %d\n%s", code, sample)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(good, []byte(sample), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, stderr, code := agent(t, "config", "check", "--config", good); code != exitOK || !strings.Contains(out, "ok") {
		t.Fatalf("the sample does not check: exit %d\n%s%s", code, out, stderr)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte(strings.Replace(sample, "  listen: 127.0.0.1:8787", "  listen: 127.0.0.1:8787\n  lisen: x", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := agent(t, "config", "check", "--config", bad)
	if code != exitUsage || !strings.Contains(stderr, "bad.yaml:") || !strings.Contains(stderr, "http.lisen: unknown key") {
		t.Fatalf("a misspelt key: exit %d, stderr %s", code, stderr)
	}
}

// An agent with a cloud does not start without HQ's catalog key, nor with
// a file that is not one; the message names the key to set.
func TestRunRefusesWithoutCatalogKey(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "tenant.key"), []byte("a-tenant-key-of-some-length\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "not-a-key.pem"), []byte("hello\n"), 0o644)
	base := "version: 1\nstore: s001\ndata_dir: " + filepath.Join(dir, "data") + "\ntenant_key_file: " +
		filepath.Join(dir, "tenant.key") + "\nhttp: {listen: '127.0.0.1:0'}\nmqtt: {listen: '127.0.0.1:0'}\ndiscovery: {advertise: false}\n"
	for name, cloud := range map[string]string{
		"no key":  "cloud: {nats_url: 'nats://127.0.0.1:1'}\n",
		"not one": "cloud: {nats_url: 'nats://127.0.0.1:1', catalog_key_file: '" + filepath.Join(dir, "not-a-key.pem") + "'}\n",
	} {
		cfg := filepath.Join(dir, "agent.yaml")
		os.WriteFile(cfg, []byte(base+cloud), 0o644)
		_, stderr, code := agent(t, "run", "--config", cfg)
		if code == exitOK || !strings.Contains(stderr, "cloud.catalog_key_file") {
			t.Errorf("%s: exit %d, stderr %s", name, code, stderr)
		}
	}
}
