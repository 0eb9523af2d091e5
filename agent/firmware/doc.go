// Package firmware reads terminal models: what a serial terminal of one
// make and model needs from the agent, described by a YAML file in
// firmware-configs/ rather than by code. A model gives the line settings
// (baud, data bits, parity, stop bits), the framing (the protocol/frame
// Config, ACK/NAK, timeouts and retries) and the payload dialect: JSON or
// a legacy key=value format, UTF-8 or Shift_JIS, and the terminal's own
// names for the fields and message types of protocol v1.
//
// The agent side turns what a terminal sends into protocol v1 JSON
// (DecodeRequest) and a reply into what the terminal reads (EncodeReply);
// a simulator playing the terminal does the opposite (EncodeRequest,
// DecodeReply). firmware-configs/README.md documents every key of a model
// file and the key=value format.
//
// Invariants:
//   - A model file is strict: an unknown key, a value of the wrong type or
//     an impossible setting is an error wrapping ErrModel that names the
//     file, the line and the key. A Model that Parse returns can frame and
//     translate anything: its Frame passes frame.Config.Validate, its field
//     names map one to one onto v1 names at every level, and its charset
//     can be carried by its data bits.
//   - A Model is never changed after Parse, so its methods are safe for
//     concurrent use.
//   - Bad payloads never panic: they are errors wrapping ErrPayload. Those
//     errors name keys, fields and byte positions, never a value the
//     terminal sent (a JSON syntax error names one character), so they may
//     be logged and sent back to the terminal.
//   - What DecodeRequest returns is valid UTF-8 JSON, an object; this
//     package does not check it against the v1 contract (protocol.Decode
//     does) nor look for card data (protocol.ContainsCardData does, on the
//     raw payload, first).
//   - What EncodeReply and EncodeRequest return can always be framed by
//     frame.Encode under the model's Frame: it fits in MaxPayload and never
//     holds the STX or ETX byte, a newline, or a byte the model's data bits
//     cannot carry. EncodeReply never fails for text reasons: characters
//     that the charset or the key=value format cannot carry are replaced,
//     as the README says. EncodeRequest, which plays a terminal, refuses
//     them instead.
//   - A Shift_JIS payload is converted to UTF-8 before it is split into
//     fields, so a double-byte character whose second byte equals the
//     separator (ポ is 0x83 0x7C, a "|") is read correctly.
package firmware
