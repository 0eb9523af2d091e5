// Package config reads the agent's configuration file: versioned, strict
// YAML. An unknown key, a value of the wrong type or a value out of range is
// an error naming the file, the line and the key, so a technician at a till
// can fix it without reading code. Sample is a documented example of every
// key, embedded in the binary (posoffer-agent config sample).
package config

import (
	_ "embed"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/posoffer/posoffer/protocol"
	"github.com/posoffer/posoffer/protocol/decide"
)

// Sample is a documented configuration with every key.
//
//go:embed sample.yaml
var Sample []byte

// Version is the configuration format this build reads.
const Version = 1

// ErrInvalid is wrapped by every error about a configuration's content.
var ErrInvalid = errors.New("invalid configuration")

// Config is the agent's configuration. Its keys are part of the contract:
// they keep their meaning; new keys may be added.
type Config struct {
	Version       int       `yaml:"version"`
	Store         string    `yaml:"store"`
	Timezone      string    `yaml:"timezone"`
	DataDir       string    `yaml:"data_dir"`
	TenantKeyFile string    `yaml:"tenant_key_file"`
	CatalogFile   string    `yaml:"catalog_file"`
	HTTP          HTTP      `yaml:"http"`
	MQTT          MQTT      `yaml:"mqtt"`
	Discovery     Discovery `yaml:"discovery"`
	Serial        []Serial  `yaml:"serial"`
	FirmwareDir   string    `yaml:"firmware_dir"`
	Cloud         Cloud     `yaml:"cloud"`
	Offers        Offers    `yaml:"offers"`
	Decide        Decide    `yaml:"decide"`
	Clock         Clock     `yaml:"clock"`

	// Location is Timezone, loaded.
	Location *time.Location `yaml:"-"`
}

// HTTP is the health and metrics listener.
type HTTP struct {
	Listen string `yaml:"listen"`
}

// MQTT says which broker terminals reach the agent through.
type MQTT struct {
	Broker       string `yaml:"broker"`        // tcp://host:port; BrokerMDNS: found on the LAN; empty: the embedded broker
	Listen       string `yaml:"listen"`        // the embedded broker's listener
	Username     string `yaml:"username"`      // the agent's, on an external broker
	PasswordFile string `yaml:"password_file"` // the agent's password, on an external broker
	// TerminalsFile is the terminals' credentials (Mosquitto password_file
	// format), written by posoffer-agent terminal add/revoke; default
	// {data_dir}/terminals.passwd.
	TerminalsFile string `yaml:"terminals_file"`
	// AllowAnonymous lets clients without credentials use the embedded
	// broker as any terminal (insecure; off by default).
	AllowAnonymous bool    `yaml:"allow_anonymous"`
	TLS            MQTTTLS `yaml:"tls"`
}

// MQTTTLS is TLS for the embedded broker's listener and for the agent's
// connection to an ssl:// broker.
type MQTTTLS struct {
	Listen       string `yaml:"listen"`         // the embedded broker's TLS listener; empty: none
	CertFile     string `yaml:"cert_file"`      // its certificate
	KeyFile      string `yaml:"key_file"`       // and key
	ClientCAFile string `yaml:"client_ca_file"` // CA of terminal client certificates (CN = terminal id)
	CAFile       string `yaml:"ca_file"`        // CA of an ssl:// mqtt.broker (empty: the system's)
}

// BrokerMDNS as mqtt.broker means: use the first MQTT broker found on the
// LAN that advertises _mqtt._tcp over mDNS.
const BrokerMDNS = "mdns"

// Discovery is the agent's part in service discovery on the store LAN
// (mDNS and DNS-SD).
type Discovery struct {
	// Advertise answers for _posoffer._tcp, so that terminals and
	// technicians find the agent without its address.
	Advertise bool `yaml:"advertise"`
	// Interfaces are the network interfaces to advertise on and to look
	// for an mdns broker on; empty: every interface up with multicast.
	Interfaces []string `yaml:"interfaces"`
}

// Serial is one terminal on a serial port.
type Serial struct {
	Terminal string `yaml:"terminal"`
	Port     string `yaml:"port"`
	Model    string `yaml:"model"`
}

// Cloud is the connection to HQ.
type Cloud struct {
	NATSURL string `yaml:"nats_url"`
	// CredsFile is the store's identity on HQ's NATS: an nkey seed file
	// (posoffer-cloud store add) or a .creds file.
	CredsFile string `yaml:"creds_file"`
	// CatalogKeyFile is HQ's catalog public key (PEM, from posoffer-cloud
	// catalog key): a catalog from HQ is served only when it verifies
	// against it. Required with nats_url.
	CatalogKeyFile string `yaml:"catalog_key_file"`
	// AllowUnsignedCatalog serves what HQ's catalog bucket holds without
	// checking who wrote it, instead of a catalog_key_file: for a test
	// bench, never for a store.
	AllowUnsignedCatalog bool `yaml:"allow_unsigned_catalog"`
	// MaxOutbox is how many events wait for HQ before impressions are
	// dropped; checkouts and redemptions are never dropped.
	MaxOutbox int64 `yaml:"max_outbox"`
}

