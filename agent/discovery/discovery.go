// Package discovery finds posoffer agents and MQTT brokers on a store's LAN
// with multicast DNS service discovery (mDNS and DNS-SD, RFC 6762 and RFC
// 6763), so that nobody has to type an IP address into a till.
//
// An agent advertises the service _posoffer._tcp in the domain local., as
// the instance posoffer-agent-{store}. Its SRV record carries the port of
// its health and metrics listener, and its TXT record these keys:
//
//	store  the store id
//	v      the protocol version the agent speaks (protocol.Version)
//	mqtt   the port of the MQTT broker the agent runs for terminals, on the
//	       advertised addresses; 0 when terminals use a broker elsewhere
//	http   the port of /healthz, /readyz and /metrics
//	agent  the agent's build version (optional)
//
// Browse lists the agents that answer. FindBroker finds an MQTT broker that
// advertises _mqtt._tcp, as Mosquitto does with an Avahi service file.
//
// Caveats:
//   - mDNS reaches one network segment: an agent behind a router, or on
//     another VLAN, is not found.
//   - Nothing authenticates an advert. Anything on the LAN can claim to be a
//     store's agent or broker, and an agent that finds its broker by mDNS
//     sends its MQTT credentials to whatever answered first. Use discovery
//     only on a LAN the store trusts.
//   - An advert carries the addresses the host had when Advertise was
//     called; after the host's address changes, advertise again.
package discovery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Names on the wire.
const (
	// Service is the DNS-SD service type an agent advertises.
	Service = "_posoffer._tcp"
	// BrokerService is the DNS-SD service type of an MQTT broker.
	BrokerService = "_mqtt._tcp"
	// Domain is the mDNS domain of every advert.
	Domain = "local."
	// InstancePrefix starts an agent's instance name:
	// posoffer-agent-{store}.
	InstancePrefix = "posoffer-agent-"
)

// The keys of an agent's TXT record, each followed by = and its value.
const (
	KeyStore   = "store" // the store id
	KeyVersion = "v"     // the protocol version, a whole number from 1
	KeyMQTT    = "mqtt"  // the MQTT port for terminals, 0 to 65535; 0: none here
	KeyHTTP    = "http"  // the health and metrics port, 1 to 65535
	KeyAgent   = "agent" // the agent's build version; optional
)

// DefaultTimeout is how long Browse and FindBroker listen when their
// context has no deadline.
const DefaultTimeout = 3 * time.Second

// Errors that callers may want to tell apart.
var (
	// ErrNoInterface means no network interface can carry mDNS: none is up
	// with multicast, or a named one is missing, down or without multicast.
	ErrNoInterface = errors.New("no network interface for mDNS")
	// ErrNoBroker means FindBroker heard no MQTT broker before its
	// deadline.
	ErrNoBroker = errors.New("no MQTT broker (" + BrokerService + ") found on the LAN")
)

// Interfaces returns the network interfaces with the given names, for
// Advert.Interfaces, Browse and FindBroker. No names means every interface
// that is up and can multicast. A name that is missing, down or cannot
// multicast is an error wrapping ErrNoInterface that lists the interfaces
// that would do.
func Interfaces(names []string) ([]net.Interface, error) {
	all, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("list network interfaces: %w", err)
	}
	var usable []net.Interface
	for _, ifi := range all {
		if multicastUp(ifi) {
			usable = append(usable, ifi)
		}
	}
	if len(names) == 0 {
		if len(usable) == 0 {
			return nil, fmt.Errorf("%w: no interface is up with multicast; connect this host to the store LAN", ErrNoInterface)
		}
		return usable, nil
	}
	var out []net.Interface
	for _, name := range names {
		i := indexByName(all, name)
		switch {
		case i < 0:
			return nil, fmt.Errorf("%w: interface %q does not exist; usable here: %s", ErrNoInterface, name, nameList(usable))
		case all[i].Flags&net.FlagUp == 0:
			return nil, fmt.Errorf("%w: interface %q is down; bring it up, or use one of: %s", ErrNoInterface, name, nameList(usable))
		case all[i].Flags&net.FlagMulticast == 0:
			return nil, fmt.Errorf("%w: interface %q cannot multicast; usable here: %s", ErrNoInterface, name, nameList(usable))
		}
		if indexByName(out, name) < 0 {
			out = append(out, all[i])
		}
	}
	return out, nil
}

func multicastUp(ifi net.Interface) bool {
	return ifi.Flags&net.FlagUp != 0 && ifi.Flags&net.FlagMulticast != 0
}

func indexByName(ifaces []net.Interface, name string) int {
	for i, ifi := range ifaces {
		if ifi.Name == name {
			return i
		}
	}
	return -1
}

// nameList is "eth0, wlan0", or "none" for no interfaces.
func nameList(ifaces []net.Interface) string {
	if len(ifaces) == 0 {
		return "none"
	}
	names := make([]string, len(ifaces))
	for i, ifi := range ifaces {
		names[i] = ifi.Name
	}
	return strings.Join(names, ", ")
}

// LANPort returns the port of a listen address (host:port) when other hosts
// can reach it, and 0 when it listens on loopback only or is not a
// host:port with a port from 1 to 65535. Use it for Advert.MQTTPort: a
// broker that listens on 127.0.0.1 is of no use to a terminal.
func LANPort(addr string) int {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return 0
	}
	if strings.EqualFold(host, "localhost") {
		return 0
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.Unmap().IsLoopback() {
		return 0
	}
	return n
}

// withDefaultTimeout returns ctx with DefaultTimeout as its deadline when it
// has none.
func withDefaultTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, DefaultTimeout)
}
