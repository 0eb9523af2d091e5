package catalogsig

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// A signed value is what HQ writes under each key of the catalog bucket:
//
//	posoffer-signed-v1 <key id> <seq> <bucket key>\n
//	<signature>\n
//	<payload>
//
// The first line is the header: Magic, the signing key's KeyID (16
// lowercase hex digits), the catalog sequence the value was written for
// (decimal, no leading zeros) and the bucket key it was written under. The
// signature is the ed25519 signature, in standard padded base64, of the
// header line with its newline followed by the payload, so it binds the
// payload to its key and its sequence. The payload is the offer or
// segment document, or for ManifestKey the manifest.
//
// The manifest lists every key of one catalog with the Hash of its
// payload: {"entries":{"offer.a":"<hash>",...}}. Its sequence is the
// catalog's; HQ makes each new one larger than the last. An agent serves
// exactly the keys the manifest lists, each only when its payload has the
// listed hash, and never a manifest older than the catalog it serves.
//
// Magic starts every signed value.
const Magic = "posoffer-signed-v1"

// ManifestKey is the key of the catalog's manifest in the catalog bucket.
const ManifestKey = "manifest"

// Limits of a header.
const (
	maxHeader = 512 // bytes of the header line
	maxKey    = 256 // bytes of a bucket key
)

// Errors of signed values and manifests. Each refusal wraps one of them;
// Reason names it for metrics.
var (
	// ErrUnsigned: the value does not start with Magic.
	ErrUnsigned = errors.New("not signed")
	// ErrMalformed: the value starts with Magic but is not a signed value,
	// or a signed manifest is not a manifest.
	ErrMalformed = errors.New("malformed signed value")
	// ErrUnknownSigner: signed by a key other than HQ's.
	ErrUnknownSigner = errors.New("signed by another key")
	// ErrBadSignature: the signature does not verify.
	ErrBadSignature = errors.New("bad signature")
	// ErrWrongKey: a good signature for another bucket key.
	ErrWrongKey = errors.New("signed for another key")
	// ErrNoManifest: keys without a manifest to vouch for them.
	ErrNoManifest = errors.New("no manifest")
	// ErrMismatch: a key the manifest lists is missing or holds another
	// payload.
	ErrMismatch = errors.New("does not match the manifest")
	// ErrRollback: a manifest older than the catalog being served.
	ErrRollback = errors.New("older than the catalog served")
	// ErrPending: HQ is part way through publishing a newer catalog; not
	// a refusal, wait for its manifest.
	ErrPending = errors.New("publish in progress")
)

// Reason returns a short name of the error's kind, for a metric label:
// unsigned, malformed, unknown_signer, bad_signature, wrong_key,
// no_manifest, mismatch, rollback, pending, or other.
func Reason(err error) string {
	for _, r := range []struct {
		err  error
		name string
	}{
		{ErrUnsigned, "unsigned"}, {ErrMalformed, "malformed"}, {ErrUnknownSigner, "unknown_signer"},
		{ErrBadSignature, "bad_signature"}, {ErrWrongKey, "wrong_key"}, {ErrNoManifest, "no_manifest"},
		{ErrMismatch, "mismatch"}, {ErrRollback, "rollback"}, {ErrPending, "pending"},
	} {
		if errors.Is(err, r.err) {
			return r.name
		}
	}
	return "other"
}

// KeyID returns the id of a public key: the first 8 bytes of its SHA-256,
// in hex.
func KeyID(pub ed25519.PublicKey) string {
	h := sha256.Sum256(pub)
	return hex.EncodeToString(h[:8])
}

