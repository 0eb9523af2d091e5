package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/posoffer/posoffer/cloud/store"
	"github.com/posoffer/posoffer/protocol"
	"github.com/posoffer/posoffer/protocol/offer"
)

// Actions of the audit log.
const (
	actionCreate = "create"
	actionUpdate = "update"
	actionPause  = "pause"
	actionResume = "resume"
	actionEnd    = "end"
	actionDelete = "delete"
)

// objectView is an offer or a segment as the API shows it.
type objectView struct {
	ID        string          `json:"id"`
	Status    string          `json:"status,omitempty"` // offers only
	Doc       json.RawMessage `json:"doc,omitempty"`
	CreatedAt time.Time       `json:"created_at,omitzero"`
	UpdatedAt time.Time       `json:"updated_at,omitzero"`
	UpdatedBy string          `json:"updated_by,omitempty"`
	Deleted   bool            `json:"deleted,omitempty"`
	// Published, in the reply to a change, says whether the change
	// reached the catalog bucket.
	Published *bool `json:"published,omitempty"`
}

func viewOf(o *store.Object) objectView {
	return objectView{ID: o.ID, Status: o.Status, Doc: o.Doc, CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt,
		UpdatedBy: o.UpdatedBy}
}

type list[T any] struct {
	Items []T `json:"items"`
}

func (s *server) listOffers(w http.ResponseWriter, r *http.Request) error {
	p, err := readParams(r, "status")
	if err != nil {
		return err
	}
	status := p.oneOf("status", offer.StatusDraft, offer.StatusActive, offer.StatusPaused, offer.StatusEnded)
	if p.err != nil {
		return p.err
	}
	offers, err := s.db.Offers(r.Context(), status)
	if err != nil {
		return err
	}
	return writeObjects(w, offers)
}

func (s *server) listSegments(w http.ResponseWriter, r *http.Request) error {
	if _, err := readParams(r); err != nil {
		return err
	}
	segments, err := s.db.Segments(r.Context())
	if err != nil {
		return err
	}
	return writeObjects(w, segments)
}

func writeObjects(w http.ResponseWriter, objects []store.Object) error {
	out := list[objectView]{Items: make([]objectView, len(objects))}
	for i := range objects {
		out.Items[i] = viewOf(&objects[i])
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *server) getObject(kind string) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := pathID(r, kind)
		if err != nil {
			return err
		}
		o, err := s.db.Object(r.Context(), kind, id)
		if errors.Is(err, store.ErrNotFound) {
			return notFound("no %s %s", kind, id)
		}
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, viewOf(o))
		return nil
	}
}

// pathID returns the {id} of the path, an offer or segment id.
func pathID(r *http.Request, kind string) (string, error) {
	id := r.PathValue("id")
	if !protocol.ValidOfferID(id) { // segment ids have the same form
		return "", notFound("no %s %s: an id is 1 to 64 characters of a-z, 0-9 and -", kind, quote(id))
	}
	return id, nil
}

func (s *server) createOffer(w http.ResponseWriter, r *http.Request) error {
	return s.create(w, r, store.KindOffer)
}

func (s *server) createSegment(w http.ResponseWriter, r *http.Request) error {
	return s.create(w, r, store.KindSegment)
}

func (s *server) create(w http.ResponseWriter, r *http.Request, kind string) error {
	doc, err := readDocument(w, r, kind)
	if err != nil {
		return err
	}
	return s.change(w, r, kind, doc.id, func(_ *store.Catalog, cur *store.Object) (*store.Edit, error) {
		if cur != nil {
			return nil, conflict("%s %s exists; PUT %s%ss/%s changes it", kind, doc.id, Prefix, kind, doc.id)
		}
		return doc.edit(actionCreate), nil
	})
}

func (s *server) updateOffer(w http.ResponseWriter, r *http.Request) error {
	return s.update(w, r, store.KindOffer)
}

