package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestShoppersFlags(t *testing.T) {
	dir := t.TempDir()
	badPop := filepath.Join(dir, "population.yaml")
	os.WriteFile(badPop, []byte("version: 1\nsegments:\n  - {id: a, share: 1, buys: [{sku: X, category: x, price: 100, often: 2}]}\n"), 0o644)
	catalog := filepath.Join(dir, "catalog.yaml")
	os.WriteFile(catalog, []byte("version: 1\noffers: []\n"), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--days", "0"}, "--days must be 1 to 3650"},
		{[]string{"--shoppers", "-3"}, "--shoppers must be 1 to 100000"},
		{[]string{"--catalog", catalog}, "--catalog and --population go together"},
		{[]string{"--customers", "2000000"}, "--customers must be 1 to 1000000"},
		{[]string{"--segments", "101"}, "--segments must be 1 to 100"},
		{[]string{"--broker", "tcp://127.0.0.1:1"}, "--broker and --hq go together"},
		{[]string{"--broker", "tcp://127.0.0.1:1", "--hq", "http://127.0.0.1:1"}, "--hq needs --token-file or --token"},
		{[]string{"--tz", "Mars/Olympus"}, "--tz"},
		{[]string{"--start", "tomorrow"}, "--start: want YYYY-MM-DD"},
		{[]string{"--catalog", catalog, "--population", badPop}, badPop + ": segments[0].buys[0].often: must be above 0 and at most 1"},
		{[]string{"--catalog", catalog, "--population", filepath.Join(dir, "none.yaml")}, "none.yaml"},
		{[]string{"extra"}, `unexpected argument "extra"`},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), append([]string{"shoppers"}, tc.args...), &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("shoppers %q: exit %d, stderr %q; want exit 2 and %q", tc.args, code, stderr.String(), tc.want)
		}
	}
}

// buildAll builds posoffer-agent, posoffer-cloud and posoffer-sim into one
// directory, or skips the test.
func buildAll(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, pkg := range []string{"../posoffer-agent", "../../../cloud/cmd/posoffer-cloud", "."} {
		out, err := exec.Command("go", "build", "-o", dir+string(filepath.Separator), pkg).CombinedOutput()
		if err != nil {
			t.Skipf("cannot build %s, which the simulation runs: %v\n%s", pkg, err, out)
		}
	}
	return dir
}

// TestShoppersLearn runs a short simulation with the real programs, HQ and
// agent started by the simulator itself, and checks that the suggestions
// the agent learns beat the fixed rule after the first week.
func TestShoppersLearn(t *testing.T) {
	if testing.Short() {
		t.Skip("runs HQ and an agent for a simulated 10 days")
	}
	var res struct {
		Transactions   int        `json:"transactions"`
		Exposed        int        `json:"exposed"`
		Learned        *float64   `json:"uptake_learned"`
		Fixed          *float64   `json:"uptake_fixed"`
		Oracle         *float64   `json:"uptake_oracle"`
		UpliftTrue     *float64   `json:"uplift_true"`
		UpliftMeasured *float64   `json:"uplift_measured"`
		UpliftCI       []*float64 `json:"uplift_ci"`
		HQExposed      int        `json:"hq_exposed"`
		PerDay         []struct {
			Transactions int `json:"transactions"`
		} `json:"per_day"`
	}
	out, last := runShoppers(t, 3*time.Minute, &res, "--days", "10", "--shoppers", "120", "--shift-day", "0", "--seed", "7")
	t.Logf("\n%s", out)
	switch {
	case res.Learned == nil || res.Fixed == nil || res.Oracle == nil || res.UpliftTrue == nil || len(res.UpliftCI) != 2:
		t.Fatalf("fields missing: %s", last)
	case res.Transactions != 1200 || len(res.PerDay) != 10 || res.PerDay[9].Transactions != 120:
		t.Errorf("%d transactions over %d days, want 1200 over 10", res.Transactions, len(res.PerDay))
	case res.UpliftMeasured == nil || res.UpliftCI[0] == nil || res.HQExposed == 0:
		t.Errorf("no uplift from HQ: %s", last)
	case *res.Oracle < *res.Learned || *res.Oracle < *res.Fixed:
		t.Errorf("the oracle (%.3f) is beaten: learned %.3f, fixed %.3f", *res.Oracle, *res.Learned, *res.Fixed)
	case *res.Learned <= *res.Fixed:
		t.Errorf("learned uptake %.3f does not beat the fixed rule's %.3f", *res.Learned, *res.Fixed)
	}
}

// TestShoppersWorldFiles runs a world given as files, with a generated
// extra segment, through the real programs.
func TestShoppersWorldFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("runs HQ and an agent")
	}
	var res struct {
		Transactions int     `json:"transactions"`
		Candidates   float64 `json:"candidates"`
		PerDay       []struct {
			Learned float64 `json:"uptake_learned"`
		} `json:"per_day"`
	}
	out, _ := runShoppers(t, 2*time.Minute, &res, "--days", "2", "--shoppers", "40",
		"--catalog", "../../internal/shopsim/testdata/catalog.json", "--population", "../../internal/shopsim/testdata/population.yaml",
		"--segments", "3")
	if res.Transactions != 80 || len(res.PerDay) != 2 {
		t.Errorf("%d transactions over %d days, want 80 over 2\n%s", res.Transactions, len(res.PerDay), out)
	}
	if res.PerDay[0].Learned+res.PerDay[1].Learned == 0 {
		t.Errorf("nothing suggested was ever likely to be taken:\n%s", out)
	}
}

// runShoppers runs posoffer-sim shoppers --json with args, within timeout,
// and decodes its last line into res. It returns the whole output and the
// last line.
func runShoppers(t *testing.T, timeout time.Duration, res any, args ...string) (out, last string) {
	t.Helper()
	bin := buildAll(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "posoffer-sim"), append(append([]string{"shoppers"}, args...), "--json")...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("posoffer-sim shoppers: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	last = lines[len(lines)-1]
	if err := json.Unmarshal([]byte(last), res); err != nil {
		t.Fatalf("last line is not the JSON result: %v\n%s", err, stdout.String())
	}
	return stdout.String(), last
}
