package discovery

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/grandcat/zeroconf"

	"github.com/posoffer/posoffer/protocol"
)

// These tests run real mDNS between Linux network namespaces. They need
// root and iproute2's ip, and skip without them. Each side runs in a child
// process, this test binary started again inside a namespace with
// helperEnv set: a goroutine cannot safely change namespace, and zeroconf
// starts goroutines of its own.

// helperEnv names the child's job: "advertise STORE BROKER-IP" or
// "browse".
const helperEnv = "POSOFFER_DISCOVERY_HELPER"

// helperResult is what a browse child prints.
type helperResult struct {
	Agents    []Agent `json:"agents"`
	Broker    string  `json:"broker"`
	BrowseErr string  `json:"browse_err"`
	BrokerErr string  `json:"broker_err"`
}

// TestNetnsAcrossVeth advertises an agent and a broker in one namespace
// and finds them from another, over a veth pair that only those two
// namespaces see.
func TestNetnsAcrossVeth(t *testing.T) {
	t.Parallel()
	nsA, nsB := newNetns(t, "a"), newNetns(t, "b")
	id := randomHex(3)
	vethA, vethB := "pd"+id+"a", "pd"+id+"b"
	ip(t, "link", "add", vethA, "netns", nsA, "type", "veth", "peer", "name", vethB, "netns", nsB)
	const subnet = "10.231.7."
	for _, side := range []struct{ ns, dev, addr string }{{nsA, vethA, subnet + "1"}, {nsB, vethB, subnet + "2"}} {
		ip(t, "-n", side.ns, "addr", "add", side.addr+"/24", "dev", side.dev)
		ip(t, "-n", side.ns, "link", "set", side.dev, "up")
		ip(t, "-n", side.ns, "route", "add", "224.0.0.0/4", "dev", side.dev)
	}

	store := uniqueStore(t)
	startHelper(t, nsA, "advertise "+store+" "+subnet+"1")
	out := runHelper(t, nsB, "browse")
	var r helperResult
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("browse child printed %q: %v", out, err)
	}
	if r.BrowseErr != "" || r.BrokerErr != "" {
		t.Fatalf("browse: %s; find broker: %s", r.BrowseErr, r.BrokerErr)
	}
	if len(r.Agents) != 1 {
		t.Fatalf("browsed %+v, want the one agent of %s", r.Agents, nsA)
	}
	a := r.Agents[0]
	if a.Store != store || a.Version != protocol.Version || a.MQTTPort != 1883 || a.HTTPPort != 8787 || a.Port != 8787 ||
		a.Problems != nil || !slices.ContainsFunc(a.Addrs, net.ParseIP(subnet+"1").Equal) || a.Addrs[0].To4() == nil {
		t.Errorf("agent read as %+v", a)
	}
	if r.Broker != "tcp://"+subnet+"1:1883" {
		t.Errorf("broker %q, want tcp://%s1:1883", r.Broker, subnet)
	}
}

// TestNetnsLoopback runs the TestLoopback tests in a namespace whose lo
// can multicast, when this one's cannot.
func TestNetnsLoopback(t *testing.T) {
	if ifaces, err := net.Interfaces(); err == nil && slices.ContainsFunc(ifaces, func(ifi net.Interface) bool {
		return ifi.Flags&net.FlagLoopback != 0 && multicastUp(ifi)
	}) {
		t.Skip("lo can multicast here, so the TestLoopback tests ran in this process")
	}
	t.Parallel()
	ns := newNetns(t, "lo")
	ip(t, "-n", ns, "link", "set", "lo", "up", "multicast", "on")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, executable(t), "-test.run=^TestLoopback", "-test.v", "-test.count=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("TestLoopback tests in %s: %v\n%s", ns, err, out)
	}
	for _, name := range []string{"TestLoopbackBrowse", "TestLoopbackFindBroker", "TestLoopbackFindBrokerTimeout"} {
		if !bytes.Contains(out, []byte("--- PASS: "+name+" ")) {
			t.Errorf("%s did not pass in %s:\n%s", name, ns, out)
		}
	}
}

// helperMain is the child's side: it advertises until its stdin closes, or
// browses and prints a helperResult.
func helperMain(job string) int {
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	switch args := strings.Fields(job); {
	case len(args) == 3 && args[0] == "advertise":
		stop, err := Advertise(Advert{Store: args[1], Version: protocol.Version, MQTTPort: 1883, HTTPPort: 8787})
		if err != nil {
			return fail(err)
		}
		defer stop()
		broker, err := zeroconf.RegisterProxy("mosquitto", BrokerService, Domain, 1883, "broker", []string{args[2]}, nil, nil)
		if err != nil {
			return fail(err)
		}
		defer broker.Shutdown()
		fmt.Println("ready")
		io.Copy(io.Discard, os.Stdin)
		return 0
	case len(args) == 1 && args[0] == "browse":
		var r helperResult
		ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		defer cancel()
		agents, err := Browse(ctx, nil)
		r.Agents = agents
		if err != nil {
			r.BrowseErr = err.Error()
		}
		ctx, cancel = context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		r.Broker, err = FindBroker(ctx, nil)
		if err != nil {
			r.BrokerErr = err.Error()
		}
		if err := json.NewEncoder(os.Stdout).Encode(r); err != nil {
			return fail(err)
		}
		return 0
	}
	return fail(fmt.Errorf("%s=%q: unknown job", helperEnv, job))
}

// newNetns creates a network namespace for t, deleted when t ends, and
// skips t when it cannot.
func newNetns(t *testing.T, suffix string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2's ip to create network namespaces")
	}
	name := "posoffer-test-" + randomHex(4) + "-" + suffix
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Skipf("cannot create a network namespace here: ip netns add: %v: %s", err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "delete", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns delete %s: %v: %s", name, err, out)
		}
	})
	return name
}

// ip runs ip with args, failing t on an error.
func ip(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
}

// startHelper starts a child on job in ns, waits until it prints ready,
// and ends it when t ends.
func startHelper(t *testing.T, ns, job string) {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns, executable(t))
	cmd.Env = append(os.Environ(), helperEnv+"="+job)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	t.Cleanup(func() {
		stdin.Close() // the child's signal to stop
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("child %q in %s: %v\n%s", job, ns, err, stderr.String())
			}
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
			t.Errorf("child %q in %s did not stop within 5s of its stdin closing", job, ns)
		}
	})
	ready := make(chan bool, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		ready <- line == "ready\n"
		io.Copy(io.Discard, stdout)
		exited <- cmd.Wait()
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatalf("child %q in %s did not start:\n%s", job, ns, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("child %q in %s not ready within 10s", job, ns)
	}
}

// runHelper runs a child on job in ns and returns what it printed.
func runHelper(t *testing.T, ns, job string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, executable(t))
	cmd.Env = append(os.Environ(), helperEnv+"="+job)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child %q in %s: %v\n%s", job, ns, err, stderr.String())
	}
	return out
}

// executable is this test binary's path. ip must be given it: it would
// read /proc/self/exe as itself.
func executable(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
