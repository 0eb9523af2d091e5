// Package storetest opens HQ databases for the tests of packages that use
// cloud/store: SQLite in a temporary directory, and PostgreSQL, when
// PGEnv names one, in a schema of its own that is dropped when the test
// ends.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/posoffer/posoffer/cloud/store"
)

// PGEnv names the PostgreSQL the tests also run against, such as
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable.
const PGEnv = "POSOFFER_TEST_PG_URL"

// Opener opens a handle on the database of one test. Each call opens
// another, as another HQ replica would; each is closed when the test ends.
type Opener func(t testing.TB) *store.DB

// Each runs test on SQLite and, when PGEnv is set, on PostgreSQL.
func Each(t *testing.T, test func(t *testing.T, open Opener)) {
	t.Run("db=sqlite", func(t *testing.T) { test(t, SQLite(t)) })
	t.Run("db=postgres", func(t *testing.T) { test(t, Postgres(t)) })
}

// SQLite returns an opener of a SQLite database in a temporary directory.
func SQLite(t testing.TB) Opener {
	dir := t.TempDir()
	return func(t testing.TB) *store.DB { return open(t, "", dir) }
}

// Postgres creates a schema for t and returns an opener whose handles use
// it. It skips t when PGEnv is not set.
func Postgres(t testing.TB) Opener {
	t.Helper()
	dsn := PostgresDSN(t)
	if dsn == "" {
		t.Skipf("set %s to a PostgreSQL URL to run on PostgreSQL", PGEnv)
	}
	return func(t testing.TB) *store.DB { return open(t, dsn, "") }
}

// PostgresDSN creates a schema of its own for t, dropped when t ends, and
// returns a DSN of the PostgreSQL at PGEnv that uses it; "" when PGEnv is
// not set.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv(PGEnv)
	if base == "" {
		return ""
	}
	b := make([]byte, 8)
	rand.Read(b)
	schema := "t_" + hex.EncodeToString(b)
	admin := func(sql string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Fatalf("%s: %v", PGEnv, err)
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	admin("CREATE SCHEMA " + schema)
	t.Cleanup(func() { admin("DROP SCHEMA " + schema + " CASCADE") })

	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", PGEnv, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func open(t testing.TB, dsn, dir string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), dsn, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
