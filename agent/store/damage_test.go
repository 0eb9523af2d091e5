package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/posoffer/posoffer/agent/internal/storetest"
	"github.com/posoffer/posoffer/protocol/offer"
)

var damageAt = time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)

// populated writes a store file with checkouts and enough profiles that
// the profiles bucket has branch pages, and closes it.
func populated(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "agent.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	profiles := map[string]*offer.Profile{}
	for i := range 600 {
		key := fmt.Sprintf("%026d", i)
		key = strings.Map(func(r rune) rune { return 'a' + (r - '0') }, key)
		profiles[key] = &offer.Profile{Visits: int64(i), FirstVisit: "2026-01-01"}
	}
	if err := s.SaveProfiles(profiles); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if _, err := s.RecordCheckout("s001", checkout(fmt.Sprintf("t-%d", i)), nil); err != nil {
			t.Fatal(err)
		}
	}
	if d := s.Damage(); d != nil {
		t.Fatalf("a new file reported damage: %+v", d)
	}
	s.Close()
	if err := Verify(path); err != nil {
		t.Fatalf("a sound file: %v", err)
	}
	return path
}

func TestSoundFileIsKept(t *testing.T) {
	path := populated(t)
	s := open(t, path, Options{})
	if d := s.Damage(); d != nil {
		t.Fatalf("damage on a sound file: %+v", d)
	}
	if dup, err := s.RecordCheckout("s001", checkout("t-1"), nil); err != nil || !dup {
		t.Fatalf("a checkout recorded before the reopen: dup %v, err %v", dup, err)
	}
	if err := Verify(filepath.Join(t.TempDir(), "missing.db")); err != nil {
		t.Fatalf("a missing file: %v, want nil (a fresh start)", err)
	}
}

// TestDamagedFileMovedAside damages a store file each way storetest knows,
// and opens it: the damage is found before bbolt maps the file (Verify) or
// by bbolt's check, the file is moved aside intact, and the store works on
// a fresh file.
func TestDamagedFileMovedAside(t *testing.T) {
	for _, how := range storetest.Damages {
		t.Run(how, func(t *testing.T) {
			path := populated(t)
			storetest.Damage(t, path, how)
			damaged, _ := os.ReadFile(path)
			verr := Verify(path)
			if !errors.Is(verr, ErrDamaged) {
				t.Errorf("Verify: %v, want ErrDamaged", verr)
			}
			s := open(t, path, Options{Now: func() time.Time { return damageAt }})
			d := s.Damage()
			if d == nil {
				t.Fatal("no damage reported")
			}
			want := path + ".damaged-20261203T100000Z"
			if d.MovedTo != want || d.Path != path || !d.At.Equal(damageAt) || d.Reason == "" {
				t.Errorf("damage %+v, want moved to %s", d, want)
			}
			if moved, err := os.ReadFile(want); err != nil || !bytes.Equal(moved, damaged) {
				t.Errorf("the damaged file was not kept as it was: %v", err)
			}
			if msg := d.Message(); !strings.Contains(msg, want) || !strings.Contains(msg, "recoverable") {
				t.Errorf("message %q does not say where the file is and that it may be recoverable", msg)
			}
			t.Logf("%s: %s", how, d.Reason)
			if dup, err := s.RecordCheckout("s001", checkout("t-1"), nil); err != nil || dup {
				t.Fatalf("checkout on the fresh file: dup %v, err %v", dup, err)
			}
			s.Close()
			// The alarm outlives a restart while the damaged file is
			// where it was moved, and goes when someone takes it away.
			s = open(t, path, Options{})
			if again := s.Damage(); again == nil || *again != *d {
				t.Fatalf("after a restart: damage %+v, want %+v", again, d)
			}
			if dup, _ := s.RecordCheckout("s001", checkout("t-1"), nil); !dup {
				t.Fatal("the checkout on the fresh file was not kept")
			}
			s.Close()
			if err := os.Rename(want, want+".archived"); err != nil {
				t.Fatal(err)
			}
			s = open(t, path, Options{})
			if again := s.Damage(); again != nil {
				t.Fatalf("with the damaged file taken away: damage %+v, want none", again)
			}
			s.Close()
			s = open(t, path, Options{})
			if again := s.Damage(); again != nil {
				t.Fatalf("the record of the damage came back: %+v", again)
			}
		})
	}
}

