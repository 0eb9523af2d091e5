package main

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/posoffer/posoffer/protocol"
)

// dialRaw connects without retries as clientID with these credentials and
// returns the client or the connect error.
func dialRaw(t *testing.T, a *runningAgent, clientID, user, pass string, lost func()) (paho.Client, error) {
	t.Helper()
	o := paho.NewClientOptions().AddBroker(a.broker).SetClientID(clientID).SetUsername(user).SetPassword(pass).
		SetProtocolVersion(4).SetAutoReconnect(false).SetConnectRetry(false)
	if lost != nil {
		o.SetConnectionLostHandler(func(paho.Client, error) { lost() })
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

func agentCLI(t *testing.T, a *runningAgent, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	// args are the command and subcommand, then its arguments: --config goes between.
	full := append(append(args[:2:2], "--config", filepath.Join(a.dir, "agent.yaml")), args[2:]...)
	cmd := exec.Command(agentBin, full...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code = 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

func refusedMetric(t *testing.T, a *runningAgent, reason string) string {
	return metric(t, a, `posoffer_mqtt_refused_total{reason="`+reason+`"}`)
}

// TestAgentBrokerRefusesAttacks plays, against the real agent's embedded
// broker, the attacks a device on the store LAN could try; each is refused
// and counted in /metrics.
func TestAgentBrokerRefusesAttacks(t *testing.T) {
	a := startAgent(t, t.TempDir(), "")
	if !a.authenticated {
		t.Skip("POSOFFER_TEST_MQTT_URL names an external broker: the embedded broker's rules are not in play")
	}

	// A technician adds a terminal with the CLI; the secret is the last line.
	out, errOut, code := agentCLI(t, a, "terminal", "add", "t40")
	if code != 0 {
		t.Fatalf("terminal add: exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	secret := lines[len(lines)-1]
	if len(secret) < 40 || strings.Contains(secret, " ") {
		t.Fatalf("the last line is not a secret alone: %q", out)
	}
	for _, bad := range []string{"agent", "posoffer-agent", "posoffer-agent-" + a.store, "T40", "t40/in", "t40"} {
		if _, _, code := agentCLI(t, a, "terminal", "add", bad); code != exitUsage {
			t.Errorf("terminal add %q: exit %d, want %d", bad, code, exitUsage)
		}
	}
	out, _, _ = agentCLI(t, a, "terminal", "list")
	if !strings.Contains(out, "t40") || strings.Contains(out, secret) || strings.Contains(out, "$7$") {
		t.Fatalf("terminal list:\n%s", out)
	}

	// The new terminal is served as itself.
	lost := make(chan struct{})
	t40, err := dialRaw(t, a, "t40", "t40", secret, func() { close(lost) })
	if err != nil {
		t.Fatalf("t40 with the secret the CLI printed: %v", err)
	}
	replies := make(chan *protocol.Message, 10)
	out40, _ := protocol.TopicOut(a.store, "t40")
	in40, _ := protocol.TopicIn(a.store, "t40")
	t40.Subscribe(out40, 1, func(_ paho.Client, m paho.Message) {
		if r, err := protocol.Decode(m.Payload()); err == nil {
			replies <- r
		} else {
			replies <- &protocol.Message{Type: "undecodable"}
		}
	}).Wait()
	t40.Publish(in40, 1, false, basketMsg("m-1", "T1"))
	select {
	case r := <-replies:
		if r.Type != protocol.TypeOffers || r.Re != "m-1" {
			t.Fatalf("t40's reply: %+v", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no reply to t40")
	}

	// An anonymous client cannot even connect (to subscribe to posoffer/v1/#).
	if _, err := dialRaw(t, a, "spy", "", "", nil); err == nil {
		t.Error("an anonymous client connected")
	}
	if got := refusedMetric(t, a, "anonymous"); got != "1" {
		t.Errorf("refused{anonymous} = %q, want 1", got)
	}
	// Taking over the agent's client id: anonymously, and as a terminal.
	if _, err := dialRaw(t, a, "posoffer-agent-"+a.store, "", "", nil); err == nil {
		t.Error("an anonymous client took the agent's client id")
	}
	if _, err := dialRaw(t, a, "posoffer-agent-"+a.store, "t02", testSecret("t02"), nil); err == nil {
		t.Error("t02 took the agent's client id")
	}
	if got := refusedMetric(t, a, "client_id"); got != "1" {
		t.Errorf("refused{client_id} = %q, want 1", got)
	}

	// t02, a real terminal, attacks t40: a checkout in t40's name, a fake
	// reply to t40, and the agent's retained status.
	status, _ := protocol.TopicStatus(a.store)
	for i, atk := range []struct{ topic, payload string }{
		{in40, checkoutMsg("forged", "T-forged")},
		{out40, `{"v":1,"type":"offers","re":"m-2","offers":[{"id":"free-everything","discount":99999}]}`},
		{status, protocol.StatusOffline},
	} {
		t02, err := dialRaw(t, a, "t02", "t02", testSecret("t02"), nil)
		if err != nil {
			t.Fatal(err)
		}
		t02.Publish(atk.topic, 1, atk.topic == status, atk.payload).WaitTimeout(2 * time.Second)
		deadline := time.Now().Add(5 * time.Second)
		for refusedMetric(t, a, "publish") != fmt.Sprint(i+1) {
			if time.Now().After(deadline) {
				t.Fatalf("publish on %s: refused{publish} = %s, want %d", atk.topic, refusedMetric(t, a, "publish"), i+1)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	t40.Publish(in40, 1, false, basketMsg("m-2", "T1"))
	select {
	case r := <-replies:
		if r.Type != protocol.TypeOffers || r.Re != "m-2" {
			t.Fatalf("t40's next reply is %+v: a fake got through", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no reply to t40")
	}
	if got := metric(t, a, "posoffer_checkouts_total"); got != "0" {
		t.Errorf("checkouts_total = %q after a forged checkout, want 0", got)
	}
	st := make(chan string, 1)
	t40.Subscribe(status, 1, func(_ paho.Client, m paho.Message) {
		select {
		case st <- string(m.Payload()):
		default:
		}
	})
	select {
	case s := <-st:
		if s != protocol.StatusOnline {
			t.Errorf("retained status %q after an attack, want online", s)
		}
	case <-time.After(5 * time.Second):
		t.Error("no retained status after an attack")
	}

	// Revoked on the running agent: the live session ends, and the
	// terminal is refused from then on.
	if _, errOut, code := agentCLI(t, a, "terminal", "revoke", "t40"); code != 0 {
		t.Fatalf("terminal revoke: %s", errOut)
	}
	select {
	case <-lost:
	case <-time.After(5 * time.Second):
		t.Fatal("t40 still connected 5s after it was revoked")
	}
	if _, err := dialRaw(t, a, "t40", "t40", secret, nil); err == nil {
		t.Fatal("revoked t40 connected again")
	}
	if got := refusedMetric(t, a, "revoked"); got != "1" {
		t.Errorf("refused{revoked} = %q, want 1", got)
	}
	if got := refusedMetric(t, a, "bad_credentials"); got != "1" {
		t.Errorf("refused{bad_credentials} = %q, want 1 (the revoked terminal's try)", got)
	}
	if strings.Contains(a.logs.String(), secret) || strings.Contains(a.logs.String(), testSecret("t02")) {
		t.Error("the agent's log holds a terminal's secret")
	}
}