func (s *server) updateSegment(w http.ResponseWriter, r *http.Request) error {
	return s.update(w, r, store.KindSegment)
}

func (s *server) update(w http.ResponseWriter, r *http.Request, kind string) error {
	id, err := pathID(r, kind)
	if err != nil {
		return err
	}
	doc, err := readDocument(w, r, kind)
	if err != nil {
		return err
	}
	if doc.id != id {
		return badRequest("id: the document's id %s differs from the path's %s; an id does not change", quote(doc.id),
			quote(id))
	}
	return s.change(w, r, kind, id, func(_ *store.Catalog, cur *store.Object) (*store.Edit, error) {
		switch {
		case cur == nil:
			return nil, notFound("no %s %s; POST %s%ss creates it", kind, id, Prefix, kind)
		case cur.Status == offer.StatusEnded:
			return nil, conflict("offer %s has ended, and an ended offer does not change; create a new one", id)
		case bytes.Equal(cur.Doc, doc.raw):
			return nil, nil
		}
		return doc.edit(actionUpdate), nil
	})
}

// setStatus changes an offer's status by one of the status actions.
func (s *server) setStatus(action string) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := pathID(r, store.KindOffer)
		if err != nil {
			return err
		}
		return s.change(w, r, store.KindOffer, id, func(_ *store.Catalog, cur *store.Object) (*store.Edit, error) {
			if cur == nil {
				return nil, notFound("no offer %s", id)
			}
			to, err := transition(action, id, cur.Status)
			if err != nil || to == cur.Status {
				return nil, err
			}
			doc, err := withStatus(cur.Doc, to)
			if err != nil {
				return nil, err
			}
			return &store.Edit{Action: action, Kind: store.KindOffer, ID: id, Doc: doc, Status: to}, nil
		})
	}
}

// transition returns the status an action takes an offer to from status
// from: the same status when the offer is there already.
func transition(action, id, from string) (string, error) {
	to, allowed := "", []string{}
	switch action {
	case actionPause:
		to, allowed = offer.StatusPaused, []string{offer.StatusActive}
	case actionResume:
		to, allowed = offer.StatusActive, []string{offer.StatusPaused, offer.StatusDraft}
	case actionEnd:
		to, allowed = offer.StatusEnded, []string{offer.StatusDraft, offer.StatusActive, offer.StatusPaused}
	}
	if from != to && !slices.Contains(allowed, from) {
		return "", conflict("offer %s is %s; %s applies to an offer that is %s", id, from, action,
			strings.Join(allowed, " or "))
	}
	return to, nil
}

// withStatus returns an offer document with its status replaced.
func withStatus(doc json.RawMessage, status string) (json.RawMessage, error) {
	fields, err := decodeObject(doc)
	if err != nil {
		return nil, fmt.Errorf("stored offer: %w", err)
	}
	fields["status"] = status
	return canonical(fields)
}

func (s *server) deleteSegment(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, store.KindSegment)
	if err != nil {
		return err
	}
	return s.change(w, r, store.KindSegment, id, func(cat *store.Catalog, cur *store.Object) (*store.Edit, error) {
		if cur == nil {
			return nil, notFound("no segment %s", id)
		}
		if users := offersUsing(cat.Offers, id); len(users) > 0 {
			return nil, conflict("segment %s is used by offers %s; change them first", id, strings.Join(users, ", "))
		}
		return &store.Edit{Action: actionDelete, Kind: store.KindSegment, ID: id}, nil
	})
}

