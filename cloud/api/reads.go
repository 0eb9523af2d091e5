package api

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/posoffer/posoffer/cloud/store"
	"github.com/posoffer/posoffer/protocol"
	"github.com/posoffer/posoffer/protocol/decide"
)

// OnlineWithin is how recent a store's last heartbeat must be for the
// store to count as online. Agents send one every 10 s.
const OnlineWithin = 60 * time.Second

// storeView is a store as HQ last heard of it.
type storeView struct {
	store.StoreRow
	Online bool   `json:"online"`
	Group  string `json:"group"` // decide.groups' group of the store; "all" when not listed
}

func (s *server) stores(w http.ResponseWriter, r *http.Request) error {
	if _, err := readParams(r); err != nil {
		return err
	}
	rows, err := s.db.Stores(r.Context())
	if err != nil {
		return err
	}
	now := s.now()
	out := list[storeView]{Items: make([]storeView, len(rows))}
	for i, row := range rows {
		group := s.storeGroups[row.Store]
		if group == "" {
			group = decide.DefaultGroup
		}
		out.Items[i] = storeView{row, !row.LastSeen.IsZero() && now.Sub(row.LastSeen) <= OnlineWithin, group}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// page is a page of a list that continues: next is the cursor of the next
// page, "" on the last.
type page[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next"`
}

func (s *server) redemptions(w http.ResponseWriter, r *http.Request) error {
	p, err := readParams(r, "store", "offer", "segment", "from", "to", "after", "limit", "format")
	if err != nil {
		return err
	}
	f := store.Filter{
		Store:   p.id("store", protocol.ValidStoreID, "a store id"),
		Offer:   p.id("offer", protocol.ValidOfferID, "an offer id"),
		Segment: p.id("segment", protocol.ValidSegmentID, "a segment id"),
		From:    p.time("from"),
		To:      p.time("to"),
		After:   p.v.Get("after"),
		Limit:   p.number("limit", 1, store.MaxLimit, store.DefaultLimit),
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		p.fail("from", "must be before to")
	}
	format := p.oneOf("format", "json", "csv")
	if p.err != nil {
		return p.err
	}
	if format == "" && strings.Contains(r.Header.Get("Accept"), "text/csv") {
		format = "csv"
	}
	if format == "csv" {
		return s.redemptionsCSV(w, r, f)
	}
	items, next, err := s.db.Redemptions(r.Context(), f)
	if errors.Is(err, store.ErrBadQuery) {
		return badRequest("after: not a cursor from a previous page")
	}
	if err != nil {
		return err
	}
	if items == nil {
		items = []store.Redemption{}
	}
	writeJSON(w, http.StatusOK, page[store.Redemption]{items, next})
	return nil
}

// csvHeader names the columns of the redemptions CSV.
var csvHeader = []string{"id", "store", "offer", "txn", "discount", "points", "at", "segments", "offer_name", "zone"}

// redemptionsCSV streams every redemption that f matches, from f.After on,
// as CSV with a header row, a page at a time. Segments are space-separated.
// Times are ISO 8601 with the offset of the store's zone (UTC until the
// store says its zone), and the zone is a column.
func (s *server) redemptionsCSV(w http.ResponseWriter, r *http.Request, f store.Filter) error {
	zones := map[string]*time.Location{}
	stores, err := s.db.Stores(r.Context())
	if err != nil {
		return err
	}
	for _, st := range stores {
		zones[st.Store] = store.LoadZone(st.Zone)
	}
	names := map[string]string{}
	offers, err := s.db.Offers(r.Context(), "")
	if err != nil {
		return err
	}
	for _, o := range offers {
		var doc struct {
			Name string `json:"name"`
		}
		json.Unmarshal(o.Doc, &doc) // checked when it was stored
		names[o.ID] = doc.Name
	}
	f.Limit = store.MaxLimit
	items, next, err := s.db.Redemptions(r.Context(), f)
	if errors.Is(err, store.ErrBadQuery) {
		return badRequest("after: not a cursor from a previous page")
	}
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="redemptions.csv"`)
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	cw := csv.NewWriter(w)
	cw.Write(csvHeader)
	for {
		for _, x := range items {
			loc := zones[x.Store]
			if loc == nil {
				loc = time.UTC
			}
			cw.Write([]string{cell(x.ID), cell(x.Store), cell(x.Offer), cell(x.Txn), strconv.FormatInt(x.Discount, 10),
				strconv.FormatInt(x.Points, 10), x.At.In(loc).Format(time.RFC3339Nano), cell(strings.Join(x.Segments, " ")),
				cell(names[x.Offer]), loc.String()})
		}
		cw.Flush()
		if cw.Error() != nil {
			return nil // the client is gone
		}
		rc.Flush()
		if next == "" {
			return nil
		}
		f.After = next
		if items, next, err = s.db.Redemptions(r.Context(), f); err != nil {
			// The status is sent: all that is left is to cut the file short.
			s.log.Error("api: redemptions CSV cut short", "err", err)
			return nil
		}
	}
}

// cell keeps a spreadsheet from reading text as a formula (a txn is what
// a terminal sent): a value that starts like one gets a leading
// apostrophe.
func cell(s string) string {
	if t := strings.TrimLeft(s, " \t\r\n"); s != "" && (t != s || strings.ContainsRune("=+-@", rune(t[0]))) {
		return "'" + s
	}
	return s
}

func (s *server) audit(w http.ResponseWriter, r *http.Request) error {
	p, err := readParams(r, "kind", "id", "after", "limit")
	if err != nil {
		return err
	}
	f := store.AuditFilter{
		Kind:     p.oneOf("kind", store.KindOffer, store.KindSegment),
		ObjectID: p.id("id", protocol.ValidOfferID, "an offer or segment id"),
		After:    p.v.Get("after"),
		Limit:    p.number("limit", 1, store.MaxLimit, store.DefaultLimit),
	}
	if p.err != nil {
		return p.err
	}
	items, next, err := s.db.Audit(r.Context(), f)
	if errors.Is(err, store.ErrBadQuery) {
		return badRequest("after: not a cursor from a previous page")
	}
	if err != nil {
		return err
	}
	if items == nil {
		items = []store.AuditEntry{}
	}
	writeJSON(w, http.StatusOK, page[store.AuditEntry]{items, next})
	return nil
}
