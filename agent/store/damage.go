package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Damage is a store file that was found damaged when the store opened, and
// where it was moved. The store then started on a fresh, empty file: its
// catalog comes back from the catalog file or HQ, but outbox events not yet
// sent to HQ and the profiles and counters in the damaged file are not in
// the fresh one. They may be recoverable from MovedTo (bbolt's `bbolt
// check`, `bbolt pages` and `bbolt page` commands read such a file).
type Damage struct {
	Path    string    `json:"path"`     // the store file
	MovedTo string    `json:"moved_to"` // where the damaged file is now
	Reason  string    `json:"reason"`   // what was wrong with it
	At      time.Time `json:"at"`       // when it was found, UTC
}

// Message is the sentence for logs and alarms.
func (d *Damage) Message() string {
	if d.MovedTo == "" {
		return fmt.Sprintf("store file %s is damaged (%s); checkouts are refused; restart the agent, which moves "+
			"the file aside and starts on a fresh one", d.Path, d.Reason)
	}
	return fmt.Sprintf("store file %s was damaged (%s); it was moved to %s and the agent started on a fresh one; "+
		"events not yet sent to HQ may be recoverable from the moved file", d.Path, d.Reason, d.MovedTo)
}

// Damage returns what is wrong with the store's file, or nil: the file
// found damaged while the store ran (MovedTo empty: every call since
// fails with ErrDamaged, and the next Open moves the file aside), or else
// the damaged file that this store's file replaced when it opened. The
// latter is reported until the damaged file is no longer where it was
// moved (someone took it away to recover what it holds, or archived it):
// the alarm outlives restarts until then.
func (s *Store) Damage() *Damage {
	if d := s.broken.Load(); d != nil {
		return d
	}
	return s.damage
}

// update and view run a bbolt transaction so that a panic or memory fault
// inside bbolt (a damage the checks at open did not see) is an error
// wrapping ErrDamaged, not a crash. The write is rolled back, the store
// is marked broken and refuses every call after, and a note next to the
// file makes the next Open move it aside.
func (s *Store) update(fn func(*bolt.Tx) error) error {
	return s.guard(func() error { return s.db.Update(fn) })
}

func (s *Store) view(fn func(*bolt.Tx) error) error {
	return s.guard(func() error { return s.db.View(fn) })
}

func (s *Store) guard(f func() error) (err error) {
	if d := s.broken.Load(); d != nil {
		return fmt.Errorf("%w: %s", ErrDamaged, d.Reason)
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		d := &Damage{Path: s.path, Reason: shortReason(fmt.Sprintf("bbolt failed on it: %v", r)), At: s.opts.now()}
		if s.broken.CompareAndSwap(nil, d) {
			os.WriteFile(s.path+brokenSuffix, []byte(d.Reason+"\n"), 0o600)
		}
		err = fmt.Errorf("%w: %s", ErrDamaged, d.Reason)
	}()
	return f()
}

// brokenSuffix names the note that a store left next to a file bbolt failed
// on while it ran.
const brokenSuffix = ".broken"

// errPanic marks a panic or memory fault inside bbolt, recovered.
var errPanic = errors.New("bbolt panicked")

// openChecked opens the bbolt file at path after checking it, first with
// plain reads (Verify), then, opened, with bbolt's own consistency check and
// a read of every bucket, key and value. A damaged file is moved aside and a
// fresh one created; the returned Damage says so.
func openChecked(path string, now time.Time) (*bolt.DB, *Damage, error) {
	reason, db, err := check(path)
	if err != nil {
		return nil, nil, err
	}
	if reason == "" {
		d, err := pastDamage(db)
		if err != nil {
			db.Close()
			return nil, nil, fmt.Errorf("open store %s: %w", path, err)
		}
		return db, d, nil
	}
	moved, err := moveAside(path, now)
	if err != nil {
		return nil, nil, fmt.Errorf("store %s is damaged (%s) and could not be moved aside: %w", path, reason, err)
	}
	os.Remove(path + brokenSuffix)
	if db, err = openBolt(path); err != nil {
		return nil, nil, err
	}
	d := &Damage{Path: path, MovedTo: moved, Reason: shortReason(reason), At: now}
	if err := db.Update(func(tx *bolt.Tx) error {
		v, err := json.Marshal(d)
		if err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(keyDamage, v)
	}); err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("open store %s: record the damaged file: %w", path, err)
	}
	return db, d, nil
}

