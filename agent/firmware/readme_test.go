package firmware

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestREADME checks that firmware-configs/README.md documents every key a
// model file may have, every v1 name a mapping may use, and every shipped
// model; and that each key it documents in a table exists.
func TestREADME(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(modelsDir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	mentioned := func(s string) bool { return strings.Contains(readme, "`"+s+"`") }

	known := map[string]bool{}
	for section, keys := range sections {
		if section != "" && !mentioned(section) {
			t.Errorf("README.md does not mention the section `%s`", section)
		}
		for _, k := range keys {
			known[k] = true
			if !mentioned(k) {
				t.Errorf("README.md does not mention the key `%s` of %s", k, sectionName(section))
			}
		}
	}
	for _, l := range levels {
		for _, name := range l.json {
			if !mentioned(name) {
				t.Errorf("README.md does not mention the v1 name `%s` of %s", name, l.key)
			}
		}
	}
	for _, typ := range messageTypes {
		if !mentioned(typ) {
			t.Errorf("README.md does not mention the message type `%s`", typ)
		}
	}
	for _, name := range shippedModels(t) {
		if !mentioned(name) {
			t.Errorf("README.md does not mention the model `%s`", name)
		}
	}

	// The first column of the tables of keys (and of the mapping levels,
	// which are keys too): | `key` | ...
	rows := regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\|").FindAllStringSubmatch(readme, -1)
	if len(rows) < 20 {
		t.Fatalf("found %d key rows in README.md's tables, want one per key", len(rows))
	}
	for _, r := range rows {
		if !known[r[1]] {
			t.Errorf("README.md documents a key `%s` that model files do not have", r[1])
		}
	}
}
