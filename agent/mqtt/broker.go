package mqtt

import (
	"bytes"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/posoffer/posoffer/agent/mqtt/passwd"
	"github.com/posoffer/posoffer/protocol"
)

// AgentUser is the agent's MQTT username, on the embedded broker and on
// Mosquitto. No terminal may have it (see ReservedID).
const AgentUser = "posoffer-agent"

// AgentClientID is the agent's MQTT client id for a store. Only the agent
// may connect with it, so nobody can take over its session.
func AgentClientID(store string) string { return AgentUser + "-" + store }

// ReservedID reports whether id may not be a terminal's: "agent" (the
// status topic's level) and anything starting with posoffer-agent (the
// agent's username and client ids).
func ReservedID(id string) bool {
	return id == "agent" || strings.HasPrefix(id, AgentUser)
}

// Refusal reasons, the reason label of posoffer_mqtt_refused_total.
const (
	RefusedAnonymous   = "anonymous"       // no credentials, and mqtt.allow_anonymous is off
	RefusedCredentials = "bad_credentials" // unknown user or wrong password
	RefusedReserved    = "reserved"        // a reserved or invalid username
	RefusedUnknownCert = "unknown_cert"    // a client certificate whose CN is no terminal in the file
	RefusedClientID    = "client_id"       // a client id the identity may not use
	RefusedWill        = "will"            // a last will on a topic the identity may not publish
	RefusedPublish     = "publish"         // a publish the ACL denies
	RefusedSubscribe   = "subscribe"       // a subscription (or delivery) the ACL denies
	RefusedRevoked     = "revoked"         // a live session whose terminal was revoked
)

var refusalReasons = []string{RefusedAnonymous, RefusedCredentials, RefusedReserved, RefusedUnknownCert,
	RefusedClientID, RefusedWill, RefusedPublish, RefusedSubscribe, RefusedRevoked}

// BrokerOptions configure the embedded broker.
type BrokerOptions struct {
	Store  string
	Listen string // host:port of the plain TCP listener; empty: none
	// TLSListen is host:port of the TLS listener; empty: none. TLS is its
	// configuration (TLSConfig builds one).
	TLSListen string
	TLS       *tls.Config
	// PasswordsFile is the terminals' credentials (package passwd). It is
	// read at start and again whenever it changes.
	PasswordsFile string
	// AllowAnonymous lets clients without credentials in. They may do what
	// any terminal may (publish on any terminal's in topic, subscribe to
	// one terminal's out topic or the status), and nothing of the agent's.
	AllowAnonymous bool
	// AgentSecret is the password of AgentUser; only the agent knows it.
	AgentSecret string
	Logger      *slog.Logger
	Registry    prometheus.Registerer
	// Poll is how often the credentials file is checked for changes
	// (default 1s).
	Poll time.Duration
}

// Broker is the embedded MQTT broker.
type Broker struct {
	s    *mochi.Server
	g    *guard
	stop chan struct{}
	done chan struct{}
}

// TLSConfig builds a TLS listener's configuration: the server's
// certificate and key, and, with clientCAFile, client certificates signed
// by that CA verified when given (a client without one may still log in
// with a password).
func TLSConfig(certFile, keyFile, clientCAFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("mqtt tls: %w", err)
	}
	c := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if clientCAFile != "" {
		pool, err := CertPool(clientCAFile)
		if err != nil {
			return nil, err
		}
		c.ClientCAs, c.ClientAuth = pool, tls.VerifyClientCertIfGiven
	}
	return c, nil
}

// CertPool reads a PEM file of CA certificates.
func CertPool(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("mqtt tls: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("mqtt tls: %s: no PEM certificate", file)
	}
	return pool, nil
}

