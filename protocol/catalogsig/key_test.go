package catalogsig

import (
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestKeyRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "signing.pem")
	k, err := LoadOrCreateSigningKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	again, err := LoadOrCreateSigningKey(path)
	if err != nil || !again.Equal(k) {
		t.Fatalf("second load gave another key (%v)", err)
	}
	b, err := EncodePublicKey(k.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	pubPath := filepath.Join(dir, "catalog.pub")
	if err := os.WriteFile(pubPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	pub, err := LoadPublicKey(pubPath)
	if err != nil || !pub.Equal(k.Public()) {
		t.Fatalf("public key round trip: %v", err)
	}
	msg := []byte("offer.a")
	if !ed25519.Verify(pub, msg, ed25519.Sign(k, msg)) {
		t.Fatal("signature made with the loaded key does not verify")
	}
}

func TestBadKeyFiles(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk")
	os.WriteFile(junk, []byte("not a key\n"), 0o600)
	if _, err := LoadSigningKey(junk); !errors.Is(err, ErrNoKey) {
		t.Errorf("junk signing key: %v, want ErrNoKey", err)
	}
	if _, err := LoadPublicKey(junk); !errors.Is(err, ErrNoKey) {
		t.Errorf("junk public key: %v, want ErrNoKey", err)
	}
	// A private key where the public one belongs is refused, not half read.
	priv := filepath.Join(dir, "priv.pem")
	if _, err := LoadOrCreateSigningKey(priv); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadPublicKey(priv); !errors.Is(err, ErrNoKey) {
		t.Errorf("private key as public: %v, want ErrNoKey", err)
	}
	if _, err := LoadSigningKey(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing signing key loaded")
	}
}
