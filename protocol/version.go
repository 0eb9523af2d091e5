package protocol

// Version is the protocol version this package speaks: the "v" of every
// message and the "v1" in every MQTT topic and NATS subject.
//
// It is one increasing integer, not a semver. Bump it when a change would
// make a terminal, agent or HQ tool written against the previous version
// misread the wire: a field changes meaning or type, a field becomes
// required, a name on the wire changes. Adding an optional field that older
// peers ignore does not need a bump. With a bump, add a line to the history
// below and describe the change in docs/protocol.md.
//
// History of versions:
//
//   - 1: 2026-11-22: first version. Terminal to agent: basket, checkout,
//     void, hello. Agent to terminal: offers, ack, error. MQTT topics
//     posoffer/v1/{store}/{terminal}/in|out and posoffer/v1/{store}/agent/status;
//     NATS stream POSOFFER_EVENTS over posoffer.v1.events.{store}.{kind};
//     KV buckets POSOFFER_CATALOG and POSOFFER_PROFILES.
//   - 1: 2026-11-23: additions older peers ignore, no bump: the
//     _posoffer._tcp advert and its TXT keys, the per-store counters of a
//     merged profile, the serial exchange rules for terminal models.
//   - 1: 2026-12-03: additions, no bump: a redemption event's discount and
//     points are what the agent honoured of the terminal's claim, which it
//     adds as claimed and claimed_points when they differ; the event kind
//     discrepancy (posoffer.v1.events.{store}.discrepancy) records each
//     claim honoured in part. An HQ older than this terminates discrepancy
//     events (logged, not stored) and stores the rest: upgrade HQ first.
//   - 1: 2026-12-03: signed catalogs (package catalogsig): every
//     POSOFFER_CATALOG value is a signed value and the key "manifest"
//     lists the catalog. No bump: an agent built before this refuses the
//     signed values as not JSON and keeps its catalog, so it fails safe.
//   - 1: 2026-12-03: stricter checks, no bump: text without control
//     characters, 1,024-byte free text, sums capped at MaxAmount, and the
//     same rules for events (Event.Validate); card numbers without track
//     sentinels, and bare ones, are card_data.
//   - 1: 2026-12-03: learned suggestions, additions older peers ignore,
//     no bump: an offers reply's suggestions, candidates and holdout; a
//     checkout event's decision; the KV bucket POSOFFER_DECIDE with the
//     signed key decide.model (package decide). A terminal that reads only
//     nudges gets the chosen nudges there.
const Version = 1
