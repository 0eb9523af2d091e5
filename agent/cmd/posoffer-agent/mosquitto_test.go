package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/posoffer/posoffer/protocol"
)

// mosquittoTLS is what the shipped TLS listener needs: its port and the
// files its certfile, keyfile and cafile lines name.
type mosquittoTLS struct {
	addr, cert, key, ca string
}

// startShippedMosquitto runs Mosquitto with deploy/mosquitto.conf and
// deploy/mosquitto.acl, rewritten only for ports and paths: its plain
// listener on a free port (returned), password_file, and the TLS listener
// on tlsl's port and files, or dropped when tlsl is nil.
func startShippedMosquitto(t *testing.T, dir, passwordFile string, tlsl *mosquittoTLS) (addr string, cmd *exec.Cmd) {
	t.Helper()
	bin := "/usr/sbin/mosquitto"
	if p, err := exec.LookPath("mosquitto"); err == nil {
		bin = p
	}
	if _, err := os.Stat(bin); err != nil {
		t.Skip("mosquitto is not installed (apt-get install mosquitto): the shipped Mosquitto configuration is not tested")
	}
	conf, err := os.ReadFile("../../../deploy/mosquitto.conf")
	if err != nil {
		t.Fatal(err)
	}
	acl, err := os.ReadFile("../../../deploy/mosquitto.acl")
	if err != nil {
		t.Fatal(err)
	}
	aclPath := filepath.Join(dir, "posoffer.acl")
	os.WriteFile(aclPath, acl, 0o644)
	addr = freePort(t)
	_, port, _ := net.SplitHostPort(addr)
	var out []string
	tlsSection := false
	for _, line := range strings.Split(string(conf), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 0 || strings.HasPrefix(f[0], "#"):
			continue
		case f[0] == "listener" && f[1] == "8883":
			tlsSection = true
			if tlsl == nil {
				continue
			}
			_, tport, _ := net.SplitHostPort(tlsl.addr)
			line = "listener " + tport + " 127.0.0.1"
		case tlsSection && tlsl == nil:
			continue
		case tlsSection && f[0] == "certfile":
			line = "certfile " + tlsl.cert
		case tlsSection && f[0] == "keyfile":
			line = "keyfile " + tlsl.key
		case tlsSection && f[0] == "cafile":
			line = "cafile " + tlsl.ca
		case f[0] == "listener":
			line = "listener " + port + " 127.0.0.1"
		case f[0] == "password_file":
			line = "password_file " + passwordFile
		case f[0] == "acl_file":
			line = "acl_file " + aclPath
		case f[0] == "persistence":
			line = "persistence false"
		}
		out = append(out, line)
	}
	if os.Getuid() == 0 {
		// Run as root, Mosquitto drops to user mosquitto, who cannot read
		// the test's temporary directory (in production: chgrp mosquitto).
		out = append([]string{"user root"}, out...)
	}
	confPath := filepath.Join(dir, "mosquitto.conf")
	os.WriteFile(confPath, []byte(strings.Join(out, "\n")+"\n"), 0o644)
	cmd = exec.Command(bin, "-c", confPath)
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("mosquitto:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(5 * time.Second)
	for {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr, cmd
		}
		if time.Now().After(deadline) {
			t.Fatalf("mosquitto did not listen:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestMosquittoWithShippedConfig runs the real agent against Mosquitto
// configured by deploy/, with credentials made by the agent's CLI (the
// same file serves Mosquitto's password_file), and plays the attacks.
func TestMosquittoWithShippedConfig(t *testing.T) {
	dir := t.TempDir()
	store := fmt.Sprintf("s%d", time.Now().UnixNano()%1_000_000_000)
	pwFile := filepath.Join(dir, "terminals.passwd")
	mqttSection := fmt.Sprintf("mqtt: {broker: 'tcp://%%s', username: posoffer-agent, password_file: '%s', terminals_file: '%s'}\n",
		filepath.Join(dir, "agent.secret"), pwFile)
	cli := func(args ...string) string {
		t.Helper()
		cfg := filepath.Join(dir, "cli.yaml")
		os.WriteFile(cfg, []byte(fmt.Sprintf("version: 1\nstore: %s\ndata_dir: %s\ntenant_key_file: /k\n", store, filepath.Join(dir, "data"))+
			fmt.Sprintf(mqttSection, "127.0.0.1:1")), 0o644)
		cmd := exec.Command(agentBin, append(append(args[:len(args):len(args)], "--config", cfg), []string{}...)...)
		if args[0] == "terminal" {
			cmd = exec.Command(agentBin, append([]string{args[0], args[1], "--config", cfg}, args[2:]...)...)
		}
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		if err := cmd.Run(); err != nil {
			t.Fatalf("posoffer-agent %v: %v: %s", args, err, e.String())
		}
		return o.String()
	}
	cli("broker-user")
	secrets := map[string]string{}
	for _, id := range []string{"t01", "t02"} {
		lines := strings.Split(strings.TrimSpace(cli("terminal", "add", id)), "\n")
		secrets[id] = lines[len(lines)-1]
	}
	addr, mosq := startShippedMosquitto(t, dir, pwFile, nil)
	os.MkdirAll(filepath.Join(dir, "agent"), 0o755)
	a := startAgentExtra(t, filepath.Join(dir, "agent"), store, testCatalog, "tcp://"+addr, fmt.Sprintf(mqttSection, addr))

	dial := func(clientID, user, pass string, lost func()) (paho.Client, error) {
		return dialRaw(t, a, clientID, user, pass, lost)
	}
	// Anonymous: refused.
	if _, err := dial("spy", "", "", nil); err == nil {
		t.Error("Mosquitto let an anonymous client in")
	}
	// t01 is served as itself.
	lost1 := make(chan struct{})
	t01, err := dial("t01", "t01", secrets["t01"], func() { close(lost1) })
	if err != nil {
		t.Fatalf("t01: %v", err)
	}
	replies1 := make(chan string, 10)
	out1, _ := protocol.TopicOut(store, "t01")
	in1, _ := protocol.TopicIn(store, "t01")
	in2, _ := protocol.TopicIn(store, "t02")
	out2, _ := protocol.TopicOut(store, "t02")
	status, _ := protocol.TopicStatus(store)
	t01.Subscribe(out1, 1, func(_ paho.Client, m paho.Message) { replies1 <- string(m.Payload()) }).Wait()
	t01.Publish(in1, 1, false, basketMsg("m-1", "T1"))
	select {
	case r := <-replies1:
		if !strings.Contains(r, `"re":"m-1"`) {
			t.Fatalf("t01's reply: %s", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no reply to t01 through Mosquitto")
	}

	// t02 cannot read t01's replies, nor everything: Mosquitto 2 grants the
	// subscriptions but delivers nothing the ACL does not let t02 read
	// (the agent's status, which every terminal may read, aside).
	lost2 := make(chan struct{})
	t02, err := dial("t02", "t02", secrets["t02"], func() { close(lost2) })
	if err != nil {
		t.Fatalf("t02: %v", err)
	}
	spied := make(chan string, 10)
	for _, f := range []string{out1, "posoffer/v1/#"} {
		t02.Subscribe(f, 1, func(_ paho.Client, m paho.Message) {
			if m.Topic() != status && m.Topic() != out2 {
				spied <- m.Topic()
			}
		}).Wait()
	}
	// t02 publishes as t01, a fake reply to t01, and the agent's status:
	// Mosquitto drops each silently (MQTT 3.1.1), so check the effect.
	t02.Publish(in1, 1, false, checkoutMsg("forged", "T-forged")).Wait()
	t02.Publish(out1, 1, false, `{"v":1,"type":"ack","re":"fake"}`).Wait()
	t02.Publish(status, 1, true, protocol.StatusOffline).Wait()
	t02.Publish(in2, 1, false, basketMsg("m-own", "T2")).Wait() // its own: served
	replies2 := make(chan string, 10)
	t02.Subscribe(out2, 1, func(_ paho.Client, m paho.Message) { replies2 <- string(m.Payload()) }).Wait()
	t02.Publish(in2, 1, false, basketMsg("m-own2", "T2")).Wait()
	select {
	case r := <-replies2:
		if !strings.Contains(r, `"re":"m-own`) {
			t.Fatalf("t02's reply: %s", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no reply to t02")
	}
	select {
	case r := <-replies1:
		t.Fatalf("t01 received %s: a forged message got through", r)
	case s := <-spied:
		t.Fatalf("t02 received a message on %s", s)
	case <-time.After(300 * time.Millisecond):
	}
	if got := metric(t, a, "posoffer_checkouts_total"); got != "0" {
		t.Errorf("the agent recorded %s checkouts; the forged one reached it", got)
	}
	st := make(chan string, 1)
	t01.Subscribe(status, 1, func(_ paho.Client, m paho.Message) {
		select {
		case st <- string(m.Payload()):
		default:
		}
	})
	select {
	case s := <-st:
		if s != protocol.StatusOnline {
			t.Errorf("retained status %q, want online", s)
		}
	case <-time.After(5 * time.Second):
		t.Error("no retained status for t01")
	}

	// t01 connecting with t02's client id (or the agent's) gets its own
	// username as client id: t02 and the agent keep their sessions.
	if _, err := dial("t02", "t01", secrets["t01"], nil); err != nil {
		t.Fatal(err)
	}
	if _, err := dial("posoffer-agent-"+store, "t01", secrets["t01"], nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-lost2:
		t.Fatal("t01 took over t02's session")
	case <-time.After(300 * time.Millisecond):
	}
	// (t01's own first session was taken over by its later connects;
	// that is the client-id rule working.)
	<-lost1
	if got := metric(t, a, "posoffer_checkouts_total"); got != "0" {
		t.Errorf("checkouts_total %s", got)
	}
	t01.Disconnect(0)
	if r := newTerminalAs(t, a, "t01", secrets["t01"]); r != nil && !strings.Contains(*r, `"re":"m-9"`) {
		t.Fatalf("the agent no longer serves t01 after the attempts: %s", *r)
	}

	// Revoked, and Mosquitto reloaded: refused.
	cli("terminal", "revoke", "t01")
	mosq.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := dial("t01", "t01", secrets["t01"], nil)
		if err != nil {
			break
		}
		c.Disconnect(0)
		if time.Now().After(deadline) {
			t.Fatal("revoked t01 still connects 5s after SIGHUP")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// newTerminalAs connects as id, sends basket m-9 and returns the reply.
func newTerminalAs(t *testing.T, a *runningAgent, id, secret string) *string {
	t.Helper()
	c, err := dialRaw(t, a, id, id, secret, nil)
	if err != nil {
		t.Fatalf("%s: %v", id, err)
	}
	replies := make(chan string, 1)
	out, _ := protocol.TopicOut(a.store, id)
	in, _ := protocol.TopicIn(a.store, id)
	c.Subscribe(out, 1, func(_ paho.Client, m paho.Message) {
		select {
		case replies <- string(m.Payload()):
		default:
		}
	}).Wait()
	c.Publish(in, 1, false, basketMsg("m-9", "T9"))
	select {
	case r := <-replies:
		return &r
	case <-time.After(5 * time.Second):
		t.Fatalf("no reply to %s", id)
		return nil
	}
}

// TestMosquittoTLSListener runs the shipped configuration with its TLS
// listener on certificates made here: a terminal logs in over TLS with its
// password; a wrong password, a client that does not trust the server and
// plain TCP on the TLS port are refused.
func TestMosquittoTLSListener(t *testing.T) {
	dir := t.TempDir()
	pki := filepath.Join(dir, "pki")
	os.MkdirAll(pki, 0o700)
	ca, caKey, caFile, _ := writeCert(t, pki, "terminals-ca", nil, nil)
	_, _, serverCert, serverKey := writeCert(t, pki, "server", ca, caKey)
	other, _, _, _ := writeCert(t, pki, "other-ca", nil, nil)
	pwFile := filepath.Join(dir, "terminals.passwd")
	addTestTerminals(t, pwFile)
	tlsl := &mosquittoTLS{addr: freePort(t), cert: serverCert, key: serverKey, ca: caFile}
	startShippedMosquitto(t, dir, pwFile, tlsl)

	connect := func(roots *x509.Certificate, user, password string) error {
		pool := x509.NewCertPool()
		pool.AddCert(roots)
		c := paho.NewClient(paho.NewClientOptions().AddBroker("ssl://" + tlsl.addr).SetClientID(user).
			SetUsername(user).SetPassword(password).SetProtocolVersion(4).SetConnectRetry(false).SetAutoReconnect(false).
			SetTLSConfig(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}))
		tok := c.Connect()
		if !tok.WaitTimeout(5 * time.Second) {
			return fmt.Errorf("timed out")
		}
		if tok.Error() == nil {
			c.Disconnect(50)
		}
		return tok.Error()
	}
	if err := connect(ca, "t01", testSecret("t01")); err != nil {
		t.Fatalf("t01 with its password over TLS: %v", err)
	}
	if err := connect(ca, "t01", "wrong"); err == nil {
		t.Error("a wrong password was accepted over TLS")
	}
	if err := connect(other, "t01", testSecret("t01")); err == nil {
		t.Error("a client that does not trust the server's CA completed a TLS handshake")
	}
	plain := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + tlsl.addr).SetClientID("t01").
		SetUsername("t01").SetPassword(testSecret("t01")).SetConnectRetry(false).SetAutoReconnect(false).
		SetConnectTimeout(2 * time.Second))
	if tok := plain.Connect(); tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
		plain.Disconnect(0)
		t.Error("plain MQTT was accepted on the TLS listener")
	}
}
