package uplink

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/nats-io/nkeys"
)

func TestCredsOption(t *testing.T) {
	dir := t.TempDir()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := kp.Seed()
	files := map[string]string{
		"seed":  string(seed) + "\n",
		"creds": "-----BEGIN NATS USER JWT-----\neyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.e30.c2ln\n------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\n" + string(seed) + "\n------END USER NKEY SEED------\n",
		"junk":  "not a key\n",
	}
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		o, err := credsOption(path)
		if (err == nil) != (name != "junk") || (err == nil && o == nil) {
			t.Errorf("%s: option %v, err %v", name, o != nil, err)
		}
	}
	if _, err := credsOption(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing file: no error")
	}
}
