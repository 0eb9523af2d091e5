package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/posoffer/posoffer/cloud/store"
	"github.com/posoffer/posoffer/protocol"
	"github.com/posoffer/posoffer/protocol/offer"
)

// previewRequest is an offer and a basket to try it on.
type previewRequest struct {
	Offer    json.RawMessage `json:"offer"`    // an offer document
	Basket   json.RawMessage `json:"basket"`   // a protocol v1 basket (or checkout) message
	At       string          `json:"at"`       // RFC 3339; default: the basket's ts, else now
	Timezone string          `json:"timezone"` // the store's IANA zone; default the store's, else UTC
	Store    string          `json:"store"`
	Segments []string        `json:"segments"` // segments the customer is in
	Profile  json.RawMessage `json:"profile"`  // the customer's profile
}

// previewReply is the offers reply to the basket, with every offer that
// did not apply and why, and whether the previewed offer applied.
type previewReply struct {
	V       int              `json:"v"`
	Type    string           `json:"type"`
	Re      string           `json:"re"`
	Txn     string           `json:"txn"`
	Catalog int64            `json:"catalog"`
	EvalUS  int64            `json:"eval_us"`
	Offers  []protocol.Offer `json:"offers"`
	Nudges  []protocol.Nudge `json:"nudges"`
	Skipped []offer.Skip     `json:"skipped,omitempty"`

	// Applied says whether the offer applied; Reason, when it did not,
	// says why, as posoffer-agent eval --explain does.
	Applied bool   `json:"applied"`
	Reason  string `json:"reason,omitempty"`
	// At is the moment the basket was evaluated at; Local the same in the
	// zone it was evaluated in, Timezone: what the store's clock read.
	At       time.Time `json:"at"`
	Local    string    `json:"local"`
	Timezone string    `json:"timezone"`
	// AsActive is set when the offer's status is not active: it was
	// evaluated as if it were, to show what it would do.
	AsActive bool `json:"as_active,omitempty"`
}

// preview evaluates an offer, alone with HQ's segments, against a basket,
// with the evaluator agents run. Nothing is saved.
func (s *server) preview(w http.ResponseWriter, r *http.Request) error {
	var req previewRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	if isAbsent(req.Offer) {
		return badRequest("offer: required: an offer document")
	}
	if isAbsent(req.Basket) {
		return badRequest("basket: required: a protocol v1 basket message")
	}
	fields, err := decodeObject(req.Offer)
	if err != nil {
		return badRequest("offer: %v", err)
	}
	status, _ := fields["status"].(string)
	asActive := false
	switch status {
	case "", offer.StatusDraft, offer.StatusPaused, offer.StatusEnded:
		fields["status"], asActive = offer.StatusActive, true
	}
	raw, err := canonical(fields)
	if err != nil {
		return badRequest("offer: %v", err)
	}
	id, _ := fields["id"].(string)

	basket, err := protocol.Decode(req.Basket)
	if err != nil {
		msg := err.Error()
		if e, ok := errors.AsType[*protocol.Error](err); ok {
			msg = e.Message
		}
		return badRequest("basket: %s", msg)
	}
	if basket.Type != protocol.TypeBasket && basket.Type != protocol.TypeCheckout {
		return badRequest("basket: type is %s, want basket or checkout", quote(basket.Type))
	}
	in := &offer.Input{Basket: basket, Now: s.now(), Location: time.UTC, Store: req.Store, Explain: true}
	switch {
	case req.At != "":
		if in.Now, err = time.Parse(time.RFC3339, req.At); err != nil {
			return badRequest("at: want an RFC 3339 time such as 2026-11-22T10:00:00Z, got %s", quote(req.At))
		}
	case basket.TS != "":
		in.Now, _ = time.Parse(time.RFC3339, basket.TS) // Decode checked it
	}
	if req.Timezone != "" {
		if in.Location, err = time.LoadLocation(req.Timezone); err != nil {
			return badRequest("timezone: want an IANA time zone such as Asia/Tokyo, got %s", quote(req.Timezone))
		}
	}
	if req.Store != "" && !protocol.ValidStoreID(req.Store) {
		return badRequest("store: want a store id (1 to 32 characters of a-z, 0-9 and -), got %s", quote(req.Store))
	}
	if req.Store != "" && req.Timezone == "" {
		// The store's own zone, as its heartbeats say.
		stores, err := s.db.Stores(r.Context())
		if err != nil {
			return err
		}
		for _, st := range stores {
			if loc := store.LoadZone(st.Zone); st.Store == req.Store && loc != nil {
				in.Location = loc
			}
		}
	}
	for i, seg := range req.Segments {
		if !protocol.ValidSegmentID(seg) {
			return badRequest("segments[%d]: want a segment id, got %s", i, quote(seg))
		}
	}
	var profile *offer.Profile
	if !isAbsent(req.Profile) {
		if profile, err = offer.ParseProfile(req.Profile); err != nil {
			return badRequest("profile: %v", err)
		}
	}

	segments, err := s.db.Segments(r.Context())
	if err != nil {
		return err
	}
	cat, err := checkCatalog(&store.Catalog{Segments: segments},
		&store.Edit{Kind: store.KindOffer, ID: id, Doc: raw, Status: offer.StatusActive})
	if err != nil {
		return err
	}
	if basket.Customer != "" || len(req.Segments) > 0 || profile != nil {
		// A profile or segments make an identified customer, even when
		// the basket names none.
		in.Customer = &offer.Customer{Profile: profile,
			Segments: append(cat.SegmentsOf(profile, in.Now, in.Location), req.Segments...)}
	}

	start := time.Now()
	res, err := cat.Evaluate(in)
	took := time.Since(start)
	if err != nil {
		return badRequest("basket: %v", err)
	}
	reply := previewReply{
		V: protocol.Version, Type: protocol.TypeOffers, Re: basket.ID, Txn: basket.Txn, EvalUS: took.Microseconds(),
		Offers: orEmpty(res.Offers), Nudges: orEmpty(res.Nudges), Skipped: res.Skipped,
		At: in.Now.UTC(), Local: in.Now.In(in.Location).Format("Mon 2006-01-02 15:04"), Timezone: in.Location.String(),
		AsActive: asActive,
	}
	for _, o := range res.Offers {
		reply.Applied = reply.Applied || o.ID == id
	}
	if !reply.Applied {
		reply.Reason = "did not apply"
		for _, sk := range res.Skipped {
			if sk.Offer == id {
				reply.Reason = sk.Reason
			}
		}
	}
	writeJSON(w, http.StatusOK, reply)
	return nil
}

// isAbsent reports whether a JSON value was left out or null.
func isAbsent(raw json.RawMessage) bool {
	b := bytes.TrimSpace(raw)
	return len(b) == 0 || bytes.Equal(b, []byte("null"))
}