// Hash returns what a manifest lists for a payload: its SHA-256 in
// unpadded base64url.
func Hash(payload []byte) string {
	h := sha256.Sum256(payload)
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// Envelope is a decoded signed value, not yet verified.
type Envelope struct {
	KeyID   string
	Seq     uint64
	Key     string
	Sig     []byte
	Payload []byte

	signed []byte // the header line with its newline, then the payload
}

// Decode splits a signed value into its parts, without verifying it. It
// fails with ErrUnsigned when value is not a signed value at all, and with
// ErrMalformed when it is a damaged one.
func Decode(value []byte) (*Envelope, error) {
	if !bytes.HasPrefix(value, []byte(Magic+" ")) {
		return nil, ErrUnsigned
	}
	nl := bytes.IndexByte(value, '\n')
	if nl < 0 || nl > maxHeader {
		return nil, fmt.Errorf("%w: no header line", ErrMalformed)
	}
	header := string(value[:nl])
	rest := value[nl+1:]
	nl2 := bytes.IndexByte(rest, '\n')
	if nl2 < 0 {
		return nil, fmt.Errorf("%w: no signature line", ErrMalformed)
	}
	sigText, payload := rest[:nl2], rest[nl2+1:]
	f := strings.Split(header, " ")
	if len(f) != 4 {
		return nil, fmt.Errorf("%w: header has %d fields, want 4", ErrMalformed, len(f))
	}
	e := &Envelope{KeyID: f[1], Key: f[3], Payload: payload}
	if len(e.KeyID) != 16 || strings.Trim(e.KeyID, "0123456789abcdef") != "" {
		return nil, fmt.Errorf("%w: key id %q", ErrMalformed, e.KeyID)
	}
	seq, err := strconv.ParseUint(f[2], 10, 64)
	if err != nil || strconv.FormatUint(seq, 10) != f[2] {
		return nil, fmt.Errorf("%w: sequence %q", ErrMalformed, f[2])
	}
	e.Seq = seq
	if !validKey(e.Key) {
		return nil, fmt.Errorf("%w: bucket key %q", ErrMalformed, e.Key)
	}
	sig, err := base64.StdEncoding.Strict().DecodeString(string(sigText))
	if err != nil || len(sig) != ed25519.SignatureSize {
		return nil, fmt.Errorf("%w: signature", ErrMalformed)
	}
	e.Sig = sig
	e.signed = make([]byte, 0, nl+1+len(payload))
	e.signed = append(append(e.signed, value[:nl+1]...), payload...)
	return e, nil
}

// validKey reports whether s can be a key of a NATS KV bucket.
func validKey(s string) bool {
	if len(s) == 0 || len(s) > maxKey || s[0] == '.' || s[len(s)-1] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-/_=.", c) >= 0) {
			return false
		}
	}
	return true
}

// Signer makes signed values with HQ's key.
type Signer struct {
	key ed25519.PrivateKey
	id  string
}

// NewSigner returns a Signer for the key.
func NewSigner(key ed25519.PrivateKey) *Signer {
	return &Signer{key: key, id: KeyID(key.Public().(ed25519.PublicKey))}
}

// Public returns the public half of the signer's key.
func (s *Signer) Public() ed25519.PublicKey { return s.key.Public().(ed25519.PublicKey) }

// Verifier returns a Verifier for the signer's own values.
func (s *Signer) Verifier() *Verifier { return NewVerifier(s.Public()) }

// Sign returns the signed value of payload under the bucket key, written
// for catalog sequence seq. It panics if key cannot be a bucket key: keys
// are the caller's constants and ids, never input.
func (s *Signer) Sign(key string, seq uint64, payload []byte) []byte {
	if !validKey(key) {
		panic(fmt.Sprintf("catalogsig: bad bucket key %q", key))
	}
	header := fmt.Sprintf("%s %s %d %s\n", Magic, s.id, seq, key)
	msg := append([]byte(header), payload...)
	sig := base64.StdEncoding.EncodeToString(ed25519.Sign(s.key, msg))
	out := make([]byte, 0, len(msg)+len(sig)+1)
	out = append(out, header...)
	out = append(out, sig...)
	out = append(out, '\n')
	return append(out, payload...)
}

// SignManifest returns the signed manifest of catalog seq: entries maps
// each key of the catalog to the Hash of its payload.
func (s *Signer) SignManifest(seq uint64, entries map[string]string) []byte {
	b, err := json.Marshal(Manifest{Entries: entries}) // sorted keys: the same entries give the same bytes
	if err != nil {
		panic(err) // a map of strings always marshals
	}
	return s.Sign(ManifestKey, seq, b)
}

// Manifest is the payload of ManifestKey: every key of the catalog with
// the Hash of its payload.
type Manifest struct {
	Seq     uint64            `json:"-"` // the sequence of its signed value
	Entries map[string]string `json:"entries"`
}