// StartBroker runs the embedded broker. Every client is one of: the agent
// (AgentUser with AgentSecret, client id AgentClientID), a terminal (its
// id as username with its password from the credentials file, or a client
// certificate whose CN is its id; client id = its id), or, only when
// allowed, anonymous. Everything an identity may not do is refused,
// counted in posoffer_mqtt_refused_total and logged (without secrets).
func StartBroker(o BrokerOptions) (*Broker, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	if !protocol.ValidStoreID(o.Store) {
		return nil, fmt.Errorf("mqtt broker: store %q is not a store id", o.Store)
	}
	if o.AgentSecret == "" {
		return nil, errors.New("mqtt broker: no agent secret")
	}
	g := &guard{o: o, log: o.Logger, clients: map[*mochi.Client]*identity{}}
	g.refused = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "posoffer_mqtt_refused_total",
		Help: "MQTT connections, publishes and subscriptions the embedded broker refused, and sessions it ended, by reason."}, []string{"reason"})
	for _, r := range refusalReasons {
		g.refused.WithLabelValues(r)
	}
	g.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "posoffer_mqtt_credentials_reloads_total",
		Help: "Reloads of the terminals' credentials file, by result (ok, error: the last good file stays in force)."}, []string{"result"})
	g.reloads.WithLabelValues("ok")
	g.reloads.WithLabelValues("error")
	if o.Registry != nil {
		for _, c := range []prometheus.Collector{g.refused, g.reloads} {
			if err := o.Registry.Register(c); err != nil {
				return nil, fmt.Errorf("mqtt broker metrics: %w", err)
			}
		}
	}
	f, st, err := readPasswords(o.PasswordsFile)
	if err != nil {
		return nil, err
	}
	g.file, g.stat = f, st

	s := mochi.New(&mochi.Options{InlineClient: false, Logger: o.Logger})
	g.s = s
	if err := s.AddHook(g, nil); err != nil {
		return nil, fmt.Errorf("mqtt broker: %w", err)
	}
	if o.Listen == "" && o.TLSListen == "" {
		return nil, errors.New("mqtt broker: no listener")
	}
	if o.Listen != "" {
		if err := s.AddListener(listeners.NewTCP(listeners.Config{ID: "tcp", Address: o.Listen})); err != nil {
			return nil, fmt.Errorf("mqtt broker on %s: %w", o.Listen, err)
		}
	}
	if o.TLSListen != "" {
		if o.TLS == nil {
			return nil, errors.New("mqtt broker: a TLS listener without a TLS configuration")
		}
		if err := s.AddListener(listeners.NewTCP(listeners.Config{ID: "tls", Address: o.TLSListen, TLSConfig: o.TLS})); err != nil {
			return nil, fmt.Errorf("mqtt broker on %s: %w", o.TLSListen, err)
		}
	}
	if err := s.Serve(); err != nil {
		s.Close()
		return nil, fmt.Errorf("mqtt broker: %w", err)
	}
	if n := len(f.Entries); n == 0 && !o.AllowAnonymous {
		o.Logger.Warn("no terminal may connect yet: add one with posoffer-agent terminal add", "file", o.PasswordsFile)
	} else {
		o.Logger.Info("mqtt broker", "credentials", n, "file", o.PasswordsFile, "allow_anonymous", o.AllowAnonymous)
	}
	b := &Broker{s: s, g: g, stop: make(chan struct{}), done: make(chan struct{})}
	go b.watch()
	return b, nil
}

// Close stops the broker.
func (b *Broker) Close() error {
	if b == nil {
		return errors.New("no broker")
	}
	close(b.stop)
	<-b.done
	return b.s.Close()
}

// watch reloads the credentials file when it changes, and ends the
// sessions of terminals it no longer lists.
func (b *Broker) watch() {
	defer close(b.done)
	t := time.NewTicker(b.g.o.Poll)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			b.g.reload()
		}
	}
}

// fileStat is what tells a changed credentials file: the CLI replaces it
// (a new inode); an editor may rewrite it in place (size, mtime).
type fileStat struct {
	ino, size int64
	mtime     time.Time
	exists    bool
}

func statOf(path string) fileStat {
	st, err := os.Stat(path)
	if err != nil {
		return fileStat{}
	}
	fs := fileStat{size: st.Size(), mtime: st.ModTime(), exists: true}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		fs.ino = int64(sys.Ino)
	}
	return fs
}

func readPasswords(path string) (*passwd.File, fileStat, error) {
	if path == "" {
		return &passwd.File{}, fileStat{}, nil
	}
	st := statOf(path)
	f, err := passwd.Load(path)
	if err != nil {
		return nil, st, fmt.Errorf("mqtt broker: %w", err)
	}
	return f, st, nil
}

