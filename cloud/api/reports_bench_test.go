package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/posoffer/posoffer/cloud/store"
	"github.com/posoffer/posoffer/cloud/store/storetest"
	pdecide "github.com/posoffer/posoffer/protocol/decide"
)

// BenchmarkReports10M times every call the dashboard makes, and the
// reports an analyst runs, over a chain's three years in PostgreSQL:
// 200 stores (120 in Europe/Paris, 80 in Asia/Tokyo), 60 offers (40 of
// them held by HQ's API, with names and budgets), 10,000,000 redemptions
// with a weekly and seasonal pattern, 15,000,000 checkouts (a redemption
// on two checkouts in three), an events row for each, 10,000
// discrepancies, and over the last 60 days a decision with one or two
// suggestions on one checkout in five, one customer in ten held out. The
// rollups are filled from those rows, on each store's own day, the way
// WriteEvents keeps them; offer_days also holds the offers shown without
// a redemption, so it has a row for most offers at most stores on most
// days. The clock is fixed at the end of the history.
//
// It needs PostgreSQL (POSOFFER_TEST_PG_URL) and keeps the data in the
// schema bench_reports (POSOFFER_BENCH_SCHEMA), which it reuses while its
// marker, schema version and row counts say it is complete and current;
// POSOFFER_BENCH_REGENERATE=1 forces a new one. Generating takes minutes.
// POSOFFER_BENCH_REDEMPTIONS sets another size (even; in a schema of its
// own, to keep the 10M one).
//
// Each sub-benchmark is one API call through the real handler, over HTTP,
// with an analyst's token, as the dashboard's pages (cloud/web/static/js)
// send them: first-ms is the first call, which fills the caches and is not
// counted; p50-ms and p99-ms are the percentiles of the b.N calls after
// it; resp-bytes is the size of the reply. A table of them all ends the
// output. The benchmark reports; it does not judge a target.
//
//	POSOFFER_TEST_PG_URL='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' \
//	  go test -run '^$' -bench BenchmarkReports10M -benchtime 20x -timeout 3h ./cloud/api/
func BenchmarkReports10M(b *testing.B) {
	base := os.Getenv(storetest.PGEnv)
	if base == "" {
		b.Skipf("set %s to a PostgreSQL URL, such as postgres://postgres@127.0.0.1:5432/test?sslmode=disable, "+
			"to run the 10M-redemption report benchmark", storetest.PGEnv)
	}
	cfg := benchConfig{base: base, schema: "bench_reports", redemptions: 10_000_000,
		regenerate: os.Getenv("POSOFFER_BENCH_REGENERATE") == "1"}
	if s := os.Getenv("POSOFFER_BENCH_SCHEMA"); s != "" {
		cfg.schema = s
	}
	if s := os.Getenv("POSOFFER_BENCH_REDEMPTIONS"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 1000 || n%2 != 0 {
			b.Fatalf("POSOFFER_BENCH_REDEMPTIONS: want an even number of at least 1000, got %q", s)
		}
		cfg.redemptions = n
	}
	ctx := context.Background()
	db, info := benchOpen(b, ctx, cfg)
	// Printed, not logged: a benchmark's log shows only with -v.
	fmt.Printf("BenchmarkReports10M data: schema %s, %s\n", cfg.schema, info)

	s := newServer(Options{DB: db, Catalog: startBucket(b), Signer: testSigner,
		Clock: func() time.Time { return benchNow }, Context: b.Context(), StoreGroups: benchGroups()})
	srv := httptest.NewServer(s)
	b.Cleanup(srv.Close)
	client := srv.Client()
	admin, _, err := NewToken(ctx, db, RoleAdmin, "bench-admin", benchNow)
	if err != nil {
		b.Fatal(err)
	}
	analyst, _, err := NewToken(ctx, db, RoleAnalyst, "bench-analyst", benchNow)
	if err != nil {
		b.Fatal(err)
	}
	benchCatalog(b, ctx, db, client, srv.URL, admin)

	var results []benchResult
	for _, c := range benchCalls(b, ctx, db) {
		b.Run(c.name, func(b *testing.B) {
			// The first call, not counted, brings what it reads into the
			// caches: first-ms is how long it took.
			start := time.Now()
			if status, _, body, err := benchGet(client, srv.URL+c.path, analyst); err != nil || status != http.StatusOK {
				b.Fatalf("GET %s: %d %s %v", c.path, status, body, err)
			}
			first := time.Since(start)
			times := make([]time.Duration, 0, b.N)
			var size int64
			for b.Loop() {
				start := time.Now()
				status, n, body, err := benchGet(client, srv.URL+c.path, analyst)
				times = append(times, time.Since(start))
				if err != nil {
					b.Fatalf("GET %s: %v", c.path, err)
				}
				if status != http.StatusOK {
					b.Errorf("GET %s: status %d, want 200: %s", c.path, status, body)
				}
				size = n
			}
			slices.Sort(times)
			p50, p99 := benchPercentile(times, 0.50), benchPercentile(times, 0.99)
			b.ReportMetric(benchMS(p50), "p50-ms")
			b.ReportMetric(benchMS(p99), "p99-ms")
			b.ReportMetric(benchMS(first), "first-ms")
			b.ReportMetric(float64(size), "resp-bytes")
			results = append(results, benchResult{c.name, c.path, first, p50, p99, len(times), size})
		})
	}

	var sb strings.Builder
	fmt.Fprintf(&sb, "\nBenchmarkReports10M summary (> 300 ms: p99 over the target)\n")
	fmt.Fprintf(&sb, "%-34s %10s %10s %10s %6s %12s  %s\n", "call", "first ms", "p50 ms", "p99 ms", "calls", "bytes",
		"path")
	for _, r := range results {
		flag := ""
		if r.p99 > 300*time.Millisecond {
			flag = "  > 300 ms"
		}
		fmt.Fprintf(&sb, "%-34s %10.1f %10.1f %10.1f %6d %12d  %s%s\n", r.name, benchMS(r.first), benchMS(r.p50),
			benchMS(r.p99), r.calls, r.size, r.path, flag)
	}
	fmt.Print(sb.String())
}

// benchNow is the benchmark's clock: the end of the history, 21:00 UTC on
// a Sunday, after the last store of the chain closed (Europe/Paris at
// 21:00 local, 20:00 UTC).
var benchNow = time.Date(2026, 11, 22, 21, 0, 0, 0, time.UTC)