// TestOneTornMetaIsNotDamage: bbolt writes a meta page last; a torn one
// leaves the other, and the state it describes, which bbolt opens. That is
// not damage.
func TestOneTornMetaIsNotDamage(t *testing.T) {
	path := populated(t)
	b, _ := os.ReadFile(path)
	ps := storetest.PageSize(t, b)
	for i := 16; i < 80; i++ {
		b[ps+i] ^= 0xFF // meta page 1
	}
	os.WriteFile(path, b, 0o600)
	if err := Verify(path); err != nil {
		t.Fatalf("one torn meta page: %v", err)
	}
	s := open(t, path, Options{})
	if d := s.Damage(); d != nil {
		t.Fatalf("damage: %+v", d)
	}
}

// TestSecondDamageSameSecond: two damaged files found in the same second
// are both kept.
func TestSecondDamageSameSecond(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.db")
	now := func() time.Time { return damageAt }
	for range 2 {
		os.WriteFile(path, []byte("not a bbolt file"), 0o600)
		s := open(t, path, Options{Now: now})
		if s.Damage() == nil {
			t.Fatal("no damage")
		}
		s.Close()
	}
	for _, p := range []string{path + ".damaged-20261203T100000Z", path + ".damaged-20261203T100000Z-2"} {
		if _, err := os.Stat(p); err != nil {
			t.Error(err)
		}
	}
}

// TestRandomDamageNeverCrashes overwrites random stretches of random pages
// of a sound file, many times, and opens it: the store opens every time
// (on the file, or on a fresh one after moving the file aside), and never
// panics or faults.
func TestRandomDamageNeverCrashes(t *testing.T) {
	sound, err := os.ReadFile(populated(t))
	if err != nil {
		t.Fatal(err)
	}
	ps, inUse := storetest.PageSize(t, sound), storetest.InUse(t, sound)
	sound = sound[:inUse*ps] // the pages past the high-water mark are not read
	rnd := rand.New(rand.NewPCG(7, 7))
	dir := t.TempDir()
	n := 600
	if testing.Short() {
		n = 50
	}
	damaged := 0
	for i := range n {
		b := bytes.Clone(sound)
		for range 1 + rnd.IntN(3) {
			page := rnd.IntN(inUse)
			off := page*ps + rnd.IntN(ps)
			end := min(len(b), off+1+rnd.IntN(64))
			for j := off; j < end; j++ {
				b[j] = byte(rnd.Uint32())
			}
		}
		path := filepath.Join(dir, fmt.Sprintf("agent-%d.db", i))
		os.WriteFile(path, b, 0o600)
		s, err := Open(path, Options{})
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if s.Damage() != nil {
			damaged++
		}
		if _, err := s.RecordCheckout("s001", checkout("t-new"), nil); err != nil && s.Damage() != nil {
			t.Fatalf("case %d: checkout on the fresh file: %v", i, err)
		}
		s.Close()
	}
	t.Logf("%d of %d damaged files found damaged (the rest were damaged in values or free pages)", damaged, n)
}

// TestGuardTurnsAFaultIntoAnError reads a mapped file past its end (what
// bbolt does on a truncated file), which raises SIGBUS: inside guard that
// is an error, not a crash.
func TestGuardTurnsAFaultIntoAnError(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Truncate(1 << 16)
	m, err := syscall.Mmap(int(f.Fd()), 0, 1<<16, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		t.Skip("mmap:", err)
	}
	defer syscall.Munmap(m)
	f.Truncate(0)
	_, err = guard(func() (byte, error) { return m[1<<15], nil })
	if !errors.Is(err, errPanic) {
		t.Fatalf("guard: %v, want errPanic", err)
	}
	t.Log(err)
}

