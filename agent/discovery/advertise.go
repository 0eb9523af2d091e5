package discovery

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/grandcat/zeroconf"

	"github.com/posoffer/posoffer/protocol"
)

// Advert is what an agent tells the LAN about itself.
type Advert struct {
	Store        string // the store id; required
	Version      int    // the protocol version it speaks, protocol.Version
	AgentVersion string // its build version; optional, at most 64 printable ASCII characters
	MQTTPort     int    // the port of its MQTT broker for terminals, 0 to 65535; 0: none here (see LANPort)
	HTTPPort     int    // the port of its health and metrics listener, 1 to 65535; also the SRV port

	// Host is the host name to advertise: one DNS label of letters,
	// digits and -, without .local. Empty: this machine's host name.
	Host string
	// IPs are the addresses to advertise. Empty: every address of
	// Interfaces but loopback ones (IPv6 link-local only when an interface
	// has no global IPv6 address).
	IPs []string
	// Interfaces are where the advert is answered. Empty: every interface
	// that is up and can multicast (see Interfaces).
	Interfaces []net.Interface
}

// Instance returns the advert's DNS-SD instance name,
// posoffer-agent-{store}.
func (a Advert) Instance() string { return InstancePrefix + a.Store }

// Advertise answers mDNS queries for the agent's _posoffer._tcp service
// until stop is called. stop sends a goodbye, so browsers drop the agent at
// once; it may be called more than once.
func Advertise(a Advert) (stop func(), err error) {
	if err := a.check(); err != nil {
		return nil, fmt.Errorf("advertise agent on the LAN: %w", err)
	}
	ifaces := a.Interfaces
	if len(ifaces) == 0 {
		if ifaces, err = Interfaces(nil); err != nil {
			return nil, fmt.Errorf("advertise %s on the LAN: %w", a.Instance(), err)
		}
	}
	ips := a.IPs
	if len(ips) == 0 {
		if ips = lanAddrs(ifaces); len(ips) == 0 {
			return nil, fmt.Errorf("advertise %s on the LAN: interfaces %s have no address other hosts can reach; connect the host to the store LAN, or name the LAN interface in discovery.interfaces",
				a.Instance(), nameList(ifaces))
		}
	}
	host := a.Host
	if host == "" {
		host = defaultHost(a.Store)
	}
	// zeroconf.Register would take os.Hostname as it is and append
	// ".local." even to "pos1.local"; RegisterProxy with a bare label gives
	// pos1.local.
	s, err := zeroconf.RegisterProxy(a.Instance(), Service, Domain, a.HTTPPort, host, ips, a.txt(), ifaces)
	if err != nil {
		return nil, fmt.Errorf("advertise %s on interfaces %s: %v", a.Instance(), nameList(ifaces), err)
	}
	var once sync.Once
	return func() { once.Do(s.Shutdown) }, nil
}

// check reports the first field of a that cannot be advertised.
func (a Advert) check() error {
	switch {
	case !protocol.ValidStoreID(a.Store):
		return fmt.Errorf("store %q: want 1 to %d characters of a-z, 0-9 and -", a.Store, protocol.MaxStoreIDLen)
	case a.Version < 1:
		return fmt.Errorf("protocol version must be at least 1, got %d", a.Version)
	case a.MQTTPort < 0 || a.MQTTPort > 65535:
		return fmt.Errorf("MQTT port must be 0 to 65535, got %d", a.MQTTPort)
	case a.HTTPPort < 1 || a.HTTPPort > 65535:
		return fmt.Errorf("HTTP port must be 1 to 65535, got %d", a.HTTPPort)
	case a.AgentVersion != "" && !validAgentVersion(a.AgentVersion):
		return fmt.Errorf("agent version %q: want at most 64 printable ASCII characters without spaces, quotes or backslashes", a.AgentVersion)
	case a.Host != "" && !validLabel(a.Host):
		return fmt.Errorf("host %q: want one DNS label (letters, digits and -, at most 63), without .local", a.Host)
	}
	for i, ip := range a.IPs {
		if net.ParseIP(ip) == nil {
			return fmt.Errorf("IPs[%d] %q is not an IP address", i, ip)
		}
	}
	return nil
}

// txt is the advert's TXT record.
func (a Advert) txt() []string {
	txt := []string{
		KeyStore + "=" + a.Store,
		KeyVersion + "=" + strconv.Itoa(a.Version),
		KeyMQTT + "=" + strconv.Itoa(a.MQTTPort),
		KeyHTTP + "=" + strconv.Itoa(a.HTTPPort),
	}
	if a.AgentVersion != "" {
		txt = append(txt, KeyAgent+"="+a.AgentVersion)
	}
	return txt
}

// lanAddrs are the addresses of ifaces other hosts can reach: every IPv4
// address but loopback, global IPv6 addresses, and link-local IPv6 ones of
// an interface without a global one.
func lanAddrs(ifaces []net.Interface) []string {
	var out []string
	for _, ifi := range ifaces {
		addrs, err := ifi.Addrs()
		if err != nil {
			continue
		}
		var v6, v6local []string
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok || ipn.IP.IsLoopback() || ipn.IP.IsUnspecified() {
				continue
			}
			switch {
			case ipn.IP.To4() != nil:
				out = append(out, ipn.IP.String())
			case ipn.IP.IsLinkLocalUnicast():
				v6local = append(v6local, ipn.IP.String())
			case ipn.IP.IsGlobalUnicast():
				v6 = append(v6, ipn.IP.String())
			}
		}
		if len(v6) == 0 {
			v6 = v6local
		}
		out = append(out, v6...)
	}
	return out
}

// defaultHost is the first label of this machine's host name, reduced to
// what a DNS label may hold, or posoffer-agent-{store} when nothing is
// left.
func defaultHost(store string) string {
	name, err := os.Hostname()
	if err != nil {
		return InstancePrefix + store
	}
	name, _, _ = strings.Cut(name, ".")
	label := strings.Map(func(r rune) rune {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9', r == '-':
			return r
		case r == '_' || r == ' ':
			return '-'
		}
		return -1
	}, name)
	label = strings.Trim(label, "-")
	if len(label) > 63 {
		label = strings.TrimRight(label[:63], "-")
	}
	if label == "" {
		return InstancePrefix + store
	}
	return label
}

// validLabel reports whether s is a DNS label of letters, digits and -, not
// starting or ending with -.
func validLabel(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// validAgentVersion reports whether s fits the agent key: 1 to 64
// printable ASCII characters without spaces, quotes or backslashes (which
// DNS text would escape).
func validAgentVersion(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
