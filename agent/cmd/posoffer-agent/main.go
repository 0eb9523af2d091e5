// Command posoffer-agent is the store agent: it answers terminals with the
// offers that apply to their baskets.
//
//	posoffer-agent run --config FILE
//
// runs the agent until SIGTERM or SIGINT;
//
//	posoffer-agent eval --catalog FILE --basket FILE [flags]
//
// prints the offers reply for one basket without a terminal or a store, to
// answer "why did (or didn't) this offer apply?".
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // schedules use IANA zones, also where the OS has none
)

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1 // the command could not do its work
	exitUsage = 2 // bad input: flags, files, documents
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `usage: posoffer-agent <command> [flags]

commands:
  run            --config FILE: run the agent
  eval           print the offers reply for one basket (see eval -h)
  config sample  print a documented configuration with every key
  config check   --config FILE: check a configuration and say what is wrong
  terminal       add, list or revoke a terminal's MQTT credential (see terminal -h)
  broker-user    --config FILE: make the agent's own credential for Mosquitto
  version        print the agent and protocol versions
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "run":
		return runCmd(ctx, args[1:], stderr)
	case "eval":
		return evalCmd(args[1:], stdout, stderr)
	case "config":
		return configCmd(args[1:], stdout, stderr)
	case "terminal":
		return terminalCmd(args[1:], stdout, stderr)
	case "broker-user":
		return brokerUserCmd(args[1:], stdout, stderr)
	case "version":
		fmt.Fprintf(stdout, "posoffer-agent %s (protocol v%d)\n", version, protocolVersion)
		return exitOK
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "posoffer-agent: unknown command %q\n%s", args[0], usage)
	return exitUsage
}
