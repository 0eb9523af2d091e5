package discovery

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/grandcat/zeroconf"

	"github.com/posoffer/posoffer/protocol"
)

// Agent is an agent that answered on the LAN. A TXT value that is missing
// or malformed leaves its field zero and is described in Problems; the
// agent is listed all the same, so a technician sees it.
type Agent struct {
	Instance     string   `json:"instance"`                // posoffer-agent-{store}
	Host         string   `json:"host"`                    // such as pos1.local
	Addrs        []net.IP `json:"addrs"`                   // IPv4 first, then IPv6
	Port         int      `json:"port"`                    // the SRV port: the HTTP port
	Store        string   `json:"store"`                   // TXT store
	Version      int      `json:"version"`                 // TXT v: the protocol version
	MQTTPort     int      `json:"mqtt_port"`               // TXT mqtt; 0: terminals use a broker elsewhere
	HTTPPort     int      `json:"http_port"`               // TXT http
	AgentVersion string   `json:"agent_version,omitempty"` // TXT agent
	Problems     []string `json:"problems,omitempty"`      // what was wrong with the advert
}

// Browse lists the agents that answer on ifaces (empty: every interface
// that is up and can multicast) until ctx ends, or for DefaultTimeout when
// ctx has no deadline. Each agent appears once; they are sorted by store,
// then instance. Finding none is not an error.
func Browse(ctx context.Context, ifaces []net.Interface) ([]Agent, error) {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	var agents []Agent
	err := browse(ctx, ifaces, Service, func(e *zeroconf.ServiceEntry) bool {
		a := agentFrom(e)
		if i := slices.IndexFunc(agents, func(b Agent) bool { return b.Instance == a.Instance }); i >= 0 {
			agents[i].Addrs = appendNew(agents[i].Addrs, a.Addrs...)
		} else {
			agents = append(agents, a)
		}
		return false
	})
	if err != nil {
		return nil, fmt.Errorf("look for agents on the LAN: %w", err)
	}
	slices.SortFunc(agents, func(a, b Agent) int {
		return cmp.Or(cmp.Compare(a.Store, b.Store), cmp.Compare(a.Instance, b.Instance))
	})
	return agents, nil
}

// FindBroker returns the URL, tcp://ip:port, of the first MQTT broker that
// answers for _mqtt._tcp on ifaces (empty: every interface that is up and
// can multicast). It waits until ctx ends, or for DefaultTimeout when ctx
// has no deadline; finding nothing in that time is an error wrapping
// ErrNoBroker. An IPv4 address is preferred; a broker with only link-local
// IPv6 addresses is passed over, as its URL would need an interface.
func FindBroker(ctx context.Context, ifaces []net.Interface) (string, error) {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	start := time.Now()
	var url string
	err := browse(ctx, ifaces, BrokerService, func(e *zeroconf.ServiceEntry) bool {
		url = brokerURL(e)
		return url != ""
	})
	switch {
	case err != nil:
		return "", fmt.Errorf("look for an MQTT broker on the LAN: %w", err)
	case url != "":
		return url, nil
	case errors.Is(ctx.Err(), context.Canceled):
		return "", fmt.Errorf("look for an MQTT broker on the LAN: %w", ctx.Err())
	}
	return "", fmt.Errorf("%w within %v: start the store's broker and have it advertise %s (Mosquitto: an Avahi service file), or set mqtt.broker to tcp://host:port",
		ErrNoBroker, waited(time.Since(start)), BrokerService)
}

