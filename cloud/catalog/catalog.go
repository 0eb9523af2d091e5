// Package catalog loads a catalog file (the offer language's catalog
// document) into HQ's database, for operators who keep their offers in
// files: the file's offers and segments are created or updated, each
// change audited, and the rest of HQ's catalog is left as it is.
package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/posoffer/posoffer/cloud/store"
	"github.com/posoffer/posoffer/protocol/offer"
)

// Import adds or updates the offers and segments of doc (JSON or YAML) in
// HQ's catalog, as who. The catalog they make with what HQ already holds
// must pass the agents' checks, or nothing is written. It returns how many
// objects changed.
func Import(ctx context.Context, db *store.DB, doc []byte, who store.Actor) (int, error) {
	var file struct {
		Offers   []map[string]any `yaml:"offers"`
		Segments []map[string]any `yaml:"segments"`
	}
	if err := yaml.Unmarshal(doc, &file); err != nil {
		return 0, fmt.Errorf("catalog: %w", err)
	}
	if _, err := offer.Parse(doc); err != nil {
		return 0, err
	}
	var edits []store.Edit
	for _, group := range []struct {
		kind string
		docs []map[string]any
	}{{store.KindSegment, file.Segments}, {store.KindOffer, file.Offers}} {
		for _, d := range group.docs {
			b, err := json.Marshal(d)
			if err != nil {
				return 0, fmt.Errorf("catalog: %w", err)
			}
			id, _ := d["id"].(string)
			status, _ := d["status"].(string)
			if group.kind == store.KindSegment {
				status = ""
			}
			edits = append(edits, store.Edit{Kind: group.kind, ID: id, Doc: b, Status: status})
		}
	}
	// The whole catalog as it will be, checked before anything is written.
	cat, err := db.Catalog(ctx)
	if err != nil {
		return 0, err
	}
	if err := check(cat, edits); err != nil {
		return 0, err
	}
	changed := 0
	for _, e := range edits {
		entry, err := db.EditCatalog(ctx, who, time.Now().UTC(), func(c *store.Catalog) (*store.Edit, error) {
			e := e
			e.Action = "create"
			if old := c.Find(e.Kind, e.ID); old != nil {
				if string(old.Doc) == string(e.Doc) {
					return nil, nil // unchanged
				}
				e.Action = "update"
			}
			return &e, nil
		})
		if err != nil {
			return changed, fmt.Errorf("%s %s: %w", e.Kind, e.ID, err)
		}
		if entry != nil {
			changed++
		}
	}
	return changed, nil
}

// check parses the catalog that HQ's objects and the edits make together.
func check(cat *store.Catalog, edits []store.Edit) error {
	docs := map[string]json.RawMessage{}
	for _, list := range [][]store.Object{cat.Offers, cat.Segments} {
		for _, o := range list {
			docs[o.Kind+"/"+o.ID] = o.Doc
		}
	}
	for _, e := range edits {
		docs[e.Kind+"/"+e.ID] = e.Doc
	}
	all := struct {
		Version  int               `json:"version"`
		Offers   []json.RawMessage `json:"offers"`
		Segments []json.RawMessage `json:"segments"`
	}{Version: 1}
	for k, d := range docs {
		if strings.HasPrefix(k, store.KindOffer+"/") {
			all.Offers = append(all.Offers, d)
		} else {
			all.Segments = append(all.Segments, d)
		}
	}
	b, err := json.Marshal(all)
	if err != nil {
		return err
	}
	if _, err := offer.Parse(b); err != nil {
		return fmt.Errorf("with the offers and segments HQ already has: %w", err)
	}
	return nil
}
