package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/posoffer/posoffer/protocol"
)

// ErrNotFound: no offer, segment or token has the id (or the hash) asked
// for.
var ErrNotFound = errors.New("not found")

// Kinds of the objects in HQ's catalog.
const (
	KindOffer   = "offer"
	KindSegment = "segment"
)

// Object is an offer or a segment as HQ keeps it: its JSON document in the
// offer language, and when and by whom it last changed.
type Object struct {
	Kind      string
	ID        string
	Doc       json.RawMessage
	Status    string // an offer's status, as its document says; "" for a segment
	CreatedAt time.Time
	UpdatedAt time.Time
	UpdatedBy string // the name of the token that made the last change
}

// Catalog is every offer and segment HQ keeps, each list sorted by id.
type Catalog struct {
	Offers   []Object
	Segments []Object
}

// Find returns the object of that kind and id, or nil.
func (c *Catalog) Find(kind, id string) *Object {
	list := c.Offers
	if kind == KindSegment {
		list = c.Segments
	}
	i, ok := slices.BinarySearchFunc(list, id, func(o Object, id string) int { return strings.Compare(o.ID, id) })
	if !ok {
		return nil
	}
	return &list[i]
}

// Actor is who makes a change to the catalog: a token's name and id.
type Actor struct {
	Name  string
	Token string
}

// Edit is one change to the catalog: an object put or deleted.
type Edit struct {
	Action string // what the change is, for the audit log: create, update, pause, delete, ...
	Kind   string // KindOffer or KindSegment
	ID     string
	Doc    json.RawMessage // the object's new JSON document; nil deletes the object
	Status string          // an offer's status, as Doc says; "" for a segment
}

// AuditEntry is one change made to the catalog.
type AuditEntry struct {
	ID         string          `json:"id"` // a UUIDv7
	At         time.Time       `json:"at"`
	Actor      string          `json:"actor"`       // the token's name
	ActorToken string          `json:"actor_token"` // the token's id
	Action     string          `json:"action"`
	Kind       string          `json:"kind"`
	ObjectID   string          `json:"object_id"`
	Before     json.RawMessage `json:"before"` // null when the change created the object
	After      json.RawMessage `json:"after"`  // null when it deleted it
}

// pgCatalogLock is the PostgreSQL advisory lock that EditCatalog holds, so
// that HQ replicas change the catalog one at a time.
const pgCatalogLock = 0x706f6361 // "poca"

// EditCatalog decides and makes one change to the catalog, atomically. In
// a transaction that holds HQ's catalog lock, it reads the whole catalog,
// calls decide with it, and writes the Edit that decide returns together
// with its audit entry, made by who at the time at. Two EditCatalog calls,
// in one process or in two HQ replicas, never interleave, so decide judges
// the very catalog its change lands on.
//
// When decide returns an error, nothing is written and that error is
// returned as it is; when it returns nil, nil, nothing is written and
// EditCatalog returns nil, nil. Otherwise it returns the audit entry.
func (db *DB) EditCatalog(ctx context.Context, who Actor, at time.Time,
	decide func(*Catalog) (*Edit, error)) (*AuditEntry, error) {
	var entry *AuditEntry
	var decided error
	err := db.be.write(ctx, func(t tx) error {
		if db.postgres {
			if err := t.exec(ctx, fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", pgCatalogLock)); err != nil {
				return err
			}
		}
		cat, err := readCatalog(ctx, t.query)
		if err != nil {
			return err
		}
		e, err := decide(cat)
		if err != nil {
			decided = err
			return err
		}
		if e == nil {
			return nil
		}
		if err := checkEdit(e, cat); err != nil {
			return err
		}
		entry, err = writeEdit(ctx, t, who, at, e, cat.Find(e.Kind, e.ID))
		return err
	})
	switch {
	case decided != nil:
		return nil, decided
	case err != nil:
		return nil, fmt.Errorf("edit catalog: %w", err)
	}
	return entry, nil
}