// waited rounds d for a person: 3s, 1.5s, 300ms.
func waited(d time.Duration) time.Duration {
	if d >= time.Second {
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(10 * time.Millisecond)
}

// browse listens for the instances of service until ctx ends or found
// returns true. It reads the resolver's channel to its end in every case:
// zeroconf's goroutines block on it until they see ctx end.
func browse(ctx context.Context, ifaces []net.Interface, service string, found func(*zeroconf.ServiceEntry) bool) error {
	if len(ifaces) == 0 {
		var err error
		if ifaces, err = Interfaces(nil); err != nil {
			return err
		}
	}
	r, err := newResolver(ifaces)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	entries := make(chan *zeroconf.ServiceEntry)
	err = r.Browse(ctx, service, Domain, entries) // on error it ends by itself, closing entries
	done := err != nil
	for e := range entries {
		if !done && found(e) {
			done = true
			cancel()
		}
	}
	if err != nil {
		return fmt.Errorf("query for %s: %v", service, err)
	}
	return nil
}

// newResolver listens for mDNS on ifaces over IPv4 and IPv6, or over the
// one that works: zeroconf gives up on both when either fails, as on a host
// with IPv6 turned off.
func newResolver(ifaces []net.Interface) (*zeroconf.Resolver, error) {
	var first error
	for _, ipt := range []zeroconf.IPType{zeroconf.IPv4AndIPv6, zeroconf.IPv4, zeroconf.IPv6} {
		r, err := zeroconf.NewResolver(zeroconf.SelectIfaces(ifaces), zeroconf.SelectIPTraffic(ipt))
		if err == nil {
			return r, nil
		}
		if first == nil {
			first = err
		}
	}
	return nil, fmt.Errorf("listen for mDNS (UDP port 5353) on interfaces %s: %v", nameList(ifaces), first)
}

// brokerURL is tcp://ip:port for a broker's entry, or "" when it has no
// port or no usable address.
func brokerURL(e *zeroconf.ServiceEntry) string {
	if e.Port < 1 || e.Port > 65535 {
		return ""
	}
	port := strconv.Itoa(e.Port)
	for _, ip := range e.AddrIPv4 {
		if ip4 := ip.To4(); ip4 != nil && !ip4.IsUnspecified() {
			return "tcp://" + net.JoinHostPort(ip4.String(), port)
		}
	}
	for _, ip := range e.AddrIPv6 {
		if len(ip) == net.IPv6len && !ip.IsUnspecified() && !ip.IsLinkLocalUnicast() {
			return "tcp://" + net.JoinHostPort(ip.String(), port)
		}
	}
	return ""
}

// agentFrom reads an agent from its DNS-SD entry.
func agentFrom(e *zeroconf.ServiceEntry) Agent {
	a := Agent{
		Instance: e.Instance,
		Host:     strings.TrimSuffix(e.HostName, "."),
		Port:     e.Port,
		Addrs:    appendNew(appendNew(nil, e.AddrIPv4...), e.AddrIPv6...),
	}
	a.readTXT(e.Text)
	return a
}

// readTXT sets a's fields from the strings of its TXT record. As RFC 6763
// asks, keys are case-insensitive, only the first of a repeated key counts,
// and unknown keys are ignored.
func (a *Agent) readTXT(txt []string) {
	seen := map[string]bool{}
	for _, kv := range txt {
		k, v, _ := strings.Cut(kv, "=")
		k = strings.ToLower(k)
		if k == "" || seen[k] {
			continue
		}
		seen[k] = true
		var ok bool
		switch k {
		case KeyStore:
			if ok = protocol.ValidStoreID(v); ok {
				a.Store = v
			}
		case KeyVersion:
			a.Version, ok = number(v, 1, 1<<20)
		case KeyMQTT:
			a.MQTTPort, ok = number(v, 0, 65535)
		case KeyHTTP:
			a.HTTPPort, ok = number(v, 1, 65535)
		case KeyAgent:
			if ok = validAgentVersion(v); ok {
				a.AgentVersion = v
			}
		default:
			ok = true
		}
		if !ok {
			a.Problems = append(a.Problems, fmt.Sprintf("TXT %s=%s: %s", k, quote(v), txtRules[k]))
		}
	}
	for _, k := range []string{KeyStore, KeyVersion, KeyMQTT, KeyHTTP} {
		if !seen[k] {
			a.Problems = append(a.Problems, fmt.Sprintf("TXT has no %s= (%s)", k, txtRules[k]))
		}
	}
}

// txtRules says what each key must hold.
var txtRules = map[string]string{
	KeyStore:   "want a store id",
	KeyVersion: "want a protocol version, a whole number from 1",
	KeyMQTT:    "want a port, 0 to 65535",
	KeyHTTP:    "want a port, 1 to 65535",
	KeyAgent:   "want at most 64 printable characters",
}

// number reads s as a whole number from lo to hi: digits only, no sign,
// at most 7 of them.
func number(s string, lo, hi int) (int, bool) {
	if s == "" || len(s) > 7 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	if n < lo || n > hi {
		return 0, false
	}
	return n, true
}

// quote quotes a value from the network for a message, cut to 40 bytes.
func quote(s string) string {
	if len(s) > 40 {
		return strconv.Quote(s[:40]) + "..."
	}
	return strconv.Quote(s)
}

// appendNew appends the addresses of add that are not in ips yet.
func appendNew(ips []net.IP, add ...net.IP) []net.IP {
	for _, ip := range add {
		if ip != nil && !slices.ContainsFunc(ips, ip.Equal) {
			ips = append(ips, ip)
		}
	}
	return ips
}
