package catalogsig

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// seeded returns a signer whose key comes from the seed byte, so tests are
// deterministic.
func seeded(b byte) *Signer {
	return NewSigner(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{b}, ed25519.SeedSize)))
}

func TestSignOpen(t *testing.T) {
	hq, other := seeded(1), seeded(2)
	v := hq.Verifier()
	good := hq.Sign("offer.a", 7, []byte(`{"id":"a"}`))
	e, err := v.Open("offer.a", good)
	if err != nil {
		t.Fatal(err)
	}
	if e.Seq != 7 || e.Key != "offer.a" || string(e.Payload) != `{"id":"a"}` || e.KeyID != KeyID(hq.Public()) {
		t.Fatalf("opened %+v", e)
	}
	// Each change to a signed value, and each other signer, is refused
	// with its own error.
	flip := func(b []byte, i int) []byte {
		c := bytes.Clone(b)
		c[i] ^= 1
		return c
	}
	nl := bytes.IndexByte(good, '\n')
	for _, tc := range []struct {
		name  string
		key   string
		value []byte
		want  error
	}{
		{"unsigned json", "offer.a", []byte(`{"id":"a","reward":{"type":"percent_off","percent":100}}`), ErrUnsigned},
		{"empty", "offer.a", nil, ErrUnsigned},
		{"other signer", "offer.a", other.Sign("offer.a", 7, []byte(`{"id":"a"}`)), ErrUnknownSigner},
		{"other key under our id", "offer.a", forge(other, hq, "offer.a", 7, `{"id":"a"}`), ErrBadSignature},
		{"payload changed", "offer.a", flip(good, len(good)-2), ErrBadSignature},
		{"payload appended", "offer.a", append(bytes.Clone(good), ' '), ErrBadSignature},
		{"sequence changed", "offer.a", bytes.Replace(good, []byte(" 7 "), []byte(" 8 "), 1), ErrBadSignature},
		{"key changed in header", "offer.b", bytes.Replace(good, []byte("offer.a"), []byte("offer.b"), 1), ErrBadSignature},
		{"copied under another key", "offer.b", good, ErrWrongKey},
		{"signature damaged", "offer.a", flip(good, nl+3), ErrBadSignature},
		{"no signature line", "offer.a", good[:nl+1], ErrMalformed},
		{"header only", "offer.a", good[:nl], ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Open(tc.key, tc.value)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}
}

// forge signs a value with key but labels it with the key id of victim.
func forge(key, victim *Signer, bucketKey string, seq uint64, payload string) []byte {
	s := &Signer{key: key.key, id: victim.id}
	return s.Sign(bucketKey, seq, []byte(payload))
}

func TestDecodeBad(t *testing.T) {
	sig := strings.Repeat("A", 86) + "=="
	for _, tc := range []struct {
		value string
		want  error
	}{
		{"", ErrUnsigned},
		{"posoffer-signed-v1", ErrUnsigned},
		{"posoffer-signed-v2 0123456789abcdef 1 offer.a\n" + sig + "\n{}", ErrUnsigned},
		{"posoffer-signed-v1 ", ErrMalformed},
		{"posoffer-signed-v1 0123456789abcdef 1 offer.a\n", ErrMalformed},
		{"posoffer-signed-v1 0123456789abcdef 1 offer.a extra\n" + sig + "\n{}", ErrMalformed},
		{"posoffer-signed-v1 0123456789ABCDEF 1 offer.a\n" + sig + "\n{}", ErrMalformed},
		{"posoffer-signed-v1 0123456789abcde 1 offer.a\n" + sig + "\n{}", ErrMalformed},
		{"posoffer-signed-v1 0123456789abcdef 01 offer.a\n" + sig + "\n{}", ErrMalformed},
		{"posoffer-signed-v1 0123456789abcdef -1 offer.a\n" + sig + "\n{}", ErrMalformed},
		{"posoffer-signed-v1 0123456789abcdef 18446744073709551616 offer.a\n" + sig + "\n{}", ErrMalformed},
		{"posoffer-signed-v1 0123456789abcdef 1 offer a\n" + sig + "\n{}", ErrMalformed},
		{"posoffer-signed-v1 0123456789abcdef 1 .offer\n" + sig + "\n{}", ErrMalformed},
		{"posoffer-signed-v1 0123456789abcdef 1 \n" + sig + "\n{}", ErrMalformed},
		{"posoffer-signed-v1 0123456789abcdef 1 offer.a\n" + sig[:80] + "\n{}", ErrMalformed},
		{"posoffer-signed-v1 0123456789abcdef 1 offer.a\n" + strings.Repeat("A", 86) + "\n{}", ErrMalformed},
		{"posoffer-signed-v1 0123456789abcdef 1 " + strings.Repeat("k", 600) + "\n" + sig + "\n{}", ErrMalformed},
	} {
		if _, err := Decode([]byte(tc.value)); !errors.Is(err, tc.want) {
			t.Errorf("Decode(%.60q): %v, want %v", tc.value, err, tc.want)
		}
	}
	if _, err := Decode([]byte("posoffer-signed-v1 0123456789abcdef 1 offer.a\n" + sig + "\n")); err != nil {
		t.Errorf("an empty payload is well formed: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	hq := seeded(1)
	f.Add(hq.Sign("offer.a", 1, []byte(`{"id":"a"}`)), "offer.a")
	f.Add(hq.SignManifest(3, map[string]string{"offer.a": Hash(nil)}), ManifestKey)
	f.Add([]byte("posoffer-signed-v1 0123456789abcdef 1 offer.a\n\n"), "offer.a")
	f.Add([]byte(`{"id":"a"}`), "offer.a")
	v := hq.Verifier()
	f.Fuzz(func(t *testing.T, value []byte, key string) {
		e, err := Decode(value)
		if err == nil && !validKey(e.Key) {
			t.Fatalf("decoded a bad key %q", e.Key)
		}
		if _, err := v.Open(key, value); err == nil {
			// Only HQ's own values open; the fuzzer cannot forge one, so
			// it must have been a seed, unchanged.
			if !bytes.HasPrefix(value, []byte(Magic)) {
				t.Fatalf("opened an unsigned value")
			}
		}
		v.OpenManifest(value)
		v.Verify(map[string][]byte{key: value, ManifestKey: value}, 0)
	})
}

// bucket builds a bucket state signed by s: a manifest of seq listing
// docs, and each doc under its key.
func bucket(s *Signer, seq uint64, docs map[string]string) map[string][]byte {
	keys := map[string][]byte{}
	entries := map[string]string{}
	for k, d := range docs {
		keys[k] = s.Sign(k, seq, []byte(d))
		entries[k] = Hash([]byte(d))
	}
	keys[ManifestKey] = s.SignManifest(seq, entries)
	return keys
}

func TestVerify(t *testing.T) {
	hq, attacker := seeded(1), seeded(2)
	v := hq.Verifier()
	const a, b = `{"id":"a"}`, `{"id":"b","reward":{"type":"percent_off","percent":100}}`
	v1 := bucket(hq, 100, map[string]string{"offer.a": a})
	v2 := bucket(hq, 200, map[string]string{"offer.a": a + " ", "offer.b": b})
	with := func(keys map[string][]byte, k string, val []byte) map[string][]byte {
		c := map[string][]byte{}
		for k, v := range keys {
			c[k] = v
		}
		if val == nil {
			delete(c, k)
		} else {
			c[k] = val
		}
		return c
	}
	for _, tc := range []struct {
		name    string
		keys    map[string][]byte
		applied uint64
		want    error
		seq     uint64
		n       int // entries of the catalog
	}{
		{"empty bucket", map[string][]byte{}, 100, nil, 0, 0},
		{"first catalog", v1, 0, nil, 100, 1},
		{"the one served", v1, 100, nil, 100, 1},
		{"newer", v2, 100, nil, 200, 2},
		{"unsigned offer added", with(v1, "offer.evil", []byte(b)), 100, ErrUnsigned, 0, 0},
		{"offer signed by another key", with(v1, "offer.evil", attacker.Sign("offer.evil", 999, []byte(b))), 100, ErrUnknownSigner, 0, 0},
		{"signed value copied under another key", with(v1, "offer.evil", v2["offer.b"]), 100, ErrWrongKey, 0, 0},
		{"listed offer replaced by another signed value", with(v2, "offer.a", v1["offer.a"]), 100, ErrMismatch, 0, 0},
		{"listed offer deleted", with(v2, "offer.b", nil), 100, ErrMismatch, 0, 0},
		{"manifest deleted", with(v1, ManifestKey, nil), 100, ErrNoManifest, 0, 0},
		{"manifest by another key", bucket(attacker, 300, map[string]string{"offer.a": a}), 100, ErrUnknownSigner, 0, 0},
		{"old manifest replayed", with(v2, ManifestKey, v1[ManifestKey]), 200, ErrRollback, 0, 0},
		{"old catalog replayed whole", v1, 200, ErrRollback, 0, 0},
		{"manifest copied under an offer key", with(v1, "offer.b", v1[ManifestKey]), 100, ErrWrongKey, 0, 0},
		{"offer signed as the manifest", with(v1, ManifestKey, hq.Sign(ManifestKey, 300, []byte(a))), 100, ErrMalformed, 0, 0},
		{"hq half way: new value, old manifest", with(v1, "offer.a", v2["offer.a"]), 100, ErrPending, 0, 0},
		{"hq half way: new key, old manifest", with(v1, "offer.b", v2["offer.b"]), 100, nil, 100, 1},
		{"hq half way: first publish", with(v2, ManifestKey, nil), 0, ErrPending, 0, 0},
		{"deleted entry written back", with(v1, "offer.b", v2["offer.b"]), 200 - 100, nil, 100, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cat, err := v.Verify(tc.keys, tc.applied)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			if err != nil {
				if cat != nil {
					t.Fatalf("a catalog with an error")
				}
				return
			}
			if cat == nil {
				if tc.seq != 0 {
					t.Fatalf("no catalog")
				}
				return
			}
			if cat.Seq != tc.seq || len(cat.Entries) != tc.n {
				t.Fatalf("catalog %d with %d entries, want %d with %d", cat.Seq, len(cat.Entries), tc.seq, tc.n)
			}
			if string(cat.Entries["offer.a"]) != a && tc.seq == 100 {
				t.Fatalf("offer.a %q", cat.Entries["offer.a"])
			}
		})
	}
}

func TestReason(t *testing.T) {
	for err, want := range map[error]string{
		fmt.Errorf("offer.x: %w", ErrUnsigned): "unsigned",
		ErrRollback:                            "rollback",
		errors.New("invalid offer"):            "other",
	} {
		if got := Reason(err); got != want {
			t.Errorf("Reason(%v) = %s, want %s", err, got, want)
		}
	}
}

func Example() {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, ed25519.SeedSize))
	hq := NewSigner(key)
	value := hq.Sign("offer.a", 1764759184000, []byte(`{"id":"a"}`))
	fmt.Printf("%s\n", bytes.SplitN(value, []byte("\n"), 2)[0])

	agent := NewVerifier(hq.Public())
	e, err := agent.Open("offer.a", value)
	fmt.Println(string(e.Payload), err)
	_, err = agent.Open("offer.b", value)
	fmt.Println(err)
	// Output:
	// posoffer-signed-v1 34750f98bd59fcfc 1764759184000 offer.a
	// {"id":"a"} <nil>
	// signed for another key: offer.a
}
