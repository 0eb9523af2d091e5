package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/posoffer/posoffer/cloud/bus"
	"github.com/posoffer/posoffer/cloud/config"
	"github.com/posoffer/posoffer/cloud/store"
	"github.com/posoffer/posoffer/protocol"
	"github.com/posoffer/posoffer/protocol/catalogsig"
)

const storeUsage = `usage: posoffer-cloud store add --config FILE --out DIR [--nats-url URL] ID
       posoffer-cloud store list --config FILE
       posoffer-cloud store revoke --config FILE ID
`

// catalogSigningKey is HQ's catalog signing key file
// (catalog_signing_key_file, by default in data_dir).
func catalogSigningKey(cfg *config.Config) string {
	return cfg.CatalogSigningKeyFile
}

// storeCmd makes, lists and revokes stores' identities on HQ's NATS.
//
// add writes into DIR what the store's agent needs, ID.nk (its nkey seed,
// mode 0600: HQ keeps only the public key) and catalog.pub (HQ's catalog
// verification key), and prints on stdout, and nothing else there, the
// agent's cloud: section using them. A running HQ lets the store in, and
// after revoke shuts it out, within a few seconds.
func storeCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, storeUsage)
		return exitUsage
	}
	var out, natsURL *string
	flags := map[string]func(fs *flag.FlagSet){
		"add": func(fs *flag.FlagSet) {
			out = fs.String("out", "", "`dir`ectory to write the store's files into (made, mode 0700, if missing)")
			natsURL = fs.String("nats-url", "", "the `url` the store reaches HQ's NATS at (default: nats.url, or nats://nats.listen)")
		},
		"list":   func(*flag.FlagSet) {},
		"revoke": func(*flag.FlagSet) {},
	}
	more, ok := flags[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "posoffer-cloud store: unknown subcommand %q\n%s", args[0], storeUsage)
		return exitUsage
	}
	cfg, fs, code := configFlag("store "+args[0], args[1:], stderr, more)
	if cfg == nil {
		return code
	}
	id := fs.Arg(0)
	switch {
	case args[0] == "list" && fs.NArg() > 0:
		fmt.Fprintf(stderr, "posoffer-cloud store list: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	case args[0] != "list" && fs.NArg() != 1:
		fmt.Fprintf(stderr, "posoffer-cloud store %s: want one store id after the flags\n%s", args[0], storeUsage)
		return exitUsage
	case args[0] != "list" && !protocol.ValidStoreID(id):
		fmt.Fprintf(stderr, "posoffer-cloud store %s: store id %q: want 1 to %d of a-z, 0-9 and -\n", args[0], id, protocol.MaxStoreIDLen)
		return exitUsage
	case args[0] == "add" && *out == "":
		fmt.Fprintln(stderr, "posoffer-cloud store add: --out is required")
		return exitUsage
	}

	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		fmt.Fprintf(stderr, "posoffer-cloud: data dir: %v\n", err)
		return exitFail
	}
	db := openDB(ctx, cfg, stderr)
	if db == nil {
		return exitFail
	}
	defer db.Close()

	switch args[0] {
	case "add":
		url := *natsURL
		if url == "" {
			url = cfg.NATS.URL
		}
		if url == "" {
			url = "nats://" + cfg.NATS.Listen
		}
		return storeAdd(ctx, cfg, db, id, *out, url, stdout, stderr)
	case "list":
		ids, err := db.StoreIdentities(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "posoffer-cloud: %v\n", err)
			return exitFail
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "STORE\tPUBLIC KEY\tCREATED\tREVOKED")
		for _, s := range ids {
			revoked := "-"
			if !s.RevokedAt.IsZero() {
				revoked = s.RevokedAt.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Store, s.PublicKey, s.CreatedAt.Format(time.RFC3339), revoked)
		}
		tw.Flush()
	case "revoke":
		err := db.RevokeStoreIdentity(ctx, id, time.Now())
		if errors.Is(err, store.ErrNotFound) {
			fmt.Fprintf(stderr, "posoffer-cloud store revoke: store %q has no identity to revoke\n", id)
			return exitUsage
		}
		if err != nil {
			fmt.Fprintf(stderr, "posoffer-cloud: %v\n", err)
			return exitFail
		}
		fmt.Fprintf(stdout, "store %s revoked: a running HQ closes its connections within seconds\n", id)
	}
	return exitOK
}

