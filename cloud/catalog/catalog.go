// Package catalog publishes HQ's offers and segments to the stores: each
// offer and segment is one key of the catalog bucket, offer.{id} or
// segment.{id}, holding its JSON document. Agents watch the bucket and
// serve the whole of it as one catalog.
package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
	"go.yaml.in/yaml/v3"

	"github.com/posoffer/posoffer/protocol"
	"github.com/posoffer/posoffer/protocol/offer"
)

// Push makes the catalog bucket hold exactly the offers and segments of a
// catalog document (JSON or YAML): it checks the document with the same
// code the agents run, puts every offer and segment, and deletes the keys
// the document no longer has. It returns the bucket's revision after the
// last change: the catalog revision agents will report.
func Push(ctx context.Context, kv jetstream.KeyValue, doc []byte) (uint64, error) {
	if _, err := offer.Parse(doc); err != nil {
		return 0, err
	}
	var parts struct {
		Offers   []map[string]any `yaml:"offers"`
		Segments []map[string]any `yaml:"segments"`
	}
	if err := yaml.Unmarshal(doc, &parts); err != nil {
		return 0, fmt.Errorf("catalog: %w", err)
	}
	want := map[string][]byte{}
	for _, group := range []struct {
		docs []map[string]any
		key  func(string) (string, error)
	}{{parts.Offers, protocol.OfferKey}, {parts.Segments, protocol.SegmentKey}} {
		for _, d := range group.docs {
			id, _ := d["id"].(string)
			key, err := group.key(id)
			if err != nil {
				return 0, err
			}
			b, err := json.Marshal(d)
			if err != nil {
				return 0, fmt.Errorf("%s: %w", key, err)
			}
			want[key] = b
		}
	}
	var rev uint64
	for key, b := range want {
		if e, err := kv.Get(ctx, key); err == nil && string(e.Value()) == string(b) {
			continue // unchanged
		}
		r, err := kv.Put(ctx, key, b)
		if err != nil {
			return 0, fmt.Errorf("put %s: %w", key, err)
		}
		rev = max(rev, r)
	}
	keys, err := kv.ListKeys(ctx)
	if err != nil {
		return 0, err
	}
	for key := range keys.Keys() {
		if _, ok := want[key]; ok {
			continue
		}
		if err := kv.Delete(ctx, key); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			return 0, fmt.Errorf("delete %s: %w", key, err)
		}
	}
	st, err := kv.Status(ctx)
	if err != nil {
		return 0, err
	}
	if js, ok := st.(*jetstream.KeyValueBucketStatus); ok {
		rev = max(rev, js.StreamInfo().State.LastSeq)
	}
	return rev, nil
}
