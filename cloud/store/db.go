package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/posoffer/posoffer/protocol"
)

// Errors that a caller can act on, wrapped with what was refused.
var (
	// ErrInvalidEvent: an event lacks a part its kind needs or has a field
	// out of range (see Validate); it is protocol.ErrInvalidEvent. Retrying the same event cannot succeed.
	ErrInvalidEvent = protocol.ErrInvalidEvent
	// ErrBadQuery: the arguments of a read are malformed: a cursor this
	// package did not make, a segment that is not a segment id, a customer
	// key or a day of the wrong form.
	ErrBadQuery = errors.New("bad query")
)

// DB is HQ's database, SQLite or PostgreSQL. It is safe for concurrent use.
type DB struct {
	be       backend
	postgres bool
}

// Open opens HQ's database and brings its schema up to date. An empty dsn
// is SQLite, the file cloud.db in dataDir (created if need be); a
// postgres:// or postgresql:// URL is PostgreSQL, with any setting pgx
// reads from such a URL (search_path=s, for one, puts the tables in schema
// s), and dataDir is not used. Errors never quote the dsn.
func Open(ctx context.Context, dsn, dataDir string) (*DB, error) {
	db := &DB{}
	var err error
	switch {
	case dsn == "" && dataDir == "":
		return nil, errors.New("open store: want a dsn or a data dir")
	case dsn == "":
		db.be, err = openSQLite(ctx, dataDir)
	case strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://"):
		db.postgres = true
		db.be, err = openPostgres(ctx, dsn)
	default:
		// Not quoted: a DSN may hold a password.
		return nil, errors.New("open store: dsn: want empty (SQLite in the data dir) or a postgres:// URL")
	}
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	if err := db.migrate(ctx); err != nil {
		db.be.close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	return db, nil
}

// Close closes the database. Calls in flight may fail.
func (db *DB) Close() error { return db.be.close() }

// backend is what differs between SQLite and PostgreSQL: how to reach the
// database, run a write transaction, and write many rows.
type backend interface {
	// query runs a read outside any write transaction.
	query(ctx context.Context, sql string, args ...any) (rows, error)
	// write runs fn in a transaction, committed when fn returns nil and
	// rolled back otherwise.
	write(ctx context.Context, fn func(tx) error) error
	close() error
}

// tx is a write transaction.
type tx interface {
	exec(ctx context.Context, sql string, args ...any) error
	query(ctx context.Context, sql string, args ...any) (rows, error)
	// insert runs each write, in order.
	insert(ctx context.Context, writes []write) error
	// insertNew runs ins, whose conflict clause is DO NOTHING, for rows and
	// returns the first column (the key) of the rows it inserted.
	insertNew(ctx context.Context, ins *insert, rows [][]any) (map[string]bool, error)
}

// rows is what both drivers' query results have in common.
type rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// each runs a read and calls fn for each row.
func (db *DB) each(ctx context.Context, fn func(r rows) error, sql string, args ...any) error {
	return eachRow(ctx, db.be.query, fn, sql, args...)
}

// eachRow runs a query with query (a backend's, or a transaction's) and
// calls fn for each row.
func eachRow(ctx context.Context, query func(context.Context, string, ...any) (rows, error), fn func(r rows) error,
	sql string, args ...any) error {
	r, err := query(ctx, sql, args...)
	if err != nil {
		return err
	}
	defer r.Close()
	for r.Next() {
		if err := fn(r); err != nil {
			return err
		}
	}
	return r.Err()
}

// placeholders is "$1, $2, ..., $n".
func placeholders(n int) string {
	marks := make([]string, n)
	for i := range marks {
		marks[i] = fmt.Sprintf("$%d", i+1)
	}
	return strings.Join(marks, ", ")
}

// column is a column that an insert writes.
type column struct {
	name string
	typ  string // "text" or "bigint": the Go value is a string or an int64
}

const (
	text   = "text"
	bigint = "bigint"
)

// insert is a statement that writes rows into one table: the columns it
// sets and what it does with a row whose key is already there. Only the
// source of the rows differs between dialects: VALUES, run once per row, on
// SQLite; unnest of one array per column, run once per batch, on
// PostgreSQL.
type insert struct {
	table      string
	cols       []column
	onConflict string
}

func (ins *insert) head() string {
	names := make([]string, len(ins.cols))
	for i, c := range ins.cols {
		names[i] = c.name
	}
	return "INSERT INTO " + ins.table + " (" + strings.Join(names, ", ") + ")"
}

// values is the statement for one row: INSERT ... VALUES ($1, ...).
func (ins *insert) values() string {
	params := make([]string, len(ins.cols))
	for i := range ins.cols {
		params[i] = fmt.Sprintf("$%d", i+1)
	}
	return ins.head() + " VALUES (" + strings.Join(params, ", ") + ") " + ins.onConflict
}

// unnest is the statement for a batch: INSERT ... SELECT * FROM
// unnest($1::text[], ...), one array per column.
func (ins *insert) unnest() string {
	params := make([]string, len(ins.cols))
	for i, c := range ins.cols {
		params[i] = fmt.Sprintf("$%d::%s[]", i+1, c.typ)
	}
	return ins.head() + " SELECT * FROM unnest(" + strings.Join(params, ", ") + ") " + ins.onConflict
}

// write is an insert and its rows, each with one value per column: an
// int64 for a bigint column, a string for a text one.
type write struct {
	ins  *insert
	rows [][]any
}

// arrays turns rows into one array per column, the arguments of unnest.
func (ins *insert) arrays(rows [][]any) ([]any, error) {
	out := make([]any, len(ins.cols))
	for j, c := range ins.cols {
		var ok bool
		switch c.typ {
		case text:
			out[j], ok = columnOf[string](rows, j)
		case bigint:
			out[j], ok = columnOf[int64](rows, j)
		}
		if !ok {
			return nil, fmt.Errorf("insert into %s: column %s: a value is not a %s", ins.table, c.name, c.typ)
		}
	}
	return out, nil
}

// columnOf returns column j of rows, and whether every value is a T.
func columnOf[T any](rows [][]any, j int) ([]T, bool) {
	a := make([]T, len(rows))
	for i, r := range rows {
		v, ok := r[j].(T)
		if !ok {
			return nil, false
		}
		a[i] = v
	}
	return a, true
}
