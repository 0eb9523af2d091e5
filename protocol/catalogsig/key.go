// Package catalogsig holds HQ's catalog signing key and the agents' copy of
// its public half. HQ signs every catalog entry it publishes; an agent
// serves only entries that verify against the public key it was given.
//
// Keys are stored as PEM: the private key as PKCS #8 ("PRIVATE KEY"), the
// public key as PKIX ("PUBLIC KEY"), so openssl reads both.
package catalogsig

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// ErrNoKey is returned when a key file holds no usable key.
var ErrNoKey = errors.New("no ed25519 key")

// LoadOrCreateSigningKey reads HQ's signing key from path, creating a new
// one (mode 0600) when the file does not exist.
func LoadOrCreateSigningKey(path string) (ed25519.PrivateKey, error) {
	k, err := LoadSigningKey(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	_, k, err = ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate catalog signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("encode catalog signing key: %w", err)
	}
	b := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) { // another process made it first
		return LoadSigningKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("create catalog signing key: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("write catalog signing key %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("write catalog signing key %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("write catalog signing key %s: %w", path, err)
	}
	return k, nil
}

// LoadSigningKey reads HQ's signing key from path.
func LoadSigningKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("catalog signing key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("catalog signing key %s: %w: want a PEM PRIVATE KEY block", path, ErrNoKey)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("catalog signing key %s: %w", path, err)
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("catalog signing key %s: %w: it is a %T", path, ErrNoKey, k)
	}
	return ek, nil
}

// EncodePublicKey returns pub as a PEM PUBLIC KEY block.
func EncodePublicKey(pub ed25519.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("encode catalog public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// ParsePublicKey reads a PEM PUBLIC KEY block holding an ed25519 key.
func ParsePublicKey(b []byte) (ed25519.PublicKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PUBLIC KEY" {
		return nil, fmt.Errorf("catalog public key: %w: want a PEM PUBLIC KEY block", ErrNoKey)
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("catalog public key: %w", err)
	}
	ek, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("catalog public key: %w: it is a %T", ErrNoKey, k)
	}
	return ek, nil
}

// LoadPublicKey reads the catalog verification key from path.
func LoadPublicKey(path string) (ed25519.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("catalog public key: %w", err)
	}
	k, err := ParsePublicKey(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}
