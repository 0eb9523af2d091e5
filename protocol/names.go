package protocol

import (
	"fmt"
	"strings"
)

// Names on the wire. Each constant ending in T is a printf template for the
// builder func of the same name; use the builder, which checks the ids, and
// the template only where a format string is needed (docs, log fields).
// The "v1" in each name is Version: a new version gets new names, so peers
// of two versions never read each other's messages.

// MQTT: terminals and the agent talk over one topic pair per terminal.
const (
	// MQTTQoS is the QoS of every posoffer MQTT publish and subscription.
	MQTTQoS = 1

	// TopicPrefix starts every posoffer MQTT topic.
	TopicPrefix = "posoffer/v1/"

	// TopicInT is posoffer/v1/{store}/{terminal}/in: terminal to agent.
	TopicInT = TopicPrefix + "%s/%s/in"
	// TopicOutT is posoffer/v1/{store}/{terminal}/out: agent to terminal.
	TopicOutT = TopicPrefix + "%s/%s/out"
	// TopicInFilterT is posoffer/v1/{store}/+/in: the agent's subscription,
	// every terminal of its store.
	TopicInFilterT = TopicPrefix + "%s/+/in"
	// TopicStatusT is posoffer/v1/{store}/agent/status: the agent's status,
	// retained; StatusOnline when it connects, StatusOffline as its last
	// will.
	TopicStatusT = TopicPrefix + "%s/agent/status"

	// StatusOnline is the payload of the status topic while the agent is up.
	StatusOnline = "online"
	// StatusOffline is the payload of the status topic once the agent is
	// gone: its MQTT last will, and what it publishes on a clean shutdown.
	StatusOffline = "offline"
)

// NATS JetStream: events from stores to the cloud.
const (
	// EventsStream is the JetStream stream that holds every store event.
	EventsStream = "POSOFFER_EVENTS"
	// EventsSubjects is the subject filter of EventsStream: every event of
	// every store.
	EventsSubjects = "posoffer.v1.events.>"
	// EventSubjectT is posoffer.v1.events.{store}.{kind}.
	EventSubjectT = "posoffer.v1.events.%s.%s"
	// MsgIDHeader carries an event's id (a UUIDv7), so JetStream drops a
	// duplicate publish within its window.
	MsgIDHeader = "Nats-Msg-Id"
	// StoreEventsT is posoffer.v1.events.{store}.>: every event of one
	// store, heartbeats included; what a store may publish.
	StoreEventsT = "posoffer.v1.events.%s.>"
	// StoreInboxPrefixT is _INBOX_{store}: a store's NATS inbox prefix
	// (replies to its requests arrive under it), so that HQ's servers can
	// let a store read its own replies and no other store's.
	StoreInboxPrefixT = "_INBOX_%s"
)

// NATS KV: what the cloud pushes to stores.
const (
	// CatalogBucket is the KV bucket of offers and segments, one key each:
	// OfferKey and SegmentKey.
	CatalogBucket = "POSOFFER_CATALOG"
	// OfferKeyPrefix starts the key of an offer in CatalogBucket: offer.{id}.
	OfferKeyPrefix = "offer."
	// SegmentKeyPrefix starts the key of a segment in CatalogBucket:
	// segment.{id}.
	SegmentKeyPrefix = "segment."

	// ProfilesBucket is the KV bucket of customer profiles, keyed by
	// customer_key (see ValidCustomerKey), never by the raw loyalty id.
	ProfilesBucket = "POSOFFER_PROFILES"
)

// EventKind is the last token of an event's subject: what happened.
type EventKind string

// The event kinds.
const (
	EventRedemption EventKind = "redemption" // an offer redeemed at checkout
	EventImpression EventKind = "impression" // an offer or nudge shown to a customer
	EventCheckout   EventKind = "checkout"   // a completed transaction
	EventProfile    EventKind = "profile"    // a customer profile's per-store counters changed
	EventHeartbeat  EventKind = "heartbeat"  // the agent is alive; carries its status
	// EventDiscrepancy is a checkout's claim for an offer that the agent
	// honoured less of than the terminal claimed.
	EventDiscrepancy EventKind = "discrepancy"
)

// Valid reports whether k is one of the event kinds.
func (k EventKind) Valid() bool {
	switch k {
	case EventRedemption, EventImpression, EventCheckout, EventProfile, EventHeartbeat, EventDiscrepancy:
		return true
	}
	return false
}