// dummyHash is checked for an unknown user, so that refusing one takes as
// long as refusing a known user's wrong password.
var dummyHash, _ = passwd.Hash(passwd.NewSecret())

// identity is who a connected client is.
type identity struct {
	kind     string // "agent", "terminal" or "anonymous"
	terminal string // for a terminal
	hash     string // the entry its password matched; empty for a certificate
}

// guard is the mochi hook that authenticates clients and checks every
// publish and subscription against what their identity may do.
type guard struct {
	mochi.HookBase
	o       BrokerOptions
	log     *slog.Logger
	s       *mochi.Server
	refused *prometheus.CounterVec
	reloads *prometheus.CounterVec

	// mu: connects read file and add to clients under RLock; a reload
	// swaps file and sweeps clients under Lock, so no client is let in by
	// a file that is no longer in force.
	mu      sync.RWMutex
	file    *passwd.File
	stat    fileStat
	clients map[*mochi.Client]*identity
	cmu     sync.Mutex // clients, which connects add to concurrently
}

func (g *guard) ID() string { return "posoffer-guard" }

func (g *guard) Provides(b byte) bool {
	return bytes.Contains([]byte{mochi.OnConnectAuthenticate, mochi.OnACLCheck, mochi.OnDisconnect}, []byte{b})
}

func (g *guard) refuse(reason string, cl *mochi.Client, attrs ...any) {
	g.refused.WithLabelValues(reason).Inc()
	attrs = append([]any{"reason", reason, "client", cl.ID, "user", string(cl.Properties.Username), "remote", cl.Net.Remote}, attrs...)
	g.log.Warn("mqtt refused", attrs...)
}

// certCN is the CN of the verified client certificate, if any.
func certCN(cl *mochi.Client) string {
	tc, ok := cl.Net.Conn.(*tls.Conn)
	if !ok {
		return ""
	}
	st := tc.ConnectionState()
	if len(st.VerifiedChains) == 0 || len(st.PeerCertificates) == 0 {
		return ""
	}
	return st.PeerCertificates[0].Subject.CommonName
}

func (g *guard) OnConnectAuthenticate(cl *mochi.Client, pk packets.Packet) bool {
	// A terminal added (or revoked) a moment ago counts at once: one stat
	// per connect.
	g.reload()
	g.mu.RLock()
	defer g.mu.RUnlock()
	id, reason := g.authenticate(cl, pk)
	if reason != "" {
		g.refuse(reason, cl)
		return false
	}
	if pk.Connect.WillFlag && !g.allowed(id, pk.Connect.WillTopic, true) {
		g.refuse(RefusedWill, cl, "topic", pk.Connect.WillTopic)
		return false
	}
	g.cmu.Lock()
	g.clients[cl] = id
	g.cmu.Unlock()
	return true
}

func (g *guard) authenticate(cl *mochi.Client, pk packets.Packet) (*identity, string) {
	user, pass := string(pk.Connect.Username), string(pk.Connect.Password)
	cn := certCN(cl)
	switch {
	case user == AgentUser:
		if subtle.ConstantTimeCompare([]byte(pass), []byte(g.o.AgentSecret)) != 1 {
			return nil, RefusedCredentials
		}
		if cl.ID != AgentClientID(g.o.Store) {
			return nil, RefusedClientID
		}
		return &identity{kind: "agent"}, ""
	case cn != "":
		if user != "" && user != cn {
			return nil, RefusedCredentials
		}
		if !protocol.ValidTerminalID(cn) || ReservedID(cn) {
			return nil, RefusedReserved
		}
		if _, ok := g.file.Lookup(cn); !ok {
			return nil, RefusedUnknownCert
		}
		if cl.ID != cn {
			return nil, RefusedClientID
		}
		return &identity{kind: "terminal", terminal: cn}, ""
	case user != "" || len(pass) > 0:
		if !protocol.ValidTerminalID(user) || ReservedID(user) {
			return nil, RefusedReserved
		}
		e, ok := g.file.Lookup(user)
		if !ok {
			passwd.Check(dummyHash, pass) // as slow as a known user: no hint which ids exist
			return nil, RefusedCredentials
		}
		if !passwd.Check(e.Hash, pass) {
			return nil, RefusedCredentials
		}
		if cl.ID != user {
			return nil, RefusedClientID
		}
		return &identity{kind: "terminal", terminal: user, hash: e.Hash}, ""
	}
	if !g.o.AllowAnonymous {
		return nil, RefusedAnonymous
	}
	if _, taken := g.file.Lookup(cl.ID); taken || ReservedID(cl.ID) {
		return nil, RefusedClientID
	}
	return &identity{kind: "anonymous"}, ""
}