// Verifier checks signed values against HQ's public key.
type Verifier struct {
	pub ed25519.PublicKey
	id  string
}

// NewVerifier returns a Verifier for HQ's public key.
func NewVerifier(pub ed25519.PublicKey) *Verifier {
	return &Verifier{pub: pub, id: KeyID(pub)}
}

// Open verifies a value read under the bucket key and returns it decoded:
// it was signed by HQ's key, for that key. Verify, then parse: nothing of
// the payload is read before the signature holds.
func (v *Verifier) Open(key string, value []byte) (*Envelope, error) {
	e, err := Decode(value)
	if err != nil {
		return nil, err
	}
	if e.KeyID != v.id {
		return nil, fmt.Errorf("%w: key id %s, HQ's is %s", ErrUnknownSigner, e.KeyID, v.id)
	}
	if !ed25519.Verify(v.pub, e.signed, e.Sig) {
		return nil, ErrBadSignature
	}
	if e.Key != key {
		return nil, fmt.Errorf("%w: %s", ErrWrongKey, e.Key)
	}
	return e, nil
}

// OpenManifest verifies and parses the value of ManifestKey.
func (v *Verifier) OpenManifest(value []byte) (*Manifest, error) {
	e, err := v.Open(ManifestKey, value)
	if err != nil {
		return nil, err
	}
	return parseManifest(e)
}

func parseManifest(e *Envelope) (*Manifest, error) {
	var m Manifest
	d := json.NewDecoder(bytes.NewReader(e.Payload))
	d.DisallowUnknownFields()
	if err := d.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: manifest: %v", ErrMalformed, err)
	}
	for k := range m.Entries {
		if k == ManifestKey || !validKey(k) {
			return nil, fmt.Errorf("%w: manifest lists key %q", ErrMalformed, k)
		}
	}
	m.Seq = e.Seq
	return &m, nil
}

// Catalog is one catalog that the manifest vouches for: the payload of
// every key it lists.
type Catalog struct {
	Seq     uint64
	Entries map[string][]byte // bucket key to payload
}

// Verify checks a whole state of the catalog bucket (each key's value)
// and returns the catalog its manifest vouches for. applied is the
// sequence of the catalog being served (0 for none).
//
// Every value must be signed by HQ for its own key; the manifest must be
// no older than applied; every key it lists must hold the payload it
// lists. Signed keys that the manifest does not list (stale keys HQ is
// about to delete, or a deleted entry written back) are left out. When
// the state is HQ's publish caught half way (new values written, their
// manifest not yet), the error wraps ErrPending: not a refusal. An empty
// bucket gives a nil Catalog and no error.
func (v *Verifier) Verify(keys map[string][]byte, applied uint64) (*Catalog, error) {
	opened := make(map[string]*Envelope, len(keys))
	for _, k := range slices.Sorted(maps.Keys(keys)) { // the same state, the same reason
		e, err := v.Open(k, keys[k])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		opened[k] = e
	}
	me, ok := opened[ManifestKey]
	if !ok {
		if len(keys) == 0 {
			return nil, nil
		}
		for _, e := range opened {
			if e.Seq > applied {
				return nil, fmt.Errorf("no manifest yet: %w", ErrPending)
			}
		}
		return nil, fmt.Errorf("%d keys: %w", len(keys), ErrNoManifest)
	}
	m, err := parseManifest(me)
	if err != nil {
		return nil, err
	}
	if m.Seq < applied {
		return nil, fmt.Errorf("manifest %d: %w (%d)", m.Seq, ErrRollback, applied)
	}
	cat := &Catalog{Seq: m.Seq, Entries: make(map[string][]byte, len(m.Entries))}
	for _, k := range slices.Sorted(maps.Keys(m.Entries)) {
		h := m.Entries[k]
		e, ok := opened[k]
		if !ok {
			return nil, fmt.Errorf("%s: missing: %w %d", k, ErrMismatch, m.Seq)
		}
		if Hash(e.Payload) != h {
			if e.Seq >= m.Seq {
				return nil, fmt.Errorf("%s written for %d: %w", k, e.Seq, ErrPending)
			}
			return nil, fmt.Errorf("%s: %w %d", k, ErrMismatch, m.Seq)
		}
		cat.Entries[k] = e.Payload
	}
	return cat, nil
}