// Lengths of ids and keys.
const (
	MaxStoreIDLen    = 32
	MaxTerminalIDLen = 32
	MaxOfferIDLen    = 64
	MaxSegmentIDLen  = 64
	CustomerKeyLen   = 26
)

// ValidStoreID reports whether s is a store id: 1 to 32 bytes of a-z, 0-9
// and '-'.
func ValidStoreID(s string) bool { return validID(s, MaxStoreIDLen) }

// ValidTerminalID reports whether s is a terminal id: 1 to 32 bytes of a-z,
// 0-9 and '-'.
func ValidTerminalID(s string) bool { return validID(s, MaxTerminalIDLen) }

// ValidOfferID reports whether s is an offer id: 1 to 64 bytes of a-z, 0-9
// and '-'.
func ValidOfferID(s string) bool { return validID(s, MaxOfferIDLen) }

// ValidSegmentID reports whether s is a segment id: 1 to 64 bytes of a-z,
// 0-9 and '-'.
func ValidSegmentID(s string) bool { return validID(s, MaxSegmentIDLen) }

// validID is the shared rule of store, terminal, offer and segment ids.
// It is on the path of every message, so it is a loop, not a regexp.
func validID(s string, max int) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// ValidCustomerKey reports whether s has the form of a customer_key: 26
// bytes of lowercase base32 (a-z, 2-7), the first 26 characters of the
// unpadded encoding of an HMAC-SHA256 of the loyalty id.
func ValidCustomerKey(s string) bool {
	if len(s) != CustomerKeyLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '2' <= c && c <= '7') {
			return false
		}
	}
	return true
}

// idError explains a bad id: what it is for, the id (quoted, so an empty or
// odd one shows) and the rule.
func idError(what, id string, max int) error {
	return fmt.Errorf("%s %q: %w: want 1 to %d characters of a-z, 0-9 and -", what, id, ErrInvalidID, max)
}

// TopicIn returns posoffer/v1/{store}/{terminal}/in, the topic a terminal
// publishes its messages on.
func TopicIn(store, terminal string) (string, error) {
	if err := checkStoreTerminal(store, terminal); err != nil {
		return "", fmt.Errorf("mqtt in topic: %w", err)
	}
	return TopicPrefix + store + "/" + terminal + "/in", nil
}

// TopicOut returns posoffer/v1/{store}/{terminal}/out, the topic the agent
// publishes its replies to that terminal on.
func TopicOut(store, terminal string) (string, error) {
	if err := checkStoreTerminal(store, terminal); err != nil {
		return "", fmt.Errorf("mqtt out topic: %w", err)
	}
	return TopicPrefix + store + "/" + terminal + "/out", nil
}

// TopicInFilter returns posoffer/v1/{store}/+/in, the filter that matches
// the in topic of every terminal of the store.
func TopicInFilter(store string) (string, error) {
	if !ValidStoreID(store) {
		return "", fmt.Errorf("mqtt in filter: %w", idError("store id", store, MaxStoreIDLen))
	}
	return TopicPrefix + store + "/+/in", nil
}

// TopicStatus returns posoffer/v1/{store}/agent/status, the retained topic
// of the agent's StatusOnline or StatusOffline.
func TopicStatus(store string) (string, error) {
	if !ValidStoreID(store) {
		return "", fmt.Errorf("mqtt status topic: %w", idError("store id", store, MaxStoreIDLen))
	}
	return TopicPrefix + store + "/agent/status", nil
}

func checkStoreTerminal(store, terminal string) error {
	if !ValidStoreID(store) {
		return idError("store id", store, MaxStoreIDLen)
	}
	if !ValidTerminalID(terminal) {
		return idError("terminal id", terminal, MaxTerminalIDLen)
	}
	return nil
}

// ParseTopicIn returns the store and terminal of an in topic,
// posoffer/v1/{store}/{terminal}/in. Any other topic, or one whose ids are
// not valid, is an error wrapping ErrInvalidName.
func ParseTopicIn(topic string) (store, terminal string, err error) {
	return parseTerminalTopic(topic, "/in")
}

// ParseTopicOut returns the store and terminal of an out topic,
// posoffer/v1/{store}/{terminal}/out, like ParseTopicIn.
func ParseTopicOut(topic string) (store, terminal string, err error) {
	return parseTerminalTopic(topic, "/out")
}

