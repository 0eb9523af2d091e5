package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/posoffer/posoffer/protocol"
)

// writeCert writes a certificate for cn signed by parent (self-signed CA
// when parent is nil) and its key, and returns the certificate and key.
func writeCert(t *testing.T, dir, cn string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey, string, string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	signer, signerKey := tmpl, key
	if parent == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid, tmpl.KeyUsage = true, true, x509.KeyUsageCertSign
	} else {
		signer, signerKey = parent, parentKey
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	kb, _ := x509.MarshalECPrivateKey(key)
	cf, kf := filepath.Join(dir, cn+".pem"), filepath.Join(dir, cn+"-key.pem")
	os.WriteFile(cf, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(kf, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return cert, key, cf, kf
}

// TestAgentTLSListener configures the embedded broker's TLS listener with
// mqtt.tls.* and logs a terminal in over it by its client certificate.
func TestAgentTLSListener(t *testing.T) {
	dir := t.TempDir()
	pki := filepath.Join(dir, "pki")
	os.MkdirAll(pki, 0o700)
	ca, caKey, caFile, _ := writeCert(t, pki, "test-ca", nil, nil)
	_, _, serverCert, serverKey := writeCert(t, pki, "agent", ca, caKey)
	_, _, t05Cert, t05Key := writeCert(t, pki, "t05", ca, caKey)
	addTestTerminals(t, filepath.Join(dir, "data", "terminals.passwd"))
	listen, tlsListen := freePort(t), freePort(t)
	a := startAgentExtra(t, dir, "", testCatalog, "tcp://"+listen, fmt.Sprintf(
		"mqtt: {listen: '%s', tls: {listen: '%s', cert_file: '%s', key_file: '%s', client_ca_file: '%s'}}\n",
		listen, tlsListen, serverCert, serverKey, caFile))
	a.broker = "ssl://" + tlsListen

	pool := x509.NewCertPool()
	pool.AddCert(ca)
	pair, err := tls.LoadX509KeyPair(t05Cert, t05Key)
	if err != nil {
		t.Fatal(err)
	}
	c := paho.NewClient(paho.NewClientOptions().AddBroker(a.broker).SetClientID("t05").SetProtocolVersion(4).
		SetTLSConfig(&tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("t05 by certificate over TLS: %v", tok.Error())
	}
	defer c.Disconnect(50)
	replies := make(chan string, 1)
	out, _ := protocol.TopicOut(a.store, "t05")
	in, _ := protocol.TopicIn(a.store, "t05")
	c.Subscribe(out, 1, func(_ paho.Client, m paho.Message) { replies <- string(m.Payload()) }).Wait()
	c.Publish(in, 1, false, basketMsg("m-tls", "T1"))
	select {
	case r := <-replies:
		if m, err := protocol.Decode([]byte(r)); err != nil || m.Type != protocol.TypeOffers || m.Re != "m-tls" {
			t.Fatalf("reply over TLS: %s", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no reply over TLS")
	}
	// Without a certificate or password, over TLS: refused and counted.
	anon := paho.NewClient(paho.NewClientOptions().AddBroker(a.broker).SetClientID("x").SetProtocolVersion(4).
		SetConnectRetry(false).SetTLSConfig(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}))
	if tok := anon.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() == nil {
		anon.Disconnect(0)
		t.Error("an anonymous client connected over TLS")
	}
	if got := refusedMetric(t, a, "anonymous"); got != "1" {
		t.Errorf("refused{anonymous} = %q, want 1", got)
	}
}