// change makes one change to the catalog, publishes it, and answers with
// the object as the change left it. plan decides the change from the
// catalog and the object as they are (cur is nil when there is no such
// object); a nil Edit changes nothing. The change is checked against the
// catalog it would leave before it is written.
func (s *server) change(w http.ResponseWriter, r *http.Request, kind, id string,
	plan func(cat *store.Catalog, cur *store.Object) (*store.Edit, error)) error {
	tok := tokenOf(r)
	var cur *store.Object
	var made *store.Edit
	entry, err := s.db.EditCatalog(r.Context(), store.Actor{Name: tok.Name, Token: tok.ID}, s.now(),
		func(cat *store.Catalog) (*store.Edit, error) {
			if o := cat.Find(kind, id); o != nil {
				c := *o
				cur = &c
			}
			e, err := plan(cat, cur)
			if err != nil || e == nil {
				return nil, err
			}
			if _, err := checkCatalog(cat, e); err != nil {
				return nil, err
			}
			made = e
			return e, nil
		})
	if err != nil {
		return err
	}
	published := s.pub.publish(r.Context(), kind, id)

	status := http.StatusOK
	var view objectView
	switch {
	case entry == nil && cur != nil: // nothing to change
		view = viewOf(cur)
	case entry == nil:
		view = objectView{ID: id}
	case made.Doc == nil:
		view = objectView{ID: id, Deleted: true}
	default:
		view = objectView{ID: id, Status: made.Status, Doc: made.Doc, CreatedAt: entry.At, UpdatedAt: entry.At,
			UpdatedBy: entry.Actor}
		if cur != nil {
			view.CreatedAt = cur.CreatedAt
		} else {
			status = http.StatusCreated
		}
	}
	view.Published = &published
	if !published {
		status = http.StatusAccepted
	}
	writeJSON(w, status, view)
	return nil
}

// document is an offer or a segment document that a request sent.
type document struct {
	kind   string
	id     string
	status string          // an offer's
	raw    json.RawMessage // canonical JSON: compact, keys sorted
}

func (d *document) edit(action string) *store.Edit {
	return &store.Edit{Action: action, Kind: d.kind, ID: d.id, Doc: d.raw, Status: d.status}
}

// readDocument reads the request's body as an offer or segment document
// and checks it alone with the offer language.
func readDocument(w http.ResponseWriter, r *http.Request, kind string) (*document, error) {
	b, err := readBody(w, r)
	if err != nil {
		return nil, err
	}
	fields, err := decodeObject(b)
	if err != nil {
		return nil, badRequest("body: %v", err)
	}
	return newDocument(kind, fields)
}

// newDocument checks a document alone with the offer language and returns
// it in canonical form.
func newDocument(kind string, fields map[string]any) (*document, error) {
	raw, err := canonical(fields)
	if err != nil {
		return nil, badRequest("body: %v", err)
	}
	alone := catalogDoc{Version: 1, Offers: []json.RawMessage{}, Segments: []json.RawMessage{}}
	if kind == store.KindOffer {
		alone.Offers = append(alone.Offers, raw)
	} else {
		alone.Segments = append(alone.Segments, raw)
	}
	if err := parse(kind, alone); err != nil {
		return nil, err
	}
	d := &document{kind: kind, raw: raw}
	d.id, _ = fields["id"].(string)
	if !protocol.ValidOfferID(d.id) { // segment ids have the same form; parse refused the others
		return nil, invalid(kind, fmt.Sprintf("%s: id: required: 1 to 64 characters of a-z, 0-9 and -, got %q", kind, d.id))
	}
	if kind == store.KindOffer {
		d.status, _ = fields["status"].(string)
	}
	return d, nil
}

// decodeObject decodes a JSON object, numbers kept exact.
func decodeObject(b []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var fields map[string]any
	if err := d.Decode(&fields); err != nil {
		return nil, errors.New(jsonProblem(err))
	}
	if d.More() {
		return nil, errors.New("unexpected data after the JSON object")
	}
	if fields == nil {
		return nil, errors.New("want a JSON object, got null")
	}
	return fields, nil
}