// allowed is the ACL: what each identity may publish (write) and
// subscribe to or receive (read).
func (g *guard) allowed(id *identity, topic string, write bool) bool {
	store := g.o.Store
	status, _ := protocol.TopicStatus(store)
	switch id.kind {
	case "agent":
		if write {
			if topic == status {
				return true
			}
			s, _, err := protocol.ParseTopicOut(topic)
			return err == nil && s == store
		}
		if filter, _ := protocol.TopicInFilter(store); topic == filter {
			return true
		}
		s, _, err := protocol.ParseTopicIn(topic)
		return err == nil && s == store
	case "terminal":
		if write {
			in, _ := protocol.TopicIn(store, id.terminal)
			return topic == in
		}
		out, _ := protocol.TopicOut(store, id.terminal)
		return topic == out || topic == status
	case "anonymous":
		if write {
			s, t, err := protocol.ParseTopicIn(topic)
			return err == nil && s == store && !ReservedID(t)
		}
		if topic == status {
			return true
		}
		s, t, err := protocol.ParseTopicOut(topic)
		return err == nil && s == store && !ReservedID(t)
	}
	return false
}

func (g *guard) OnACLCheck(cl *mochi.Client, topic string, write bool) bool {
	g.cmu.Lock()
	id := g.clients[cl]
	g.cmu.Unlock()
	if id != nil && g.allowed(id, topic, write) {
		return true
	}
	reason := RefusedSubscribe
	if write {
		reason = RefusedPublish
	}
	g.refuse(reason, cl, "topic", topic)
	return false
}

func (g *guard) OnDisconnect(cl *mochi.Client, _ error, _ bool) {
	g.cmu.Lock()
	delete(g.clients, cl)
	g.cmu.Unlock()
}

// reload reads the credentials file again if it changed, and ends the
// session of every terminal it no longer lists (or whose password
// changed).
func (g *guard) reload() {
	if g.o.PasswordsFile == "" {
		return
	}
	st := statOf(g.o.PasswordsFile)
	g.mu.RLock()
	same := st == g.stat
	g.mu.RUnlock()
	if same {
		return
	}
	f, st, err := readPasswords(g.o.PasswordsFile)
	if err != nil {
		g.reloads.WithLabelValues("error").Inc()
		g.log.Error("terminal credentials not reloaded; the last good ones stay in force", "err", err)
		g.mu.Lock()
		g.stat = st // tried; wait for the next change
		g.mu.Unlock()
		return
	}
	g.reloads.WithLabelValues("ok").Inc()
	g.mu.Lock()
	g.file, g.stat = f, st
	var gone []*mochi.Client
	g.cmu.Lock()
	for cl, id := range g.clients {
		if id.kind != "terminal" {
			continue
		}
		e, ok := f.Lookup(id.terminal)
		if !ok || (id.hash != "" && e.Hash != id.hash) {
			gone = append(gone, cl)
			delete(g.clients, cl)
		}
	}
	g.cmu.Unlock()
	g.mu.Unlock()
	// Out of the clients map, their every publish and delivery is refused
	// already; disconnecting (which writes to a client that may be slow)
	// happens without holding up connects.
	for _, cl := range gone {
		g.refuse(RefusedRevoked, cl)
		g.s.DisconnectClient(cl, packets.ErrNotAuthorized)
	}
	g.log.Info("terminal credentials reloaded", "terminals", len(f.Entries), "sessions_ended", len(gone))
}
