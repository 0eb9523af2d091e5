// Package passwd reads and writes the store's MQTT credentials file, in
// Mosquitto 2's password_file format, so that one file serves the agent's
// embedded broker and a Mosquitto broker alike:
//
//	# created 2026-12-03T10:00:00Z
//	t01:$7$10000$<base64 salt>$<base64 hash>
//
// Each entry is a user and the PBKDF2-HMAC-SHA512 hash of its secret (a
// 12-byte salt, a 64-byte hash, standard base64 with padding); Mosquitto
// ignores the comment lines, which carry when the entry was created.
//
// Invariants:
//   - Secrets are never stored: only their hashes. New secrets are 32
//     random bytes, printed once by the CLI that creates them.
//   - Hashes are compared in constant time.
//   - The file is replaced atomically (a temporary file renamed over it,
//     mode 0600, or the mode and group of the file it replaces), so a
//     broker reloading it never reads half a file.
package passwd

import (
	"bufio"
	"bytes"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Errors.
var (
	// ErrExists: Add was given a user the file already has.
	ErrExists = errors.New("already in the credentials file")
	// ErrNotFound: Remove was given a user the file does not have.
	ErrNotFound = errors.New("not in the credentials file")
	// ErrFormat wraps every problem with a line of the file.
	ErrFormat = errors.New("bad credentials file")
)

const (
	// Iterations is the PBKDF2 iteration count of new entries. Secrets made
	// by NewSecret carry 256 random bits, out of reach of guessing at any
	// cost, so the count only has to make a stolen file useless against
	// short, human-chosen passwords for a while; it is kept modest so that a
	// connect stays cheap on a till. (mosquitto_passwd uses 101.)
	Iterations = 10000
	saltLen    = 12
	hashLen    = 64
	// maxIterations bounds what a file may ask of a connect.
	maxIterations = 10_000_000
)

// Entry is one user of the file.
type Entry struct {
	User    string
	Hash    string    // $7$iterations$salt$hash
	Created time.Time // zero when the file does not say (an entry mosquitto_passwd wrote)
}

// File is the parsed credentials file.
type File struct {
	Entries []Entry
}

// Lookup returns the entry for user.
func (f *File) Lookup(user string) (Entry, bool) {
	if f == nil {
		return Entry{}, false
	}
	for _, e := range f.Entries {
		if e.User == user {
			return e, true
		}
	}
	return Entry{}, false
}

// Verify reports whether secret is user's, in constant time with respect to
// the secret and the hash. A missing user is false.
func (f *File) Verify(user, secret string) bool {
	e, ok := f.Lookup(user)
	if !ok {
		return false
	}
	return Check(e.Hash, secret)
}

// Check reports whether secret matches a $7$ hash.
func Check(hash, secret string) bool {
	iter, salt, want, err := parseHash(hash)
	if err != nil {
		return false
	}
	got, err := pbkdf2.Key(sha512.New, secret, salt, iter, len(want))
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare(got, want) == 1
}

// Hash returns the $7$ hash of secret with a new random salt.
func Hash(secret string) (string, error) {
	salt := make([]byte, saltLen)
	rand.Read(salt)
	h, err := pbkdf2.Key(sha512.New, secret, salt, Iterations, hashLen)
	if err != nil {
		return "", err
	}
	return "$7$" + strconv.Itoa(Iterations) + "$" + base64.StdEncoding.EncodeToString(salt) + "$" +
		base64.StdEncoding.EncodeToString(h), nil
}

// NewSecret returns 32 random bytes as unpadded URL-safe base64: safe on a
// command line, in a file and in an MQTT password.
func NewSecret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func parseHash(h string) (iter int, salt, hash []byte, err error) {
	parts := strings.Split(h, "$")
	// "", "7", iterations, salt, hash
	if len(parts) != 5 || parts[0] != "" || parts[1] != "7" {
		return 0, nil, nil, errors.New("not a $7$ (PBKDF2-SHA512) hash")
	}
	iter, err = strconv.Atoi(parts[2])
	if err != nil || iter < 1 || iter > maxIterations {
		return 0, nil, nil, fmt.Errorf("iterations must be 1 to %d, got %q", maxIterations, parts[2])
	}
	if salt, err = base64.StdEncoding.DecodeString(parts[3]); err != nil || len(salt) == 0 {
		return 0, nil, nil, errors.New("salt is not base64")
	}
	if hash, err = base64.StdEncoding.DecodeString(parts[4]); err != nil || len(hash) == 0 {
		return 0, nil, nil, errors.New("hash is not base64")
	}
	return iter, salt, hash, nil
}

const createdPrefix = "# created "

// Parse reads a credentials file; name is for errors.
func Parse(name string, b []byte) (*File, error) {
	f := &File{}
	var created time.Time
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		switch {
		case strings.HasPrefix(line, createdPrefix):
			created, _ = time.Parse(time.RFC3339, strings.TrimSpace(strings.TrimPrefix(line, createdPrefix)))
			continue
		case strings.HasPrefix(line, "#"), strings.TrimSpace(line) == "":
			continue
		}
		user, hash, ok := strings.Cut(line, ":")
		if !ok || user == "" {
			return nil, fmt.Errorf("%w: %s:%d: want user:$7$..., got a line without a user", ErrFormat, name, n)
		}
		if _, _, _, err := parseHash(hash); err != nil {
			return nil, fmt.Errorf("%w: %s:%d: user %q: %v", ErrFormat, name, n, user, err)
		}
		if _, dup := f.Lookup(user); dup {
			return nil, fmt.Errorf("%w: %s:%d: user %q is listed twice", ErrFormat, name, n, user)
		}
		f.Entries = append(f.Entries, Entry{User: user, Hash: hash, Created: created})
		created = time.Time{}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrFormat, name, err)
	}
	return f, nil
}

