package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/posoffer/posoffer/cloud/api"
	"github.com/posoffer/posoffer/cloud/bus"
	"github.com/posoffer/posoffer/cloud/config"
	"github.com/posoffer/posoffer/cloud/store"
	"github.com/posoffer/posoffer/protocol"
	"github.com/posoffer/posoffer/protocol/catalogsig"
)

func configCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, "usage: posoffer-cloud config sample | config check --config FILE\n")
		return exitUsage
	}
	switch args[0] {
	case "sample":
		stdout.Write(config.Sample)
		return exitOK
	case "check":
		cfg, _, code := configFlag("config check", args[1:], stderr, nil)
		if cfg == nil {
			return code
		}
		fmt.Fprintln(stdout, "ok")
		return exitOK
	}
	fmt.Fprintf(stderr, "posoffer-cloud config: unknown subcommand %q\n", args[0])
	return exitUsage
}

// catalogCmd loads a catalog file into HQ's catalog and publishes HQ's
// catalog to the stores through the catalog bucket of the configured NATS
// (which must be running: the embedded one runs inside posoffer-cloud run).
func catalogCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "key" {
		return catalogKeyCmd(args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] != "push" {
		fmt.Fprint(stderr, "usage: posoffer-cloud catalog push --config FILE --file CATALOG | catalog key --config FILE\n")
		return exitUsage
	}
	var file *string
	cfg, _, code := configFlag("catalog push", args[1:], stderr, func(fs *flag.FlagSet) {
		file = fs.String("file", "", "the catalog `file`, JSON or YAML (required)")
	})
	if cfg == nil {
		return code
	}
	if *file == "" {
		fmt.Fprintln(stderr, "posoffer-cloud catalog push: --file is required")
		return exitUsage
	}
	doc, err := os.ReadFile(*file)
	if err != nil {
		fmt.Fprintf(stderr, "posoffer-cloud: %v\n", err)
		return exitUsage
	}
	signer, err := catalogSigner(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "posoffer-cloud: %v\n", err)
		return exitFail
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	db := openDB(ctx, cfg, stderr)
	if db == nil {
		return exitFail
	}
	defer db.Close()
	changed, err := api.Import(ctx, db, doc, store.Actor{Name: "catalog push"}, time.Now().UTC())
	if err != nil {
		fmt.Fprintf(stderr, "posoffer-cloud: %s: %v\n", *file, err)
		return exitUsage
	}
	url := cfg.NATS.URL
	if url == "" {
		url = "nats://" + cfg.NATS.Listen
	}
	creds, err := hqCreds(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "posoffer-cloud: %v\n", err)
		return exitFail
	}
	nc, err := bus.Connect(url, creds, "posoffer-cloud catalog push")
	if err != nil {
		fmt.Fprintf(stderr, "posoffer-cloud: %d objects saved at HQ, not yet published: %v (is posoffer-cloud run up?)\n", changed, err)
		return exitFail
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		fmt.Fprintf(stderr, "posoffer-cloud: %v\n", err)
		return exitFail
	}
	kv, err := js.KeyValue(ctx, protocol.CatalogBucket)
	if err == nil {
		err = api.Publish(ctx, db, kv, signer)
	}
	if err != nil {
		fmt.Fprintf(stderr, "posoffer-cloud: %d objects saved at HQ, not yet published: %v (has posoffer-cloud run started once?)\n", changed, err)
		return exitFail
	}
	// The revision agents serve it as, and tills' replies carry: the
	// manifest's sequence.
	rev := uint64(0)
	if e, err := kv.Get(ctx, catalogsig.ManifestKey); err == nil {
		if m, err := signer.Verifier().OpenManifest(e.Value()); err == nil {
			rev = m.Seq
		}
	}
	fmt.Fprintf(stdout, "%d offers and segments changed; catalog revision %d published, signed by key %s\n",
		changed, rev, catalogsig.KeyID(signer.Public()))
	return exitOK
}
