package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/posoffer/posoffer/cloud/store"
)

// redemptionsCmd prints the newest redemptions HQ has stored, and the
// totals per offer, straight from the database: for HQ's operators, and
// the demo.
func redemptionsCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var storeID *string
	var limit *int
	cfg, _, code := configFlag("redemptions", args, stderr, func(fs *flag.FlagSet) {
		storeID = fs.String("store", "", "only this store's")
		limit = fs.Int("limit", 10, "how many of the newest to list")
	})
	if cfg == nil {
		return code
	}
	db := openDB(ctx, cfg, stderr)
	if db == nil {
		return exitFail
	}
	defer db.Close()
	items, _, err := db.Redemptions(ctx, store.Filter{Store: *storeID, Limit: max(1, min(*limit, store.MaxLimit))})
	if err != nil {
		fmt.Fprintf(stderr, "posoffer-cloud: %v\n", err)
		return exitUsage
	}
	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "AT\tSTORE\tTXN\tOFFER\tDISCOUNT\tPOINTS")
	for _, r := range items {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%d\n", r.At.Format(time.DateTime), r.Store, r.Txn, r.Offer, r.Discount, r.Points)
	}
	w.Flush()
	today := time.Now().In(cfg.Location)
	days := store.Days{From: today.AddDate(0, 0, -29).Format(time.DateOnly), To: today.AddDate(0, 0, 1).Format(time.DateOnly)}
	rows, err := db.OfferReport(ctx, days, *storeID)
	if err != nil {
		fmt.Fprintf(stderr, "posoffer-cloud: %v\n", err)
		return exitFail
	}
	fmt.Fprintln(stdout)
	w = tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "OFFER (30 DAYS)\tREDEMPTIONS\tDISCOUNT\tIMPRESSIONS\tUPTAKE")
	for _, r := range rows {
		uptake := "-"
		if r.Uptake != nil {
			uptake = fmt.Sprintf("%.1f%%", 100**r.Uptake)
		}
		fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%s\n", r.Offer, r.Redemptions, r.Discount, r.Impressions, uptake)
	}
	w.Flush()
	return exitOK
}
