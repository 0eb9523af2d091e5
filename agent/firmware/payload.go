package firmware

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/posoffer/posoffer/protocol"
)

// codec is a payload format, between the terminal's text (UTF-8 here;
// the charset is the Model's business) and v1 JSON.
type codec interface {
	// toV1 returns the v1 JSON object of the terminal's text.
	toV1(text string) ([]byte, error)
	// fromV1 returns the terminal's text for the v1 JSON object v1. For a
	// reply it never fails over text it cannot carry: it makes it safe.
	fromV1(v1 []byte, reply bool) (string, error)
}

// DecodeRequest returns the protocol v1 JSON of a payload a terminal sent,
// in the model's charset, format and names: UTF-8, ready for
// protocol.Decode. The agent checks the payload with
// protocol.ContainsCardData first, and the result with protocol.Decode:
// DecodeRequest translates, it does not validate.
func (m *Model) DecodeRequest(payload []byte) ([]byte, error) {
	text, err := m.cs.decode(payload)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPayload, err)
	}
	v1, err := m.codec.toV1(text)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPayload, err)
	}
	return v1, nil
}

// EncodeReply returns the payload that tells a terminal of this model the
// agent's reply msg (offers, ack or error), in its format, names and
// charset, ready for frame.Encode. It fails only when the reply is longer
// than the model's largest payload: text the model cannot carry is
// replaced, as firmware-configs/README.md says.
func (m *Model) EncodeReply(msg *protocol.Message) ([]byte, error) {
	v1, err := protocol.Encode(msg)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPayload, err)
	}
	return m.encode(v1, true)
}

// EncodeRequest returns the payload a terminal of this model sends for the
// protocol v1 JSON message v1 (basket, checkout, void or hello): what a
// simulator playing the terminal writes to the line. Unlike EncodeReply, it
// refuses text the model cannot carry.
func (m *Model) EncodeRequest(v1 []byte) ([]byte, error) {
	return m.encode(v1, false)
}

// DecodeReply returns the v1 message in a reply payload that the agent
// sent to a terminal of this model: what a simulator playing the terminal
// reads. It checks the types of the fields, not their values. An offers
// reply's Offers and Nudges are never nil.
func (m *Model) DecodeReply(payload []byte) (*protocol.Message, error) {
	v1, err := m.DecodeRequest(payload)
	if err != nil {
		return nil, err
	}
	var msg protocol.Message
	if err := json.Unmarshal(v1, &msg); err != nil {
		return nil, fmt.Errorf("%w: not a v1 message: %v", ErrPayload, err)
	}
	if msg.Type == protocol.TypeOffers {
		if msg.Offers == nil {
			msg.Offers = []protocol.Offer{}
		}
		if msg.Nudges == nil {
			msg.Nudges = []protocol.Nudge{}
		}
	}
	return &msg, nil
}

// encode is EncodeReply and EncodeRequest after the message is JSON.
func (m *Model) encode(v1 []byte, reply bool) ([]byte, error) {
	text, err := m.codec.fromV1(v1, reply)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPayload, err)
	}
	how := escape
	if m.format == formatKV {
		how = replace
		if !reply {
			how = refuse
		}
	}
	b, err := m.cs.encode(text, how)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPayload, err)
	}
	if len(b) > m.Frame.MaxPayload {
		return nil, fmt.Errorf("%w: the payload is %d bytes, %s takes at most %d (framing.max_payload)",
			ErrPayload, len(b), m.Name, m.Frame.MaxPayload)
	}
	// The codecs and charsets never write a byte that would end the
	// frame; checked, as the frame could not carry it.
	end := []byte{m.Frame.STX, m.Frame.ETX}
	if m.Frame.Lines {
		end = []byte{'\n', '\r'}
	}
	if i := bytes.IndexAny(b, string(end)); i >= 0 {
		return nil, fmt.Errorf("%w: byte %d is %#02x, which ends a frame", ErrPayload, i, b[i])
	}
	return b, nil
}
