package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/posoffer/posoffer/cloud/config"
	"github.com/posoffer/posoffer/protocol/catalogsig"
)

// catalogSigner returns HQ's catalog signing key, made at first use.
func catalogSigner(cfg *config.Config) (*catalogsig.Signer, error) {
	if err := os.MkdirAll(filepath.Dir(cfg.CatalogSigningKeyFile), 0o700); err != nil {
		return nil, fmt.Errorf("catalog signing key: %w", err)
	}
	k, err := catalogsig.LoadOrCreateSigningKey(cfg.CatalogSigningKeyFile)
	if err != nil {
		return nil, err
	}
	return catalogsig.NewSigner(k), nil
}

// catalogKeyCmd prints the public half of HQ's catalog signing key: the
// file each agent's cloud.catalog_key_file names.
func catalogKeyCmd(args []string, stdout, stderr io.Writer) int {
	cfg, _, code := configFlag("catalog key", args, stderr, nil)
	if cfg == nil {
		return code
	}
	s, err := catalogSigner(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "posoffer-cloud: %v\n", err)
		return exitFail
	}
	b, err := catalogsig.EncodePublicKey(s.Public())
	if err != nil {
		fmt.Fprintf(stderr, "posoffer-cloud: %v\n", err)
		return exitFail
	}
	stdout.Write(b)
	return exitOK
}