// canonical is the JSON HQ keeps of a document: compact, keys sorted,
// numbers as they were written.
func canonical(fields map[string]any) (json.RawMessage, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(fields); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// catalogDoc is a catalog document of the offer language.
type catalogDoc struct {
	Version  int               `json:"version"`
	Offers   []json.RawMessage `json:"offers"`
	Segments []json.RawMessage `json:"segments"`
}

// parse checks a catalog document with the offer language and returns the
// catalog; its error is a 422 of the kind's code, with the language's
// message.
func parse(kind string, doc catalogDoc) error {
	_, err := parseCatalog(kind, doc)
	return err
}

func parseCatalog(kind string, doc catalogDoc) (*offer.Catalog, error) {
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	c, err := offer.Parse(b)
	if errors.Is(err, offer.ErrInvalid) {
		return nil, invalid(kind, strings.TrimPrefix(err.Error(), offer.ErrInvalid.Error()+": "))
	}
	return c, err
}

// invalid is the 422 that refuses a change of the kind.
func invalid(kind, msg string) *Error {
	code := CodeInvalidOffer
	if kind == store.KindSegment {
		code = CodeInvalidSegment
	}
	return errorf(http.StatusUnprocessableEntity, code, "%s", msg)
}

// checkCatalog checks the catalog that an edit would leave, whole, with the
// offer language, and that every segment an offer's audience names is in
// it: what an agent would be served once the change is published. It
// returns that catalog.
func checkCatalog(cat *store.Catalog, e *store.Edit) (*offer.Catalog, error) {
	doc := catalogDoc{Version: 1, Offers: applyEdit(cat.Offers, store.KindOffer, e),
		Segments: applyEdit(cat.Segments, store.KindSegment, e)}
	c, err := parseCatalog(e.Kind, doc)
	if err != nil {
		return nil, err
	}
	segments := map[string]bool{}
	for _, raw := range doc.Segments {
		var s struct{ ID string }
		json.Unmarshal(raw, &s) // parsed above
		segments[s.ID] = true
	}
	var problems []string
	for _, raw := range doc.Offers {
		a := audienceOf(raw)
		for _, f := range []struct {
			name string
			ids  []string
		}{{"segments_any", a.Any}, {"segments_none", a.None}} {
			for _, s := range f.ids {
				if !segments[s] {
					problems = append(problems, fmt.Sprintf("offer %q: audience.%s: unknown segment %q", a.ID, f.name, s))
				}
			}
		}
	}
	switch len(problems) {
	case 0:
		return c, nil
	case 1:
		return nil, invalid(e.Kind, problems[0])
	}
	return nil, invalid(e.Kind, fmt.Sprintf("%d problems:\n%s", len(problems), strings.Join(problems, "\n")))
}

// applyEdit returns the documents of the objects of one kind with the
// edit applied.
func applyEdit(objects []store.Object, kind string, e *store.Edit) []json.RawMessage {
	out := make([]json.RawMessage, 0, len(objects)+1)
	for _, o := range objects {
		if e.Kind != kind || o.ID != e.ID {
			out = append(out, o.Doc)
		}
	}
	if e.Kind == kind && e.Doc != nil {
		out = append(out, e.Doc)
	}
	return out
}

// audience is the part of an offer document that names segments.
type audience struct {
	ID   string
	Any  []string
	None []string
}

func audienceOf(raw json.RawMessage) audience {
	var o struct {
		ID       string `json:"id"`
		Audience struct {
			Any  []string `json:"segments_any"`
			None []string `json:"segments_none"`
		} `json:"audience"`
	}
	json.Unmarshal(raw, &o) // a stored document, checked when it was stored
	return audience{ID: o.ID, Any: o.Audience.Any, None: o.Audience.None}
}

// offersUsing returns the ids of the offers whose audience names the
// segment.
func offersUsing(offers []store.Object, segment string) []string {
	var ids []string
	for _, o := range offers {
		a := audienceOf(o.Doc)
		if slices.Contains(a.Any, segment) || slices.Contains(a.None, segment) {
			ids = append(ids, o.ID)
		}
	}
	return ids
}
