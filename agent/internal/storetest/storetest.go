// Package storetest damages bbolt files the ways disks and file systems do,
// for the tests of the agent's store and of the agent binary.
package storetest

import (
	"encoding/binary"
	"math/rand/v2"
	"os"
	"testing"
)

// Damages are the names of the damages Damage makes, for table tests.
var Damages = []string{"cut-mid-page", "cut-at-page", "cut-to-4k", "cut-to-0", "zeroed-metas", "garbage-branch", "random-bytes"}

// Damage damages the bbolt file at path (closed) in the named way:
//   - cut-mid-page: truncated in the middle of a page in use;
//   - cut-at-page: truncated to half its pages in use;
//   - cut-to-4k: truncated to 4 KiB;
//   - cut-to-0: truncated to nothing;
//   - zeroed-metas: both meta pages overwritten with zeros;
//   - garbage-branch: the elements of a branch page overwritten with
//     random bytes (the file must have a branch page: a few hundred keys);
//   - random-bytes: the whole file replaced by random bytes of its size.
func Damage(t testing.TB, path, how string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rnd := rand.New(rand.NewPCG(1, uint64(len(how))))
	ps := PageSize(t, b)
	switch how {
	case "cut-mid-page":
		b = b[:InUse(t, b)/2*ps+ps/2]
	case "cut-at-page":
		b = b[:InUse(t, b)/2*ps]
	case "cut-to-4k":
		b = b[:4096]
	case "cut-to-0":
		b = nil
	case "zeroed-metas":
		clear(b[:2*ps])
	case "garbage-branch":
		id := BranchPage(t, b)
		for i := id*ps + 16; i < (id+1)*ps; i++ {
			b[i] = byte(rnd.Uint32())
		}
	case "random-bytes":
		for i := range b {
			b[i] = byte(rnd.Uint32())
		}
	default:
		t.Fatalf("storetest: no damage %q", how)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// PageSize is the page size in a sound bbolt file's first meta page.
func PageSize(t testing.TB, b []byte) int {
	t.Helper()
	if len(b) < 32 || binary.NativeEndian.Uint32(b[16:]) != 0xED0CDAED {
		t.Fatal("storetest: not a bbolt file")
	}
	return int(binary.NativeEndian.Uint32(b[24:]))
}

// InUse is the number of pages in use in a sound bbolt file (its
// high-water mark); the file may be longer.
func InUse(t testing.TB, b []byte) int {
	t.Helper()
	ps, ne := PageSize(t, b), binary.NativeEndian
	return int(max(ne.Uint64(b[16+40:]), ne.Uint64(b[ps+16+40:])))
}

// BranchPage returns the id of a branch page in use in a sound bbolt file:
// the root of a top-level bucket that has one (a bucket of a few hundred
// keys).
func BranchPage(t testing.TB, b []byte) int {
	t.Helper()
	ps, ne := PageSize(t, b), binary.NativeEndian
	meta := 0 // the meta page with the higher txid; its root bucket's page
	if ne.Uint64(b[ps+16+48:]) > ne.Uint64(b[16+48:]) {
		meta = ps
	}
	root := int(ne.Uint64(b[meta+16+16:]))
	p := b[root*ps:]
	if ne.Uint16(p[8:]) != 0x02 {
		t.Fatal("storetest: the root bucket's page is not a leaf")
	}
	for i := range int(ne.Uint16(p[10:])) {
		e := p[16+16*i:]
		flags, pos, ksize := ne.Uint32(e), int(ne.Uint32(e[4:])), int(ne.Uint32(e[8:]))
		if flags&1 == 0 {
			continue
		}
		id := int(ne.Uint64(e[pos+ksize:])) // the bucket's root page; 0: inline
		if id != 0 && ne.Uint16(b[id*ps+8:]) == 0x01 {
			return id
		}
	}
	t.Fatal("storetest: no bucket has a branch page at its root")
	return 0
}