// Offers tunes the replies.
type Offers struct {
	MaxNudges int   `yaml:"max_nudges"`
	PointsPer int64 `yaml:"points_per"`
}

// Decide configures what the till suggests (docs/decide.md).
type Decide struct {
	// MaxSuggestions is the most suggestions in one reply (0: none).
	MaxSuggestions int `yaml:"max_suggestions"`
	// Policy is learned (Thompson sampling over HQ's model) or fixed
	// (nudges by priority, then cross-sells by lift).
	Policy string `yaml:"policy"`
	// StoreGroup is the store's group: its cross-sell rules and contexts.
	StoreGroup string `yaml:"store_group"`
	// Seed seeds the draws, with the store, terminal and transaction.
	Seed int64 `yaml:"seed"`
	// ReportCandidates adds every candidate and the holdout to replies.
	ReportCandidates bool `yaml:"report_candidates"`
}

// Clock says where the time of a basket or checkout comes from.
type Clock struct {
	Source string `yaml:"source"` // ClockSystem or ClockTerminal
}

// Clock sources.
const (
	ClockSystem   = "system"   // the agent's clock
	ClockTerminal = "terminal" // the message's ts: simulators and replays, never a store
)

// defaults returns a Config with every optional key at its default.
func defaults() Config {
	return Config{
		Timezone:    "UTC",
		HTTP:        HTTP{Listen: "127.0.0.1:8787"},
		MQTT:        MQTT{Listen: "127.0.0.1:1883"},
		Discovery:   Discovery{Advertise: true},
		FirmwareDir: "firmware-configs",
		Offers:      Offers{MaxNudges: 3, PointsPer: 100},
		Cloud:       Cloud{MaxOutbox: 1_000_000},
		Decide: Decide{MaxSuggestions: decide.DefaultMaxSuggestions, Policy: protocol.PolicyLearned,
			StoreGroup: decide.DefaultGroup},
		Clock: Clock{Source: ClockSystem},
	}
}

// Load reads and validates the configuration file at path.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	return Parse(path, b)
}

// Parse validates a configuration document; name is the file it came
// from, for errors.
func Parse(name string, b []byte) (*Config, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalid, name, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if len(doc.Content) == 0 {
		return nil, fmt.Errorf("%w: %s: empty file (see posoffer-agent config sample)", ErrInvalid, name)
	}
	root := doc.Content[0]
	p := &problems{file: name, lines: map[string]int{}}
	cfg := defaults()
	p.walk(root, reflect.TypeFor[Config](), "")
	if len(p.list) == 0 {
		if err := root.Decode(&cfg); err != nil {
			p.decodeError(err)
		}
	}
	if len(p.list) == 0 {
		cfg.validate(p)
	}
	if len(p.list) > 0 {
		return nil, fmt.Errorf("%w:\n%s", ErrInvalid, strings.Join(p.list, "\n"))
	}
	return &cfg, nil
}

// problems collects errors as FILE:LINE: KEY: what, and remembers the line
// of every key for the checks that come after decoding.
type problems struct {
	file  string
	lines map[string]int // key path -> line
	list  []string
}

func (p *problems) add(line int, key, format string, args ...any) {
	pos := p.file
	if line > 0 {
		pos += ":" + strconv.Itoa(line)
	}
	msg := fmt.Sprintf(format, args...)
	if key != "" {
		msg = key + ": " + msg
	}
	p.list = append(p.list, pos+": "+msg)
}

// at reports a problem with a key found in the document (or, when the key
// is absent, at the file).
func (p *problems) at(key, format string, args ...any) {
	p.add(p.lines[key], key, format, args...)
}

