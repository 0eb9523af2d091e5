package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver, pure Go
)

// SQLite connection settings. The writer is one connection, so writes queue
// in Go rather than on the file lock; _txlock=immediate takes the write lock
// at BEGIN, so a transaction never fails half-way to upgrade from reading to
// writing. Readers are a separate pool: in WAL mode they do not wait for
// the writer.
const (
	sqliteWriter = "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)" +
		"&_pragma=foreign_keys(1)&_txlock=immediate"
	sqliteReader  = "_pragma=busy_timeout(10000)&_pragma=query_only(1)"
	sqliteReaders = 4
)

// uriPath escapes what a SQLite URI filename gives a meaning to.
var uriPath = strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23")

type sqliteDB struct {
	w, r *sql.DB
}

func openSQLite(ctx context.Context, dataDir string) (*sqliteDB, error) {
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return nil, err
	}
	path := filepath.Join(dataDir, "cloud.db")
	name := "file:" + uriPath.Replace(path) + "?"
	w, err := sql.Open("sqlite", name+sqliteWriter)
	if err != nil {
		return nil, fmt.Errorf("sqlite %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	// The writer connects first: it creates the file and turns WAL on.
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", name+sqliteReader)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite %s: %w", path, err)
	}
	r.SetMaxOpenConns(sqliteReaders)
	r.SetMaxIdleConns(sqliteReaders)
	return &sqliteDB{w: w, r: r}, nil
}

func (s *sqliteDB) close() error {
	return errors.Join(s.r.Close(), s.w.Close())
}

func (s *sqliteDB) query(ctx context.Context, q string, args ...any) (rows, error) {
	r, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{r}, nil
}

func (s *sqliteDB) write(ctx context.Context, fn func(tx) error) error {
	t, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(sqliteTx{t}); err != nil {
		t.Rollback()
		return err
	}
	return t.Commit()
}

type sqliteTx struct{ tx *sql.Tx }

func (t sqliteTx) exec(ctx context.Context, q string, args ...any) error {
	_, err := t.tx.ExecContext(ctx, q, args...)
	return err
}

func (t sqliteTx) query(ctx context.Context, q string, args ...any) (rows, error) {
	r, err := t.tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{r}, nil
}

func (t sqliteTx) insert(ctx context.Context, writes []write) error {
	for _, w := range writes {
		if err := t.run(ctx, w.ins, w.rows, nil); err != nil {
			return err
		}
	}
	return nil
}

func (t sqliteTx) insertNew(ctx context.Context, ins *insert, rows [][]any) (map[string]bool, error) {
	inserted := make(map[string]bool, len(rows))
	err := t.run(ctx, ins, rows, func(row []any) {
		if k, ok := row[0].(string); ok {
			inserted[k] = true
		}
	})
	return inserted, err
}

// run executes ins once per row with a prepared statement, calling added
// (when not nil) for each row that changed the table.
func (t sqliteTx) run(ctx context.Context, ins *insert, rows [][]any, added func([]any)) error {
	if len(rows) == 0 {
		return nil
	}
	st, err := t.tx.PrepareContext(ctx, ins.values())
	if err != nil {
		return fmt.Errorf("insert into %s: %w", ins.table, err)
	}
	defer st.Close()
	for _, row := range rows {
		res, err := st.ExecContext(ctx, row...)
		if err != nil {
			return fmt.Errorf("insert into %s: %w", ins.table, err)
		}
		if added == nil {
			continue
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("insert into %s: %w", ins.table, err)
		} else if n > 0 {
			added(row)
		}
	}
	return nil
}

// sqlRows gives *sql.Rows the Close of rows.
type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { r.Rows.Close() }
