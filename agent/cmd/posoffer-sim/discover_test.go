package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"

	"github.com/posoffer/posoffer/agent/discovery"
	"github.com/posoffer/posoffer/protocol"
)

func TestDiscoverFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--timeout", "0s"}, 2, "--timeout must be positive"},
		{[]string{"--jsn"}, 2, "flag provided but not defined: -jsn"},
		{[]string{"s001"}, 2, `unexpected argument "s001"`},
		{[]string{"--interfaces", "no-such-if0"}, 1, `interface "no-such-if0" does not exist`},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), append([]string{"discover"}, tc.args...), &stdout, &stderr); code != tc.code || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("discover %q: exit %d, stderr %q; want exit %d and %q", tc.args, code, stderr.String(), tc.code, tc.want)
		}
	}
}

func TestDiscoverTable(t *testing.T) {
	agents := []discovery.Agent{
		{Instance: "posoffer-agent-s001", Host: "pos1.local", Addrs: []net.IP{net.ParseIP("10.0.0.5"), net.ParseIP("fe80::1")},
			Store: "s001", Version: protocol.Version, MQTTPort: 1883, HTTPPort: 8787, AgentVersion: "1.4.0"},
		{Instance: "odd", Version: protocol.Version + 1, HTTPPort: 80, Problems: []string{"TXT has no store= (want a store id)"}},
	}
	var out, warn bytes.Buffer
	printAgents(&out, &warn, agents)
	want := "" +
		"STORE  PROTOCOL  ADDRESSES          MQTT  HTTP  HOST        AGENT\n" +
		"s001   v1        10.0.0.5, fe80::1  1883  8787  pos1.local  1.4.0\n" +
		"-      v2        -                  -     80    -           -\n"
	if out.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", out.String(), want)
	}
	if w := "odd: TXT has no store= (want a store id)\nodd: speaks protocol v2; this posoffer-sim speaks v1\n"; warn.String() != w {
		t.Errorf("warnings:\n%s\nwant:\n%s", warn.String(), w)
	}
}

// TestDiscoverLoopback finds an agent advertised on the loopback interface.
// It skips where lo cannot multicast (the Linux default); the discovery
// package's own tests cover that case in a network namespace.
func TestDiscoverLoopback(t *testing.T) {
	lo := discoverLoopback(t)
	stop, err := discovery.Advertise(discovery.Advert{Store: "sim-discover-test", Version: protocol.Version, MQTTPort: 1883, HTTPPort: 8787,
		IPs: []string{"127.0.0.1"}, Interfaces: []net.Interface{lo}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)

	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"discover", "--timeout", "1s", "--json", "--interfaces", lo.Name}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var agents []discovery.Agent
	if err := json.Unmarshal(stdout.Bytes(), &agents); err != nil {
		t.Fatalf("%v: %s", err, stdout.String())
	}
	found := false
	for _, a := range agents {
		found = found || a.Store == "sim-discover-test" && a.MQTTPort == 1883 && a.HTTPPort == 8787 && len(a.Addrs) == 1 && a.Addrs[0].String() == "127.0.0.1"
	}
	if !found {
		t.Fatalf("agent not listed: %s", stdout.String())
	}

	// Stopped, it is gone. Other tests may advertise on lo meanwhile, so
	// "no agents" is checked only when nothing else answered.
	stop()
	stdout.Reset()
	stderr.Reset()
	code := run(context.Background(), []string{"discover", "--timeout", "300ms", "--interfaces", lo.Name}, &stdout, &stderr)
	switch {
	case strings.Contains(stdout.String(), "sim-discover-test"):
		t.Fatalf("still listed after stop: %s", stdout.String())
	case code == 1 && !strings.Contains(stderr.String(), "no agents found within 300ms on "+lo.Name):
		t.Fatalf("with no agent: stderr %q", stderr.String())
	case code != 0 && code != 1:
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
}

func discoverLoopback(t *testing.T) net.Interface {
	t.Helper()
	ifaces, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, ifi := range ifaces {
		if ifi.Flags&net.FlagLoopback != 0 {
			if ifi.Flags&net.FlagUp == 0 || ifi.Flags&net.FlagMulticast == 0 {
				t.Skipf("%s is down or has no MULTICAST flag, so mDNS cannot run on it (ip link set %s multicast on)", ifi.Name, ifi.Name)
			}
			return ifi
		}
	}
	t.Skip("no loopback interface")
	return net.Interface{}
}
