package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/posoffer/posoffer/protocol"
	"github.com/posoffer/posoffer/protocol/offer"
)

var version = "dev" // set by the build

const protocolVersion = protocol.Version

// evalReply is the offers reply, with the reasons of --explain.
type evalReply struct {
	V       int              `json:"v"`
	Type    string           `json:"type"`
	Re      string           `json:"re"`
	Txn     string           `json:"txn"`
	Catalog int64            `json:"catalog"`
	EvalUS  int64            `json:"eval_us"`
	Offers  []protocol.Offer `json:"offers"`
	Nudges  []protocol.Nudge `json:"nudges"`
	Skipped []offer.Skip     `json:"skipped,omitempty"`
}

func evalCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: posoffer-agent eval --catalog FILE --basket FILE [flags]")
		fmt.Fprintln(stderr, "\nPrints the offers reply for the basket as JSON. Bad input exits 2.")
		fs.PrintDefaults()
	}
	var (
		catalogPath = fs.String("catalog", "", "catalog `file`, JSON or YAML (required)")
		basketPath  = fs.String("basket", "", "basket message `file`, JSON (required)")
		at          = fs.String("at", "", "evaluate at this RFC 3339 `time` (default: the basket's ts, else now)")
		tz          = fs.String("tz", "UTC", "the store's IANA time `zone`, for schedules and days")
		store       = fs.String("store", "", "the store `id`")
		segments    = fs.String("segments", "", "comma-separated `segments` the customer is in")
		profilePath = fs.String("profile", "", "the customer's profile `file`, JSON")
		pointsPer   = fs.Int64("points-per", offer.DefaultPointsPer, "minor units of spend per base point")
		maxNudges   = fs.Int("max-nudges", offer.DefaultMaxNudges, "most nudges to return")
		explain     = fs.Bool("explain", false, "also list every offer that did not apply, with the reason")
	)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "posoffer-agent eval: "+format+"\n", a...)
		return exitUsage
	}
	if fs.NArg() > 0 {
		return fail("unexpected argument %q", fs.Arg(0))
	}
	if *catalogPath == "" || *basketPath == "" {
		return fail("--catalog and --basket are required")
	}
	if *pointsPer <= 0 {
		return fail("--points-per must be above 0, got %d", *pointsPer)
	}
	if *maxNudges < 0 {
		return fail("--max-nudges must not be negative, got %d", *maxNudges)
	}
	if *store != "" && !protocol.ValidStoreID(*store) {
		return fail("--store %q: a store id is 1 to 32 characters of a-z, 0-9 and -", *store)
	}
	loc, err := time.LoadLocation(*tz)
	if err != nil {
		return fail("--tz %q: not a known IANA time zone (such as Asia/Tokyo)", *tz)
	}
	cat, err := offer.Load(*catalogPath)
	if err != nil {
		return fail("%v", err)
	}
	raw, err := os.ReadFile(*basketPath)
	if err != nil {
		return fail("read basket: %v", err)
	}
	basket, err := protocol.Decode(raw)
	if err != nil {
		return fail("basket %s: %v", *basketPath, err)
	}
	if basket.Type != protocol.TypeBasket && basket.Type != protocol.TypeCheckout {
		return fail("basket %s: type is %q, want basket or checkout", *basketPath, basket.Type)
	}
	now := time.Now()
	switch {
	case *at != "":
		if now, err = time.Parse(time.RFC3339, *at); err != nil {
			return fail("--at %q: want an RFC 3339 time such as 2026-11-22T10:00:00Z", *at)
		}
	case basket.TS != "":
		now, _ = time.Parse(time.RFC3339, basket.TS) // Decode checked it
	}

	in := &offer.Input{
		Basket: basket, Now: now, Location: loc, Store: *store,
		PointsPer: *pointsPer, MaxNudges: *maxNudges, Explain: *explain,
	}
	if *maxNudges == 0 {
		in.MaxNudges = -1
	}
	if basket.Customer != "" {
		c := &offer.Customer{}
		if *profilePath != "" {
			b, err := os.ReadFile(*profilePath)
			if err != nil {
				return fail("read profile: %v", err)
			}
			if c.Profile, err = offer.ParseProfile(b); err != nil {
				return fail("%s: %v", *profilePath, err)
			}
		}
		c.Segments = cat.SegmentsOf(c.Profile, now, loc)
		for _, s := range strings.Split(*segments, ",") {
			if s = strings.TrimSpace(s); s != "" {
				c.Segments = append(c.Segments, s)
			}
		}
		in.Customer = c
	}

	start := time.Now()
	res, err := cat.Evaluate(in)
	took := time.Since(start)
	if err != nil {
		return fail("basket %s: %v", *basketPath, err)
	}
	reply := evalReply{
		V: protocol.Version, Type: protocol.TypeOffers, Re: basket.ID, Txn: basket.Txn,
		Catalog: cat.Revision, EvalUS: took.Microseconds(),
		Offers: res.Offers, Nudges: res.Nudges, Skipped: res.Skipped,
	}
	if reply.Offers == nil {
		reply.Offers = []protocol.Offer{}
	}
	if reply.Nudges == nil {
		reply.Nudges = []protocol.Nudge{}
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(reply); err != nil {
		fmt.Fprintf(stderr, "posoffer-agent eval: %v\n", err)
		return exitFail
	}
	return exitOK
}
