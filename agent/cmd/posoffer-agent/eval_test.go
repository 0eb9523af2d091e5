package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// goldenDir holds the evaluation cases: one directory each, with a catalog,
// a basket, optional profile, an args file of extra flags, and either
// expected.json (the reply, compared as a subset) or error (lines that the
// refusal must contain). See its README.
const goldenDir = "../../../protocol/offer/testdata/eval"

var agentBin, simBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "posoffer-agent-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	agentBin = filepath.Join(dir, "posoffer-agent")
	simBin = filepath.Join(dir, "posoffer-sim")
	for bin, pkg := range map[string]string{agentBin: ".", simBin: "../posoffer-sim"} {
		if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", pkg, err, out)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// agent runs the built binary and returns its stdout, stderr and exit code.
func agent(t testing.TB, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(agentBin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return stdout.String(), stderr.String(), 0
	case errors.As(err, &exit):
		return stdout.String(), stderr.String(), exit.ExitCode()
	}
	t.Fatalf("run posoffer-agent: %v", err)
	return "", "", 0
}

func TestEvalGolden(t *testing.T) {
	cases, err := os.ReadDir(goldenDir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range cases {
		if !c.IsDir() {
			continue
		}
		n++
		dir := filepath.Join(goldenDir, c.Name())
		t.Run(c.Name(), func(t *testing.T) {
			t.Parallel()
			args := []string{"eval", "--catalog", firstExisting(t, dir, "catalog.json", "catalog.yaml", "catalog.yml"),
				"--basket", filepath.Join(dir, "basket.json")}
			if p := filepath.Join(dir, "profile.json"); exists(p) {
				args = append(args, "--profile", p)
			}
			if b, err := os.ReadFile(filepath.Join(dir, "args")); err == nil {
				args = append(args, strings.Fields(string(b))...)
			}
			stdout, stderr, code := agent(t, args...)

			if want, err := os.ReadFile(filepath.Join(dir, "error")); err == nil {
				if code != exitUsage {
					t.Fatalf("exit code %d, want %d (refused); stdout:\n%s", code, exitUsage, stdout)
				}
				for _, line := range strings.Split(strings.TrimSpace(string(want)), "\n") {
					if line = strings.TrimSpace(line); line != "" && !strings.Contains(stderr, line) {
						t.Errorf("error output lacks %q; it was:\n%s", line, stderr)
					}
				}
				return
			}
			if code != exitOK {
				t.Fatalf("exit code %d, stderr:\n%s", code, stderr)
			}
			var got, want any
			if err := json.Unmarshal([]byte(stdout), &got); err != nil {
				t.Fatalf("reply is not JSON: %v\n%s", err, stdout)
			}
			b, err := os.ReadFile(filepath.Join(dir, "expected.json"))
			if err != nil {
				t.Fatalf("case has neither expected.json nor error: %v", err)
			}
			if err := json.Unmarshal(b, &want); err != nil {
				t.Fatalf("expected.json: %v", err)
			}
			if diff := subset("", want, got); diff != "" {
				t.Errorf("%s\nreply:\n%s", diff, stdout)
			}
		})
	}
	if n == 0 {
		t.Fatal("no golden cases found in " + goldenDir)
	}
}

// subset reports where got differs from want, comparing only the keys that
// want has; lists must match in length and order; an absent or null list in
// got equals an empty one in want.
func subset(path string, want, got any) string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Sprintf("%s: got %v, want an object", path, got)
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				if l, isList := wv.([]any); isList && len(l) == 0 {
					continue
				}
				return fmt.Sprintf("%s.%s: missing, want %v", path, k, wv)
			}
			if d := subset(path+"."+k, wv, gv); d != "" {
				return d
			}
		}
		return ""
	case []any:
		if got == nil && len(w) == 0 {
			return ""
		}
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Sprintf("%s: got %v, want %d elements: %v", path, got, len(w), want)
		}
		for i := range w {
			if d := subset(fmt.Sprintf("%s[%d]", path, i), w[i], g[i]); d != "" {
				return d
			}
		}
		return ""
	}
	if !reflect.DeepEqual(want, got) {
		return fmt.Sprintf("%s: got %v, want %v", path, got, want)
	}
	return ""
}

func firstExisting(t *testing.T, dir string, names ...string) string {
	for _, n := range names {
		if p := filepath.Join(dir, n); exists(p) {
			return p
		}
	}
	t.Fatalf("%s: none of %v", dir, names)
	return ""
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func TestEvalUsage(t *testing.T) {
	dir := t.TempDir()
	cat := filepath.Join(dir, "catalog.json")
	basket := filepath.Join(dir, "basket.json")
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(cat, `{"version":1,"offers":[{"id":"ten-off","status":"active","reward":{"type":"percent_off","percent":10}}]}`)
	write(basket, `{"v":1,"type":"basket","id":"m-1","txn":"t-1","lines":[{"sku":"A","qty":1,"price":1000}]}`)

	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no flags", []string{"eval"}, exitUsage, "--catalog and --basket are required"},
		{"missing catalog file", []string{"eval", "--catalog", filepath.Join(dir, "nope.json"), "--basket", basket}, exitUsage, "nope.json"},
		{"bad zone", []string{"eval", "--catalog", cat, "--basket", basket, "--tz", "Mars/Base"}, exitUsage, `--tz "Mars/Base"`},
		{"bad time", []string{"eval", "--catalog", cat, "--basket", basket, "--at", "yesterday"}, exitUsage, `--at "yesterday"`},
		{"bad store", []string{"eval", "--catalog", cat, "--basket", basket, "--store", "S 1"}, exitUsage, `--store "S 1"`},
		{"catalog as basket", []string{"eval", "--catalog", cat, "--basket", cat}, exitUsage, "basket"},
		{"unknown command", []string{"evaluate"}, exitUsage, `unknown command "evaluate"`},
		{"ok", []string{"eval", "--catalog", cat, "--basket", basket, "--at", "2026-11-22T10:00:00Z"}, exitOK, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := agent(t, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stdout %s; stderr %s", code, tc.code, stdout, stderr)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr %q lacks %q", stderr, tc.want)
			}
			if code == exitOK && !strings.Contains(stdout, `"discount": 100`) {
				t.Errorf("reply lacks the 10%% discount: %s", stdout)
			}
		})
	}
}