func storeAdd(ctx context.Context, cfg *config.Config, db *store.DB, id, out, url string, stdout, stderr io.Writer) int {
	fail := func(err error) int {
		fmt.Fprintf(stderr, "posoffer-cloud store add: %v\n", err)
		return exitFail
	}
	out, err := filepath.Abs(out)
	if err != nil {
		return fail(err)
	}
	if err := os.MkdirAll(out, 0o700); err != nil {
		return fail(err)
	}
	signing, err := catalogsig.LoadOrCreateSigningKey(catalogSigningKey(cfg))
	if err != nil {
		return fail(err)
	}
	pub, err := catalogsig.EncodePublicKey(signing.Public().(ed25519.PublicKey))
	if err != nil {
		return fail(err)
	}
	seed, nkey, err := bus.NewUserKey()
	if err != nil {
		return fail(err)
	}
	credsFile, keyFile := filepath.Join(out, id+".nk"), filepath.Join(out, "catalog.pub")
	if err := bus.WriteSeed(credsFile, seed); err != nil {
		return fail(err)
	}
	if err := os.WriteFile(keyFile, pub, 0o644); err != nil {
		os.Remove(credsFile)
		return fail(err)
	}
	err = db.AddStoreIdentity(ctx, store.StoreIdentity{Store: id, PublicKey: nkey, CreatedAt: time.Now()})
	if errors.Is(err, store.ErrExists) {
		os.Remove(credsFile)
		fmt.Fprintf(stderr, "posoffer-cloud store add: store %s has an identity already; revoke it first (posoffer-cloud store revoke)\n", id)
		return exitUsage
	}
	if err != nil {
		os.Remove(credsFile)
		return fail(err)
	}
	fmt.Fprintf(stdout, "cloud:\n  nats_url: %s\n  creds_file: %s\n  catalog_key_file: %s\n",
		strconv.Quote(url), strconv.Quote(credsFile), strconv.Quote(keyFile))
	fmt.Fprintf(stderr, "store %s added (nkey %s). Copy %s to the store, keep %s secret (HQ does not keep it),\n"+
		"and paste the cloud: section above into the agent's configuration, with the paths where the files are there.\n",
		id, nkey, out, filepath.Base(credsFile))
	return exitOK
}

// natsConfigCmd prints the authorization block of a nats-server
// configuration holding HQ and every store not revoked, with the
// permissions the embedded server gives them.
func natsConfigCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, fs, code := configFlag("nats-config", args, stderr, nil)
	if cfg == nil {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "posoffer-cloud nats-config: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	db := openDB(ctx, cfg, stderr)
	if db == nil {
		return exitFail
	}
	defer db.Close()
	creds := cfg.NATS.CredsFile
	if creds == "" {
		var err error
		if creds, err = hqSeed(cfg); err != nil {
			fmt.Fprintf(stderr, "posoffer-cloud: %v\n", err)
			return exitFail
		}
		if cfg.NATS.URL != "" {
			fmt.Fprintf(stderr, "HQ's identity is %s: set nats.creds_file to it so that HQ connects as the user printed first\n", creds)
		}
	}
	hq, err := bus.SeedPublicKey(creds)
	if err != nil {
		fmt.Fprintf(stderr, "posoffer-cloud nats-config: HQ's identity must be an nkey seed: %v\n", err)
		return exitFail
	}
	stores, err := activeStores(ctx, db)
	if err != nil {
		fmt.Fprintf(stderr, "posoffer-cloud: %v\n", err)
		return exitFail
	}
	text, err := bus.AuthConfig(hq, stores)
	if err != nil {
		fmt.Fprintf(stderr, "posoffer-cloud: %v\n", err)
		return exitFail
	}
	fmt.Fprint(stdout, text)
	return exitOK
}
