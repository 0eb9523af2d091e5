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
