package passwd

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAddSaveLoadVerify(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "terminals.passwd")
	f, err := Load(path)
	if err != nil || len(f.Entries) != 0 {
		t.Fatalf("a missing file: %+v, %v", f, err)
	}
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	s1, s2 := NewSecret(), NewSecret()
	if s1 == s2 || len(s1) != 43 {
		t.Fatalf("secrets %q %q", s1, s2)
	}
	if err := f.Add("t01", s1, now, false); err != nil {
		t.Fatal(err)
	}
	if err := f.Add("t02", s2, now, false); err != nil {
		t.Fatal(err)
	}
	if err := f.Add("t01", s2, now, false); !errors.Is(err, ErrExists) {
		t.Fatalf("adding t01 twice: %v", err)
	}
	if err := f.Save(path); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode())
	}
	raw, _ := os.ReadFile(path)
	if strings.Contains(string(raw), s1) || strings.Contains(string(raw), s2) {
		t.Fatal("the file holds a secret")
	}
	g, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !g.Verify("t01", s1) || !g.Verify("t02", s2) || g.Verify("t01", s2) || g.Verify("t03", s1) || g.Verify("t01", "") {
		t.Fatal("verify")
	}
	if e, _ := g.Lookup("t01"); !e.Created.Equal(now) {
		t.Errorf("created %v, want %v", e.Created, now)
	}
	os.Chmod(path, 0o640)
	if err := g.Remove("t01"); err != nil {
		t.Fatal(err)
	}
	if err := g.Remove("t01"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("removing t01 twice: %v", err)
	}
	if err := g.Save(path); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o640 {
		t.Errorf("a replaced file's mode %v, want its old 0640 kept", st.Mode())
	}
	h, _ := Load(path)
	if h.Verify("t01", s1) || !h.Verify("t02", s2) {
		t.Fatal("after remove")
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// A hash written by mosquitto_passwd verifies here (and, in
// deploy_test.go, a file written here is read by Mosquitto).
func TestReadsMosquittoPasswd(t *testing.T) {
	// mosquitto_passwd -b f t01 secret (Mosquitto 2.0.11), fixed here so the
	// test runs without the binary.
	const fixed = "t01:$7$101$g5U/WZJRmUq7pclL$b6w9X7R39bBPzD3dkOr+MrF7vXKnggVGa8UxCxYG+sen3sgag0kwiupsvzcfbKeTdIHvCYLSy8B0NwOvoklQSA==\n"
	f, err := Parse("fixed", []byte(fixed))
	if err != nil {
		t.Fatal(err)
	}
	if !f.Verify("t01", "secret") || f.Verify("t01", "Secret") {
		t.Fatal("the fixed mosquitto_passwd entry does not verify")
	}
	bin, err := exec.LookPath("mosquitto_passwd")
	if err != nil {
		t.Skip("mosquitto_passwd not installed: only the fixed entry was checked")
	}
	path := filepath.Join(t.TempDir(), "pw")
	if out, err := exec.Command(bin, "-c", "-b", path, "t02", "pa:ss w0rd").CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	g, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !g.Verify("t02", "pa:ss w0rd") || g.Verify("t02", "pa:ss") {
		t.Fatal("a fresh mosquitto_passwd entry does not verify")
	}
}

func TestParseRefuses(t *testing.T) {
	for _, bad := range []string{
		"t01\n",
		"t01:plain\n",
		"t01:$6$abc$def\n",
		"t01:$7$0$AAAA$AAAA\n",
		"t01:$7$101$!!$AAAA\n",
		"t01:$7$101$AAAA$AAAA\nt01:$7$101$AAAA$AAAA\n",
	} {
		if _, err := Parse("f", []byte(bad)); !errors.Is(err, ErrFormat) {
			t.Errorf("%q: %v, want ErrFormat", bad, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("# created 2026-12-03T10:00:00Z\nt01:$7$101$g5U/WZJRmUq7pclL$b6w9X7R39bBPzD3dkOr+MrF7vXKnggVGa8UxCxYG+sen3sgag0kwiupsvzcfbKeTdIHvCYLSy8B0NwOvoklQSA==\n"))
	f.Add([]byte("t01:$7$0$$\n"))
	f.Add([]byte("\n\n#\n:"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Parse("fuzz", b)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("an error that is not ErrFormat: %v", err)
			}
			return
		}
		// What parses, written back, parses to the same users and hashes.
		q, err := Parse("again", p.Bytes())
		if err != nil || len(q.Entries) != len(p.Entries) {
			t.Fatalf("round trip: %v, %d entries, want %d", err, len(q.Entries), len(p.Entries))
		}
		for i := range p.Entries {
			if q.Entries[i].User != p.Entries[i].User || q.Entries[i].Hash != p.Entries[i].Hash {
				t.Fatalf("entry %d: %+v, want %+v", i, q.Entries[i], p.Entries[i])
			}
		}
	})
}