// Load reads the file at path; a file that does not exist is empty.
func Load(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &File{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read credentials: %w", err)
	}
	return Parse(path, b)
}

// Bytes is the file's content.
func (f *File) Bytes() []byte {
	var b bytes.Buffer
	b.WriteString("# posoffer MQTT credentials (Mosquitto password_file format). Written by\n" +
		"# posoffer-agent terminal add/revoke; hashes only, never secrets.\n")
	for _, e := range f.Entries {
		if !e.Created.IsZero() {
			b.WriteString(createdPrefix + e.Created.UTC().Format(time.RFC3339) + "\n")
		}
		b.WriteString(e.User + ":" + e.Hash + "\n")
	}
	return b.Bytes()
}

// Add adds user with secret's hash; replace lets it change an existing
// user's secret.
func (f *File) Add(user, secret string, now time.Time, replace bool) error {
	h, err := Hash(secret)
	if err != nil {
		return err
	}
	e := Entry{User: user, Hash: h, Created: now.UTC().Truncate(time.Second)}
	if i := slices.IndexFunc(f.Entries, func(e Entry) bool { return e.User == user }); i >= 0 {
		if !replace {
			return fmt.Errorf("%s: %w", user, ErrExists)
		}
		f.Entries[i] = e
		return nil
	}
	f.Entries = append(f.Entries, e)
	return nil
}

// Remove removes user.
func (f *File) Remove(user string) error {
	i := slices.IndexFunc(f.Entries, func(e Entry) bool { return e.User == user })
	if i < 0 {
		return fmt.Errorf("%s: %w", user, ErrNotFound)
	}
	f.Entries = slices.Delete(f.Entries, i, i+1)
	return nil
}

// Save writes the file to path atomically: a temporary file in the same
// directory, synced, then renamed over path. A new file is mode 0600; a
// replaced one keeps its mode and group (so that a Mosquitto that reads it
// through its group still can).
func (f *File) Save(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("write credentials: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write credentials: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename, there is nothing to remove
	mode := fs.FileMode(0o600)
	if st, err := os.Stat(path); err == nil {
		mode = st.Mode().Perm()
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			tmp.Chown(-1, int(sys.Gid)) // best effort: only root or a member may
		}
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("write credentials: %w", err)
	}
	if _, err := tmp.Write(f.Bytes()); err != nil {
		tmp.Close()
		return fmt.Errorf("write credentials: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write credentials: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write credentials: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write credentials: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
