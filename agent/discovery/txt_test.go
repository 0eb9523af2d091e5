package discovery

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/grandcat/zeroconf"

	"github.com/posoffer/posoffer/protocol"
)

func TestReadTXT(t *testing.T) {
	for _, tc := range []struct {
		name     string
		txt      []string
		want     Agent
		problems []string // each must appear in one problem, in order
	}{
		{"complete", []string{"store=s001", "v=1", "mqtt=1883", "http=8787", "agent=1.4.0"},
			Agent{Store: "s001", Version: 1, MQTTPort: 1883, HTTPPort: 8787, AgentVersion: "1.4.0"}, nil},
		{"no broker here", []string{"store=s001", "v=1", "mqtt=0", "http=8787"},
			Agent{Store: "s001", Version: 1, HTTPPort: 8787}, nil},
		{"keys in any case, unknown keys ignored", []string{"STORE=s002", "V=2", "Mqtt=1", "HTTP=2", "colour=blue", "flag"},
			Agent{Store: "s002", Version: 2, MQTTPort: 1, HTTPPort: 2}, nil},
		{"first of a repeated key counts", []string{"store=s001", "store=s999", "v=1", "v=x", "mqtt=1", "http=2"},
			Agent{Store: "s001", Version: 1, MQTTPort: 1, HTTPPort: 2}, nil},
		{"empty key ignored", []string{"=x", "store=s001", "v=1", "mqtt=1", "http=2"},
			Agent{Store: "s001", Version: 1, MQTTPort: 1, HTTPPort: 2}, nil},
		{"empty record", nil, Agent{},
			[]string{"TXT has no store=", "TXT has no v=", "TXT has no mqtt=", "TXT has no http="}},
		{"bad values", []string{"store=Store 1", "v=0", "mqtt=65536", "http=0", "agent=a b"},
			Agent{},
			[]string{`TXT store="Store 1": want a store id`, `TXT v="0"`, `TXT mqtt="65536": want a port, 0 to 65535`, `TXT http="0": want a port, 1 to 65535`, `TXT agent="a b"`}},
		{"signs and spaces are not numbers", []string{"store=s1", "v=+1", "mqtt= 1", "http=-1"},
			Agent{Store: "s1"}, []string{`v="+1"`, `mqtt=" 1"`, `http="-1"`}},
		{"key without value", []string{"store", "v=1", "mqtt=1", "http=2"},
			Agent{Version: 1, MQTTPort: 1, HTTPPort: 2}, []string{`TXT store="": want a store id`}},
		{"long value cut in the problem", []string{"store=" + strings.Repeat("x", 300), "v=1", "mqtt=1", "http=2"},
			Agent{Version: 1, MQTTPort: 1, HTTPPort: 2}, []string{`"` + strings.Repeat("x", 40) + `"...`}},
		{"control bytes quoted", []string{"store=s1\x00\n", "v=1", "mqtt=1", "http=2"},
			Agent{Version: 1, MQTTPort: 1, HTTPPort: 2}, []string{`"s1\x00\n"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var a Agent
			a.readTXT(tc.txt)
			problems := a.Problems
			a.Problems = nil
			if fmt.Sprint(a) != fmt.Sprint(tc.want) {
				t.Errorf("read %+v\nwant %+v", a, tc.want)
			}
			if len(problems) != len(tc.problems) {
				t.Fatalf("problems %q, want %d matching %q", problems, len(tc.problems), tc.problems)
			}
			for i, w := range tc.problems {
				if !strings.Contains(problems[i], w) {
					t.Errorf("problem %q lacks %q", problems[i], w)
				}
			}
		})
	}
}

func FuzzReadTXT(f *testing.F) {
	f.Add("store=s001\x00v=1\x00mqtt=1883\x00http=8787\x00agent=dev")
	f.Add("STORE=\x00v=99999999\x00=\x00mqtt")
	f.Fuzz(func(t *testing.T, s string) {
		var a Agent
		a.readTXT(strings.Split(s, "\x00"))
		if a.Store != "" && !protocol.ValidStoreID(a.Store) {
			t.Errorf("store %q accepted", a.Store)
		}
		if a.Version < 0 || a.MQTTPort < 0 || a.MQTTPort > 65535 || a.HTTPPort < 0 || a.HTTPPort > 65535 {
			t.Errorf("out of range: %+v", a)
		}
		for _, p := range a.Problems {
			if len(p) > 200 {
				t.Errorf("problem of %d bytes", len(p))
			}
		}
	})
}

func TestAdvertTXTReadsBack(t *testing.T) {
	ad := Advert{Store: "s001", Version: protocol.Version, AgentVersion: "v1.2.3-4-gabc", MQTTPort: 1883, HTTPPort: 8787}
	var a Agent
	a.readTXT(ad.txt())
	if a.Store != ad.Store || a.Version != ad.Version || a.AgentVersion != ad.AgentVersion || a.MQTTPort != 1883 || a.HTTPPort != 8787 || a.Problems != nil {
		t.Fatalf("advertised %+v, read back %+v", ad, a)
	}
}

func TestAdvertiseRefuses(t *testing.T) {
	good := Advert{Store: "s001", Version: 1, HTTPPort: 8787}
	for _, tc := range []struct {
		name string
		edit func(*Advert)
		want string
	}{
		{"no store", func(a *Advert) { a.Store = "" }, `store "": want 1 to 32 characters`},
		{"bad store", func(a *Advert) { a.Store = "S 1" }, `store "S 1"`},
		{"no version", func(a *Advert) { a.Version = 0 }, "protocol version must be at least 1"},
		{"mqtt port", func(a *Advert) { a.MQTTPort = 70000 }, "MQTT port must be 0 to 65535, got 70000"},
		{"no http port", func(a *Advert) { a.HTTPPort = 0 }, "HTTP port must be 1 to 65535, got 0"},
		{"agent version with space", func(a *Advert) { a.AgentVersion = "1 2" }, `agent version "1 2"`},
		{"agent version with quote", func(a *Advert) { a.AgentVersion = `1"2` }, "agent version"},
		{"host with domain", func(a *Advert) { a.Host = "pos1.local" }, `host "pos1.local": want one DNS label`},
		{"bad ip", func(a *Advert) { a.IPs = []string{"127.0.0.1", "pos1"} }, `IPs[1] "pos1" is not an IP address`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := good
			tc.edit(&a)
			stop, err := Advertise(a)
			if err == nil {
				stop()
				t.Fatal("advertised")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q lacks %q", err, tc.want)
			}
		})
	}
}

func TestInterfacesNamesTheMissingOne(t *testing.T) {
	_, err := Interfaces([]string{"no-such-if0"})
	if !errors.Is(err, ErrNoInterface) || !strings.Contains(err.Error(), `interface "no-such-if0" does not exist; usable here: `) {
		t.Fatalf("err = %v", err)
	}
}

func TestLANPort(t *testing.T) {
	for addr, want := range map[string]int{
		"0.0.0.0:1883":            1883,
		":1883":                   1883,
		"192.168.1.5:1883":        1883,
		"[::]:1883":               1883,
		"[fe80::1%eth0]:1":        1,
		"pos1.local:1883":         1883,
		"127.0.0.1:1883":          0,
		"127.1.2.3:1883":          0,
		"[::1]:1883":              0,
		"[::ffff:127.0.0.1]:1883": 0,
		"localhost:1883":          0,
		"LocalHost:1883":          0,
		"0.0.0.0:0":               0,
		"0.0.0.0:65536":           0,
		"0.0.0.0:http":            0,
		"1883":                    0,
		"":                        0,
	} {
		if got := LANPort(addr); got != want {
			t.Errorf("LANPort(%q) = %d, want %d", addr, got, want)
		}
	}
}

func ExampleLANPort() {
	fmt.Println(LANPort("0.0.0.0:1883"), LANPort("127.0.0.1:1883"))
	// Output: 1883 0
}

func TestBrokerURL(t *testing.T) {
	ip := net.ParseIP
	for _, tc := range []struct {
		name   string
		port   int
		v4, v6 []net.IP
		want   string
	}{
		{"ipv4 preferred", 1883, []net.IP{ip("10.0.0.5")}, []net.IP{ip("2001:db8::5")}, "tcp://10.0.0.5:1883"},
		{"global ipv6", 1883, nil, []net.IP{ip("fe80::5"), ip("2001:db8::5")}, "tcp://[2001:db8::5]:1883"},
		{"link-local only", 1883, nil, []net.IP{ip("fe80::5")}, ""},
		{"no port", 0, []net.IP{ip("10.0.0.5")}, nil, ""},
		{"no address", 1883, nil, nil, ""},
		{"unspecified skipped", 1883, []net.IP{ip("0.0.0.0"), ip("10.0.0.6")}, nil, "tcp://10.0.0.6:1883"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := zeroconf.NewServiceEntry("m", BrokerService, Domain)
			e.Port, e.AddrIPv4, e.AddrIPv6 = tc.port, tc.v4, tc.v6
			if got := brokerURL(e); got != tc.want {
				t.Fatalf("brokerURL = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestDefaultHostIsALabel(t *testing.T) {
	if h := defaultHost("s001"); !validLabel(h) {
		t.Fatalf("defaultHost = %q, not a DNS label", h)
	}
}

func TestAgentFromMergesAddresses(t *testing.T) {
	e := zeroconf.NewServiceEntry(InstancePrefix+"s001", Service, Domain)
	e.HostName, e.Port = "pos1.local.", 8787
	e.AddrIPv4 = []net.IP{net.ParseIP("10.0.0.5"), net.ParseIP("10.0.0.5").To4()}
	e.AddrIPv6 = []net.IP{net.ParseIP("fe80::1")}
	e.Text = Advert{Store: "s001", Version: 1, HTTPPort: 8787}.txt()
	a := agentFrom(e)
	if a.Host != "pos1.local" || a.Port != 8787 || a.Store != "s001" ||
		!slices.EqualFunc(a.Addrs, []net.IP{net.ParseIP("10.0.0.5"), net.ParseIP("fe80::1")}, net.IP.Equal) {
		t.Fatalf("agentFrom = %+v", a)
	}
}
