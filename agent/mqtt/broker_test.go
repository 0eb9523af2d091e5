package mqtt

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/posoffer/posoffer/agent/mqtt/passwd"
	"github.com/posoffer/posoffer/protocol"
)

const testStore = "s001"

// echo is the agent's handler in these tests: it records who sent what and
// acknowledges the payload, which is a message id.
type echo struct {
	mu  sync.Mutex
	got []string // terminal:payload
}

func (e *echo) Handle(_ context.Context, terminal string, payload []byte) *protocol.Message {
	e.mu.Lock()
	e.got = append(e.got, terminal+":"+string(payload))
	e.mu.Unlock()
	return protocol.NewAck(string(payload), "")
}

func (e *echo) received() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.got...)
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// testBroker is an embedded broker with terminals t01 and t02, the agent
// connected to it, and its metrics.
type testBroker struct {
	b       *Broker
	addr    string
	tlsAddr string
	file    string
	secrets map[string]string
	reg     *prometheus.Registry
	h       *echo
	agent   *Client
}

func startTestBroker(t *testing.T, tlsConf *tls.Config, allowAnonymous bool) *testBroker {
	return startTestBrokerAgentTLS(t, tlsConf, allowAnonymous, nil)
}

// startTestBrokerAgentTLS is startTestBroker with the agent connecting
// over the TLS listener with agentTLS, as it does to an ssl:// broker.
func startTestBrokerAgentTLS(t *testing.T, tlsConf *tls.Config, allowAnonymous bool, agentTLS *tls.Config) *testBroker {
	t.Helper()
	tb := &testBroker{addr: freeAddr(t), file: filepath.Join(t.TempDir(), "terminals.passwd"),
		secrets: map[string]string{}, reg: prometheus.NewRegistry(), h: &echo{}}
	f := &passwd.File{}
	for _, id := range []string{"t01", "t02", "t03"} {
		tb.secrets[id] = passwd.NewSecret()
		if err := f.Add(id, tb.secrets[id], time.Now(), false); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Save(tb.file); err != nil {
		t.Fatal(err)
	}
	opts := BrokerOptions{Store: testStore, Listen: tb.addr, PasswordsFile: tb.file, AllowAnonymous: allowAnonymous,
		AgentSecret: passwd.NewSecret(), Registry: tb.reg, Poll: 50 * time.Millisecond}
	if tlsConf != nil {
		tb.tlsAddr = freeAddr(t)
		opts.TLSListen, opts.TLS = tb.tlsAddr, tlsConf
	}
	b, err := StartBroker(opts)
	if err != nil {
		t.Fatal(err)
	}
	tb.b = b
	t.Cleanup(func() { b.Close() })
	agentURL := "tcp://" + tb.addr
	if agentTLS != nil {
		agentURL = "ssl://" + tb.tlsAddr
	}
	tb.agent, err = Connect(Options{Broker: agentURL, Store: testStore, Username: AgentUser, Password: opts.AgentSecret, TLS: agentTLS}, tb.h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tb.agent.Close)
	return tb
}

// refused is posoffer_mqtt_refused_total{reason}.
func (tb *testBroker) refused(t testing.TB, reason string) float64 {
	t.Helper()
	mfs, err := tb.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "posoffer_mqtt_refused_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == reason {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no posoffer_mqtt_refused_total{reason=%q}", reason)
	return 0
}

// client connects to the broker; it returns the connect error.
func dialTest(t testing.TB, broker, clientID, user, pass string, conf func(*paho.ClientOptions)) (paho.Client, error) {
	t.Helper()
	o := paho.NewClientOptions().AddBroker(broker).SetClientID(clientID).SetUsername(user).SetPassword(pass).
		SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(5 * time.Second).
		SetProtocolVersion(4) // else paho tries again with 3.1, and each refusal counts twice
	if conf != nil {
		conf(o)
	}
	c := paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(5 * time.Second) {
		t.Fatal("connect timed out")
	}
	if tok.Error() != nil {
		return nil, tok.Error()
	}
	t.Cleanup(func() { c.Disconnect(50) })
	return c, nil
}

// subscribe returns the granted code: 1 (QoS 1) or 0x80 (refused).
func subscribe(t testing.TB, c paho.Client, filter string, got chan<- string) byte {
	t.Helper()
	tok := c.Subscribe(filter, 1, func(_ paho.Client, m paho.Message) {
		select {
		case got <- m.Topic() + " " + string(m.Payload()):
		default:
		}
	})
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", filter, tok.Error())
	}
	return tok.(*paho.SubscribeToken).Result()[filter]
}

