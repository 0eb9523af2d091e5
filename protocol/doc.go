// Package protocol is the wire language between terminals, the store agent
// and the cloud: the v1 messages and their validation, the names of MQTT
// topics, NATS subjects, streams and KV buckets, and the version history.
// Serial framing is in the frame subpackage and the offer language in offer.
//
// Both sides import this package, and it imports nothing else of posoffer,
// so a terminal simulator, the agent and HQ tools agree on every byte.
//
// Invariants:
//   - Decode never panics, whatever the bytes: it returns a valid Message or
//     an *Error whose Code is one of the Code constants.
//   - A Message that Decode returns is one that Encode turns back into bytes
//     that Decode returns as the same Message.
//   - Error messages name the field (lines[2].qty) and the rule. They may
//     echo a number or a short value with a fixed form (a type, a ts, a
//     currency, an offer id), never free text, and never the customer's
//     loyalty id, even when a terminal sends it in another field as well.
//   - Names on the wire are built only from valid ids, so an id can never
//     add a level to a topic or a token to a subject.
package protocol
