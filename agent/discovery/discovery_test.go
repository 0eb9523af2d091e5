package discovery

import (
	"context"
	"errors"
	"net"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/grandcat/zeroconf"

	"github.com/posoffer/posoffer/protocol"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(helperMain(mode)) // one side of a test, in another network namespace
	}
	os.Exit(m.Run())
}

// The TestLoopback tests advertise and browse on the loopback interface,
// in this process. When lo cannot multicast (the Linux default), they skip
// and TestNetnsLoopback runs them in a namespace of their own where it can.

func TestLoopbackBrowse(t *testing.T) {
	lo := loopback(t)
	checkGoroutines(t)
	s1, s2 := uniqueStore(t), uniqueStore(t)
	stop1 := advertise(t, Advert{Store: s1, Version: protocol.Version, AgentVersion: "test", MQTTPort: 1883, HTTPPort: 8787,
		IPs: []string{"127.0.0.1"}, Interfaces: []net.Interface{lo}})
	advertise(t, Advert{Store: s2, Version: protocol.Version, HTTPPort: 8788, Host: "till-host",
		IPs: []string{"127.0.0.1"}, Interfaces: []net.Interface{lo}})

	agents := browseFor(t, 1500*time.Millisecond, lo)
	a1, a2 := find(agents, s1), find(agents, s2)
	if a1 == nil || a2 == nil {
		t.Fatalf("browsed %+v, want stores %s and %s", agents, s1, s2)
	}
	if a1.Instance != InstancePrefix+s1 || a1.Version != protocol.Version || a1.MQTTPort != 1883 || a1.HTTPPort != 8787 ||
		a1.Port != 8787 || a1.AgentVersion != "test" || !strings.HasSuffix(a1.Host, ".local") || a1.Problems != nil ||
		!slices.EqualFunc(a1.Addrs, []net.IP{net.IPv4(127, 0, 0, 1)}, net.IP.Equal) {
		t.Errorf("agent 1 read as %+v", *a1)
	}
	if a2.Host != "till-host.local" || a2.MQTTPort != 0 || a2.HTTPPort != 8788 {
		t.Errorf("agent 2 read as %+v", *a2)
	}
	if !slices.IsSortedFunc(agents, func(a, b Agent) int { return strings.Compare(a.Store, b.Store) }) {
		t.Errorf("not sorted by store: %+v", agents)
	}

	stop1()
	stop1() // twice is harmless
	agents = browseFor(t, time.Second, lo)
	if find(agents, s1) != nil || find(agents, s2) == nil {
		t.Errorf("after stopping %s, browsed %+v", s1, agents)
	}
}

func TestLoopbackFindBroker(t *testing.T) {
	lo := loopback(t)
	checkGoroutines(t)
	s, err := zeroconf.RegisterProxy("mosquitto-"+uniqueStore(t), BrokerService, Domain, 18830, "broker-host",
		[]string{"127.0.0.1"}, []string{"version=2"}, []net.Interface{lo})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)

	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	url, err := FindBroker(ctx, []net.Interface{lo})
	if err != nil {
		t.Fatal(err)
	}
	if url != "tcp://127.0.0.1:18830" {
		t.Fatalf("FindBroker = %q, want tcp://127.0.0.1:18830", url)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("FindBroker took %v; it should return on the first answer", d)
	}
}

func TestLoopbackFindBrokerTimeout(t *testing.T) {
	lo := loopback(t)
	checkGoroutines(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := FindBroker(ctx, []net.Interface{lo})
	if !errors.Is(err, ErrNoBroker) || !strings.HasPrefix(err.Error(), "no MQTT broker (_mqtt._tcp) found on the LAN within 300ms: ") {
		t.Fatalf("err = %v", err)
	}

	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err = FindBroker(ctx, []net.Interface{lo})
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrNoBroker) {
		t.Fatalf("canceled: err = %v, want context.Canceled", err)
	}
}

// loopback returns the loopback interface, or skips t when it cannot
// multicast.
func loopback(t *testing.T) net.Interface {
	t.Helper()
	ifaces, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, ifi := range ifaces {
		if ifi.Flags&net.FlagLoopback == 0 {
			continue
		}
		if !multicastUp(ifi) {
			t.Skipf("%s is down or has no MULTICAST flag, so mDNS cannot run on it (ip link set %s multicast on); TestNetnsLoopback runs this test in a namespace where it can",
				ifi.Name, ifi.Name)
		}
		return ifi
	}
	t.Skip("no loopback interface")
	return net.Interface{}
}

// advertise calls Advertise and stops the advert when t ends.
func advertise(t *testing.T, a Advert) (stop func()) {
	t.Helper()
	stop, err := Advertise(a)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return stop
}

func browseFor(t *testing.T, d time.Duration, ifaces ...net.Interface) []Agent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	agents, err := Browse(ctx, ifaces)
	if err != nil {
		t.Fatal(err)
	}
	return agents
}

func find(agents []Agent, store string) *Agent {
	for i := range agents {
		if agents[i].Store == store {
			return &agents[i]
		}
	}
	return nil
}

// uniqueStore is a store id no other test run uses, so runs that share a
// network do not read each other's adverts as their own.
func uniqueStore(t testing.TB) string {
	t.Helper()
	return "t" + randomHex(4)
}

// checkGoroutines fails t when zeroconf goroutines outlive it. zeroconf's
// announcer, which sleeps through its announcements for up to 4s after an
// advert starts and outlives Shutdown, is let go.
func checkGoroutines(t *testing.T) {
	t.Helper()
	t.Cleanup(func() {
		deadline := time.Now().Add(2 * time.Second)
		for {
			left := zeroconfGoroutines()
			if len(left) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("%d zeroconf goroutines left running:\n\n%s", len(left), strings.Join(left, "\n\n"))
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

func zeroconfGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var left []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "grandcat/zeroconf") && !strings.Contains(g, "zeroconf.(*Server).probe") {
			left = append(left, g)
		}
	}
	return left
}