// check opens the file at path when it is sound (or missing: a new one),
// or says why it is damaged: a note that bbolt failed on it while the
// agent ran, Verify, a panic or fault opening it, bbolt's check.
func check(path string) (reason string, db *bolt.DB, err error) {
	if note, err := os.ReadFile(path + brokenSuffix); err == nil {
		if _, err := os.Stat(path); err == nil {
			return "found damaged while the agent ran: " + strings.TrimSpace(string(note)), nil, nil
		}
		os.Remove(path + brokenSuffix) // the file was moved aside already
	}
	if err := Verify(path); err != nil {
		var d *damagedError
		if !errors.As(err, &d) {
			return "", nil, err
		}
		return d.reason, nil, nil
	}
	db, err = guard(func() (*bolt.DB, error) { return openBolt(path) })
	switch {
	case err == nil:
		_, err = guard(func() (struct{}, error) { return struct{}{}, checkBolt(db) })
		if err == nil {
			return "", db, nil
		}
		guard(func() (struct{}, error) { return struct{}{}, db.Close() })
		return err.Error(), nil, nil
	case damagedOpen(err):
		return err.Error(), nil, nil
	}
	return "", nil, err
}

// pastDamage returns the damage recorded in a fresh file when it replaced
// a damaged one, while the damaged file is still where it was moved: the
// alarm outlives restarts until someone takes the file away (to recover
// what it holds, or to archive it). Once it is gone, the record goes too.
func pastDamage(db *bolt.DB) (*Damage, error) {
	var d *Damage
	err := db.Update(func(tx *bolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		v := m.Get(keyDamage)
		if v == nil {
			return nil
		}
		d = new(Damage)
		if err := json.Unmarshal(v, d); err != nil || d.MovedTo == "" {
			d = nil
			return m.Delete(keyDamage)
		}
		if _, err := os.Lstat(d.MovedTo); errors.Is(err, os.ErrNotExist) {
			d = nil
			return m.Delete(keyDamage)
		}
		return nil
	})
	return d, err
}

// shortReason makes a reason one line of at most 300 bytes, so that the
// alarm fits in a heartbeat (HQ takes alarms of up to 1 KiB).
func shortReason(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= 300 {
		return s
	}
	s = s[:297]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "..."
}

// damagedOpen says whether opening the file failed because of its
// content, rather than, say, another process holding it. A sound bbolt
// file whose top-level names are not buckets (ErrIncompatibleValue) is
// not a store file the agent wrote.
func damagedOpen(err error) bool {
	return errors.Is(err, errPanic) || errors.Is(err, berrors.ErrInvalid) ||
		errors.Is(err, berrors.ErrVersionMismatch) || errors.Is(err, berrors.ErrChecksum) ||
		errors.Is(err, berrors.ErrIncompatibleValue)
}

// checkBolt runs bbolt's consistency check and reads every bucket, key and
// value, so that a damage Verify cannot see (keys out of order) is found
// now rather than by a terminal's checkout.
func checkBolt(db *bolt.DB) error {
	return db.View(func(tx *bolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			if len(errs) < 5 {
				errs = append(errs, err)
			}
		}
		if len(errs) > 0 {
			return fmt.Errorf("bbolt check: %w", errors.Join(errs...))
		}
		var walk func(b *bolt.Bucket) error
		walk = func(b *bolt.Bucket) error {
			return b.ForEach(func(k, v []byte) error {
				if v == nil {
					if c := b.Bucket(k); c != nil {
						return walk(c)
					}
				}
				return nil
			})
		}
		return tx.ForEach(func(_ []byte, b *bolt.Bucket) error { return walk(b) })
	})
}

// guard runs f in a goroutine of its own in which a memory fault (SIGBUS
// or SIGSEGV in the mapped file) is a panic, and recovers any panic as an
// error wrapping errPanic. Memory bbolt mapped before a fault stays mapped:
// it is not used again.
func guard[T any](f func() (T, error)) (v T, err error) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		debug.SetPanicOnFault(true)
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("%w: %v", errPanic, r)
			}
		}()
		v, err = f()
	}()
	<-done
	return v, err
}

// moveAside renames a damaged file to path.damaged-<UTC time>, never over
// another, and syncs the directory so that the move survives a power cut.
func moveAside(path string, now time.Time) (string, error) {
	base := path + ".damaged-" + now.UTC().Format("20060102T150405Z")
	to := base
	for i := 2; ; i++ {
		if _, err := os.Lstat(to); errors.Is(err, os.ErrNotExist) {
			break
		}
		to = fmt.Sprintf("%s-%d", base, i)
	}
	if err := os.Rename(path, to); err != nil {
		return "", err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return to, nil
}
