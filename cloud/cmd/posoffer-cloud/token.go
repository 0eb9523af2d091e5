package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/posoffer/posoffer/cloud/api"
	"github.com/posoffer/posoffer/cloud/store"
)

const tokenUsage = `usage: posoffer-cloud token create --config FILE --role admin|analyst [--name LABEL] [--expires 720h | --expires-at RFC3339]
       posoffer-cloud token list --config FILE
       posoffer-cloud token revoke --config FILE --id ID
`

// tokenCmd makes, lists and revokes the bearer tokens of the HQ API, in
// HQ's database. create prints the new token, alone on a line, on stdout:
// it is shown once, since HQ keeps only its hash.
func tokenCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, tokenUsage)
		return exitUsage
	}
	var role, name, id, expiresAt *string
	var expires *time.Duration
	flags := map[string]func(fs *flag.FlagSet){
		"create": func(fs *flag.FlagSet) {
			role = fs.String("role", "", "`role` of the token: admin (changes offers) or analyst (reads)")
			name = fs.String("name", "", "a `label` for people, such as who holds it (default: the role)")
			expires = fs.Duration("expires", 0, "the token expires this `long` after now, such as 720h (default: never)")
			expiresAt = fs.String("expires-at", "", "the token expires at this `time`, RFC 3339 such as 2027-01-01T00:00:00Z")
		},
		"list": func(*flag.FlagSet) {},
		"revoke": func(fs *flag.FlagSet) {
			id = fs.String("id", "", "the token's `id`, as token list shows it")
		},
	}
	more, ok := flags[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "posoffer-cloud token: unknown subcommand %q\n%s", args[0], tokenUsage)
		return exitUsage
	}
	cfg, fs, code := configFlag("token "+args[0], args[1:], stderr, more)
	if cfg == nil {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "posoffer-cloud token %s: unexpected argument %q\n", args[0], fs.Arg(0))
		return exitUsage
	}
	if args[0] == "create" && *role != api.RoleAdmin && *role != api.RoleAnalyst {
		fmt.Fprintf(stderr, "posoffer-cloud token create: --role must be admin or analyst, got %q\n", *role)
		return exitUsage
	}
	now := time.Now()
	var expiry time.Time
	if args[0] == "create" {
		var msg string
		expiry, msg = tokenExpiry(now, *expires, *expiresAt)
		if msg != "" {
			fmt.Fprintf(stderr, "posoffer-cloud token create: %s\n", msg)
			return exitUsage
		}
	}
	if args[0] == "revoke" && *id == "" {
		fmt.Fprintln(stderr, "posoffer-cloud token revoke: --id is required")
		return exitUsage
	}

	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	db := openDB(ctx, cfg, stderr)
	if db == nil {
		return exitFail
	}
	defer db.Close()

	switch args[0] {
	case "create":
		token, tok, err := api.NewExpiringToken(ctx, db, *role, *name, now, expiry)
		if err != nil {
			fmt.Fprintf(stderr, "posoffer-cloud token create: %v\n", err)
			return exitFail
		}
		fmt.Fprintln(stdout, token)
		until := "it does not expire"
		if !tok.ExpiresAt.IsZero() {
			until = "it expires at " + tok.ExpiresAt.Format(time.RFC3339)
		}
		fmt.Fprintf(stderr, "token %s (%s, %q) created; %s; it is not shown again\n", tok.ID, tok.Role, tok.Name, until)
	case "list":
		tokens, err := db.Tokens(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "posoffer-cloud: %v\n", err)
			return exitFail
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tROLE\tNAME\tCREATED\tREVOKED\tEXPIRES")
		for _, t := range tokens {
			revoked, expires := "-", "-"
			if !t.RevokedAt.IsZero() {
				revoked = t.RevokedAt.Format(time.RFC3339)
			}
			if !t.ExpiresAt.IsZero() {
				expires = t.ExpiresAt.Format(time.RFC3339)
				if t.Expired(now) {
					expires += " (expired)"
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Role, t.Name, t.CreatedAt.Format(time.RFC3339), revoked,
				expires)
		}
		tw.Flush()
	case "revoke":
		err := db.RevokeToken(ctx, *id, now)
		if errors.Is(err, store.ErrNotFound) {
			fmt.Fprintf(stderr, "posoffer-cloud token revoke: no token has the id %q\n", *id)
			return exitUsage
		}
		if err != nil {
			fmt.Fprintf(stderr, "posoffer-cloud: %v\n", err)
			return exitFail
		}
		fmt.Fprintf(stdout, "token %s revoked\n", *id)
	}
	return exitOK
}

// tokenExpiry is when a new token expires, from --expires or --expires-at
// (the zero time: never), or what is wrong with them.
func tokenExpiry(now time.Time, after time.Duration, at string) (time.Time, string) {
	switch {
	case after != 0 && at != "":
		return time.Time{}, "give --expires or --expires-at, not both"
	case after < 0:
		return time.Time{}, fmt.Sprintf("--expires must be positive, got %v", after)
	case after > 0:
		return now.Add(after), ""
	case at != "":
		t, err := time.Parse(time.RFC3339, at)
		if err != nil {
			return time.Time{}, fmt.Sprintf("--expires-at: want RFC 3339 such as 2027-01-01T00:00:00Z, got %q", at)
		}
		if !t.After(now) {
			return time.Time{}, fmt.Sprintf("--expires-at %s is not in the future", at)
		}
		return t, ""
	}
	return time.Time{}, ""
}
