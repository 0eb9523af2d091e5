package store

import (
	"context"
	"fmt"
	"time"
)

// migration is one step of the schema.
type migration struct {
	version int64
	name    string
	sql     string
	// then, when set, runs after sql in the same transaction: what SQL
	// alone would say differently in each dialect.
	then func(ctx context.Context, t tx) error
}

// migrations is the schema, oldest first. A released migration is never
// edited: a change is a new migration at the end.
//
// The SQL is the same on both dialects, so it keeps to what both read alike:
// TEXT, BIGINT and INTEGER columns, PRIMARY KEY, REFERENCES, CHECK, DEFAULT
// and plain indexes. A migration that cannot would say so with a field for
// each dialect.
var migrations = []migration{{1, "events and what HQ derives from them", `
-- Every event stored, by id: the exactly-once ledger.
CREATE TABLE events (
	id    TEXT PRIMARY KEY,  -- the event's UUIDv7
	kind  TEXT NOT NULL,
	store TEXT NOT NULL,
	at_us BIGINT NOT NULL    -- when it happened, unix microseconds
);

CREATE TABLE checkouts (
	id       TEXT PRIMARY KEY REFERENCES events (id),
	store    TEXT NOT NULL,
	terminal TEXT NOT NULL,
	txn      TEXT NOT NULL,
	customer TEXT NOT NULL,  -- customer_key, '' when not identified
	at_us    BIGINT NOT NULL,
	subtotal BIGINT NOT NULL,
	discount BIGINT NOT NULL,
	points   BIGINT NOT NULL,
	paid     BIGINT NOT NULL,
	currency TEXT NOT NULL
);
CREATE INDEX checkouts_store_at ON checkouts (store, at_us);

CREATE TABLE redemptions (
	id       TEXT PRIMARY KEY REFERENCES events (id),
	store    TEXT NOT NULL,
	offer    TEXT NOT NULL,
	txn      TEXT NOT NULL,
	customer TEXT NOT NULL,
	discount BIGINT NOT NULL,
	points   BIGINT NOT NULL,
	at_us    BIGINT NOT NULL,
	segments TEXT NOT NULL   -- segment ids, comma-joined
);
CREATE INDEX redemptions_at ON redemptions (at_us, id);
CREATE INDEX redemptions_store_at ON redemptions (store, at_us, id);
CREATE INDEX redemptions_offer_at ON redemptions (offer, at_us, id);

-- Offers and nudges shown, counted per UTC day.
CREATE TABLE impressions (
	offer TEXT NOT NULL,
	store TEXT NOT NULL,
	day   TEXT NOT NULL,     -- YYYY-MM-DD
	nudge INTEGER NOT NULL CHECK (nudge IN (0, 1)),
	n     BIGINT NOT NULL,
	PRIMARY KEY (offer, store, day, nudge)
);
CREATE INDEX impressions_day ON impressions (day);

-- A customer's counters at one store: the sum of its profile deltas.
CREATE TABLE profile_counters (
	customer  TEXT NOT NULL,
	store     TEXT NOT NULL,
	visits    BIGINT NOT NULL,
	spend     BIGINT NOT NULL,
	points    BIGINT NOT NULL,
	first_day TEXT NOT NULL, -- store-local YYYY-MM-DD
	last_day  TEXT NOT NULL,
	PRIMARY KEY (customer, store)
);

-- What a customer bought, per store-local day and SKU, over every store.
CREATE TABLE profile_history (
	customer TEXT NOT NULL,
	day      TEXT NOT NULL,
	sku      TEXT NOT NULL,
	category TEXT NOT NULL,
	brand    TEXT NOT NULL,
	qty      BIGINT NOT NULL,
	spend    BIGINT NOT NULL,
	PRIMARY KEY (customer, day, sku)
);

-- Each store: when its events happened, and its latest heartbeat.
CREATE TABLE stores (
	store               TEXT PRIMARY KEY,
	first_event_us      BIGINT NOT NULL DEFAULT 0,
	last_event_us       BIGINT NOT NULL DEFAULT 0,
	last_seen_us        BIGINT NOT NULL DEFAULT 0, -- the heartbeat's time; 0: none yet
	agent               TEXT NOT NULL DEFAULT '',
	catalog             BIGINT NOT NULL DEFAULT 0,
	outbox_depth        BIGINT NOT NULL DEFAULT 0,
	outbox_oldest_ms    BIGINT NOT NULL DEFAULT 0,
	dropped_impressions BIGINT NOT NULL DEFAULT 0,
	alarms              TEXT NOT NULL DEFAULT '[]' -- a JSON array of strings
);
`, nil}, {2, "the HQ API: tokens, offers, segments and their audit log", `
-- Bearer tokens of the HQ API. The token itself is never stored, only its
-- SHA-256.
CREATE TABLE api_tokens (
	id         TEXT PRIMARY KEY,         -- public: names the token in the audit log
	hash       TEXT NOT NULL UNIQUE,     -- hex SHA-256 of the token
	role       TEXT NOT NULL,
	name       TEXT NOT NULL,
	created_us BIGINT NOT NULL,
	revoked_us BIGINT NOT NULL DEFAULT 0 -- 0: not revoked
);

-- The offers HQ publishes, each a JSON document of the offer language.
CREATE TABLE offers (
	id         TEXT PRIMARY KEY,
	doc        TEXT NOT NULL,
	status     TEXT NOT NULL,            -- the document's status
	created_us BIGINT NOT NULL,
	updated_us BIGINT NOT NULL,
	updated_by TEXT NOT NULL             -- the name of the token that changed it last
);
CREATE INDEX offers_status ON offers (status, id);

-- The segments HQ publishes, each a JSON document of the offer language.
CREATE TABLE segments (
	id         TEXT PRIMARY KEY,
	doc        TEXT NOT NULL,
	created_us BIGINT NOT NULL,
	updated_us BIGINT NOT NULL,
	updated_by TEXT NOT NULL
);

-- Every change to offers and segments: who, when, and the document before
-- and after.
CREATE TABLE audit (
	id          TEXT PRIMARY KEY,        -- a UUIDv7
	at_us       BIGINT NOT NULL,
	actor       TEXT NOT NULL,           -- the token's name
	actor_token TEXT NOT NULL,           -- the token's id
	action      TEXT NOT NULL,
	kind        TEXT NOT NULL,           -- offer or segment
	object_id   TEXT NOT NULL,
	before_doc  TEXT NOT NULL,           -- '' when the change created the object
	after_doc   TEXT NOT NULL            -- '' when it deleted it
);
CREATE INDEX audit_at ON audit (at_us, id);
CREATE INDEX audit_object ON audit (kind, object_id, at_us, id);
`, nil}, {3, "discrepancies: checkout claims honoured in part", `
-- A terminal's claim for an offer that its agent honoured less of than
-- claimed: one row per discrepancy event. The redemption, if any, holds the
-- honoured amounts.
CREATE TABLE discrepancies (
	id              TEXT PRIMARY KEY REFERENCES events (id),
	store           TEXT NOT NULL,
	terminal        TEXT NOT NULL,
	txn             TEXT NOT NULL,
	offer           TEXT NOT NULL,
	claimed         BIGINT NOT NULL, -- discount, minor units
	honoured        BIGINT NOT NULL,
	claimed_points  BIGINT NOT NULL,
	honoured_points BIGINT NOT NULL,
	at_us           BIGINT NOT NULL
);
CREATE INDEX discrepancies_at ON discrepancies (at_us, id);
CREATE INDEX discrepancies_store_at ON discrepancies (store, terminal, at_us, id);
`, nil}, {4, "store identities on NATS", `
-- Each store's NATS identity: an nkey user, of which HQ keeps only the
-- public key. A store has at most one identity not revoked.
CREATE TABLE store_identities (
	public_key TEXT PRIMARY KEY,         -- the nkey user's public key (U...)
	store      TEXT NOT NULL,
	created_us BIGINT NOT NULL,
	revoked_us BIGINT NOT NULL DEFAULT 0 -- 0: not revoked
);
CREATE INDEX store_identities_store ON store_identities (store, revoked_us);
`, nil}, {5, "tokens that expire", `
-- When a token stops being valid, unix microseconds; 0: never.
ALTER TABLE api_tokens ADD COLUMN expires_us BIGINT NOT NULL DEFAULT 0;
`, nil}, {6, "learned suggestions: decisions, baskets and the published model", `
-- What each basket held, for mining cross-sell rules: its item keys
-- (sku:{sku}, category:{category}, brand:{brand}), newline-joined.
ALTER TABLE checkouts ADD COLUMN items TEXT NOT NULL DEFAULT '';
-- The checkout's decision record; policy '' when it has none.
ALTER TABLE checkouts ADD COLUMN decision_context TEXT NOT NULL DEFAULT '';
ALTER TABLE checkouts ADD COLUMN decision_policy TEXT NOT NULL DEFAULT '';
ALTER TABLE checkouts ADD COLUMN decision_model BIGINT NOT NULL DEFAULT 0;
ALTER TABLE checkouts ADD COLUMN decision_holdout INTEGER NOT NULL DEFAULT 0;
CREATE INDEX checkouts_at ON checkouts (at_us);
CREATE INDEX checkouts_txn ON checkouts (store, terminal, txn);

-- A suggestion converted when its offer is among the redemptions of the
-- same transaction, (store, terminal, txn): redemptions now keep their
-- terminal ('' for those stored before).
ALTER TABLE redemptions ADD COLUMN terminal TEXT NOT NULL DEFAULT '';
CREATE INDEX redemptions_txn ON redemptions (store, terminal, txn, offer);

-- Each offer a checkout's decision suggested (or, held out, would have).
CREATE TABLE suggestions (
	checkout TEXT NOT NULL REFERENCES events (id),
	offer    TEXT NOT NULL,
	kind     TEXT NOT NULL,  -- nudge or cross_sell
	ord      BIGINT NOT NULL, -- position in the decision
	PRIMARY KEY (checkout, offer)
);

-- The model HQ published last; one row.
CREATE TABLE decide_model (
	id       INTEGER PRIMARY KEY CHECK (id = 1),
	revision BIGINT NOT NULL,
	seq      BIGINT NOT NULL,    -- the signature's sequence
	hash     TEXT NOT NULL,      -- of what was learned, without revision and times
	doc      TEXT NOT NULL       -- the model's JSON
);
`, nil}, {7, "reports from daily rollups, by store-local day", `
-- What each offer did at each store on each store-local day: the reports
-- read these, never the redemptions. Events of agents that do not say
-- their day count on their UTC date.
CREATE TABLE offer_days (
	offer          TEXT NOT NULL,
	store          TEXT NOT NULL,
	day            TEXT NOT NULL,               -- store-local YYYY-MM-DD
	redemptions    BIGINT NOT NULL DEFAULT 0,
	discount       BIGINT NOT NULL DEFAULT 0,   -- minor units of the tenant's currency
	points         BIGINT NOT NULL DEFAULT 0,
	impressions    BIGINT NOT NULL DEFAULT 0,   -- transactions shown it as an offer that applied
	suggested      BIGINT NOT NULL DEFAULT 0,   -- transactions shown it as a nudge or cross-sell
	-- Checkouts whose transaction showed it as an offer, and of those the
	-- ones that redeemed it: uptake is shown_redeemed / shown_checkouts.
	shown_checkouts     BIGINT NOT NULL DEFAULT 0,
	shown_redeemed      BIGINT NOT NULL DEFAULT 0,
	suggested_checkouts BIGINT NOT NULL DEFAULT 0,
	suggested_redeemed  BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (offer, store, day)
);
CREATE INDEX offer_days_day ON offer_days (day, offer);
INSERT INTO offer_days (offer, store, day, impressions, suggested)
	SELECT offer, store, day, sum(n * (1 - nudge)), sum(n * nudge) FROM impressions GROUP BY offer, store, day;
DROP TABLE impressions;

-- Each store's checkouts per store-local day.
CREATE TABLE store_days (
	store     TEXT NOT NULL,
	day       TEXT NOT NULL,
	checkouts BIGINT NOT NULL DEFAULT 0,
	sales     BIGINT NOT NULL DEFAULT 0,  -- subtotals, before discounts
	discount  BIGINT NOT NULL DEFAULT 0,
	points    BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (store, day)
);
CREATE INDEX store_days_day ON store_days (day);

-- Redemptions per segment of the customer and store-local day; '' for
-- customers in no segment. A redemption counts in each of its segments.
CREATE TABLE segment_days (
	segment     TEXT NOT NULL,
	day         TEXT NOT NULL,
	redemptions BIGINT NOT NULL DEFAULT 0,
	discount    BIGINT NOT NULL DEFAULT 0,
	points      BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (segment, day)
);
CREATE INDEX segment_days_day ON segment_days (day);

-- The store's IANA time zone, from its heartbeats; '' until one says.
ALTER TABLE stores ADD COLUMN zone TEXT NOT NULL DEFAULT '';
-- Since when the store's heartbeats have reported the alarms they report
-- now: the time of the first of them.
ALTER TABLE stores ADD COLUMN alarms_since_us BIGINT NOT NULL DEFAULT 0;

-- Budget alerts: an offer's discount at a store reached a share of its
-- budget there. Each (offer, store, level, budget) once; the webhook is
-- sent by the replica that claims it.
CREATE TABLE budget_alerts (
	id           TEXT PRIMARY KEY,          -- offer/store/level/budget
	offer        TEXT NOT NULL,
	store        TEXT NOT NULL,
	level        BIGINT NOT NULL,           -- percent of the budget: 80 or 100
	budget       BIGINT NOT NULL,
	discount     BIGINT NOT NULL,           -- the discount given when it was found
	at_us        BIGINT NOT NULL,
	claimed_us   BIGINT NOT NULL DEFAULT 0, -- a replica is sending it since
	attempts     BIGINT NOT NULL DEFAULT 0,
	delivered_us BIGINT NOT NULL DEFAULT 0, -- 0: not yet (or no webhook)
	last_error   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX budget_alerts_at ON budget_alerts (at_us);
CREATE INDEX budget_alerts_pending ON budget_alerts (delivered_us, claimed_us);
`, rollUpHistory}, {8, "coarser rollups: per offer and day over every store, per store and day, per offer and store", `
-- What offer_days sums to over every store: chain-wide reports read it.
CREATE TABLE offer_chain_days (
	offer               TEXT NOT NULL,
	day                 TEXT NOT NULL,
	redemptions         BIGINT NOT NULL DEFAULT 0,
	discount            BIGINT NOT NULL DEFAULT 0,
	points              BIGINT NOT NULL DEFAULT 0,
	impressions         BIGINT NOT NULL DEFAULT 0,
	suggested           BIGINT NOT NULL DEFAULT 0,
	shown_checkouts     BIGINT NOT NULL DEFAULT 0,
	shown_redeemed      BIGINT NOT NULL DEFAULT 0,
	suggested_checkouts BIGINT NOT NULL DEFAULT 0,
	suggested_redeemed  BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (offer, day)
);
CREATE INDEX offer_chain_days_day ON offer_chain_days (day);

-- What offer_days sums to over every offer, beside each store's checkouts.
ALTER TABLE store_days ADD COLUMN offer_redemptions BIGINT NOT NULL DEFAULT 0;
ALTER TABLE store_days ADD COLUMN offer_discount BIGINT NOT NULL DEFAULT 0;
ALTER TABLE store_days ADD COLUMN offer_points BIGINT NOT NULL DEFAULT 0;
ALTER TABLE store_days ADD COLUMN offer_impressions BIGINT NOT NULL DEFAULT 0;
ALTER TABLE store_days ADD COLUMN offer_suggested BIGINT NOT NULL DEFAULT 0;
ALTER TABLE store_days ADD COLUMN offer_shown_checkouts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE store_days ADD COLUMN offer_shown_redeemed BIGINT NOT NULL DEFAULT 0;
ALTER TABLE store_days ADD COLUMN offer_suggested_checkouts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE store_days ADD COLUMN offer_suggested_redeemed BIGINT NOT NULL DEFAULT 0;

-- Each offer's redemptions at each store, all time: what its budget there
-- has given.
CREATE TABLE offer_stores (
	offer       TEXT NOT NULL,
	store       TEXT NOT NULL,
	redemptions BIGINT NOT NULL DEFAULT 0,
	discount    BIGINT NOT NULL DEFAULT 0,
	points      BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (offer, store)
);

-- A store's offers over a period.
CREATE INDEX offer_days_store_day ON offer_days (store, day);

-- The checkouts with a decision, which HQ learns and measures uplift from.
CREATE INDEX checkouts_decisions ON checkouts (at_us, id) WHERE decision_policy <> '';
`, rollUpCoarser}}

