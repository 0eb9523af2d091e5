package protocol

// DiscrepancyEvent is a checkout's claim for an offer that the agent
// honoured less of than the terminal claimed: more discount (or points)
// than the agent offered for it in the transaction or computes for the
// checkout basket, or a claim for an offer that was neither offered nor
// applies (Honoured 0). The checkout was recorded all the same; only the
// honoured amounts counted. The event's Terminal and Txn say where.
type DiscrepancyEvent struct {
	Offer          string `json:"offer"`
	Claimed        int64  `json:"claimed"`  // discount the terminal claimed, minor units
	Honoured       int64  `json:"honoured"` // discount the agent honoured, at most Claimed
	ClaimedPoints  int64  `json:"claimed_points"`
	HonouredPoints int64  `json:"honoured_points"`
}

// Excess is the discount claimed past what was honoured.
func (d *DiscrepancyEvent) Excess() int64 { return d.Claimed - d.Honoured }

// Problem says what is wrong with a discrepancy, or "" when nothing is:
// amounts within MaxAmount, honoured at most claimed, and something
// claimed past what was honoured.
func (d *DiscrepancyEvent) Problem() string {
	switch {
	case !ValidOfferID(d.Offer):
		return "discrepancy.offer: want an offer id"
	case d.Claimed < 0 || d.Claimed > MaxAmount || d.Honoured < 0 || d.Honoured > d.Claimed:
		return "discrepancy: want 0 <= honoured <= claimed <= 10^12"
	case d.ClaimedPoints < 0 || d.ClaimedPoints > MaxAmount || d.HonouredPoints < 0 || d.HonouredPoints > d.ClaimedPoints:
		return "discrepancy: want 0 <= honoured_points <= claimed_points <= 10^12"
	case d.Claimed == d.Honoured && d.ClaimedPoints == d.HonouredPoints:
		return "discrepancy: nothing claimed past what was honoured"
	}
	return ""
}
