package bus

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	"github.com/posoffer/posoffer/protocol"
	"github.com/posoffer/posoffer/protocol/decide"
)

// Identities on HQ's NATS. Every client is an nkey user: the server keeps
// only public keys and checks a signature of a fresh nonce at each
// connect, so nothing the server holds lets anyone connect.
//
//   - HQ (posoffer-cloud and its commands) may do anything.
//   - A store may do what its agent needs and nothing else (see
//     StorePermissions): publish its own events and heartbeats, read the
//     catalog, profiles and decide buckets, and receive replies on its own inbox
//     prefix. It cannot write a bucket, publish as another store, touch
//     the events stream or HQ's consumer, or read another store's replies.

// HQSeedFile is the name, in HQ's data_dir, of HQ's own nkey seed, created
// (mode 0600) on first use.
const HQSeedFile = "nats-hq.nk"

// ErrNotUserSeed is returned for a seed file that holds no nkey user seed.
var ErrNotUserSeed = errors.New("not an nkey user seed")

// StoreUser is a store allowed on HQ's NATS: its id and its public nkey.
type StoreUser struct {
	Store     string
	PublicKey string
}

// NewUserKey makes a new nkey user: its seed (the secret) and its public
// key.
func NewUserKey() (seed []byte, pub string, err error) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		return nil, "", fmt.Errorf("new nkey: %w", err)
	}
	defer kp.Wipe()
	s, err := kp.Seed()
	if err != nil {
		return nil, "", fmt.Errorf("new nkey: %w", err)
	}
	seed = slices.Clone(s) // Wipe clears s

	pub, err = kp.PublicKey()
	return seed, pub, err
}

// WriteSeed writes an nkey seed to a new file at path, mode 0600; an
// existing file is an error.
func WriteSeed(path string, seed []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write nkey seed: %w", err)
	}
	_, err = f.Write(append(slices.Clone(seed), '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("write nkey seed %s: %w", path, err)
	}
	return nil
}

// SeedPublicKey returns the public key of the nkey user seed in the file
// at path.
func SeedPublicKey(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("nkey seed: %w", err)
	}
	kp, err := nkeys.ParseDecoratedNKey(b)
	if err != nil {
		return "", fmt.Errorf("nkey seed %s: %w", path, err)
	}
	defer kp.Wipe()
	pub, err := kp.PublicKey()
	if err != nil || !nkeys.IsValidPublicUserKey(pub) {
		return "", fmt.Errorf("nkey seed %s: %w", path, ErrNotUserSeed)
	}
	return pub, nil
}

// LoadOrCreateSeed returns the public key of the nkey user seed at path,
// creating the seed (mode 0600) when the file does not exist.
func LoadOrCreateSeed(path string) (string, error) {
	pub, err := SeedPublicKey(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return pub, err
	}
	seed, _, err := NewUserKey()
	if err != nil {
		return "", err
	}
	if err := WriteSeed(path, seed); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", err
	}
	return SeedPublicKey(path) // another process may have made it first
}

// StorePermissions are what a store's agent may do on HQ's NATS, the
// least that works:
//
//   - publish posoffer.v1.events.{store}.> (its events and heartbeats);
//   - look up the three buckets ($JS.API.STREAM.INFO of their streams);
//   - watch the catalog and the decide model: create (and delete) the
//     ephemeral ordered consumer of a KV watch on the catalog and decide
//     buckets' streams, and answer its flow control;
//   - get a profile by key (direct get by subject; not by sequence, so a
//     store cannot walk the bucket), and the decide model by its key;
//   - receive messages only under its inbox prefix, _INBOX_{store}.
//
// Everything else is refused by the server, which closes nothing but
// answers a permissions violation: any $KV publish (bucket writes), any
// other $JS.API request (streams, HQ's consumer), other stores' subjects
// and inboxes.
func StorePermissions(store string) (*server.Permissions, error) {
	events, err := protocol.StoreEvents(store)
	if err != nil {
		return nil, err
	}
	inbox, err := protocol.StoreInboxPrefix(store)
	if err != nil {
		return nil, err
	}
	catalog, profiles, model := "KV_"+protocol.CatalogBucket, "KV_"+protocol.ProfilesBucket, "KV_"+decide.Bucket
	return &server.Permissions{
		Publish: &server.SubjectPermission{Allow: []string{
			events,
			"$JS.API.STREAM.INFO." + catalog,
			"$JS.API.STREAM.INFO." + profiles,
			"$JS.API.STREAM.INFO." + model,
			"$JS.API.CONSUMER.CREATE." + catalog,
			"$JS.API.CONSUMER.CREATE." + catalog + ".>",
			"$JS.API.CONSUMER.DELETE." + catalog + ".*",
			"$JS.FC." + catalog + ".>",
			"$JS.API.DIRECT.GET." + profiles + ".$KV." + protocol.ProfilesBucket + ".>",
			"$JS.API.CONSUMER.CREATE." + model,
			"$JS.API.CONSUMER.CREATE." + model + ".>",
			"$JS.API.CONSUMER.DELETE." + model + ".*",
			"$JS.FC." + model + ".>",
			"$JS.API.DIRECT.GET." + model + ".$KV." + decide.Bucket + "." + decide.ModelKey,
		}},
		Subscribe: &server.SubjectPermission{Allow: []string{inbox + ".>"}},
	}, nil
}

// Users returns the nkey users of HQ's NATS: HQ (hq, a public key) with
// every permission, and each store with StorePermissions.
func Users(hq string, stores []StoreUser) ([]*server.NkeyUser, error) {
	if !nkeys.IsValidPublicUserKey(hq) {
		return nil, fmt.Errorf("hq nkey %q: not a public user key", hq)
	}
	users := []*server.NkeyUser{{Nkey: hq}}
	for _, s := range stores {
		if !nkeys.IsValidPublicUserKey(s.PublicKey) {
			return nil, fmt.Errorf("store %s: nkey %q: not a public user key", s.Store, s.PublicKey)
		}
		p, err := StorePermissions(s.Store)
		if err != nil {
			return nil, err
		}
		users = append(users, &server.NkeyUser{Nkey: s.PublicKey, Permissions: p})
	}
	return users, nil
}

// AuthConfig returns the authorization block of a nats-server
// configuration file that holds the same users and permissions as Users,
// for a cluster that HQ does not run.
func AuthConfig(hq string, stores []StoreUser) (string, error) {
	users, err := Users(hq, stores)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("# posoffer: HQ and its stores, nkey users (public keys only).\n")
	b.WriteString("# Include it in the server's configuration, or paste it there.\n")
	b.WriteString("authorization {\n  users = [\n")
	for i, u := range users {
		if i == 0 {
			b.WriteString("    # HQ (posoffer-cloud): every permission\n")
			fmt.Fprintf(&b, "    {nkey: %s}\n", strconv.Quote(u.Nkey))
			continue
		}
		fmt.Fprintf(&b, "    # store %s\n", stores[i-1].Store)
		fmt.Fprintf(&b, "    {nkey: %s, permissions: {\n", strconv.Quote(u.Nkey))
		fmt.Fprintf(&b, "      publish: {allow: %s}\n", quoteList(u.Permissions.Publish.Allow))
		fmt.Fprintf(&b, "      subscribe: {allow: %s}\n", quoteList(u.Permissions.Subscribe.Allow))
		b.WriteString("    }}\n")
	}
	b.WriteString("  ]\n}\n")
	return b.String(), nil
}

func quoteList(list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
