package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/posoffer/posoffer/agent/firmware"
	"github.com/posoffer/posoffer/agent/serial"
)

// serialCmd acts as a serial terminal of a model: it sends each message
// file over the port, in the model's dialect and framing, and prints each
// reply as protocol v1 JSON.
func serialCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serial", flag.ContinueOnError)
	fs.SetOutput(stderr)
	port := fs.String("port", "", "the serial port `path` the terminal is on, e.g. /dev/ttyUSB0 (required)")
	model := fs.String("model", "", "the terminal model: a file `name` in --firmware-dir, without .yaml (required)")
	dir := fs.String("firmware-dir", "firmware-configs", "the `directory` of terminal models")
	var files []string
	fs.Func("file", "a message `file` to send (protocol v1 JSON); repeat to send several in order (required)", func(s string) error {
		files = append(files, s)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *port == "" || *model == "" || len(files) == 0 {
		fmt.Fprintln(stderr, "posoffer-sim serial: --port, --model and --file are required")
		return 2
	}
	m, err := firmware.Load(*dir, *model)
	if err != nil {
		fmt.Fprintf(stderr, "posoffer-sim: %v\n", err)
		return 2
	}
	var msgs [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintf(stderr, "posoffer-sim: %v\n", err)
			return 2
		}
		msgs = append(msgs, b)
	}
	t, err := serial.Dial(*port, m, nil)
	if err != nil {
		fmt.Fprintf(stderr, "posoffer-sim: %v\n", err)
		return 1
	}
	defer t.Close()
	for i, b := range msgs {
		start := time.Now()
		r, err := t.Request(ctx, b)
		if err != nil {
			fmt.Fprintf(stderr, "posoffer-sim: %s: %v\n", files[i], err)
			return 1
		}
		out, _ := json.MarshalIndent(r, "", "  ")
		fmt.Fprintf(stdout, "%s\n", out)
		fmt.Fprintf(stderr, "reply in %v\n", time.Since(start).Round(time.Microsecond))
	}
	if n := t.Resent(); n > 0 {
		fmt.Fprintf(stderr, "requests sent again after a NAK or no ACK: %d\n", n)
	}
	return 0
}
