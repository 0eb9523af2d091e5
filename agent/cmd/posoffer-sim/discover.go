package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/posoffer/posoffer/agent/discovery"
	"github.com/posoffer/posoffer/protocol"
)

// discoverCmd lists the agents that answer on the LAN over mDNS:
//
//	posoffer-sim discover [--timeout 3s] [--json] [--interfaces eth0,wlan0]
//
// It prints a table, or with --json an array of agents. It exits 0 when an
// agent answered, 1 when none did or the LAN could not be searched, and 2
// on bad flags, so a script can test for an agent with its exit status.
func discoverCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("discover", flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeout := fs.Duration("timeout", discovery.DefaultTimeout, "how long to listen for agents")
	asJSON := fs.Bool("json", false, "print the agents as JSON")
	names := fs.String("interfaces", "", "comma-separated `names` of the network interfaces to search (default: every interface up with multicast)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "posoffer-sim discover: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *timeout <= 0 {
		fmt.Fprintf(stderr, "posoffer-sim discover: --timeout must be positive, got %v\n", *timeout)
		return 2
	}
	var wanted []string
	for name := range strings.SplitSeq(*names, ",") {
		if name = strings.TrimSpace(name); name != "" {
			wanted = append(wanted, name)
		}
	}
	ifaces, err := discovery.Interfaces(wanted)
	if err != nil {
		fmt.Fprintf(stderr, "posoffer-sim: %v\n", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	agents, err := discovery.Browse(ctx, ifaces)
	if err != nil {
		fmt.Fprintf(stderr, "posoffer-sim: %v\n", err)
		return 1
	}
	if *asJSON {
		if agents == nil {
			agents = []discovery.Agent{}
		}
		out, _ := json.MarshalIndent(agents, "", "  ")
		fmt.Fprintf(stdout, "%s\n", out)
	} else {
		printAgents(stdout, stderr, agents)
	}
	if len(agents) == 0 {
		fmt.Fprintf(stderr, "posoffer-sim: no agents found within %v on %s: is the agent running with discovery.advertise on, on this network segment?\n",
			*timeout, ifaceNames(ifaces))
		return 1
	}
	return 0
}

// printAgents writes a table of agents to w, and what is wrong with their
// adverts to warn.
func printAgents(w, warn io.Writer, agents []discovery.Agent) {
	if len(agents) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STORE\tPROTOCOL\tADDRESSES\tMQTT\tHTTP\tHOST\tAGENT")
	for _, a := range agents {
		addrs := make([]string, len(a.Addrs))
		for i, ip := range a.Addrs {
			addrs[i] = ip.String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", orDash(a.Store), orDash(versionText(a.Version)),
			orDash(strings.Join(addrs, ", ")), orDash(portText(a.MQTTPort)), orDash(portText(a.HTTPPort)), orDash(a.Host), orDash(a.AgentVersion))
	}
	tw.Flush()
	for _, a := range agents {
		for _, p := range a.Problems {
			fmt.Fprintf(warn, "%s: %s\n", a.Instance, p)
		}
		if a.Version != 0 && a.Version != protocol.Version {
			fmt.Fprintf(warn, "%s: speaks protocol v%d; this posoffer-sim speaks v%d\n", a.Instance, a.Version, protocol.Version)
		}
	}
}

func versionText(v int) string {
	if v == 0 {
		return ""
	}
	return "v" + strconv.Itoa(v)
}

// portText is the port, or "" for 0: for mqtt, terminals use a broker
// elsewhere.
func portText(p int) string {
	if p == 0 {
		return ""
	}
	return strconv.Itoa(p)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func ifaceNames(ifaces []net.Interface) string {
	names := make([]string, len(ifaces))
	for i, ifi := range ifaces {
		names[i] = ifi.Name
	}
	return strings.Join(names, ", ")
}
