package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/posoffer/posoffer/cloud/store"
	"github.com/posoffer/posoffer/protocol/offer"
)

// Import adds or updates the offers and segments of a catalog file (the
// offer language's catalog document, JSON or YAML) in HQ's catalog, as who,
// by the rules of the API: the catalog they make with what HQ holds must
// pass every check (the agents' code, and segments that exist), and an
// ended offer does not change. The whole result is checked before anything
// is written; each object is then saved, and checked again, in a
// transaction of its own, segments first. It returns how many objects
// changed. Objects HQ holds that the file lacks stay as they are.
func Import(ctx context.Context, db *store.DB, file []byte, who store.Actor, now time.Time) (int, error) {
	if _, err := offer.Parse(file); err != nil {
		return 0, err
	}
	var parts struct {
		Offers   []map[string]any `yaml:"offers"`
		Segments []map[string]any `yaml:"segments"`
	}
	if err := yaml.Unmarshal(file, &parts); err != nil {
		return 0, fmt.Errorf("catalog: %w", err)
	}
	var docs []*document
	for _, group := range []struct {
		kind string
		list []map[string]any
	}{{store.KindSegment, parts.Segments}, {store.KindOffer, parts.Offers}} {
		for _, m := range group.list {
			b, err := json.Marshal(m)
			if err != nil {
				return 0, fmt.Errorf("catalog: %w", err)
			}
			fields, err := decodeObject(b)
			if err != nil {
				return 0, fmt.Errorf("catalog: %w", err)
			}
			d, err := newDocument(group.kind, fields)
			if err != nil {
				return 0, err
			}
			docs = append(docs, d)
		}
	}
	if len(docs) == 0 {
		return 0, nil
	}
	cat, err := db.Catalog(ctx)
	if err != nil {
		return 0, err
	}
	if err := checkImport(cat, docs); err != nil {
		return 0, err
	}
	changed := 0
	for _, d := range docs {
		entry, err := db.EditCatalog(ctx, who, now, func(c *store.Catalog) (*store.Edit, error) {
			action := actionCreate
			if cur := c.Find(d.kind, d.id); cur != nil {
				switch {
				case bytes.Equal(cur.Doc, d.raw):
					return nil, nil
				case cur.Status == offer.StatusEnded:
					return nil, conflict("offer %s has ended, and an ended offer does not change; give it a new id", d.id)
				}
				action = actionUpdate
			}
			e := d.edit(action)
			if _, err := checkCatalog(c, e); err != nil {
				return nil, err
			}
			return e, nil
		})
		if err != nil {
			return changed, fmt.Errorf("%s %s (%d saved before it): %w", d.kind, d.id, changed, err)
		}
		if entry != nil {
			changed++
		}
	}
	return changed, nil
}

// checkImport checks the catalog that the documents make with cat: an
// ended offer they would change, and the whole catalog's checks.
func checkImport(cat *store.Catalog, docs []*document) error {
	after := &store.Catalog{Offers: append([]store.Object(nil), cat.Offers...), Segments: append([]store.Object(nil), cat.Segments...)}
	for _, d := range docs {
		list := &after.Offers
		if d.kind == store.KindSegment {
			list = &after.Segments
		}
		o := store.Object{Kind: d.kind, ID: d.id, Doc: d.raw, Status: d.status}
		if cur := cat.Find(d.kind, d.id); cur != nil {
			if cur.Status == offer.StatusEnded && !bytes.Equal(cur.Doc, d.raw) {
				return conflict("offer %s has ended, and an ended offer does not change; give it a new id", d.id)
			}
			for i := range *list {
				if (*list)[i].ID == d.id {
					(*list)[i] = o
				}
			}
			continue
		}
		*list = append(*list, o)
	}
	_, err := checkCatalog(after, docs[0].edit(actionUpdate))
	return err
}
