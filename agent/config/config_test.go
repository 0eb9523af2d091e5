package config

import (
	"bytes"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
)

func TestSampleIsValid(t *testing.T) {
	c, err := Parse("sample.yaml", Sample)
	if err != nil {
		t.Fatal(err)
	}
	if c.Store != "s001" || c.Location.String() != "Asia/Tokyo" || c.Offers.MaxNudges != 3 || c.MQTT.Listen != "127.0.0.1:1883" ||
		!c.Discovery.Advertise || len(c.Discovery.Interfaces) != 0 {
		t.Fatalf("sample read as %+v", c)
	}
}

func TestDefaults(t *testing.T) {
	c, err := Parse("a.yaml", []byte("version: 1\nstore: s9\ndata_dir: /d\ntenant_key_file: /k\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Timezone != "UTC" || c.HTTP.Listen != "127.0.0.1:8787" || c.Offers.PointsPer != 100 || c.FirmwareDir != "firmware-configs" ||
		!c.Discovery.Advertise || c.Discovery.Interfaces != nil ||
		c.Decide != (Decide{MaxSuggestions: 2, Policy: "learned", StoreGroup: "all"}) || c.Clock.Source != ClockSystem {
		t.Fatalf("defaults not applied: %+v", c)
	}
}

func TestDiscovery(t *testing.T) {
	const base = "version: 1\nstore: s001\ndata_dir: /d\ntenant_key_file: /k\n"
	c, err := Parse("a.yaml", []byte(base+"mqtt:\n  broker: mdns\n  listen: ''\ndiscovery:\n  advertise: false\n  interfaces: [eth0, \"Wi-Fi 2\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.MQTT.Broker != BrokerMDNS || c.Discovery.Advertise || !slices.Equal(c.Discovery.Interfaces, []string{"eth0", "Wi-Fi 2"}) {
		t.Fatalf("read as %+v", c)
	}
	c, err = Parse("a.yaml", []byte(base+"discovery: {interfaces: []}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Discovery.Advertise {
		t.Fatal("advertise is not on by default when the discovery section leaves it out")
	}
}

func TestRefuses(t *testing.T) {
	const base = "version: 1\nstore: s001\ndata_dir: /d\ntenant_key_file: /k\n"
	for _, tc := range []struct {
		name, doc string
		want      []string
	}{
		{"unknown top key", base + "stor: x\n", []string{"agent.yaml:5: stor: unknown key (this section has: version, store"}},
		{"unknown nested key", base + "mqtt:\n  brokr: tcp://x:1\n", []string{"agent.yaml:6: mqtt.brokr: unknown key (this section has: broker, listen"}},
		{"unknown key in list item", base + "serial:\n  - {terminal: t1, port: /dev/ttyS0, model: m, baud: 9600}\n", []string{"agent.yaml:6: serial[0].baud: unknown key"}},
		{"max_suggestions", base + "decide:\n  max_suggestions: 11\n", []string{"agent.yaml:6: decide.max_suggestions: must be 0 to 10, got 11"}},
		{"policy", base + "decide: {policy: greedy}\n", []string{`agent.yaml:5: decide.policy: must be learned or fixed, got "greedy"`}},
		{"store_group", base + "decide: {store_group: North}\n", []string{`agent.yaml:5: decide.store_group: must be 1 to 32 characters of a-z, 0-9 and -, got "North"`}},
		{"seed", base + "decide: {seed: abc}\n", []string{"agent.yaml:5: decide.seed: cannot read !!str `abc` as a whole number"}},
		{"fraction", base + "decide: {seed: 1.5}\n", []string{"agent.yaml:5: decide.seed: cannot read !!float `1.5` as a whole number"}},
		{"clock", base + "clock: {source: ntp}\n", []string{`agent.yaml:5: clock.source: must be system or terminal, got "ntp"`}},
		{"unknown decide key", base + "decide: {holdout: 0.1}\n", []string{"agent.yaml:5: decide.holdout: unknown key (this section has: max_suggestions, policy, store_group, seed, report_candidates)"}},
		{"wrong type", base + "offers:\n  max_nudges: lots\n", []string{"agent.yaml:6: offers.max_nudges: cannot read !!str `lots` as a whole number"}},
		{"section expected", base + "http: 8787\n", []string{"agent.yaml:5: http: must be a section of keys, got \"8787\""}},
		{"duplicate key", base + "store: s002\n", []string{"agent.yaml:5: store: given twice (also on line 2)"}},
		{"no version", "store: s001\ndata_dir: /d\ntenant_key_file: /k\n", []string{"agent.yaml: version: required"}},
		{"version 2", strings.Replace(base, "version: 1", "version: 2", 1), []string{"agent.yaml:1: version: this agent reads configuration version 1, got 2"}},
		{"bad store", strings.Replace(base, "s001", "Store 1", 1), []string{`agent.yaml:2: store: must be 1 to 32 characters`}},
		{"bad zone", base + "timezone: Tokyo\n", []string{`agent.yaml:5: timezone: must be an IANA time zone`}},
		{"bad broker", base + "mqtt: {broker: 'localhost:1883'}\n", []string{`agent.yaml:5: mqtt.broker: must be tcp://host:port (or ssl:// or ws://), mdns to find the broker on the LAN, or empty`}},
		{"mdns is lower case", base + "mqtt: {broker: MDNS}\n", []string{`agent.yaml:5: mqtt.broker: must be tcp://host:port`}},
		{"mdns is no scheme", base + "mqtt: {broker: 'mdns://broker'}\n", []string{`agent.yaml:5: mqtt.broker: must be tcp://host:port`}},
		{"unknown discovery key", base + "discovery:\n  advertize: true\n", []string{"agent.yaml:6: discovery.advertize: unknown key (this section has: advertise, interfaces)"}},
		{"advertise not a bool", base + "discovery:\n  advertise: maybe\n", []string{"agent.yaml:6: discovery.advertise: cannot read !!str `maybe` as true or false"}},
		{"discovery not a section", base + "discovery: true\n", []string{`agent.yaml:5: discovery: must be a section of keys, got "true"`}},
		{"interfaces not a list", base + "discovery: {interfaces: eth0}\n", []string{`agent.yaml:5: discovery.interfaces: must be a list, got "eth0"`}},
		{"interface empty", base + "discovery:\n  interfaces:\n    - eth0\n    - ''\n", []string{`agent.yaml:8: discovery.interfaces[1]: must be a network interface name such as eth0, got ""`}},
		{"interface with spaces", base + "discovery: {interfaces: [' eth0']}\n", []string{`agent.yaml:5: discovery.interfaces[0]: has spaces around the name: " eth0"`}},
		{"interface twice", base + "discovery:\n  interfaces: [eth0, eth1, eth0]\n", []string{`agent.yaml:6: discovery.interfaces[2]: "eth0" is also discovery.interfaces[0]`}},
		{"interface not text", base + "discovery:\n  interfaces: [{name: eth0}]\n", []string{"agent.yaml:6: discovery.interfaces[0]: cannot read !!map as text"}},
		{"bad listen", base + "http: {listen: '8787'}\n", []string{`agent.yaml:5: http.listen: must be host:port`}},
		{"serial without port", base + "serial:\n  - {terminal: t1, model: m}\n", []string{`agent.yaml:6: serial[0]: port is required`}},
		{"serial twice", base + "serial:\n  - {terminal: t1, port: a, model: m}\n  - {terminal: t1, port: b, model: m}\n", []string{`agent.yaml:7: serial[1]: terminal "t1" is also serial[0]`}},
		{"one port twice", base + "serial:\n  - {terminal: t1, port: a, model: m}\n  - {terminal: t2, port: a, model: m}\n", []string{`agent.yaml:7: serial[1]: port a is also serial[0]'s`}},
		{"not yaml", "version: [1\n", []string{"agent.yaml: "}},
		{"empty", "", []string{"agent.yaml: empty file"}},
		{"every problem at once", "version: 1\nstore: X\nfoo: 1\n", []string{"foo: unknown key"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("agent.yaml", []byte(tc.doc))
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n%v\nlacks %q", err, w)
				}
			}
		})
	}
}

func TestDeployedSampleIsTheEmbeddedOne(t *testing.T) {
	b, err := os.ReadFile("../../deploy/posoffer-agent.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, Sample) {
		t.Fatal("deploy/posoffer-agent.yaml differs from agent/config/sample.yaml; copy the sample over it")
	}
}

// A store with a cloud checks HQ's catalogs unless told, in so many
// words, not to; the sample, given a cloud, is refused until it names the
// key.
func TestCatalogKeyRequiredWithCloud(t *testing.T) {
	const base = "version: 1\nstore: s001\ndata_dir: /d\ntenant_key_file: /k\n"
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"no key", base + "cloud: {nats_url: 'nats://hq:4222'}\n", "cloud.catalog_key_file: is required with cloud.nats_url"},
		{"both", base + "cloud: {nats_url: 'nats://hq:4222', catalog_key_file: /k.pub, allow_unsigned_catalog: true}\n",
			"cloud.allow_unsigned_catalog: must be false"},
		{"sample given a cloud", strings.Replace(string(Sample), `nats_url: ""`, `nats_url: "nats://hq:4222"`, 1),
			"cloud.catalog_key_file: is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("agent.yaml", []byte(tc.doc))
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	for _, doc := range []string{
		base + "cloud: {nats_url: 'nats://hq:4222', catalog_key_file: /k.pub}\n",
		base + "cloud: {nats_url: 'nats://hq:4222', allow_unsigned_catalog: true}\n",
		base, // no cloud, no key
	} {
		if _, err := Parse("agent.yaml", []byte(doc)); err != nil {
			t.Errorf("%s: %v", doc, err)
		}
	}
}

// The sample, as printed by config sample, refuses anonymous MQTT clients
// and keeps terminals' credentials in the data directory.
func TestSampleIsSecure(t *testing.T) {
	c, err := Parse("sample.yaml", Sample)
	if err != nil {
		t.Fatal(err)
	}
	if c.MQTT.AllowAnonymous {
		t.Fatal("the sample lets anonymous MQTT clients in")
	}
	if c.MQTT.TerminalsFile != "/var/lib/posoffer/terminals.passwd" {
		t.Fatalf("terminals_file defaults to %q", c.MQTT.TerminalsFile)
	}
	if !bytes.Contains(Sample, []byte("INSECURE")) {
		t.Fatal("the sample does not say allow_anonymous is insecure")
	}
}

func TestMQTTTLS(t *testing.T) {
	const base = "version: 1\nstore: s001\ndata_dir: /d\ntenant_key_file: /k\n"
	c, err := Parse("a.yaml", []byte(base+"mqtt: {tls: {listen: '0.0.0.0:8883', cert_file: /c, key_file: /k, client_ca_file: /ca}, terminals_file: /t}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.MQTT.TLS.Listen != "0.0.0.0:8883" || c.MQTT.TLS.ClientCAFile != "/ca" || c.MQTT.TerminalsFile != "/t" {
		t.Fatalf("read as %+v", c.MQTT)
	}
	for doc, want := range map[string]string{
		"mqtt: {tls: {listen: '0.0.0.0:8883'}}\n": "mqtt.tls.listen: set, but mqtt.tls.cert_file or mqtt.tls.key_file is empty",
		"mqtt: {tls: {cert_file: /c}}\n":          "mqtt.tls.cert_file: set, but mqtt.tls.listen is empty",
		"mqtt: {allow_anonymous: yes please}\n":   "mqtt.allow_anonymous",
	} {
		if _, err := Parse("a.yaml", []byte(base+doc)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", doc, err, want)
		}
	}
}
