package frame

import (
	"bytes"
	"errors"
	"fmt"
)

// Control bytes of the default framing.
const (
	STX = 0x02 // start of text: a frame begins
	ETX = 0x03 // end of text: the payload ends, the LRC follows
	ACK = 0x06 // the receiver accepts a frame
	NAK = 0x15 // the receiver refuses a frame; the sender may retry
)

const (
	// DefaultMaxPayload is the longest payload of the default framing.
	DefaultMaxPayload = 4096
	// MaxPayloadLimit is the most a Config may set MaxPayload to: the
	// largest protocol message, 64 KiB.
	MaxPayloadLimit = 64 << 10
)

// Config is how one terminal model frames its payloads. Use Default and
// change what differs.
type Config struct {
	STX, ETX byte // frame delimiters
	ACK, NAK byte // acknowledgements, recognised between frames

	// LRCSeed is XORed into the LRC before the first byte; 0 by default,
	// 0x7F on some models.
	LRCSeed byte
	// LRCCoversSTX includes the STX byte in the LRC.
	LRCCoversSTX bool

	// MaxPayload is the longest payload in bytes, from 1 to
	// MaxPayloadLimit; 0 means DefaultMaxPayload.
	MaxPayload int

	// Lines frames each payload as one line ended by "\n", with an
	// optional "\r" before it that is stripped, and no STX, ETX or LRC.
	// STX, ETX, ACK, NAK and the LRC settings are then unused.
	Lines bool
}

// Default returns the default framing of the protocol contract.
func Default() Config {
	return Config{STX: STX, ETX: ETX, ACK: ACK, NAK: NAK, MaxPayload: DefaultMaxPayload}
}

// Errors of Encode and NewDecoder, wrapped with the detail.
var (
	// ErrConfig: the Config cannot frame anything (two control bytes are
	// the same, or MaxPayload is out of range).
	ErrConfig = errors.New("invalid frame config")
	// ErrPayload: the payload cannot be framed: too long, or holding a
	// byte that would end the frame.
	ErrPayload = errors.New("payload cannot be framed")
)

// maxPayload returns MaxPayload with 0 as the default.
func (c Config) maxPayload() int {
	if c.MaxPayload == 0 {
		return DefaultMaxPayload
	}
	return c.MaxPayload
}

// Validate checks that c can frame payloads unambiguously.
func (c Config) Validate() error {
	if n := c.maxPayload(); n < 1 || n > MaxPayloadLimit {
		return fmt.Errorf("%w: max payload %d, want 1 to %d", ErrConfig, c.MaxPayload, MaxPayloadLimit)
	}
	if c.Lines {
		return nil
	}
	ctl := [4]byte{c.STX, c.ETX, c.ACK, c.NAK}
	for i := range ctl {
		for j := i + 1; j < len(ctl); j++ {
			if ctl[i] == ctl[j] {
				return fmt.Errorf("%w: STX, ETX, ACK and NAK must differ, got %#02x, %#02x, %#02x, %#02x",
					ErrConfig, c.STX, c.ETX, c.ACK, c.NAK)
			}
		}
	}
	return nil
}

// LRC returns the LRC of payload under c: the seed, the STX if covered,
// every payload byte and the ETX, XORed.
func (c Config) LRC(payload []byte) byte {
	lrc := c.lrcStart()
	for _, b := range payload {
		lrc ^= b
	}
	return lrc ^ c.ETX
}

func (c Config) lrcStart() byte {
	if c.LRCCoversSTX {
		return c.LRCSeed ^ c.STX
	}
	return c.LRCSeed
}

// Encode returns payload framed under cfg.
func Encode(cfg Config, payload []byte) ([]byte, error) {
	return Append(nil, cfg, payload)
}

// Append appends payload framed under cfg to dst and returns the extended
// slice. On error dst is returned unchanged.
func Append(dst []byte, cfg Config, payload []byte) ([]byte, error) {
	if err := cfg.Validate(); err != nil {
		return dst, err
	}
	if max := cfg.maxPayload(); len(payload) > max {
		return dst, fmt.Errorf("%w: %d bytes, at most %d", ErrPayload, len(payload), max)
	}
	if cfg.Lines {
		switch {
		case len(payload) == 0:
			return dst, fmt.Errorf("%w: an empty line is not a frame", ErrPayload)
		case bytes.IndexByte(payload, '\n') >= 0:
			return dst, fmt.Errorf("%w: newline at byte %d", ErrPayload, bytes.IndexByte(payload, '\n'))
		case payload[len(payload)-1] == '\r':
			return dst, fmt.Errorf("%w: a line must not end with \\r", ErrPayload)
		}
		return append(append(dst, payload...), '\n'), nil
	}
	for i, b := range payload {
		if b == cfg.STX || b == cfg.ETX {
			return dst, fmt.Errorf("%w: byte %d is %#02x, the frame's STX or ETX", ErrPayload, i, b)
		}
	}
	dst = append(dst, cfg.STX)
	dst = append(dst, payload...)
	return append(dst, cfg.ETX, cfg.LRC(payload)), nil
}