const (
	// benchGen is the version of what benchGenerate writes: a schema
	// generated by another is generated again.
	benchGen     = 1
	benchStores  = 200
	benchParis   = 120 // s0001 to s0120 are in Europe/Paris, the rest in Asia/Tokyo
	benchOffers  = 60  // offer-01 to offer-60, offer-01 the most redeemed
	benchHQ      = 40  // offer-01 to offer-40 are held by HQ's API
	benchDays    = 1096
	benchDecided = 60   // the last days with decisions and suggestions
	benchDiscrep = 1500 // a discrepancy on one checkout in benchDiscrep
)

// benchFirstDay is the first day of the history; the last is today.
func benchFirstDay() time.Time {
	return benchNow.Truncate(24*time.Hour).AddDate(0, 0, 1-benchDays)
}

// benchDay is the date n days before today, in HQ's zone (UTC): what the
// dashboard's hqDay(n) says.
func benchDay(n int) string {
	return benchNow.AddDate(0, 0, -n).Format(time.DateOnly)
}

func benchGroups() map[string]string {
	g := map[string]string{}
	for i := 1; i <= benchStores; i++ {
		g[benchStore(i)] = benchGroup(i)
	}
	return g
}

func benchStore(i int) string { return fmt.Sprintf("s%04d", i) }

func benchGroup(i int) string {
	if i <= benchParis {
		return "paris"
	}
	return "tokyo"
}

type benchConfig struct {
	base, schema string
	redemptions  int64
	regenerate   bool
}

// checkouts is how many checkouts go with the redemptions: one
// redemption on each checkout but every third.
func (c benchConfig) checkouts() int64 { return c.redemptions / 2 * 3 }

