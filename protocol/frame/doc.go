// Package frame is the serial line codec between a terminal and the agent:
// it wraps a payload (a protocol message) in a frame and finds the frames
// in the bytes that arrive from a port.
//
// The default frame, per the protocol contract, is
//
//	STX (0x02)  payload  ETX (0x03)  LRC
//
// where LRC is the XOR of every payload byte and the ETX. The receiver
// answers each frame with ACK (0x06), or NAK (0x15) for a bad one; the
// sender retries a NAK or 500 ms of silence up to 3 times (that is the
// caller's job, not this package's). A payload is at most 4096 bytes.
// Terminal models that differ set a Config: other STX and ETX bytes, an LRC
// seed, an LRC that covers the STX too, another limit, or frames that are
// lines ended by "\n" with no LRC.
//
// Invariants:
//   - A payload never contains the STX or ETX byte (a line, never "\n"):
//     there is no escaping, so Encode refuses such a payload.
//   - The byte after an ETX is always the LRC, whatever its value, even
//     when it equals STX.
//   - A Decoder holds at most MaxPayload bytes (MaxPayload+1 for lines, for
//     a "\r" it strips), allocated once by NewDecoder, whatever it is fed.
//   - Every byte fed to a Decoder is accounted for exactly once: Event.N of
//     the events it emitted plus Buffered is the number of bytes fed.
//   - An STX inside a frame starts a new frame: the bytes before it are
//     reported as garbage. A frame longer than MaxPayload is skipped to its
//     end and reported once, as oversize, when it ends.
//   - Bytes outside frames are reported as garbage, at the latest at the
//     end of the Feed call that saw them; ACK and NAK outside a frame are
//     reported as such, so one port can carry frames one way and
//     acknowledgements the other.
//   - The codec keeps no time: a frame cut short by a silent sender stays
//     buffered until the STX of its retry restarts it.
package frame
