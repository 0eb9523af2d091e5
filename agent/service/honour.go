package service

import (
	"maps"
	"time"

	"github.com/posoffer/posoffer/agent/store"
	"github.com/posoffer/posoffer/protocol"
	"github.com/posoffer/posoffer/protocol/offer"
)

// A terminal's checkout says which offers it applied and for how much; the
// agent does not take its word. It honours a claim up to the larger of the
// most it offered for that offer in this transaction and what the offer
// gives the checkout basket now (Honour). The checkout is recorded and
// acknowledged whatever was claimed, because the sale happened; only what
// is honoured counts toward limits, budgets, points and HQ's reports, and
// the rest is kept as a discrepancy for HQ.

// grant is what the agent stands behind for one offer in one transaction.
type grant struct{ discount, points int64 }

// txnKey names a transaction of a terminal: another terminal's checkout
// with the same txn is not honoured for what this one was offered.
func txnKey(terminal, txn string) string { return terminal + "\x00" + txn }

// remember keeps, for each offer in an offers reply, the most this
// transaction was offered, for its checkout to honour.
func (s *Service) remember(terminal, txn string, offers []protocol.Offer) {
	if len(offers) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := txnKey(terminal, txn)
	g := s.offered[k]
	if g == nil {
		if len(s.offered) > 10_000 { // abandoned transactions: start over
			clear(s.offered)
		}
		g = map[string]grant{}
		s.offered[k] = g
	}
	for _, o := range offers {
		old := g[o.ID]
		g[o.ID] = grant{max(old.discount, o.Discount), max(old.points, o.Points)}
	}
}

// offeredIn returns a copy of what remember kept for a transaction.
func (s *Service) offeredIn(terminal, txn string) map[string]grant {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.offered[txnKey(terminal, txn)])
}

// Honour works out what is honoured of each claim, in order: up to the
// larger of what the offer was offered in the transaction (offered) and
// what it gives the checkout basket now (now), for the discount and for
// the points alike. An offer in neither is honoured nothing and is no
// redemption. Each offer is honoured for one claim: a second claim of the
// same offer in one checkout gets nothing.
func Honour(claims []protocol.Applied, offered, now map[string]grant) []store.Claim {
	out := make([]store.Claim, len(claims))
	used := map[string]bool{}
	for i, a := range claims {
		c := store.Claim{Applied: a}
		o, inTxn := offered[a.Offer]
		n, applies := now[a.Offer]
		if (inTxn || applies) && !used[a.Offer] {
			used[a.Offer] = true
			c.Redeemed = true
			c.Honoured = min(a.Discount, max(o.discount, n.discount))
			c.HonouredPoints = min(a.Points, max(o.points, n.points))
		}
		out[i] = c
	}
	return out
}

// grants turns an evaluation's offers into what each gives.
func grants(offers []protocol.Offer) map[string]grant {
	g := make(map[string]grant, len(offers))
	for _, o := range offers {
		g[o.ID] = grant{o.Discount, o.Points}
	}
	return g
}

// redeemUsage is the limit counts a checkout's claims are checked against:
// how often an offer was shown limits showing it, not redeeming it.
type redeemUsage struct{ offer.Usage }

func (u redeemUsage) Counts(id string) offer.Counts {
	c := u.Usage.Counts(id)
	c.ImpressionsToday = 0
	return c
}

// applyNow returns what each offer gives the checkout basket now, with the
// limits as they stand, or nil without a catalog or when the basket cannot
// be evaluated.
func (s *Service) applyNow(cat *offer.Catalog, m *protocol.Message, cust *offer.Customer, now time.Time, day int64,
	key string) map[string]grant {
	if cat == nil {
		return nil
	}
	in := &offer.Input{Basket: m, Now: now, Location: s.opts.Location, Store: s.opts.Store, Customer: cust,
		Usage: redeemUsage{s.db.Usage(key, day)}, PointsPer: s.opts.PointsPer, MaxNudges: -1}
	res, err := cat.Evaluate(in)
	if err != nil {
		s.log.Warn("checkout basket not evaluated; claims are honoured up to what was offered", "txn", m.Txn, "err", err)
		return nil
	}
	return grants(res.Offers)
}

// discrepancies counts and logs the claims of a recorded checkout that
// were honoured in part. The customer is not logged.
func (s *Service) discrepancies(ck *store.Checkout) {
	for _, c := range ck.Claims {
		if !c.Short() {
			continue
		}
		s.m.discrepancies.Inc()
		s.m.excess.Add(float64(c.Discount - c.Honoured))
		s.m.excessPoints.Add(float64(c.Points - c.HonouredPoints))
		s.log.Warn("checkout claim honoured in part", "terminal", ck.Terminal, "txn", ck.Txn, "offer", c.Offer,
			"claimed", c.Discount, "honoured", c.Honoured, "claimed_points", c.Points, "honoured_points", c.HonouredPoints,
			"redeemed", c.Redeemed)
	}
}
