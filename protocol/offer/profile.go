package offer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Profile is what the evaluator knows of a customer: visits, spend and a
// bounded purchase history. Days are store-local dates, YYYY-MM-DD.
type Profile struct {
	Visits        int64        `json:"visits"`
	FirstVisit    string       `json:"first_visit,omitempty"`
	LastVisit     string       `json:"last_visit,omitempty"`
	LifetimeSpend int64        `json:"lifetime_spend"`
	Points        int64        `json:"points"`
	History       []HistoryDay `json:"history,omitempty"`
}

// HistoryDay is what a customer bought on one day, per SKU.
type HistoryDay struct {
	Day   string        `json:"day"`
	Items []HistoryItem `json:"items"`
}

// HistoryItem is the quantity and spend of one SKU on one day.
type HistoryItem struct {
	SKU      string `json:"sku"`
	Category string `json:"category,omitempty"`
	Brand    string `json:"brand,omitempty"`
	Qty      int64  `json:"qty"`
	Spend    int64  `json:"spend"`
}

// ParseProfile decodes a profile document strictly.
func ParseProfile(b []byte) (*Profile, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	var p Profile
	if err := d.Decode(&p); err != nil {
		return nil, fmt.Errorf("profile: %w", err)
	}
	if p.Visits < 0 || p.LifetimeSpend < 0 {
		return nil, fmt.Errorf("profile: visits and lifetime_spend must not be negative")
	}
	for _, s := range []string{p.FirstVisit, p.LastVisit} {
		if _, ok := dayNumber(s); s != "" && !ok {
			return nil, fmt.Errorf("profile: %q is not a date YYYY-MM-DD", s)
		}
	}
	for i, h := range p.History {
		if _, ok := dayNumber(h.Day); !ok {
			return nil, fmt.Errorf("profile: history[%d].day: %q is not a date YYYY-MM-DD", i, h.Day)
		}
	}
	return &p, nil
}

// Customer is an identified customer as of the start of a transaction.
type Customer struct {
	Profile  *Profile // nil: no profile yet (a first visit)
	Segments []string // the segments the customer is in
}

var emptyProfile Profile

func (c *Customer) profile() *Profile {
	if c.Profile == nil {
		return &emptyProfile
	}
	return c.Profile
}

func (c *Customer) in(segment string) bool { return contains(c.Segments, segment) }

// SegmentsOf returns the ids of the catalog's segments that a customer with
// this profile is in at the given moment, in catalog order.
func (c *Catalog) SegmentsOf(p *Profile, now time.Time, loc *time.Location) []string {
	e := env{cust: &Customer{Profile: p}, today: Day(now, loc), force: noThreshold}
	var in []string
	for _, s := range c.segments {
		if e.eval(s.when) {
			in = append(in, s.ID)
		}
	}
	return in
}

// Day returns the store-local calendar day of t as a day number (days since
// 1970-01-01), the unit of every day count in profiles.
func Day(t time.Time, loc *time.Location) int64 {
	if loc == nil {
		loc = time.UTC
	}
	y, m, d := t.In(loc).Date()
	return civilDay(y, int(m), d)
}

// civilDay counts days from 1970-01-01 to the proleptic Gregorian date.
func civilDay(y, m, d int) int64 {
	// Howard Hinnant's days_from_civil.
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

// dayNumber parses YYYY-MM-DD into a day number.
func dayNumber(s string) (int64, bool) {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return 0, false
	}
	y, ok1 := digits(s[0:4])
	m, ok2 := digits(s[5:7])
	d, ok3 := digits(s[8:10])
	if !ok1 || !ok2 || !ok3 || m < 1 || m > 12 || d < 1 || d > daysIn(y, m) {
		return 0, false
	}
	return civilDay(y, m, d), true
}

func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

func daysIn(y, m int) int {
	return time.Date(y, time.Month(m)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}
