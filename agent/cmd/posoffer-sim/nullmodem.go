package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
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
		// and reopening their ends; raw, so nothing is echoed or
		// translated before a user sets its line.
		defer slave.Close()
		if err := makeRaw(slave); err != nil {
			fmt.Fprintf(stderr, "posoffer-sim: pseudo-terminal: %v\n", err)
			return 1
		}
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

// makeRaw puts a terminal in raw mode: 8-bit bytes, no echo, no line
// editing, no translation.
func makeRaw(f *os.File) error {
	fd := int(f.Fd())
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return err
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	return unix.IoctlSetTermios(fd, unix.TCSETS, t)
}
