package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/posoffer/posoffer/agent/config"
)

func configCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, "usage: posoffer-agent config sample | config check --config FILE\n")
		return exitUsage
	}
	switch args[0] {
	case "sample":
		stdout.Write(config.Sample)
		return exitOK
	case "check":
		fs := flag.NewFlagSet("config check", flag.ContinueOnError)
		fs.SetOutput(stderr)
		path := fs.String("config", "", "configuration `file` (required)")
		if err := fs.Parse(args[1:]); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return exitOK
			}
			return exitUsage
		}
		if *path == "" {
			fmt.Fprintln(stderr, "posoffer-agent config check: --config is required")
			return exitUsage
		}
		cfg, err := config.Load(*path)
		if err == nil {
			_, err = serialConfigs(cfg, *path)
		}
		if err != nil {
			fmt.Fprintf(stderr, "posoffer-agent: %v\n", err)
			return exitUsage
		}
		fmt.Fprintf(stdout, "%s: ok\n", *path)
		return exitOK
	}
	fmt.Fprintf(stderr, "posoffer-agent config: unknown subcommand %q\n", args[0])
	return exitUsage
}
