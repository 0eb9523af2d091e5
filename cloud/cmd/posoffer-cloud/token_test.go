package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/posoffer/posoffer/cloud/store"
)

func TestTokenCmd(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	config := filepath.Join(dir, "cloud.yaml")
	if err := os.WriteFile(config, []byte("version: 1\ndata_dir: "+data+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cmd := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := tokenCmd(ctx, args, &out, &errOut)
		return code, out.String(), errOut.String()
	}

	code, out, errOut := cmd("create", "--config", config, "--role", "admin", "--name", "Marketing")
	token := strings.TrimSpace(out)
	if code != exitOK || !strings.HasPrefix(token, "pof_") || strings.Count(out, "\n") != 1 ||
		!strings.Contains(errOut, "not shown again") {
		t.Fatalf("create: %d %q %q", code, out, errOut)
	}
	db, err := store.Open(ctx, "", data)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	sum := sha256.Sum256([]byte(token))
	tok, err := db.TokenByHash(ctx, hex.EncodeToString(sum[:]))
	if err != nil || tok.Role != "admin" || tok.Name != "Marketing" {
		t.Fatalf("stored token %+v, %v", tok, err)
	}

	if code, out, _ := cmd("list", "--config", config); code != exitOK || !strings.Contains(out, tok.ID) ||
		!strings.Contains(out, "Marketing") || strings.Contains(out, token) {
		t.Fatalf("list: %d %q", code, out)
	}
	if code, out, errOut := cmd("revoke", "--config", config, "--id", tok.ID); code != exitOK ||
		!strings.Contains(out, "revoked") {
		t.Fatalf("revoke: %d %q %q", code, out, errOut)
	}
	if _, err := db.TokenByHash(ctx, hex.EncodeToString(sum[:])); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a revoked token still works: %v", err)
	}

	for _, args := range [][]string{
		{},
		{"rotate", "--config", config},
		{"create", "--role", "admin"},
		{"create", "--config", config},
		{"create", "--config", config, "--role", "root"},
		{"create", "--config", config, "--role", "admin", "extra"},
		{"revoke", "--config", config},
		{"revoke", "--config", config, "--id", "nope"},
		{"list", "--config", filepath.Join(dir, "missing.yaml")},
	} {
		if code, _, errOut := cmd(args...); code != exitUsage || errOut == "" {
			t.Errorf("token %v: exit %d, %q; want 2 and a message", args, code, errOut)
		}
	}
}
