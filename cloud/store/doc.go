// Package store is HQ's SQL layer. It keeps the events that stores send and
// what HQ derives from them: checkouts, redemptions, impression counts,
// per-store profile counters and purchase history, and each store's status.
// It also keeps what HQ's API owns: the offers and segments HQ publishes
// (the source of truth for the catalog bucket), the audit log of their
// changes, and the SHA-256 hashes of the API's bearer tokens.
// The same API runs on SQLite (the default: one file, no server) and on
// PostgreSQL, with the same schema from the same versioned migrations.
//
// Open picks the database from its DSN: "" is SQLite, cloud.db in the data
// directory; a postgres:// or postgresql:// URL is PostgreSQL.
//
// Invariants:
//   - An event id is stored once. WriteEvents inserts every id into the
//     events table and applies an event's effects only when its id was new,
//     in the same transaction. A replay however late, overlapping batches and
//     two HQ replicas writing the same events all count each event once.
//   - A WriteEvents call is one transaction: all of it or none of it. A batch
//     holding an event that Validate refuses writes nothing.
//   - Profile deltas are summed per (customer, store) and purchase history
//     per (customer, day, SKU); first and last visit are a minimum and a
//     maximum. Each delta is applied once, so the merged profile is the same
//     whatever order the deltas arrive in.
//   - A heartbeat changes a store's status only when it is newer than the
//     status stored.
//   - EditCatalog reads the catalog, decides and writes one change with its
//     audit entry in one transaction under a lock that HQ replicas share, so
//     a change is judged against the catalog it lands on, and an object never
//     changes without its audit entry.
//   - Times are stored as unix microseconds (UTC) and days as YYYY-MM-DD
//     text, so both dialects compare and sort them alike.
//   - A WriteEvents that returned nil survives a crash or a power cut: SQLite
//     runs in WAL mode with synchronous=FULL, which syncs the log at every
//     commit (NORMAL would keep the file consistent but could lose the last
//     commits, events that the ingest has already acknowledged). PostgreSQL
//     is as durable as its server is set up to be; synchronous_commit=on, the
//     default, syncs at every commit too.
//
// On PostgreSQL, WriteEvents takes two round trips and a commit per batch,
// whatever its size: one INSERT ... SELECT FROM unnest(arrays) ON CONFLICT
// (id) DO NOTHING RETURNING id into events, then a pipelined pgx.Batch with
// one such set-based statement per table for the new events' effects.
// Every transaction writes the tables in the same order and the rows of each
// in key order, so concurrent writers that share ids or counters wait for
// each other and never deadlock. On SQLite, WriteEvents runs prepared
// statements row by row on the one writer connection.
//
// Caveats: a SQLite database belongs to one HQ process; replicas need
// PostgreSQL. Purchase history is kept for every day; nothing prunes it yet.
// The raw JSON of an event is not kept: the tables hold what HQ reads.
package store