// checkEdit refuses an edit that the tables cannot hold.
func checkEdit(e *Edit, cat *Catalog) error {
	switch {
	case e.Kind == KindOffer && !protocol.ValidOfferID(e.ID), e.Kind == KindSegment && !protocol.ValidSegmentID(e.ID):
		return fmt.Errorf("%w: %s id %q", ErrBadQuery, e.Kind, e.ID)
	case e.Kind != KindOffer && e.Kind != KindSegment:
		return fmt.Errorf("%w: kind %q: want offer or segment", ErrBadQuery, e.Kind)
	case !isText(e.Action, 1, protocol.MaxFieldLen):
		return fmt.Errorf("%w: action: want 1 to %d bytes of text", ErrBadQuery, protocol.MaxFieldLen)
	case e.Doc == nil && cat.Find(e.Kind, e.ID) == nil:
		return fmt.Errorf("delete %s %s: %w", e.Kind, e.ID, ErrNotFound)
	case e.Doc != nil && (!json.Valid(e.Doc) || !isText(string(e.Doc), 1, 1<<30)):
		return fmt.Errorf("%w: %s %s: the document is not JSON text", ErrBadQuery, e.Kind, e.ID)
	case e.Kind == KindOffer && e.Doc != nil && e.Status == "":
		return fmt.Errorf("%w: offer %s: status required", ErrBadQuery, e.ID)
	}
	return nil
}

