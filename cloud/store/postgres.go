package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pgConns is how many connections a DB opens to PostgreSQL at most.
const pgConns = 4

type pgDB struct{ pool *pgxpool.Pool }

func openPostgres(ctx context.Context, dsn string) (*pgDB, error) {
	cfg, err := pgxpool.ParseConfig(dsn) // its errors leave the password out
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	cfg.MaxConns = pgConns
	// A plan made for the values at hand: a generic plan, cached after a
	// few runs of a statement, scans a busy store's redemptions for an
	// offer it never redeemed instead of looking the offer up.
	if _, set := cfg.ConnConfig.RuntimeParams["plan_cache_mode"]; !set {
		cfg.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_custom_plan"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil { // fail now, not at the first write, when it is unreachable
		pool.Close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return &pgDB{pool: pool}, nil
}

func (d *pgDB) close() error {
	d.pool.Close()
	return nil
}

func (d *pgDB) query(ctx context.Context, q string, args ...any) (rows, error) {
	return d.pool.Query(ctx, q, args...)
}

func (d *pgDB) write(ctx context.Context, fn func(tx) error) error {
	t, err := d.pool.Begin(ctx)
	if err != nil {
		return err
	}
	if err := fn(pgTx{t}); err != nil {
		t.Rollback(ctx)
		return err
	}
	return t.Commit(ctx)
}

type pgTx struct{ tx pgx.Tx }

func (t pgTx) exec(ctx context.Context, q string, args ...any) error {
	_, err := t.tx.Exec(ctx, q, args...)
	return err
}

func (t pgTx) query(ctx context.Context, q string, args ...any) (rows, error) {
	return t.tx.Query(ctx, q, args...)
}

// insert sends the writes in one round trip, a statement each.
func (t pgTx) insert(ctx context.Context, writes []write) error {
	var b pgx.Batch
	for _, w := range writes {
		if len(w.rows) == 0 {
			continue
		}
		args, err := w.ins.arrays(w.rows)
		if err != nil {
			return err
		}
		b.Queue(w.ins.unnest(), args...)
	}
	if b.Len() == 0 {
		return nil
	}
	r := t.tx.SendBatch(ctx, &b)
	for _, w := range writes {
		if len(w.rows) == 0 {
			continue
		}
		if _, err := r.Exec(); err != nil {
			r.Close()
			return fmt.Errorf("insert into %s: %w", w.ins.table, err)
		}
	}
	return r.Close()
}

func (t pgTx) insertNew(ctx context.Context, ins *insert, rows [][]any) (map[string]bool, error) {
	inserted := make(map[string]bool, len(rows))
	if len(rows) == 0 {
		return inserted, nil
	}
	args, err := ins.arrays(rows)
	if err != nil {
		return nil, err
	}
	r, err := t.tx.Query(ctx, ins.unnest()+" RETURNING "+ins.cols[0].name, args...)
	if err != nil {
		return nil, fmt.Errorf("insert into %s: %w", ins.table, err)
	}
	defer r.Close()
	for r.Next() {
		var k string
		if err := r.Scan(&k); err != nil {
			return nil, fmt.Errorf("insert into %s: %w", ins.table, err)
		}
		inserted[k] = true
	}
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("insert into %s: %w", ins.table, err)
	}
	return inserted, nil
}
