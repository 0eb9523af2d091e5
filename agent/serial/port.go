package serial

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	tarm "github.com/tarm/serial"

	"github.com/posoffer/posoffer/agent/firmware"
)

// Port is an open serial line. Read waits at most the port's read timeout
// and returns (0, nil) when nothing arrived; any error means the line is
// gone and must be opened again.
type Port interface {
	Read(p []byte) (int, error)
	Write(p []byte) (int, error)
	Close() error
}

// Opener opens the serial port at path with a model's line settings.
type Opener func(path string, m *firmware.Model) (Port, error)

// readTimeout bounds every Read, so that closing a port never waits on one
// and a silent line is noticed.
const readTimeout = 100 * time.Millisecond // termios counts in tenths of a second

// ErrGone is returned by a Port's Read when its device has disappeared
// (a USB adapter unplugged).
var ErrGone = errors.New("serial device is gone")

// OpenTarm opens path with github.com/tarm/serial.
func OpenTarm(path string, m *firmware.Model) (Port, error) {
	c := &tarm.Config{Name: path, Baud: m.Baud, ReadTimeout: readTimeout, Size: byte(m.DataBits)}
	switch m.Parity {
	case "none", "":
		c.Parity = tarm.ParityNone
	case "odd":
		c.Parity = tarm.ParityOdd
	case "even":
		c.Parity = tarm.ParityEven
	default:
		return nil, fmt.Errorf("open %s: parity %q is not supported by this driver (none, odd, even)", path, m.Parity)
	}
	switch m.StopBits {
	case 1, 0:
		c.StopBits = tarm.Stop1
	case 2:
		c.StopBits = tarm.Stop2
	default:
		return nil, fmt.Errorf("open %s: %d stop bits are not supported (1 or 2)", path, m.StopBits)
	}
	p, err := tarm.OpenPort(c)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return &tarmPort{p: p, path: path, dev: device(path)}, nil
}

// tarmPort adapts tarm/serial's habits to Port. A read timeout comes back
// from tarm as (0, io.EOF), which is also what a hung-up line returns
// (a USB adapter unplugged), at once and forever. So a (0, io.EOF) that
// came much faster than the timeout, several times in a row, means the line
// is gone; and after a second of silence the device must still be the one
// opened (udev may give its name to another adapter).
type tarmPort struct {
	p       *tarm.Port
	path    string
	dev     uint64 // the device number at open; 0 when unknown
	checked time.Time
	quick   int // (0, io.EOF) in a row, well before the timeout
}

func (t *tarmPort) Read(b []byte) (int, error) {
	start := time.Now()
	n, err := t.p.Read(b)
	if n > 0 || (err != nil && err != io.EOF) {
		t.quick = 0
		return n, err
	}
	now := time.Now()
	if now.Sub(start) < readTimeout/4 {
		if t.quick++; t.quick >= 3 {
			return 0, fmt.Errorf("%w: the line hung up", ErrGone)
		}
	} else {
		t.quick = 0
	}
	if now.Sub(t.checked) > time.Second {
		t.checked = now
		if _, err := os.Stat(t.path); err != nil {
			return 0, fmt.Errorf("%w: %v", ErrGone, err)
		}
		if d := device(t.path); d != t.dev {
			return 0, fmt.Errorf("%w: %s is now another device", ErrGone, t.path)
		}
	}
	return 0, nil
}

func (t *tarmPort) Write(b []byte) (int, error) { return t.p.Write(b) }
func (t *tarmPort) Close() error                { return t.p.Close() }

// device returns the device number of the file at path, 0 when unknown.
func device(path string) uint64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Rdev)
	}
	return 0
}