// writeEdit writes an edit and its audit entry; prev is the object before
// it, nil when there was none.
func writeEdit(ctx context.Context, t tx, who Actor, at time.Time, e *Edit, prev *Object) (*AuditEntry, error) {
	us := at.UnixMicro()
	var err error
	switch {
	case e.Doc == nil:
		err = t.exec(ctx, "DELETE FROM "+tableOf(e.Kind)+" WHERE id = $1", e.ID)
	case e.Kind == KindOffer:
		err = t.exec(ctx, `INSERT INTO offers (id, doc, status, created_us, updated_us, updated_by)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (id) DO UPDATE SET doc = excluded.doc, status = excluded.status,
				updated_us = excluded.updated_us, updated_by = excluded.updated_by`,
			e.ID, string(e.Doc), e.Status, us, us, who.Name)
	default:
		err = t.exec(ctx, `INSERT INTO segments (id, doc, created_us, updated_us, updated_by)
			VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (id) DO UPDATE SET doc = excluded.doc,
				updated_us = excluded.updated_us, updated_by = excluded.updated_by`,
			e.ID, string(e.Doc), us, us, who.Name)
	}
	if err != nil {
		return nil, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return nil, err
	}
	entry := &AuditEntry{ID: id.String(), At: time.UnixMicro(us).UTC(), Actor: who.Name, ActorToken: who.Token,
		Action: e.Action, Kind: e.Kind, ObjectID: e.ID, After: e.Doc}
	if prev != nil {
		entry.Before = prev.Doc
	}
	err = t.exec(ctx, `INSERT INTO audit (id, at_us, actor, actor_token, action, kind, object_id, before_doc, after_doc)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		entry.ID, us, who.Name, who.Token, e.Action, e.Kind, e.ID, string(entry.Before), string(entry.After))
	if err != nil {
		return nil, err
	}
	return entry, nil
}

func tableOf(kind string) string {
	if kind == KindSegment {
		return "segments"
	}
	return "offers"
}

// queryFunc runs a read, inside a transaction or not.
type queryFunc func(ctx context.Context, sql string, args ...any) (rows, error)

const (
	selectOffers   = "SELECT id, doc, status, created_us, updated_us, updated_by FROM offers"
	selectSegments = "SELECT id, doc, '', created_us, updated_us, updated_by FROM segments"
)

// readObjects runs a select of offers or segments and returns the objects
// sorted by id (in Go: byte order, whatever the database's collation).
func readObjects(ctx context.Context, query queryFunc, kind, sql string, args ...any) ([]Object, error) {
	r, err := query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []Object
	for r.Next() {
		o := Object{Kind: kind}
		var doc string
		var created, updated int64
		if err := r.Scan(&o.ID, &doc, &o.Status, &created, &updated, &o.UpdatedBy); err != nil {
			return nil, err
		}
		o.Doc = json.RawMessage(doc)
		o.CreatedAt, o.UpdatedAt = time.UnixMicro(created).UTC(), time.UnixMicro(updated).UTC()
		out = append(out, o)
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b Object) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

func readCatalog(ctx context.Context, query queryFunc) (*Catalog, error) {
	offers, err := readObjects(ctx, query, KindOffer, selectOffers)
	if err != nil {
		return nil, err
	}
	segments, err := readObjects(ctx, query, KindSegment, selectSegments)
	if err != nil {
		return nil, err
	}
	return &Catalog{Offers: offers, Segments: segments}, nil
}

// Catalog returns every offer and segment HQ keeps.
func (db *DB) Catalog(ctx context.Context) (*Catalog, error) {
	c, err := readCatalog(ctx, db.be.query)
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	return c, nil
}

// Offers returns the offers with the given status ("" for every offer),
// sorted by id.
func (db *DB) Offers(ctx context.Context, status string) ([]Object, error) {
	q, args := selectOffers, []any(nil)
	if status != "" {
		q, args = q+" WHERE status = $1", []any{status}
	}
	out, err := readObjects(ctx, db.be.query, KindOffer, q, args...)
	if err != nil {
		return nil, fmt.Errorf("offers: %w", err)
	}
	return out, nil
}

// Segments returns every segment, sorted by id.
func (db *DB) Segments(ctx context.Context) ([]Object, error) {
	out, err := readObjects(ctx, db.be.query, KindSegment, selectSegments)
	if err != nil {
		return nil, fmt.Errorf("segments: %w", err)
	}
	return out, nil
}

// Object returns the offer or segment with that id; the error wraps
// ErrNotFound when there is none.
func (db *DB) Object(ctx context.Context, kind, id string) (*Object, error) {
	q := selectOffers
	if kind == KindSegment {
		q = selectSegments
	}
	out, err := readObjects(ctx, db.be.query, kind, q+" WHERE id = $1", id)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", kind, id, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s %s: %w", kind, id, ErrNotFound)
	}
	return &out[0], nil
}

// AuditFilter selects audit entries. Empty fields match everything.
type AuditFilter struct {
	Kind     string // KindOffer or KindSegment
	ObjectID string
	After    string // the cursor Audit returned with the previous page
	Limit    int    // page size: 0 is DefaultLimit; more than MaxLimit is MaxLimit
}

// Audit returns a page of the audit log, newest first, and the cursor of
// the next page: "" when this is the last.
func (db *DB) Audit(ctx context.Context, f AuditFilter) ([]AuditEntry, string, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	where = append(where, "1 = 1")
	if f.Kind != "" {
		where = append(where, "kind = "+arg(f.Kind))
	}
	if f.ObjectID != "" {
		where = append(where, "object_id = "+arg(f.ObjectID))
	}
	if f.After != "" {
		at, id, ok := parseCursor(f.After)
		if !ok {
			return nil, "", fmt.Errorf("audit: %w: after: not a cursor from a previous page", ErrBadQuery)
		}
		where = append(where, fmt.Sprintf("(at_us, id) < (%s, %s)", arg(at), arg(id)))
	}
	q := `SELECT id, at_us, actor, actor_token, action, kind, object_id, before_doc, after_doc FROM audit WHERE ` +
		strings.Join(where, " AND ") + " ORDER BY at_us DESC, id DESC LIMIT " + arg(int64(limit+1))
	var out []AuditEntry
	err := db.each(ctx, func(r rows) error {
		var e AuditEntry
		var at int64
		var before, after string
		if err := r.Scan(&e.ID, &at, &e.Actor, &e.ActorToken, &e.Action, &e.Kind, &e.ObjectID, &before, &after); err != nil {
			return err
		}
		e.At = time.UnixMicro(at).UTC()
		if before != "" {
			e.Before = json.RawMessage(before)
		}
		if after != "" {
			e.After = json.RawMessage(after)
		}
		out = append(out, e)
		return nil
	}, q, args...)
	if err != nil {
		return nil, "", fmt.Errorf("audit: %w", err)
	}
	if len(out) <= limit {
		return out, "", nil
	}
	out = out[:limit]
	end := out[limit-1]
	return out, makeCursor(end.At.UnixMicro(), end.ID), nil
}