func parseTerminalTopic(topic, suffix string) (store, terminal string, err error) {
	rest, ok := strings.CutPrefix(topic, TopicPrefix)
	if ok {
		rest, ok = strings.CutSuffix(rest, suffix)
	}
	if ok {
		store, terminal, ok = strings.Cut(rest, "/")
	}
	if !ok || !ValidStoreID(store) || !ValidTerminalID(terminal) {
		return "", "", fmt.Errorf("mqtt topic %q: %w: want %s{store}/{terminal}%s", topic, ErrInvalidName, TopicPrefix, suffix)
	}
	return store, terminal, nil
}

// EventSubject returns posoffer.v1.events.{store}.{kind}, the subject a
// store publishes an event of that kind on.
func EventSubject(store string, kind EventKind) (string, error) {
	if !ValidStoreID(store) {
		return "", fmt.Errorf("event subject: %w", idError("store id", store, MaxStoreIDLen))
	}
	if !kind.Valid() {
		return "", fmt.Errorf("event subject: kind %q: %w: want redemption, impression, checkout, profile, heartbeat or discrepancy", kind, ErrInvalidName)
	}
	return "posoffer.v1.events." + store + "." + string(kind), nil
}

// StoreEvents returns posoffer.v1.events.{store}.>, the subjects of every
// event of one store.
func StoreEvents(store string) (string, error) {
	if !ValidStoreID(store) {
		return "", fmt.Errorf("store events: %w", idError("store id", store, MaxStoreIDLen))
	}
	return "posoffer.v1.events." + store + ".>", nil
}

// StoreInboxPrefix returns _INBOX_{store}, the inbox prefix of a store's
// NATS connection.
func StoreInboxPrefix(store string) (string, error) {
	if !ValidStoreID(store) {
		return "", fmt.Errorf("store inbox: %w", idError("store id", store, MaxStoreIDLen))
	}
	return "_INBOX_" + store, nil
}

// ParseEventSubject returns the store and kind of an event subject,
// posoffer.v1.events.{store}.{kind}. Any other subject is an error wrapping
// ErrInvalidName.
func ParseEventSubject(subject string) (store string, kind EventKind, err error) {
	rest, ok := strings.CutPrefix(subject, "posoffer.v1.events.")
	if ok {
		var k string
		store, k, ok = strings.Cut(rest, ".")
		kind = EventKind(k)
	}
	if !ok || !ValidStoreID(store) || !kind.Valid() {
		return "", "", fmt.Errorf("event subject %q: %w: want posoffer.v1.events.{store}.{kind}", subject, ErrInvalidName)
	}
	return store, kind, nil
}

// OfferKey returns offer.{id}, the key of an offer in CatalogBucket.
func OfferKey(id string) (string, error) {
	if !ValidOfferID(id) {
		return "", fmt.Errorf("catalog key: %w", idError("offer id", id, MaxOfferIDLen))
	}
	return OfferKeyPrefix + id, nil
}

// SegmentKey returns segment.{id}, the key of a segment in CatalogBucket.
func SegmentKey(id string) (string, error) {
	if !ValidSegmentID(id) {
		return "", fmt.Errorf("catalog key: %w", idError("segment id", id, MaxSegmentIDLen))
	}
	return SegmentKeyPrefix + id, nil
}

// ParseOfferKey returns the offer id of a CatalogBucket key, and whether the
// key is an offer's key with a valid id.
func ParseOfferKey(key string) (id string, ok bool) {
	id, ok = strings.CutPrefix(key, OfferKeyPrefix)
	return id, ok && ValidOfferID(id)
}

// ParseSegmentKey returns the segment id of a CatalogBucket key, and whether
// the key is a segment's key with a valid id.
func ParseSegmentKey(key string) (id string, ok bool) {
	id, ok = strings.CutPrefix(key, SegmentKeyPrefix)
	return id, ok && ValidSegmentID(id)
}

// ProfileKey returns the key of a customer's profile in ProfilesBucket: the
// customer_key itself, once checked. The error does not quote the key: a
// caller that passed a raw loyalty id by mistake must not log it.
func ProfileKey(customerKey string) (string, error) {
	if !ValidCustomerKey(customerKey) {
		return "", fmt.Errorf("profile key (%d bytes): %w: want %d characters of a-z and 2-7", len(customerKey), ErrInvalidID, CustomerKeyLen)
	}
	return customerKey, nil
}