// recv is the next value on c, failing the test after 5s.
func recv(t testing.TB, c <-chan string) string {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(5 * time.Second):
		t.Fatal("after 5s, nothing received")
		return ""
	}
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 5s, still not: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func topicIn(id string) string  { s, _ := protocol.TopicIn(testStore, id); return s }
func topicOut(id string) string { s, _ := protocol.TopicOut(testStore, id); return s }

func TestBrokerTerminalIdentities(t *testing.T) {
	tb := startTestBroker(t, nil, false)
	url := "tcp://" + tb.addr

	// A terminal with its own credentials is served.
	t01, err := dialTest(t, url, "t01", "t01", tb.secrets["t01"], nil)
	if err != nil {
		t.Fatalf("t01 with its password: %v", err)
	}
	replies := make(chan string, 10)
	if code := subscribe(t, t01, topicOut("t01"), replies); code != 1 {
		t.Fatalf("t01 subscribing to its out topic: granted %#x", code)
	}
	t01.Publish(topicIn("t01"), 1, false, "m-1").Wait()
	select {
	case r := <-replies:
		if r != topicOut("t01")+` {"v":1,"type":"ack","re":"m-1"}` {
			t.Fatalf("reply %q", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no reply to t01")
	}

	// Connections refused, each counted.
	for _, c := range []struct{ name, clientID, user, pass, reason string }{
		{"anonymous", "anon-1", "", "", RefusedAnonymous},
		{"wrong password", "t02", "t02", tb.secrets["t01"], RefusedCredentials},
		{"unknown terminal", "t09", "t09", "x", RefusedCredentials},
		{"the agent's username without its secret", AgentClientID(testStore), AgentUser, tb.secrets["t01"], RefusedCredentials},
		{"a reserved name", "agent", "agent", "x", RefusedReserved},
		{"a terminal taking over the agent's client id", AgentClientID(testStore), "t02", tb.secrets["t02"], RefusedClientID},
		{"a terminal taking over another's client id", "t01", "t02", tb.secrets["t02"], RefusedClientID},
	} {
		before := tb.refused(t, c.reason)
		if _, err := dialTest(t, url, c.clientID, c.user, c.pass, nil); err == nil {
			t.Errorf("%s: connected", c.name)
		}
		if got := tb.refused(t, c.reason); got != before+1 {
			t.Errorf("%s: refused{%s} went %v -> %v", c.name, c.reason, before, got)
		}
	}
	// A last will on the agent's status is refused at connect.
	status, _ := protocol.TopicStatus(testStore)
	if _, err := dialTest(t, url, "t02", "t02", tb.secrets["t02"], func(o *paho.ClientOptions) {
		o.SetWill(status, "offline", 1, true)
	}); err == nil || tb.refused(t, RefusedWill) != 1 {
		t.Errorf("a terminal's will on the status topic: err %v, refused{will} %v", err, tb.refused(t, RefusedWill))
	}
	// t01 is still connected: nothing above took its session over.
	if !t01.IsConnectionOpen() {
		t.Fatal("t01 lost its connection")
	}

	// t02 may not read t01's replies, nor everything.
	t02, err := dialTest(t, url, "t02", "t02", tb.secrets["t02"], nil)
	if err != nil {
		t.Fatal(err)
	}
	spied := make(chan string, 10)
	for _, f := range []string{topicOut("t01"), "posoffer/v1/#", "#", "posoffer/v1/s001/+/out", topicIn("t01")} {
		if code := subscribe(t, t02, f, spied); code != 0x80 {
			t.Errorf("t02 subscribing to %s: granted %#x, want refused", f, code)
		}
	}
	if got := tb.refused(t, RefusedSubscribe); got != 5 {
		t.Errorf("refused{subscribe} = %v, want 5", got)
	}
	// (A separate client: paho hands a message to every handler whose
	// filter matches, granted or not.)
	t03, err := dialTest(t, url, "t03", "t03", tb.secrets["t03"], nil)
	if err != nil {
		t.Fatal(err)
	}
	statuses := make(chan string, 10)
	if code := subscribe(t, t03, status, statuses); code != 1 {
		t.Errorf("t03 reading the agent's status: %#x", code)
	}
	select {
	case s := <-statuses:
		if s != status+" online" {
			t.Errorf("status: %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Error("no retained status")
	}
	t01.Publish(topicIn("t01"), 1, false, "m-2").Wait()
	<-replies
	select {
	case s := <-spied:
		t.Fatalf("t02 received %q", s)
	case <-time.After(100 * time.Millisecond):
	}

	// Publishing as someone else: the broker drops it (and, at QoS 1 on
	// MQTT 3.1.1, disconnects the client); the agent never sees it.
	for _, c := range []struct{ topic, payload string }{
		{topicIn("t01"), "forged-by-t02"},                       // another terminal's in
		{topicOut("t01"), `{"v":1,"type":"ack","re":"m-fake"}`}, // a fake reply to a till
		{status, "offline"},                                     // the agent's status
	} {
		before := tb.refused(t, RefusedPublish)
		c2, err := dialTest(t, url, "t02", "t02", tb.secrets["t02"], nil)
		if err != nil {
			t.Fatal(err)
		}
		c2.Publish(c.topic, 1, c.topic == status, c.payload).WaitTimeout(time.Second)
		waitFor(t, "publish on "+c.topic+" refused", func() bool { return tb.refused(t, RefusedPublish) == before+1 })
	}
	t01.Publish(topicIn("t01"), 1, false, "m-3").Wait()
	if r := recv(t, replies); r != topicOut("t01")+` {"v":1,"type":"ack","re":"m-3"}` {
		t.Fatalf("t01's next reply is %q (a fake got through?)", r)
	}
	want := []string{"t01:m-1", "t01:m-2", "t01:m-3"}
	if got := tb.h.received(); len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("the agent handled %v, want %v", got, want)
	}
	// The retained status still says online.
	late := make(chan string, 1)
	t03b, _ := dialTest(t, url, "t03", "t03", tb.secrets["t03"], nil)
	subscribe(t, t03b, status, late)
	if s := recv(t, late); s != status+" online" {
		t.Fatalf("retained status after a forged publish: %q", s)
	}
}

func TestBrokerRevokesRunningTerminal(t *testing.T) {
	tb := startTestBroker(t, nil, false)
	url := "tcp://" + tb.addr
	lost := make(chan struct{})
	t01, err := dialTest(t, url, "t01", "t01", tb.secrets["t01"], func(o *paho.ClientOptions) {
		o.SetConnectionLostHandler(func(paho.Client, error) { close(lost) })
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = t01
	t02, err := dialTest(t, url, "t02", "t02", tb.secrets["t02"], nil)
	if err != nil {
		t.Fatal(err)
	}
	f, err := passwd.Load(tb.file)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Remove("t01"); err != nil {
		t.Fatal(err)
	}
	if err := f.Save(tb.file); err != nil {
		t.Fatal(err)
	}
	select {
	case <-lost:
	case <-time.After(5 * time.Second):
		t.Fatal("the revoked terminal is still connected after 5s")
	}
	if got := tb.refused(t, RefusedRevoked); got != 1 {
		t.Errorf("refused{revoked} = %v, want 1", got)
	}
	if _, err := dialTest(t, url, "t01", "t01", tb.secrets["t01"], nil); err == nil {
		t.Fatal("the revoked terminal connected again")
	}
	if !t02.IsConnectionOpen() {
		t.Fatal("revoking t01 disconnected t02")
	}
	// A damaged file keeps the last good credentials in force.
	os.WriteFile(tb.file, []byte("t02 no hash here\n"), 0o600)
	waitFor(t, "the damaged file seen", func() bool { return metricValue(tb.reg, "posoffer_mqtt_credentials_reloads_total", "error") == 1 })
	if !t02.IsConnectionOpen() {
		t.Fatal("a damaged file disconnected t02")
	}
}

func metricValue(reg *prometheus.Registry, name, label string) float64 {
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				if m.GetLabel()[0].GetValue() == label {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return -1
}

func TestBrokerAnonymousWhenAllowed(t *testing.T) {
	tb := startTestBroker(t, nil, true)
	url := "tcp://" + tb.addr
	anon, err := dialTest(t, url, "till-7", "", "", nil)
	if err != nil {
		t.Fatalf("anonymous with allow_anonymous: %v", err)
	}
	replies := make(chan string, 10)
	if code := subscribe(t, anon, topicOut("t07"), replies); code != 1 {
		t.Fatalf("anonymous subscribing to one out topic: %#x", code)
	}
	anon.Publish(topicIn("t07"), 1, false, "m-1").Wait()
	if r := recv(t, replies); r != topicOut("t07")+` {"v":1,"type":"ack","re":"m-1"}` {
		t.Fatalf("reply %q", r)
	}
	// Even so: no wildcards, nothing of the agent's, no terminal's client id.
	for _, f := range []string{"posoffer/v1/#", topicIn("t01"), "posoffer/v1/s001/+/out"} {
		if code := subscribe(t, anon, f, replies); code != 0x80 {
			t.Errorf("anonymous subscribing to %s: %#x", f, code)
		}
	}
	if _, err := dialTest(t, url, "t01", "", "", nil); err == nil {
		t.Error("anonymous took t01's client id")
	}
	if _, err := dialTest(t, url, AgentClientID(testStore), "", "", nil); err == nil {
		t.Error("anonymous took the agent's client id")
	}
	anon.Publish(topicOut("t07"), 1, false, "fake").WaitTimeout(time.Second)
	waitFor(t, "a fake reply refused", func() bool { return tb.refused(t, RefusedPublish) == 1 })
}

// testPKI is a CA, a server certificate for 127.0.0.1 and client
// certificates, made for one test.
type testPKI struct {
	dir    string
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	caFile string
}

func newPKI(t testing.TB) *testPKI {
	t.Helper()
	p := &testPKI{dir: t.TempDir()}
	p.caKey, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "posoffer test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &p.caKey.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	p.ca, _ = x509.ParseCertificate(der)
	p.caFile = filepath.Join(p.dir, "ca.pem")
	os.WriteFile(p.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	return p
}

// issue writes a certificate and key for cn (a server one with an IP SAN
// for 127.0.0.1 when server) and returns their files.
func (p *testPKI) issue(t testing.TB, cn string, server bool) (certFile, keyFile string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		tmpl.DNSNames = []string{"localhost"}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(p.dir, cn+".pem"), filepath.Join(p.dir, cn+"-key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return certFile, keyFile
}

func TestBrokerTLS(t *testing.T) {
	pki := newPKI(t)
	cert, key := pki.issue(t, "agent.store", true)
	conf, err := TLSConfig(cert, key, pki.caFile)
	if err != nil {
		t.Fatal(err)
	}
	roots, err := CertPool(pki.caFile)
	if err != nil {
		t.Fatal(err)
	}
	// The agent itself connects over TLS, verifying the broker by the CA
	// (mqtt.tls.ca_file with an ssl:// mqtt.broker).
	tb := startTestBrokerAgentTLS(t, conf, false, &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12})
	url := "ssl://" + tb.tlsAddr
	// A client that does not trust the CA does not connect.
	if _, err := dialTest(t, url, "t01", "t01", tb.secrets["t01"], func(o *paho.ClientOptions) {
		o.SetTLSConfig(&tls.Config{MinVersion: tls.VersionTLS12})
	}); err == nil {
		t.Error("a client without the CA connected: the server certificate was not verified")
	}
	withCert := func(cn string) func(o *paho.ClientOptions) {
		return func(o *paho.ClientOptions) {
			c := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
			if cn != "" {
				cf, kf := pki.issue(t, cn, false)
				pair, err := tls.LoadX509KeyPair(cf, kf)
				if err != nil {
					t.Fatal(err)
				}
				c.Certificates = []tls.Certificate{pair}
			}
			o.SetTLSConfig(c)
		}
	}

	// A password over TLS.
	t01, err := dialTest(t, url, "t01", "t01", tb.secrets["t01"], withCert(""))
	if err != nil {
		t.Fatalf("t01 over TLS with its password: %v", err)
	}
	replies := make(chan string, 1)
	subscribe(t, t01, topicOut("t01"), replies)
	t01.Publish(topicIn("t01"), 1, false, "tls-1").Wait()
	if r := recv(t, replies); r != topicOut("t01")+` {"v":1,"type":"ack","re":"tls-1"}` {
		t.Fatalf("reply %q", r)
	}
	// A client certificate whose CN is a terminal, with no password: the
	// same ACL applies.
	t03, err := dialTest(t, url, "t03", "", "", withCert("t03"))
	if err != nil {
		t.Fatalf("t03 by certificate: %v", err)
	}
	replies3 := make(chan string, 1)
	subscribe(t, t03, topicOut("t03"), replies3)
	if code := subscribe(t, t03, topicOut("t01"), replies3); code != 0x80 {
		t.Errorf("t03 (certificate) subscribing to t01's replies: %#x", code)
	}
	t03.Publish(topicIn("t03"), 1, false, "tls-3").Wait()
	if r := <-replies3; r != topicOut("t03")+` {"v":1,"type":"ack","re":"tls-3"}` {
		t.Fatalf("reply %q", r)
	}
	// A certificate for a terminal the file does not list, a certificate
	// used with another client id, and no credentials at all.
	if _, err := dialTest(t, url, "t09", "", "", withCert("t09")); err == nil || tb.refused(t, RefusedUnknownCert) != 1 {
		t.Errorf("a certificate for t09 (not in the file): %v", err)
	}
	if _, err := dialTest(t, url, "t01", "", "", withCert("t02")); err == nil {
		t.Error("t02's certificate connected as client t01")
	}
	if _, err := dialTest(t, url, "x", "", "", withCert("")); err == nil {
		t.Error("anonymous over TLS connected")
	}
	// The plain listener still refuses anonymous clients.
	if _, err := dialTest(t, "tcp://"+tb.addr, "x", "", "", nil); err == nil {
		t.Error("anonymous over TCP connected")
	}
}
