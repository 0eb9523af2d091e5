package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/posoffer/posoffer/agent/config"
	"github.com/posoffer/posoffer/agent/mqtt"
	"github.com/posoffer/posoffer/agent/mqtt/passwd"
	"github.com/posoffer/posoffer/protocol"
)

const terminalUsage = `usage:
  posoffer-agent terminal add --config FILE [--replace] ID   make ID's secret; print it, alone, on the last line
  posoffer-agent terminal list --config FILE                 list terminals and when they were added
  posoffer-agent terminal revoke --config FILE ID            remove ID; a running agent disconnects it within a second
  posoffer-agent broker-user --config FILE                   make the agent's own Mosquitto credential
`

// terminalCmd manages the terminals' credentials in mqtt.terminals_file.
func terminalCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, terminalUsage)
		return exitUsage
	}
	sub := args[0]
	fs := flag.NewFlagSet("terminal "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration `file` (required)")
	replace := fs.Bool("replace", false, "add: give an existing terminal a new secret (its live session ends)")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if *path == "" {
		fmt.Fprintf(stderr, "posoffer-agent terminal %s: --config is required\n", sub)
		return exitUsage
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintf(stderr, "posoffer-agent: %v\n", err)
		return exitUsage
	}
	file := cfg.MQTT.TerminalsFile
	f, err := passwd.Load(file)
	if err != nil {
		fmt.Fprintf(stderr, "posoffer-agent: %v\n", err)
		return exitFail
	}
	id := ""
	switch sub {
	case "add", "revoke":
		if fs.NArg() != 1 {
			fmt.Fprintf(stderr, "posoffer-agent terminal %s: give one terminal id\n", sub)
			return exitUsage
		}
		id = fs.Arg(0)
		if !protocol.ValidTerminalID(id) {
			fmt.Fprintf(stderr, "posoffer-agent: %q is not a terminal id: 1 to 32 characters of a-z, 0-9 and -\n", id)
			return exitUsage
		}
		if mqtt.ReservedID(id) {
			fmt.Fprintf(stderr, "posoffer-agent: %q is reserved for the agent (agent, posoffer-agent*)\n", id)
			return exitUsage
		}
	}
	switch sub {
	case "add":
		secret := passwd.NewSecret()
		if err := f.Add(id, secret, time.Now(), *replace); err != nil {
			fmt.Fprintf(stderr, "posoffer-agent: terminal %v (--replace gives it a new secret)\n", err)
			return exitUsage
		}
		if err := f.Save(file); err != nil {
			fmt.Fprintf(stderr, "posoffer-agent: %v\n", err)
			return exitFail
		}
		fmt.Fprintf(stdout, "terminal %s added to %s. Its MQTT username and client id are %s; its password, shown only now:\n%s\n", id, file, id, secret)
		return exitOK
	case "revoke":
		if err := f.Remove(id); err != nil {
			fmt.Fprintf(stderr, "posoffer-agent: terminal %v\n", err)
			return exitUsage
		}
		if err := f.Save(file); err != nil {
			fmt.Fprintf(stderr, "posoffer-agent: %v\n", err)
			return exitFail
		}
		fmt.Fprintf(stdout, "terminal %s revoked in %s (a running agent disconnects it within a second; send Mosquitto SIGHUP)\n", id, file)
		return exitOK
	case "list":
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TERMINAL\tADDED")
		for _, e := range f.Entries {
			if e.User == mqtt.AgentUser {
				continue
			}
			added := "-"
			if !e.Created.IsZero() {
				added = e.Created.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\n", e.User, added)
		}
		tw.Flush()
		return exitOK
	}
	fmt.Fprintf(stderr, "posoffer-agent terminal: unknown subcommand %q\n%s", sub, terminalUsage)
	return exitUsage
}

// brokerUserCmd makes the agent's credential for Mosquitto: the hash of a
// new secret as user posoffer-agent in mqtt.terminals_file (the file
// Mosquitto's password_file names), and the secret in mqtt.password_file,
// which the agent sends with mqtt.username.
func brokerUserCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("broker-user", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration `file` (required)")
	if err := fs.Parse(args); err != nil || *path == "" {
		fmt.Fprint(stderr, "usage: posoffer-agent broker-user --config FILE\n")
		return exitUsage
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintf(stderr, "posoffer-agent: %v\n", err)
		return exitUsage
	}
	if cfg.MQTT.Username != mqtt.AgentUser || cfg.MQTT.PasswordFile == "" {
		fmt.Fprintf(stderr, "posoffer-agent: set mqtt.username: %s and mqtt.password_file in %s first\n", mqtt.AgentUser, *path)
		return exitUsage
	}
	f, err := passwd.Load(cfg.MQTT.TerminalsFile)
	if err != nil {
		fmt.Fprintf(stderr, "posoffer-agent: %v\n", err)
		return exitFail
	}
	secret := passwd.NewSecret()
	if err := f.Add(mqtt.AgentUser, secret, time.Now(), true); err != nil {
		fmt.Fprintf(stderr, "posoffer-agent: %v\n", err)
		return exitFail
	}
	if err := os.MkdirAll(filepath.Dir(cfg.MQTT.PasswordFile), 0o700); err != nil {
		fmt.Fprintf(stderr, "posoffer-agent: %v\n", err)
		return exitFail
	}
	if err := os.WriteFile(cfg.MQTT.PasswordFile, []byte(secret+"\n"), 0o600); err != nil {
		fmt.Fprintf(stderr, "posoffer-agent: %v\n", err)
		return exitFail
	}
	if err := f.Save(cfg.MQTT.TerminalsFile); err != nil {
		fmt.Fprintf(stderr, "posoffer-agent: %v\n", err)
		return exitFail
	}
	fmt.Fprintf(stdout, "user %s: hash in %s, secret in %s; reload Mosquitto (SIGHUP) and restart the agent\n",
		mqtt.AgentUser, cfg.MQTT.TerminalsFile, cfg.MQTT.PasswordFile)
	return exitOK
}
