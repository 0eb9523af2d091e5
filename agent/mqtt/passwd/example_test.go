package passwd_test

import (
	"fmt"
	"time"

	"github.com/posoffer/posoffer/agent/mqtt/passwd"
)

func Example() {
	f := &passwd.File{}
	secret := passwd.NewSecret() // printed once, to the technician
	f.Add("t01", secret, time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC), false)
	g, _ := passwd.Parse("terminals.passwd", f.Bytes())
	e, _ := g.Lookup("t01")
	fmt.Println(e.User, e.Created.Format(time.RFC3339), e.Hash[:9])
	fmt.Println(g.Verify("t01", secret), g.Verify("t01", "guess"), g.Verify("t02", secret))
	// Output:
	// t01 2026-12-03T10:00:00Z $7$10000$
	// true false false
}