const createSchemaMigrations = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    BIGINT PRIMARY KEY,
	name       TEXT NOT NULL,
	applied_at TEXT NOT NULL -- RFC 3339, UTC
)`

// pgMigrationLock is the PostgreSQL advisory lock that HQ replicas starting
// together take in turn to migrate.
const pgMigrationLock = 0x706f736f // "poso"

// migrate applies the migrations not yet applied, each in its own
// transaction that also records its version. Running it again is a no-op.
// A database whose schema is newer than this code is refused.
func (db *DB) migrate(ctx context.Context) error {
	latest := migrations[len(migrations)-1].version
	err := db.migrateTx(ctx, func(t tx) error {
		if err := t.exec(ctx, createSchemaMigrations); err != nil {
			return err
		}
		var newest int64
		if err := scanOne(ctx, t, []any{&newest}, "SELECT COALESCE(max(version), 0) FROM schema_migrations"); err != nil {
			return err
		}
		if newest > latest {
			return fmt.Errorf("the schema is at version %d, newer than this program's %d", newest, latest)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, m := range migrations {
		err := db.migrateTx(ctx, func(t tx) error {
			var applied int64
			if err := scanOne(ctx, t, []any{&applied}, "SELECT count(*) FROM schema_migrations WHERE version = $1", m.version); err != nil {
				return err
			}
			if applied > 0 {
				return nil
			}
			if err := t.exec(ctx, m.sql); err != nil {
				return err
			}
			if m.then != nil {
				if err := m.then(ctx, t); err != nil {
					return err
				}
			}
			return t.exec(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
				m.version, m.name, time.Now().UTC().Format(time.RFC3339))
		})
		if err != nil {
			return fmt.Errorf("migrate to version %d (%s): %w", m.version, m.name, err)
		}
	}
	return nil
}

// migrateTx runs fn in a write transaction that, on PostgreSQL, holds the
// migration lock.
func (db *DB) migrateTx(ctx context.Context, fn func(tx) error) error {
	return db.be.write(ctx, func(t tx) error {
		if db.postgres {
			if err := t.exec(ctx, fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", pgMigrationLock)); err != nil {
				return err
			}
		}
		return fn(t)
	})
}

// scanOne reads the one row of a query in a transaction.
func scanOne(ctx context.Context, t tx, dest []any, q string, args ...any) error {
	r, err := t.query(ctx, q, args...)
	if err != nil {
		return err
	}
	defer r.Close()
	if !r.Next() {
		if err := r.Err(); err != nil {
			return err
		}
		return fmt.Errorf("no row from %q", q)
	}
	if err := r.Scan(dest...); err != nil {
		return err
	}
	return r.Err()
}
