// Command posoffer-cloud is HQ: it receives every store's events over NATS
// JetStream, exactly once, keeps them in SQLite or PostgreSQL, merges
// customer profiles across stores, and publishes offers to the stores.
//
//	posoffer-cloud run --config FILE
//
// runs HQ until SIGTERM or SIGINT; with an empty nats.url it embeds its
// own NATS server, which lets in HQ and the stores' identities only;
//
//	posoffer-cloud store add --config FILE --out DIR ID
//
// makes a store's identity on HQ's NATS and prints its agent's cloud:
// section (store list and store revoke manage them; nats-config prints
// them for a cluster's configuration);
//
//	posoffer-cloud catalog push --config FILE --file catalog.yaml
//
// publishes a catalog file to every store, signed with HQ's catalog
// signing key, whose public half
//
//	posoffer-cloud catalog key --config FILE
//
// prints for the agents' cloud.catalog_key_file;
//
//	posoffer-cloud token create --config FILE --role admin|analyst
//
// makes a token for the HQ API (/api/v1) and the dashboard that run serves
// on the HTTP listener (/).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // schedules use IANA zones, also where the OS has none

	"github.com/posoffer/posoffer/protocol"
)

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1 // the command could not do its work
	exitUsage = 2 // bad input: flags, files, documents
)

var version = "dev" // set by the build

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `usage: posoffer-cloud <command> [flags]

commands:
  run            --config FILE: run HQ: ingest, the API on /api/v1 and the dashboard on /
  catalog push   --config FILE --file CATALOG: publish a catalog file to every store, signed
  catalog key    --config FILE: print the public key agents check catalogs with (cloud.catalog_key_file)
  redemptions    --config FILE [--store ID] [--limit N]: the newest redemptions, and totals per offer
  token create   --config FILE --role admin|analyst [--name LABEL]: a token for the API and the dashboard
  token list     --config FILE: the tokens, never their secrets
  token revoke   --config FILE --id ID: revoke a token
  store add      --config FILE --out DIR [--nats-url URL] ID: a store's NATS identity and
                 catalog key, into DIR; prints the agent's cloud: section
  store list     --config FILE: the stores' identities, never their secrets
  store revoke   --config FILE ID: shut a store out of HQ's NATS
  nats-config    --config FILE: the nats-server authorization block for HQ and the stores
  config sample  print a documented configuration with every key
  config check   --config FILE: check a configuration and say what is wrong
  version        print the version
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "run":
		return runCmd(ctx, args[1:], stderr)
	case "catalog":
		return catalogCmd(ctx, args[1:], stdout, stderr)
	case "redemptions":
		return redemptionsCmd(ctx, args[1:], stdout, stderr)
	case "token":
		return tokenCmd(ctx, args[1:], stdout, stderr)
	case "store":
		return storeCmd(ctx, args[1:], stdout, stderr)
	case "nats-config":
		return natsConfigCmd(ctx, args[1:], stdout, stderr)
	case "config":
		return configCmd(args[1:], stdout, stderr)
	case "version":
		fmt.Fprintf(stdout, "posoffer-cloud %s (protocol v%d)\n", version, protocol.Version)
		return exitOK
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "posoffer-cloud: unknown command %q\n%s", args[0], usage)
	return exitUsage
}