// walk records key lines and reports keys that t does not have.
func (p *problems) walk(n *yaml.Node, t reflect.Type, path string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		fields := map[string]reflect.Type{}
		var names []string
		for i := range t.NumField() {
			f := t.Field(i)
			tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if tag != "" && tag != "-" {
				fields[tag] = f.Type
				names = append(names, tag)
			}
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			key := join(path, k.Value)
			ft, ok := fields[k.Value]
			if !ok {
				p.add(k.Line, key, "unknown key (this section has: %s)", strings.Join(names, ", "))
				continue
			}
			if _, dup := p.lines[key]; dup {
				p.add(k.Line, key, "given twice (also on line %d)", p.lines[key])
				continue
			}
			p.lines[key] = k.Line
			p.walk(v, ft, key)
		}
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for i, e := range n.Content {
			key := path + "[" + strconv.Itoa(i) + "]"
			p.lines[key] = e.Line
			p.walk(e, t.Elem(), key)
		}
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64 && n.Kind == yaml.ScalarNode && n.Tag == "!!float":
		// The decoder would drop the fraction without a word.
		p.add(n.Line, path, "cannot read !!float `%s` as a whole number", n.Value)
	case t.Kind() == reflect.Struct && n.Kind != yaml.MappingNode && !(n.Kind == yaml.ScalarNode && n.Tag == "!!null"):
		p.add(n.Line, path, "must be a section of keys, got %s", describe(n))
	case t.Kind() == reflect.Slice && n.Kind != yaml.SequenceNode && !(n.Kind == yaml.ScalarNode && n.Tag == "!!null"):
		p.add(n.Line, path, "must be a list, got %s", describe(n))
	}
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a section"
	case yaml.SequenceNode:
		return "a list"
	}
	return strconv.Quote(n.Value)
}

// decodeError turns yaml's type errors ("line 5: cannot unmarshal !!str
// `abc` into int") into FILE:5: KEY: messages.
func (p *problems) decodeError(err error) {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		p.add(0, "", "%v", err)
		return
	}
	for _, e := range te.Errors {
		line := 0
		if rest, ok := strings.CutPrefix(e, "line "); ok {
			n, msg, _ := strings.Cut(rest, ": ")
			line, _ = strconv.Atoi(n)
			e = msg
		}
		key := ""
		for k, l := range p.lines {
			if l == line && (key == "" || len(k) > len(key)) {
				key = k
			}
		}
		e = strings.Replace(e, "cannot unmarshal", "cannot read", 1)
		if i := strings.Index(e, " into "); i >= 0 {
			e = e[:i] + " as " + kindName(e[i+len(" into "):])
		}
		p.add(line, key, "%s", e)
	}
}

