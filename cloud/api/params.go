package api

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/posoffer/posoffer/cloud/store"
)

// DefaultSpan is the period a report covers when the request gives no
// from: the 30 days up to to, which is now by default.
const DefaultSpan = 30 * 24 * time.Hour

// DefaultReportDays are the days a report covers without from: the 30
// days up to to, which is by default the day after today in HQ's zone.
const DefaultReportDays = 30

// params reads a request's query parameters. The first problem is kept in
// err, a bad request that names the parameter.
type params struct {
	v   url.Values
	err error
}

// readParams reads the query, refusing a parameter that is not one of
// known (a typo would otherwise widen a filter silently) and a parameter
// given twice.
func readParams(r *http.Request, known ...string) (*params, error) {
	v, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, badRequest("query: %v", err)
	}
	names := make([]string, 0, len(v))
	for name := range v {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		switch {
		case !slices.Contains(known, name) && len(known) == 0:
			return nil, badRequest("%s: unknown parameter; this route takes none", quote(name))
		case !slices.Contains(known, name):
			return nil, badRequest("%s: unknown parameter; known: %s", quote(name), strings.Join(known, ", "))
		case len(v[name]) > 1:
			return nil, badRequest("%s: given %d times, want once", name, len(v[name]))
		}
	}
	return &params{v: v}, nil
}

func (p *params) fail(name, format string, a ...any) {
	if p.err == nil {
		p.err = badRequest("%s: %s", name, fmt.Sprintf(format, a...))
	}
}

// id returns an id parameter, "" when absent.
func (p *params) id(name string, valid func(string) bool, what string) string {
	s := p.v.Get(name)
	if s != "" && !valid(s) {
		p.fail(name, "want %s (1 to 64 characters of a-z, 0-9 and -), got %s", what, quote(s))
		return ""
	}
	return s
}

// oneOf returns a parameter that must be one of options, "" when absent.
func (p *params) oneOf(name string, options ...string) string {
	s := p.v.Get(name)
	if s != "" && !slices.Contains(options, s) {
		p.fail(name, "want one of %s, got %s", strings.Join(options, ", "), quote(s))
		return ""
	}
	return s
}

// time returns a time parameter, RFC 3339 or a date YYYY-MM-DD (its UTC
// midnight); the zero time when absent.
func (p *params) time(name string) time.Time {
	s := p.v.Get(name)
	if s == "" {
		return time.Time{}
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC()
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t
	}
	p.fail(name, "want an RFC 3339 time such as 2026-11-22T10:00:00Z, or a date such as 2026-11-22; got %s", quote(s))
	return time.Time{}
}

// span returns the from and to parameters, [from, to): to defaults to now,
// from to DefaultSpan before to.
func (p *params) span(now time.Time) (from, to time.Time) {
	from, to = p.time("from"), p.time("to")
	if to.IsZero() {
		to = now.UTC()
	}
	if from.IsZero() {
		from = to.Add(-DefaultSpan)
	}
	if !from.Before(to) {
		p.fail("from", "must be before to (%s), got %s", to.Format(time.RFC3339), from.Format(time.RFC3339))
	}
	return from, to
}

// day returns a date parameter, YYYY-MM-DD; an RFC 3339 time stands for
// its date as written. "" when absent.
func (p *params) day(name string) string {
	s := p.v.Get(name)
	if s == "" {
		return ""
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t.Format(time.DateOnly)
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.Format(time.DateOnly)
	}
	p.fail(name, "want a date such as 2026-11-22; got %s", quote(s))
	return ""
}

// days returns the from and to parameters as store-local days [from, to):
// to defaults to the day after today, from to DefaultReportDays before to.
func (p *params) days(today string) store.Days {
	d := store.Days{From: p.day("from"), To: p.day("to")}
	if d.To == "" {
		t, _ := time.Parse(time.DateOnly, today)
		d.To = t.AddDate(0, 0, 1).Format(time.DateOnly)
	}
	if d.From == "" {
		t, _ := time.Parse(time.DateOnly, d.To)
		d.From = t.AddDate(0, 0, -DefaultReportDays).Format(time.DateOnly)
	}
	if p.err == nil && d.From >= d.To {
		p.fail("from", "must be before to (%s), got %s", d.To, d.From)
	}
	return d
}

// number returns an integer parameter from lo to hi; def when absent.
func (p *params) number(name string, lo, hi, def int) int {
	s := p.v.Get(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		p.fail(name, "want a whole number from %d to %d, got %s", lo, hi, quote(s))
		return def
	}
	return n
}