// dsn is the base URL with the schema as search_path.
func (c benchConfig) dsn(b *testing.B) string {
	u, err := url.Parse(c.base)
	if err != nil {
		b.Fatalf("%s: %v", storetest.PGEnv, err)
	}
	q := u.Query()
	q.Set("search_path", c.schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// marker is the comment on a complete schema; version and took follow it.
func (c benchConfig) marker() string {
	return fmt.Sprintf("posoffer-bench gen=%d redemptions=%d checkouts=%d", benchGen, c.redemptions, c.checkouts())
}

// benchOpen opens the schema, generating its data unless it holds a
// complete generation of the current schema version.
func benchOpen(b *testing.B, ctx context.Context, cfg benchConfig) (*store.DB, string) {
	b.Helper()
	if !validBenchSchema(cfg.schema) {
		b.Fatalf("schema %q: want lowercase letters, digits and _", cfg.schema)
	}
	adm, err := pgx.Connect(ctx, cfg.base)
	if err != nil {
		b.Fatalf("%s: %v", storetest.PGEnv, err)
	}
	defer adm.Close(ctx)
	version := func() int64 {
		var v int64
		if err := adm.QueryRow(ctx, "SELECT COALESCE(max(version), 0) FROM "+cfg.schema+".schema_migrations").Scan(&v); err != nil {
			b.Fatal(err)
		}
		return v
	}

	var comment *string
	err = adm.QueryRow(ctx, "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = $1",
		cfg.schema).Scan(&comment)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		b.Fatal(err)
	}
	reason := ""
	switch {
	case cfg.regenerate:
		reason = "POSOFFER_BENCH_REGENERATE=1"
	case errors.Is(err, pgx.ErrNoRows):
		reason = "no schema " + cfg.schema
	case comment == nil || !strings.HasPrefix(*comment, cfg.marker()+" "):
		reason = "the schema holds no complete generation of this size and version"
	}
	if reason == "" {
		fields := benchFields(*comment)
		before := version()
		opened := time.Now()
		db, err := store.Open(ctx, cfg.dsn(b), "")
		if err != nil {
			b.Fatal(err)
		}
		migrated := time.Since(opened).Round(time.Second)
		after := version()
		var redemptions, checkouts int64
		if err := adm.QueryRow(ctx, "SELECT (SELECT count(*) FROM "+cfg.schema+".redemptions), (SELECT count(*) FROM "+
			cfg.schema+".checkouts)").Scan(&redemptions, &checkouts); err != nil {
			b.Fatal(err)
		}
		// Migrations are edited until released: the tables, keys and
		// indexes must also be those a fresh migration makes now.
		probe := cfg
		probe.schema = cfg.schema + "_probe"
		for _, q := range []string{"DROP SCHEMA IF EXISTS " + probe.schema + " CASCADE", "CREATE SCHEMA " + probe.schema} {
			if _, err := adm.Exec(ctx, q); err != nil {
				b.Fatal(err)
			}
		}
		fresh, err := store.Open(ctx, probe.dsn(b), "")
		if err != nil {
			b.Fatal(err)
		}
		fresh.Close()
		have, want := benchStructure(b, ctx, adm, cfg.schema), benchStructure(b, ctx, adm, probe.schema)
		if _, err := adm.Exec(ctx, "DROP SCHEMA "+probe.schema+" CASCADE"); err != nil {
			b.Fatal(err)
		}
		switch {
		case fields["schema"] != strconv.FormatInt(before, 10):
			reason = fmt.Sprintf("generated at schema version %s, found at %d", fields["schema"], before)
		case have != want:
			reason = "the migrations make other tables, keys or indexes than when it was generated"
		case redemptions != cfg.redemptions || checkouts != cfg.checkouts():
			reason = fmt.Sprintf("it holds %d redemptions and %d checkouts", redemptions, checkouts)
		default:
			b.Cleanup(func() { db.Close() })
			benchAlerts(b, ctx, adm, cfg.schema)
			how := ""
			if after != before {
				// A newer schema migrated the history: as an upgrade would.
				marker := strings.Replace(*comment, "schema="+fields["schema"], fmt.Sprintf("schema=%d", after), 1)
				if _, err := adm.Exec(ctx, "COMMENT ON SCHEMA "+cfg.schema+" IS '"+marker+"'"); err != nil {
					b.Fatal(err)
				}
				how = fmt.Sprintf(", migrated from version %d in %s", before, migrated)
			}
			return db, fmt.Sprintf("reused (schema version %d, %d redemptions, %d checkouts%s), generated %s in %s",
				after, redemptions, checkouts, how, fields["at"], fields["took"])
		}
		db.Close()
	}

	fmt.Fprintf(os.Stderr, "bench: generating %s: %s\n", cfg.schema, reason)
	start := time.Now()
	for _, q := range []string{"DROP SCHEMA IF EXISTS " + cfg.schema + " CASCADE", "CREATE SCHEMA " + cfg.schema} {
		if _, err := adm.Exec(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	db, err := store.Open(ctx, cfg.dsn(b), "")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	v := version()
	steps := benchGenerate(b, ctx, cfg)
	took := time.Since(start).Round(time.Second)
	marker := fmt.Sprintf("%s schema=%d at=%s took=%s", cfg.marker(), v, time.Now().UTC().Format(time.RFC3339), took)
	if _, err := adm.Exec(ctx, "COMMENT ON SCHEMA "+cfg.schema+" IS '"+marker+"'"); err != nil {
		b.Fatal(err)
	}
	benchAlerts(b, ctx, adm, cfg.schema)
	return db, fmt.Sprintf("generated (schema version %d, %d redemptions, %d checkouts) in %s: %s", v, cfg.redemptions,
		cfg.checkouts(), took, steps)
}

// benchAlerts adds a year of budget alerts, unless the schema has some:
// an offer's discount at a store reached 80% or 100% of its budget there,
// for one pair in four of the offers HQ holds.
func benchAlerts(b *testing.B, ctx context.Context, c *pgx.Conn, schema string) {
	b.Helper()
	var n int64
	err := c.QueryRow(ctx, "SELECT count(*) FROM "+schema+".budget_alerts").Scan(&n)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P01" {
		return // no such table (any more)
	}
	if err != nil {
		b.Fatal(err)
	}
	if n > 0 {
		return
	}
	u := func(x string, seed int) string {
		return fmt.Sprintf("((hashint8extended(%s, %d) & 9007199254740991)::float8 / 9007199254740992.0)", x, seed)
	}
	q := fmt.Sprintf(`INSERT INTO %[1]s.budget_alerts (id, offer, store, level, budget, discount, at_us, delivered_us)
		SELECT x.o || '/' || x.st || '/' || l || '/500000', x.o, x.st, l, 500000, 5000 * l,
			%[2]d - floor(365 * 86400 * 1e6 * %[3]s)::bigint, %[2]d
		FROM generate_series(1, %[4]d) oi CROSS JOIN generate_series(1, %[5]d) si CROSS JOIN unnest(ARRAY[80, 100]) l
		CROSS JOIN LATERAL (SELECT 'offer-' || lpad(oi::text, 2, '0') AS o, 's' || lpad(si::text, 4, '0') AS st,
			oi::bigint * 1000 + si AS i) x
		WHERE %[6]s < 0.25`, schema, benchNow.UnixMicro(), u("x.i * 1000 + l", 25), benchHQ, benchStores, u("x.i", 26))
	for _, q := range []string{q, "ANALYZE " + schema + ".budget_alerts"} {
		if _, err := c.Exec(ctx, q); err != nil {
			b.Fatalf("%v\n%s", err, q)
		}
	}
}

// benchStructure describes a schema's tables, columns, keys and indexes,
// without its name.
func benchStructure(b *testing.B, ctx context.Context, c *pgx.Conn, schema string) string {
	b.Helper()
	var s string
	err := c.QueryRow(ctx, `SELECT string_agg(x, E'\n' ORDER BY x) FROM (
		SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' ||
			COALESCE(column_default, '') AS x
		FROM information_schema.columns WHERE table_schema = $1
		UNION ALL
		SELECT 'index ' || replace(indexdef, $1 || '.', '') FROM pg_indexes WHERE schemaname = $1
		UNION ALL
		SELECT 'constraint ' || t.relname || ' ' || k.conname || ' ' || replace(pg_get_constraintdef(k.oid), $1 || '.', '')
		FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid
		WHERE k.connamespace = $1::regnamespace) f`, schema).Scan(&s)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

func validBenchSchema(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// benchFields reads the key=value fields of a marker.
func benchFields(s string) map[string]string {
	out := map[string]string{}
	for _, f := range strings.Fields(s) {
		if k, v, ok := strings.Cut(f, "="); ok {
			out[k] = v
		}
	}
	return out
}

// benchLoaded are the tables benchGenerate fills, whose keys, indexes and
// foreign keys it drops during the load and then makes again.
var benchLoaded = []string{"events", "checkouts", "redemptions", "discrepancies", "suggestions", "offer_days",
	"store_days", "segment_days", "stores"}

// benchGenerate fills the freshly migrated schema, in SQL on one
// connection, and returns how long each step took.
func benchGenerate(b *testing.B, ctx context.Context, cfg benchConfig) string {
	b.Helper()
	c, err := pgx.Connect(ctx, cfg.dsn(b))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close(ctx)
	var steps []string
	exec := func(what, q string) {
		b.Helper()
		start := time.Now()
		if _, err := c.Exec(ctx, q); err != nil {
			b.Fatalf("%s: %v\n%s", what, err, q)
		}
		if what != "" {
			d := time.Since(start).Round(100 * time.Millisecond)
			steps = append(steps, fmt.Sprintf("%s %s", what, d))
			fmt.Fprintf(os.Stderr, "bench: %-40s %s\n", what, d)
		}
	}
	for _, q := range []string{"SET work_mem = '1GB'", "SET maintenance_work_mem = '2GB'",
		"SET synchronous_commit = off", "SET max_parallel_maintenance_workers = 2", "SET TimeZone = 'UTC'"} {
		exec("", q)
	}

	// What the migrations made, to drop for the load and make again.
	fingerprint := func() string {
		var s string
		err := c.QueryRow(ctx, `SELECT string_agg(x, E'\n' ORDER BY x) FROM (
			SELECT 'index ' || indexdef AS x FROM pg_indexes WHERE schemaname = $1
			UNION ALL
			SELECT 'constraint ' || t.relname || ' ' || k.conname || ' ' || pg_get_constraintdef(k.oid)
			FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid
			WHERE k.connamespace = $1::regnamespace) f`, cfg.schema).Scan(&s)
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
	before := fingerprint()
	type def struct{ table, name, kind, sql string }
	var keys, foreign, indexes []def
	rows, err := c.Query(ctx, `SELECT t.relname, k.conname, k.contype::text, pg_get_constraintdef(k.oid)
		FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid
		WHERE k.connamespace = $1::regnamespace AND k.contype IN ('p', 'u', 'f') AND t.relname = ANY($2)
		ORDER BY t.relname, k.conname`, cfg.schema, benchLoaded)
	if err != nil {
		b.Fatal(err)
	}
	for rows.Next() {
		var d def
		if err := rows.Scan(&d.table, &d.name, &d.kind, &d.sql); err != nil {
			b.Fatal(err)
		}
		if d.kind == "f" {
			foreign = append(foreign, d)
		} else {
			keys = append(keys, d)
		}
	}
	if rows.Err() != nil {
		b.Fatal(rows.Err())
	}
	rows, err = c.Query(ctx, `SELECT tablename, indexname, indexdef FROM pg_indexes
		WHERE schemaname = $1 AND tablename = ANY($2)
			AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE connamespace = $1::regnamespace)
		ORDER BY tablename, indexname`, cfg.schema, benchLoaded)
	if err != nil {
		b.Fatal(err)
	}
	for rows.Next() {
		var d def
		if err := rows.Scan(&d.table, &d.name, &d.sql); err != nil {
			b.Fatal(err)
		}
		indexes = append(indexes, d)
	}
	if rows.Err() != nil {
		b.Fatal(rows.Err())
	}
	for _, d := range foreign {
		exec("", "ALTER TABLE "+d.table+" DROP CONSTRAINT "+d.name)
	}
	for _, d := range keys {
		exec("", "ALTER TABLE "+d.table+" DROP CONSTRAINT "+d.name)
	}
	for _, d := range indexes {
		exec("", "DROP INDEX "+d.name)
	}

	n := cfg.checkouts()
	nowUS := benchNow.UnixMicro()
	vars := strings.NewReplacer(
		"{first}", benchFirstDay().Format(time.DateOnly),
		"{days}", strconv.Itoa(benchDays),
		"{checkouts}", strconv.FormatInt(n, 10),
		"{nowUS}", strconv.FormatInt(nowUS, 10),
		"{recentUS}", strconv.FormatInt(benchNow.AddDate(0, 0, -benchDecided).UnixMicro(), 10),
		"{decidedFrom}", strconv.Itoa(benchDays-benchDecided),
		"{stores}", strconv.Itoa(benchStores),
		"{paris}", strconv.Itoa(benchParis),
		"{offers}", strconv.Itoa(benchOffers),
		"{discrep}", strconv.Itoa(benchDiscrep),
	)
	sql := func(what, q string) { exec(what, vars.Replace(q)) }

	// Deterministic draws: u(m, seed) is uniform on [0, 1), the same for
	// the same m and seed, so that a redemption can work out what its
	// checkout drew.
	for _, q := range []string{
		`CREATE FUNCTION pg_temp.u(m bigint, seed bigint) RETURNS double precision LANGUAGE sql IMMUTABLE
			AS $$ SELECT (hashint8extended(m, seed) & 9007199254740991)::double precision / 9007199254740992.0 $$`,
		// The busiest stores and offers come first.
		`CREATE FUNCTION pg_temp.store_idx(m bigint) RETURNS int LANGUAGE sql IMMUTABLE
			AS $$ SELECT least({stores}, 1 + floor({stores} * power(pg_temp.u(m, 1), 1.6)))::int $$`,
		`CREATE FUNCTION pg_temp.offer_idx(m bigint) RETURNS int LANGUAGE sql IMMUTABLE
			AS $$ SELECT least({offers}, 1 + floor({offers} * power(pg_temp.u(m, 6), 2)))::int $$`,
		`CREATE FUNCTION pg_temp.offer_of(m bigint) RETURNS text LANGUAGE sql IMMUTABLE
			AS $$ SELECT 'offer-' || lpad(pg_temp.offer_idx(m)::text, 2, '0') $$`,
		`CREATE FUNCTION pg_temp.cat(m bigint) RETURNS text LANGUAGE sql IMMUTABLE
			AS $$ SELECT (ARRAY['coffee', 'bakery', 'dairy', 'produce', 'snacks', 'drinks', 'frozen', 'deli',
				'household', 'beauty', 'wine', 'pet'])[1 + ((hashint8extended(m, 19) & 1023) % 12)::int] $$`,
		// A customer's segments: about 27% of them regulars, 9% also vip.
		`CREATE FUNCTION pg_temp.cust_segments(c text) RETURNS text LANGUAGE sql IMMUTABLE
			AS $$ SELECT CASE WHEN c = '' THEN ''
				WHEN pg_temp.u(hashtext(c), 13) < 0.45 THEN 'regulars'
				WHEN pg_temp.u(hashtext(c), 13) < 0.60 THEN 'regulars,vip' ELSE '' END $$`,
		// An event id shaped like a UUIDv7: the time's milliseconds, then the
		// kind (1 checkout, 2 redemption, 3 discrepancy) and the number.
		`CREATE FUNCTION pg_temp.evid(at_us bigint, kind int, m bigint) RETURNS text LANGUAGE sql IMMUTABLE
			AS $$ SELECT substr(lpad(to_hex(at_us / 1000), 12, '0'), 1, 8) || '-' ||
				substr(lpad(to_hex(at_us / 1000), 12, '0'), 9, 4) || '-7' || kind::text || '00-8000-' ||
				lpad(to_hex(m), 12, '0') $$`,
		// The days, each with its share of the checkouts [lo, hi): busier on
		// Fridays and Saturdays, before Christmas, and as the chain grows.
		`CREATE TEMP TABLE bench_days AS
			WITH d AS (
				SELECT i AS d, '{first}'::date + i AS day FROM generate_series(0, {days} - 1) i
			), w AS (
				SELECT d, day, (CASE extract(isodow FROM day) WHEN 1 THEN 0.85 WHEN 2 THEN 0.85 WHEN 3 THEN 0.9
						WHEN 4 THEN 0.95 WHEN 5 THEN 1.15 WHEN 6 THEN 1.4 ELSE 0.8 END
					* (0.75 + 0.5 * d / ({days} - 1)::numeric)
					* CASE WHEN extract(month FROM day) = 12 AND extract(day FROM day) <= 24 THEN 1.3 ELSE 1 END
					)::numeric AS w
				FROM d
			), c AS (SELECT d, day, w, sum(w) OVER (ORDER BY d) AS upto, sum(w) OVER () AS total FROM w)
			SELECT d, day, floor({checkouts} * (upto - w) / total)::bigint AS lo,
				floor({checkouts} * upto / total)::bigint AS hi
			FROM c`,
	} {
		sql("", q)
	}

	// Checkout m: its store, customer (60% identified, 2M customers, the
	// regulars often), time within the store's opening hours on the store's
	// own day, basket and, over the last days, one decision in five.
	sql("checkouts", `INSERT INTO checkouts (id, store, terminal, txn, customer, at_us, subtotal, discount, points,
			paid, currency, items, decision_context, decision_policy, decision_model, decision_holdout)
		SELECT pg_temp.evid(t.at_us, 1, g.m), s.store, 't' || (1 + g.m % 4)::text, 'T' || g.m::text, s.customer,
			t.at_us, v.subtotal, v.discount, v.points, v.subtotal - v.discount, 'EUR',
			'brand:brand-' || ((hashint8extended(g.m, 23) & 1023) % 40)::text || E'\ncategory:' || s.cat ||
				E'\nsku:sku-' || lpad(((hashint8extended(g.m, 24) & 65535) % 5000)::text, 5, '0'),
			CASE WHEN d.decided THEN d.ctx ELSE '' END,
			CASE WHEN d.decided THEN s.policy ELSE '' END,
			CASE WHEN d.decided THEN dd.d - {decidedFrom} + 1 ELSE 0 END,
			CASE WHEN d.decided AND d.holdout THEN 1 ELSE 0 END
		FROM pg_temp.bench_days dd
		CROSS JOIN LATERAL generate_series(dd.lo, dd.hi - 1) AS g(m)
		CROSS JOIN LATERAL (SELECT pg_temp.store_idx(g.m) AS si, pg_temp.u(g.m, 4) < 0.6 AS identified) a
		CROSS JOIN LATERAL (SELECT 's' || lpad(a.si::text, 4, '0') AS store,
			CASE WHEN a.si <= {paris} THEN 'Europe/Paris' ELSE 'Asia/Tokyo' END AS zone,
			CASE WHEN a.si <= {paris} THEN 'paris' ELSE 'tokyo' END AS grp,
			CASE WHEN a.si % 4 = 0 THEN 'fixed' ELSE 'learned' END AS policy,
			CASE WHEN a.identified THEN translate(lpad(floor(2000000 * power(pg_temp.u(g.m, 5), 2))::bigint::text, 26, '0'),
				'0123456789', 'abcdefghij') ELSE '' END AS customer,
			pg_temp.cat(g.m) AS cat,
			CASE WHEN a.si <= {paris} THEN 7 * 3600 + 14 * 3600 * (pg_temp.u(g.m, 2) + pg_temp.u(g.m, 3)) / 2
				ELSE 9 * 3600 + 13 * 3600 * (pg_temp.u(g.m, 2) + pg_temp.u(g.m, 3)) / 2 END AS secs) s
		CROSS JOIN LATERAL (SELECT (extract(epoch FROM (dd.day + make_interval(secs => s.secs)) AT TIME ZONE s.zone)
			* 1000000)::bigint AS at_us) t
		CROSS JOIN LATERAL (SELECT 800 + floor(12000 * power(pg_temp.u(g.m, 9), 2))::bigint AS subtotal,
			CASE WHEN g.m % 3 <> 2 THEN 50 + floor(250 * pg_temp.u(g.m, 7))::bigint ELSE 0 END AS discount,
			CASE WHEN g.m % 3 <> 2 AND pg_temp.u(g.m, 8) < 0.2 THEN 10 * (1 + floor(10 * pg_temp.u(g.m, 20))::bigint)
				ELSE 0 END AS points) v
		CROSS JOIN LATERAL (SELECT t.at_us >= {recentUS} AND pg_temp.u(g.m, 10) < 0.2 AS decided,
			CASE WHEN s.customer <> '' THEN pg_temp.u(hashtext(s.customer), 11) < 0.1
				ELSE pg_temp.u(g.m, 11) < 0.1 END AS holdout,
			CASE WHEN pg_temp.u(g.m, 12) < 0.7 THEN 'taste:' || s.cat
				WHEN pg_temp.cust_segments(s.customer) <> '' THEN 'seg:' || replace(pg_temp.cust_segments(s.customer), ',', '+')
				WHEN s.customer <> '' THEN 'new' ELSE 'anon' END
			|| '|' || CASE WHEN s.secs < 11 * 3600 THEN 'morning' WHEN s.secs < 14 * 3600 THEN 'midday'
				WHEN s.secs < 17 * 3600 THEN 'afternoon' WHEN s.secs < 22 * 3600 THEN 'evening' ELSE 'night' END
			|| '|' || s.grp AS ctx) d`)

	// A redemption on each checkout but every third, in its transaction,
	// seconds before it.
	sql("redemptions", `INSERT INTO redemptions (id, store, offer, txn, customer, discount, points, at_us, segments, terminal)
		SELECT pg_temp.evid(x.at_us, 2, x.m), c.store, pg_temp.offer_of(x.m), c.txn, c.customer, c.discount, c.points,
			x.at_us, pg_temp.cust_segments(c.customer), c.terminal
		FROM checkouts c
		CROSS JOIN LATERAL (SELECT substr(c.txn, 2)::bigint AS m,
			c.at_us - 1000000 * (1 + substr(c.txn, 2)::bigint % 29) AS at_us) x
		WHERE x.m % 3 <> 2`)

	sql("discrepancies", `INSERT INTO discrepancies (id, store, terminal, txn, offer, claimed, honoured, claimed_points,
			honoured_points, at_us)
		SELECT pg_temp.evid(c.at_us - 500000, 3, x.m), c.store, c.terminal, c.txn, pg_temp.offer_of(x.m),
			c.discount + 100 + x.m % 400, c.discount, c.points + CASE WHEN x.m % 2 = 0 THEN 50 ELSE 0 END, c.points,
			c.at_us - 500000
		FROM checkouts c CROSS JOIN LATERAL (SELECT substr(c.txn, 2)::bigint AS m) x
		WHERE x.m % {discrep} = 7`)

	// One or two suggestions per decision; the first is the offer the
	// transaction redeemed 35% of the time when shown, 25% when held out.
	sql("suggestions", `INSERT INTO suggestions (checkout, offer, kind, ord)
		SELECT c.id, 'offer-' || lpad(s.oi::text, 2, '0'), s.kind, s.ord
		FROM checkouts c
		CROSS JOIN LATERAL (SELECT substr(c.txn, 2)::bigint AS m) x
		CROSS JOIN LATERAL (SELECT CASE WHEN x.m % 3 <> 2
				AND pg_temp.u(x.m, 14) < CASE WHEN c.decision_holdout = 1 THEN 0.25 ELSE 0.35 END
			THEN pg_temp.offer_idx(x.m) ELSE 1 + floor({offers} * pg_temp.u(x.m, 15))::int END AS o1) f
		CROSS JOIN LATERAL (VALUES
			(0, f.o1, CASE WHEN pg_temp.u(x.m, 16) < 0.5 THEN 'nudge' ELSE 'cross_sell' END, true),
			(1, 1 + (f.o1 + floor(({offers} - 1) * pg_temp.u(x.m, 18))::int) % {offers},
				CASE WHEN pg_temp.u(x.m, 21) < 0.5 THEN 'nudge' ELSE 'cross_sell' END, pg_temp.u(x.m, 17) < 0.4)
		) AS s(ord, oi, kind, keep)
		WHERE c.decision_policy <> '' AND s.keep`)

	sql("events", `INSERT INTO events (id, kind, store, at_us)
		SELECT id, 'checkout', store, at_us FROM checkouts
		UNION ALL SELECT id, 'redemption', store, at_us FROM redemptions
		UNION ALL SELECT id, 'discrepancy', store, at_us FROM discrepancies`)

	// Every store's heartbeat is seconds old but one in 40's, three hours
	// old with an alarm.
	sql("stores", `INSERT INTO stores (store, first_event_us, last_event_us, last_seen_us, agent, catalog, outbox_depth,
			outbox_oldest_ms, dropped_impressions, alarms, zone)
		SELECT store, min(at_us), max(at_us),
			CASE WHEN i % 40 = 0 THEN {nowUS} - 3 * 3600 * 1000000::bigint ELSE {nowUS} - 4000000 END,
			'1.4.2', 42, CASE WHEN i % 40 = 0 THEN 1800 ELSE i % 3 END,
			CASE WHEN i % 40 = 0 THEN 10800000 ELSE 900 END, i % 7,
			CASE WHEN i % 40 = 0 THEN '["outbox_backlog"]' ELSE '[]' END,
			CASE WHEN i <= {paris} THEN 'Europe/Paris' ELSE 'Asia/Tokyo' END
		FROM (SELECT store, substr(store, 2)::int AS i, at_us FROM events) e
		GROUP BY store, i`)

	// The rollups, on each store's own day.
	sql("store_days", `INSERT INTO store_days (store, day, checkouts, sales, discount, points)
		SELECT c.store, to_char(to_timestamp(c.at_us / 1000000.0) AT TIME ZONE s.zone, 'YYYY-MM-DD') AS day,
			count(*), sum(c.subtotal), sum(c.discount), sum(c.points)
		FROM checkouts c JOIN stores s ON s.store = c.store
		GROUP BY 1, 2 ORDER BY 2, 1`)
	sql("segment_days", `INSERT INTO segment_days (segment, day, redemptions, discount, points)
		SELECT seg, day, count(*), sum(discount), sum(points)
		FROM (SELECT r.segments, r.discount, r.points,
				to_char(to_timestamp(r.at_us / 1000000.0) AT TIME ZONE s.zone, 'YYYY-MM-DD') AS day
			FROM redemptions r JOIN stores s ON s.store = r.store) r
		CROSS JOIN LATERAL unnest(CASE WHEN r.segments = '' THEN ARRAY[''] ELSE string_to_array(r.segments, ',') END) AS seg
		GROUP BY 1, 2 ORDER BY 2, 1`)
	sql("offer_days: redemptions by day", `CREATE TEMP TABLE bench_ragg AS
		SELECT r.offer, r.store, to_char(to_timestamp(r.at_us / 1000000.0) AT TIME ZONE s.zone, 'YYYY-MM-DD') AS day,
			count(*) AS n, sum(r.discount)::bigint AS discount, sum(r.points)::bigint AS points
		FROM redemptions r JOIN stores s ON s.store = r.store
		GROUP BY 1, 2, 3`)
	sql("", "ANALYZE pg_temp.bench_ragg")
	// Offers are shown far more often than redeemed: the popular ones at
	// the busy stores every day, the others now and then. Of the checkouts
	// shown an offer, those that redeemed it are the redemptions.
	sql("offer_days", `INSERT INTO offer_days (offer, store, day, redemptions, discount, points, impressions, suggested,
			shown_checkouts, shown_redeemed, suggested_checkouts, suggested_redeemed)
		SELECT g.offer, g.store, g.day, COALESCE(r.n, 0), COALESCE(r.discount, 0), COALESCE(r.points, 0),
			2 * COALESCE(r.n, 0) + g.extra, g.sug, COALESCE(r.n, 0) + floor(0.7 * g.extra)::bigint, COALESCE(r.n, 0),
			floor(0.8 * g.sug)::bigint, floor(0.2 * floor(0.8 * g.sug))::bigint
		FROM (
			SELECT to_char(dd.day, 'YYYY-MM-DD') AS day, 's' || lpad(si::text, 4, '0') AS store,
				'offer-' || lpad(oi::text, 2, '0') AS offer, x.extra,
				CASE WHEN dd.d >= {decidedFrom} THEN x.extra / 2 ELSE 0 END AS sug
			FROM pg_temp.bench_days dd CROSS JOIN generate_series(1, {stores}) si CROSS JOIN generate_series(1, {offers}) oi
			CROSS JOIN LATERAL (SELECT floor(4 * pg_temp.u((dd.d::bigint * {stores} + si) * {offers} + oi, 22)
				* power(({offers} + 1 - oi) / {offers}::float8, 1.5)
				* power(({stores} + 1 - si) / {stores}::float8, 0.5))::bigint AS extra) x
		) g
		LEFT JOIN pg_temp.bench_ragg r ON r.offer = g.offer AND r.store = g.store AND r.day = g.day
		WHERE r.n IS NOT NULL OR g.extra > 0
		ORDER BY g.day`)
	sql("", "DROP TABLE pg_temp.bench_ragg")

	// The keys, indexes and foreign keys the migrations made.
	for _, d := range keys {
		exec("key "+d.name, "ALTER TABLE "+d.table+" ADD CONSTRAINT "+d.name+" "+d.sql)
	}
	for _, d := range indexes {
		exec("index "+d.name, d.sql)
	}
	for _, d := range foreign {
		exec("foreign key "+d.name, "ALTER TABLE "+d.table+" ADD CONSTRAINT "+d.name+" "+d.sql)
	}
	if after := fingerprint(); after != before {
		b.Fatalf("the schema's keys and indexes differ from the migrations' after the load:\nbefore:\n%s\nafter:\n%s",
			before, after)
	}
	start := time.Now()
	for _, t := range benchLoaded {
		exec("", "VACUUM (ANALYZE) "+t)
	}
	steps = append(steps, fmt.Sprintf("vacuum analyze %s", time.Since(start).Round(100*time.Millisecond)))
	return strings.Join(steps, ", ")
}

// benchCatalog makes what HQ's API holds, unless a previous run did: the
// segments and benchHQ offers, through the API (so the audit log has
// them), and a published model.
func benchCatalog(b *testing.B, ctx context.Context, db *store.DB, client *http.Client, base, admin string) {
	b.Helper()
	offers, err := db.Offers(ctx, "")
	if err != nil {
		b.Fatal(err)
	}
	post := func(path, body string) {
		req, err := http.NewRequest("POST", base+path, strings.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+admin)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		reply, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			b.Fatalf("POST %s %s: %d %s", path, body, resp.StatusCode, reply)
		}
	}
	if len(offers) == 0 {
		post("/api/v1/segments", `{"id":"regulars","name":"Regulars","when":{"customer":{"visits_min":10}}}`)
		post("/api/v1/segments", `{"id":"vip","name":"VIP","when":{"customer":{"visits_min":50}}}`)
		kinds := []string{"Coffee", "Bakery", "Dairy", "Produce", "Snacks", "Drinks", "Frozen", "Deli"}
		for i := 1; i <= benchHQ; i++ {
			status := "active"
			if i%7 == 0 {
				status = "paused"
			}
			post("/api/v1/offers", fmt.Sprintf(`{"id":"offer-%02d","name":"%s deal %d","status":%q,`+
				`"limits":{"budget":%d},"reward":{"type":"amount_off","amount":%d}}`,
				i, kinds[i%len(kinds)], i, status, 200000*(1+i%10), 50+10*(i%20)))
		}
	}

	if _, err := db.LastModel(ctx); err == nil {
		return
	}
	// What the learner would publish: its most rules, and an arm for each
	// offer in each context the decisions name, and over all of them.
	stamp, err := db.DecideStamp(ctx, benchNow.UnixMicro())
	if err != nil {
		b.Fatal(err)
	}
	until := stamp.NewestUS
	r := rand.New(rand.NewPCG(1, 2))
	m := pdecide.Model{Version: pdecide.ModelVersion, Revision: benchDecided + 1, Computed: benchNow.Add(-10 * time.Minute),
		DataUntil: time.UnixMicro(until).UTC(), Holdout: 0.1}
	cats := []string{"coffee", "bakery", "dairy", "produce", "snacks", "drinks", "frozen", "deli", "household", "beauty",
		"wine", "pet"}
	offer := func(i int) string { return fmt.Sprintf("offer-%02d", i) }
	for i := range 2500 {
		item := pdecide.ItemKey(pdecide.ItemCategory, cats[i%len(cats)])
		if i%3 != 0 {
			item = pdecide.ItemKey(pdecide.ItemSKU, fmt.Sprintf("sku-%05d", r.IntN(5000)))
		}
		conf := 0.05 + 0.4*r.Float64()
		m.Rules = append(m.Rules, pdecide.Rule{If: item, Offer: offer(1 + r.IntN(benchOffers)), Support: conf / 20,
			Confidence: conf, Lift: 1 + 4*r.Float64(), N: int64(100 + r.IntN(10000))})
	}
	segments := []string{"seg:regulars", "seg:regulars+vip", "new", "anon"}
	for _, c := range cats {
		segments = append(segments, "taste:"+c)
	}
	arm := func(o int, context string, scale float64) pdecide.Arm {
		exp := scale * (1 + 100*r.Float64())
		conv := exp * 0.3 * r.Float64()
		return pdecide.Arm{Offer: offer(o), Context: context, Alpha: 1 + conv, Beta: 1 + exp - conv, Exposures: exp,
			Conversions: conv}
	}
	for o := 1; o <= benchOffers; o++ {
		m.Arms = append(m.Arms, arm(o, pdecide.AllContexts, 100))
		for _, seg := range segments {
			for _, part := range []string{"morning", "midday", "afternoon", "evening"} {
				for _, g := range []string{"paris", "tokyo"} {
					m.Arms = append(m.Arms, arm(o, seg+"|"+part+"|"+g, 1))
				}
			}
		}
	}
	doc, err := json.Marshal(m)
	if err != nil {
		b.Fatal(err)
	}
	if err := db.SaveModel(ctx, 0, &store.PublishedModel{Revision: m.Revision, Seq: uint64(m.Revision), Hash: "bench",
		Doc: doc}); err != nil {
		b.Fatal(err)
	}
}

// benchCall is one API call of a dashboard page or an analyst's report.
type benchCall struct{ name, path string }

// benchCalls lists the calls, with the parameters the dashboard's pages
// (cloud/web/static/js) send.
func benchCalls(b *testing.B, ctx context.Context, db *store.DB) []benchCall {
	b.Helper()
	day := benchDay
	span := func(fromDaysBack int) string { return "from=" + day(fromDaysBack) + "&to=" + day(-1) }
	iso := func(t time.Time) string { return url.QueryEscape(t.UTC().Format(time.RFC3339)) }
	// The suggestions page: the 30 days up to the model's data_until.
	m, err := db.LastModel(ctx)
	if err != nil {
		b.Fatal(err)
	}
	var model pdecide.Model
	if err := json.Unmarshal(m.Doc, &model); err != nil {
		b.Fatal(err)
	}
	to := model.DataUntil.Add(time.Second).Truncate(time.Second)
	sugg := "from=" + iso(to.AddDate(0, 0, -30)) + "&to=" + iso(to)
	year, all := day(365), day(3*365+1)
	yesterday := day(1)
	offer := func(q string) string { return q + "&offer=offer-01" }
	return []benchCall{
		// Overview (overview.js): the days and offers of 14 days (the
		// default) or 30, budget alerts, the stores, the feed's history.
		// It reloads the two reports on each redemption, at most every
		// half second.
		{"overview/days-14d", "/api/v1/reports/days?" + span(13)},
		{"overview/offers-14d", "/api/v1/reports/offers?" + span(13)},
		{"overview/days-30d", "/api/v1/reports/days?" + span(29)},
		{"overview/offers-30d", "/api/v1/reports/offers?" + span(29)},
		{"overview/alerts", "/api/v1/alerts"},
		{"overview/stores", "/api/v1/stores"},
		{"overview/feed-history", "/api/v1/redemptions?limit=12"},
		// Offers (offers.js, calendar.js): the 30 days' report, the list.
		{"offers/report-30d", "/api/v1/reports/offers?" + span(29)},
		{"offers/list", "/api/v1/offers"},
		// One offer (offer.js), the busiest: 30 days, 90 or a year, and
		// its stores over all time.
		{"offer/get", "/api/v1/offers/offer-01"},
		{"offer/audit", "/api/v1/audit?kind=offer&id=offer-01&limit=100"},
		{"offer/days-30d", "/api/v1/reports/days?" + offer(span(29))},
		{"offer/stores-30d", "/api/v1/reports/stores?" + offer(span(29))},
		{"offer/days-90d", "/api/v1/reports/days?" + offer(span(89))},
		{"offer/stores-90d", "/api/v1/reports/stores?" + offer(span(89))},
		{"offer/days-365d", "/api/v1/reports/days?" + offer(span(364))},
		{"offer/stores-365d", "/api/v1/reports/stores?" + offer(span(364))},
		{"offer/stores-all-time", "/api/v1/offers/offer-01/stores"},
		{"offer/stores-all-time-rare", "/api/v1/offers/offer-60/stores"},
		// Editor (editor.js): what it reads besides the offer.
		{"editor/form", "/api/v1/offers/offer-01/form"},
		{"editor/segments", "/api/v1/segments"},
		{"editor/templates", "/api/v1/templates"},
		// Stores (stores.js): the list and the last 7 days' discrepancies.
		{"stores/list", "/api/v1/stores"},
		{"stores/discrepancies-7d", "/api/v1/reports/discrepancies?from=" +
			url.QueryEscape(benchNow.AddDate(0, 0, -7).Format("2006-01-02T15:04:05.000Z07:00"))},
		// Suggestions (suggestions.js): the 30 days up to the model's data.
		{"suggestions/model", "/api/v1/decide/model?limit=1"},
		{"suggestions/report-30d", "/api/v1/reports/suggestions?" + sugg},
		{"suggestions/uplift-30d", "/api/v1/reports/uplift?" + sugg},
		// Reports (reports.js): 30 days by default, filtered by offer and
		// store, the audit log; then a year and the three years an
		// analyst's year-end report picks.
		{"reports/stores-30d", "/api/v1/reports/stores?" + span(29)},
		{"reports/segments-30d", "/api/v1/reports/segments?" + span(29)},
		{"reports/days-30d", "/api/v1/reports/days?" + span(29)},
		{"reports/stores-30d-offer", "/api/v1/reports/stores?" + offer(span(29))},
		{"reports/days-30d-store", "/api/v1/reports/days?" + span(29) + "&store=s0001"},
		{"reports/days-30d-offer+store", "/api/v1/reports/days?" + offer(span(29)) + "&store=s0001"},
		{"reports/offers-30d-store", "/api/v1/reports/offers?" + span(29) + "&store=s0001"},
		{"reports/audit", "/api/v1/audit?limit=100"},
		{"reports/days-365d", "/api/v1/reports/days?from=" + year},
		{"reports/offers-365d", "/api/v1/reports/offers?from=" + year},
		{"reports/stores-365d", "/api/v1/reports/stores?from=" + year},
		{"reports/segments-365d", "/api/v1/reports/segments?from=" + year},
		{"reports/days-365d-store", "/api/v1/reports/days?from=" + year + "&store=s0001"},
		{"reports/offers-365d-store", "/api/v1/reports/offers?from=" + year + "&store=s0001"},
		{"reports/days-3y", "/api/v1/reports/days?from=" + all},
		{"reports/offers-3y", "/api/v1/reports/offers?from=" + all},
		{"reports/stores-3y", "/api/v1/reports/stores?from=" + all},
		{"reports/segments-3y", "/api/v1/reports/segments?from=" + all},
		{"reports/stores-3y-offer", "/api/v1/reports/stores?from=" + all + "&offer=offer-01"},
		{"reports/uplift-default", "/api/v1/reports/uplift"},
		{"reports/suggestions-default", "/api/v1/reports/suggestions"},
		{"reports/uplift-365d", "/api/v1/reports/uplift?from=" + year},
		{"reports/suggestions-365d", "/api/v1/reports/suggestions?from=" + year},
		// Redemptions: the feed page's history, pages, filters and the CSV
		// export.
		{"redemptions/feed-page", "/api/v1/redemptions?limit=50"},
		{"redemptions/first-page", "/api/v1/redemptions"},
		{"redemptions/store", "/api/v1/redemptions?store=s0001"},
		{"redemptions/store-quiet", "/api/v1/redemptions?store=s0200"},
		{"redemptions/offer", "/api/v1/redemptions?offer=offer-01"},
		{"redemptions/offer-rare", "/api/v1/redemptions?offer=offer-60"},
		{"redemptions/store+offer-rare", "/api/v1/redemptions?store=s0200&offer=offer-60"},
		{"redemptions/store+offer-none", "/api/v1/redemptions?store=s0001&offer=offer-61"},
		{"redemptions/segment-vip", "/api/v1/redemptions?segment=vip"},
		{"redemptions/segment-none", "/api/v1/redemptions?segment=staff"},
		{"redemptions/day", "/api/v1/redemptions?from=" + yesterday + "&to=" + day(0)},
		{"redemptions/old-day-store", "/api/v1/redemptions?store=s0001&from=" + day(700) + "&to=" + day(699)},
		{"redemptions/csv-store-day", "/api/v1/redemptions?format=csv&store=s0001&from=" + yesterday + "&to=" + day(0)},
		{"redemptions/csv-chain-day", "/api/v1/redemptions?format=csv&from=" + yesterday + "&to=" + day(0)},
		{"redemptions/csv-store-30d", "/api/v1/redemptions?format=csv&store=s0001&from=" + day(30)},
		{"redemptions/csv-chain-30d", "/api/v1/redemptions?format=csv&from=" + day(30)},
		// Discrepancies.
		{"discrepancies/list", "/api/v1/discrepancies"},
		{"discrepancies/list-store", "/api/v1/discrepancies?store=s0001"},
		{"discrepancies/report-30d", "/api/v1/reports/discrepancies"},
		{"discrepancies/report-3y", "/api/v1/reports/discrepancies?from=" + all},
	}
}

type benchResult struct {
	name, path      string
	first, p50, p99 time.Duration
	calls           int
	size            int64
}

// benchGet sends a GET with the token and reads the reply whole: its
// status, size, and the start of its body when the status is not 200.
func benchGet(client *http.Client, u, token string) (int, int64, string, error) {
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		return 0, 0, "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return 0, 0, "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1000))
		return resp.StatusCode, int64(len(body)), string(body), err
	}
	n, err := io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, n, "", err
}

// benchPercentile is the nearest-rank percentile of sorted durations.
func benchPercentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func benchMS(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
