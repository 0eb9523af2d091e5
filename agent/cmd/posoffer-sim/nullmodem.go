package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/creack/pty"
)

// nullModemCmd is a virtual null-modem cable: two pseudo-terminals whose
// bytes cross, each reachable at a stable path. One end is given to an
// agent as a serial port, the other to posoffer-sim serial, to try a
// terminal model without hardware. It runs until interrupted.
func nullModemCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("null-modem", flag.ContinueOnError)
	fs.SetOutput(stderr)
	a := fs.String("a", "", "`path` of one end, created as a symlink (required)")
	b := fs.String("b", "", "`path` of the other end (required)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *a == "" || *b == "" || *a == *b {
		fmt.Fprintln(stderr, "posoffer-sim null-modem: --a and --b are required and must differ")
		return 2
	}
	var masters []*os.File
	for _, path := range []string{*a, *b} {
		master, slave, err := pty.Open()
		if err != nil {
			fmt.Fprintf(stderr, "posoffer-sim: pseudo-terminal: %v\n", err)
			return 1
		}
		// Keep the slave open, so the cable survives its users closing
		// and reopening their ends.
		defer slave.Close()
		defer master.Close()
		if err := os.Symlink(slave.Name(), path); err != nil {
			fmt.Fprintf(stderr, "posoffer-sim: %v\n", err)
			return 1
		}
		defer os.Remove(path)
		masters = append(masters, master)
	}
	go io.Copy(masters[0], masters[1])
	go io.Copy(masters[1], masters[0])
	fmt.Fprintf(stdout, "null-modem cable: %s <-> %s (until interrupted)\n", *a, *b)
	<-ctx.Done()
	return 0
}