func kindName(goType string) string {
	switch {
	case strings.HasPrefix(goType, "int"):
		return "a whole number"
	case goType == "string":
		return "text"
	case goType == "bool":
		return "true or false"
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	}
	return "a section of keys"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func (c *Config) validate(p *problems) {
	switch {
	case p.lines["version"] == 0:
		p.at("version", "required: the configuration format version, %d", Version)
	case c.Version != Version:
		p.at("version", "this agent reads configuration version %d, got %d", Version, c.Version)
	}
	if c.Store == "" {
		p.at("store", "required: this store's id")
	} else if !protocol.ValidStoreID(c.Store) {
		p.at("store", "must be 1 to 32 characters of a-z, 0-9 and -, got %q", c.Store)
	}
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil || c.Timezone == "" || c.Timezone == "Local" {
		p.at("timezone", "must be an IANA time zone such as Asia/Tokyo or Europe/Paris, got %q", c.Timezone)
	}
	c.Location = loc
	if c.DataDir == "" {
		p.at("data_dir", "required: where the agent keeps its data")
	}
	if c.TenantKeyFile == "" {
		p.at("tenant_key_file", "required: the tenant's secret key file")
	}
	if err := checkHostPort(c.HTTP.Listen); err != nil {
		p.at("http.listen", "%v", err)
	}
	switch c.MQTT.Broker {
	case BrokerMDNS: // looked for when the agent starts
	case "":
		if err := checkHostPort(c.MQTT.Listen); err != nil {
			p.at("mqtt.listen", "%v", err)
		}
	default:
		if u, err := url.Parse(c.MQTT.Broker); err != nil || (u.Scheme != "tcp" && u.Scheme != "ssl" && u.Scheme != "ws") || u.Port() == "" {
			p.at("mqtt.broker", "must be tcp://host:port (or ssl:// or ws://), %s to find the broker on the LAN, or empty for the embedded broker, got %q", BrokerMDNS, c.MQTT.Broker)
		}
	}
	if c.MQTT.TerminalsFile == "" && c.DataDir != "" {
		c.MQTT.TerminalsFile = filepath.Join(c.DataDir, "terminals.passwd")
	}
	if t := c.MQTT.TLS; t.Listen != "" {
		if err := checkHostPort(t.Listen); err != nil {
			p.at("mqtt.tls.listen", "%v", err)
		}
		if t.CertFile == "" || t.KeyFile == "" {
			p.at("mqtt.tls.listen", "set, but mqtt.tls.cert_file or mqtt.tls.key_file is empty")
		}
	} else if t.CertFile != "" || t.ClientCAFile != "" {
		p.at("mqtt.tls.cert_file", "set, but mqtt.tls.listen is empty")
	}
	if c.MQTT.PasswordFile != "" && c.MQTT.Username == "" {
		p.at("mqtt.password_file", "set, but mqtt.username is empty")
	}
	ifaces := map[string]int{}
	for i, name := range c.Discovery.Interfaces {
		key := "discovery.interfaces[" + strconv.Itoa(i) + "]"
		switch j, dup := ifaces[name]; {
		case strings.TrimSpace(name) == "":
			p.at(key, "must be a network interface name such as eth0, got %q", name)
		case strings.TrimSpace(name) != name:
			p.at(key, "has spaces around the name: %q", name)
		case dup:
			p.at(key, "%q is also discovery.interfaces[%d]", name, j)
		default:
			ifaces[name] = i
		}
	}
	seen, ports := map[string]int{}, map[string]int{}
	for i, s := range c.Serial {
		key := "serial[" + strconv.Itoa(i) + "]"
		switch {
		case !protocol.ValidTerminalID(s.Terminal):
			p.at(key, "terminal must be 1 to 32 characters of a-z, 0-9 and -, got %q", s.Terminal)
		case s.Port == "":
			p.at(key, "port is required, such as /dev/ttyS0")
		case s.Model == "":
			p.at(key, "model is required: a file name in firmware_dir without .yaml")
		}
		if j, dup := seen[s.Terminal]; dup && s.Terminal != "" {
			p.at(key, "terminal %q is also serial[%d]", s.Terminal, j)
		}
		seen[s.Terminal] = i
		if j, dup := ports[s.Port]; dup && s.Port != "" {
			p.at(key, "port %s is also serial[%d]'s: one terminal per port", s.Port, j)
		}
		ports[s.Port] = i
	}
	if c.Cloud.NATSURL != "" {
		for _, u := range strings.Split(c.Cloud.NATSURL, ",") {
			if pu, err := url.Parse(strings.TrimSpace(u)); err != nil || !slices.Contains([]string{"nats", "tls", "ws", "wss"}, pu.Scheme) {
				p.at("cloud.nats_url", "must be nats://host:port (comma-separated for a cluster), got %q", c.Cloud.NATSURL)
				break
			}
		}
	}
	switch {
	case c.Cloud.CatalogKeyFile != "" && c.Cloud.AllowUnsignedCatalog:
		p.at("cloud.allow_unsigned_catalog", "must be false with a cloud.catalog_key_file: catalogs are checked or not")
	case c.Cloud.NATSURL != "" && c.Cloud.CatalogKeyFile == "" && !c.Cloud.AllowUnsignedCatalog:
		p.at("cloud.catalog_key_file", "is required with cloud.nats_url: HQ's catalog public key, "+
			"which posoffer-cloud catalog key prints; without it anyone who can write to HQ's catalog bucket "+
			"could change this store's offers (a test bench may set cloud.allow_unsigned_catalog: true instead)")
	}
	if c.Cloud.MaxOutbox < 1000 {
		p.at("cloud.max_outbox", "must be at least 1000, got %d", c.Cloud.MaxOutbox)
	}
	if c.Offers.MaxNudges < 0 || c.Offers.MaxNudges > 20 {
		p.at("offers.max_nudges", "must be 0 to 20, got %d", c.Offers.MaxNudges)
	}
	if c.Offers.PointsPer < 1 {
		p.at("offers.points_per", "must be at least 1, got %d", c.Offers.PointsPer)
	}
	if c.Decide.MaxSuggestions < 0 || c.Decide.MaxSuggestions > 10 {
		p.at("decide.max_suggestions", "must be 0 to 10, got %d", c.Decide.MaxSuggestions)
	}
	if c.Decide.Policy != protocol.PolicyLearned && c.Decide.Policy != protocol.PolicyFixed {
		p.at("decide.policy", "must be %s or %s, got %q", protocol.PolicyLearned, protocol.PolicyFixed, c.Decide.Policy)
	}
	if !decide.ValidGroup(c.Decide.StoreGroup) {
		p.at("decide.store_group", "must be 1 to 32 characters of a-z, 0-9 and -, got %q", c.Decide.StoreGroup)
	}
	if c.Clock.Source != ClockSystem && c.Clock.Source != ClockTerminal {
		p.at("clock.source", "must be %s or %s, got %q", ClockSystem, ClockTerminal, c.Clock.Source)
	}
}

func checkHostPort(s string) error {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("must be host:port such as 127.0.0.1:8787, got %q", s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port must be 0 to 65535, got %q", port)
	}
	return nil
}