// TestKeysOutOfOrderFoundByBboltCheck damages a leaf page's keys so that
// every page is still well formed (Verify passes) but the keys are out of
// order: bbolt's check finds it, and the file is moved aside.
func TestKeysOutOfOrderFoundByBboltCheck(t *testing.T) {
	path := populated(t)
	b, _ := os.ReadFile(path)
	ps, ne := storetest.PageSize(t, b), binary.NativeEndian
	// The first leaf page under a bucket's branch page: make its first
	// key sort after the rest.
	branch := storetest.BranchPage(t, b)
	e := b[branch*ps+16:]
	leaf := int(ne.Uint64(e[8:]))
	p := b[leaf*ps:]
	if ne.Uint16(p[8:]) != 0x02 {
		t.Skip("the branch page's first child is not a leaf")
	}
	le := p[16:]
	pos, ksize := int(ne.Uint32(le[4:])), int(ne.Uint32(le[8:]))
	for i := range ksize {
		le[pos+i] = 'z'
	}
	os.WriteFile(path, b, 0o600)
	if err := Verify(path); err != nil {
		t.Fatalf("Verify: %v, want nil (the pages are well formed)", err)
	}
	s := open(t, path, Options{})
	d := s.Damage()
	if d == nil || !strings.Contains(d.Reason, "bbolt check") {
		t.Fatalf("damage %+v, want one found by bbolt check", d)
	}
	t.Log(d.Reason)
}

// FuzzOpen: whatever a store file holds, Open neither panics nor faults,
// and the store it returns records a checkout.
func FuzzOpen(f *testing.F) {
	dir := f.TempDir()
	path := filepath.Join(dir, "seed.db")
	s, err := Open(path, Options{})
	if err != nil {
		f.Fatal(err)
	}
	for i := range 3 {
		s.RecordCheckout("s001", checkout(fmt.Sprintf("t-%d", i)), nil)
	}
	s.Close()
	sound, _ := os.ReadFile(path)
	sound = sound[:storetest.InUse(f, sound)*storetest.PageSize(f, sound)]
	f.Add(sound)
	f.Add(sound[:len(sound)/2])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(t.TempDir(), "agent.db")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if _, err := s.RecordCheckout("s001", checkout("t-fuzz"), nil); err != nil && s.Damage() != nil {
			t.Fatalf("checkout on the fresh file: %v", err)
		}
	})
}

// TestDamageWhileRunning damages the file under an open store (every leaf
// page's first key made empty, which bbolt asserts against when it
// writes): the next checkout fails with ErrDamaged instead of crashing
// the process, every call after fails at once, Damage says so, and the
// next Open moves the file aside.
func TestDamageWhileRunning(t *testing.T) {
	path := populated(t)
	s, err := Open(path, Options{Now: func() time.Time { return damageAt }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b, _ := os.ReadFile(path)
	ps, ne := storetest.PageSize(t, b), binary.NativeEndian
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	for id := 2; id < storetest.InUse(t, b); id++ {
		p := b[id*ps:]
		if ne.Uint16(p[8:]) == 0x02 && ne.Uint16(p[10:]) > 0 {
			f.WriteAt([]byte{0, 0, 0, 0}, int64(id*ps+16+8)) // ksize of element 0
		}
	}
	f.Close()

	_, err = s.RecordCheckout("s001", checkout("t-new"), nil)
	if !errors.Is(err, ErrDamaged) {
		t.Fatalf("checkout on a file damaged under the store: %v, want ErrDamaged", err)
	}
	d := s.Damage()
	if d == nil || d.MovedTo != "" || !strings.Contains(d.Reason, "bbolt failed") || !strings.Contains(d.Message(), "refused") {
		t.Fatalf("damage %+v", d)
	}
	t.Log(d.Message())
	if _, err := s.Profile(cust); !errors.Is(err, ErrDamaged) {
		t.Errorf("a read after: %v, want ErrDamaged", err)
	}
	if _, err := os.Stat(path + brokenSuffix); err != nil {
		t.Errorf("no note for the next Open: %v", err)
	}
	s.Close()

	s = open(t, path, Options{Now: func() time.Time { return damageAt }})
	d = s.Damage()
	if d == nil || d.MovedTo != path+".damaged-20261203T100000Z" || !strings.Contains(d.Reason, "while the agent ran") {
		t.Fatalf("reopened: damage %+v, want the file moved aside", d)
	}
	if _, err := os.Stat(path + brokenSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the note is still there: %v", err)
	}
	if dup, err := s.RecordCheckout("s001", checkout("t-new"), nil); err != nil || dup {
		t.Fatalf("checkout on the fresh file: %v %v", dup, err)
	}
}
