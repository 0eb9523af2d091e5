package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/posoffer/posoffer/agent/internal/shopsim"
)

// findBin finds a program: in --bin, next to this program, then on PATH.
func findBin(dir, name string) (string, error) {
	if dir != "" {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("--bin: %w", err)
		}
		return p, nil
	}
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s is neither next to posoffer-sim nor on PATH (make build puts both in bin/; or give --bin DIR)", name)
	}
	return p, nil
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// proc is a started HQ or agent.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

func startProc(name, logFile string, args ...string) (*proc, error) {
	f, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logFile, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

// stop ends the process with SIGTERM, and SIGKILL after 10s.
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// tail is the end of the process's log, for errors.
func (p *proc) tail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// waitReady waits until url answers 200, while the process runs.
func (p *proc) waitReady(ctx context.Context, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		select {
		case <-p.done:
			return fmt.Errorf("%s exited: %s", p.name, p.tail())
		default:
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if !pause(ctx, 50*time.Millisecond) {
			return fmt.Errorf("%s not ready on %s within %v: %s", p.name, url, timeout, p.tail())
		}
	}
}

// command runs a program to its end and returns its standard output.
func command(ctx context.Context, args ...string) (string, error) {
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %v: %s", filepath.Base(args[0]), args[1], err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

func lastLine(s string) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(l[len(l)-1])
}

// The store the simulation starts.
const (
	simStore    = "s001"
	simTerminal = "t01"
)

// startEnv starts an HQ (embedded NATS, SQLite, a short decide.interval)
// and a store's agent that takes its catalog and model from it, with the
// real programs' own commands, in a new directory; the agent shops as
// terminal t01 on its embedded broker.
func startEnv(ctx context.Context, c *shoppersCfg, w *shopsim.World, logw io.Writer) (_ *env, err error) {
	cloudBin, err := findBin(c.bin, "posoffer-cloud")
	if err != nil {
		return nil, err
	}
	agentBin, err := findBin(c.bin, "posoffer-agent")
	if err != nil {
		return nil, err
	}
	dir := c.keep
	if dir == "" {
		if dir, err = os.MkdirTemp("", "posoffer-shoppers"); err != nil {
			return nil, err
		}
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	var procs []*proc
	e := &env{store: simStore, terminal: simTerminal}
	e.stop = func() {
		for i := len(procs) - 1; i >= 0; i-- {
			procs[i].stop()
		}
		if c.keep == "" {
			os.RemoveAll(dir)
		}
	}
	defer func() {
		if err != nil {
			e.stop()
		}
	}()
	addrs := make([]string, 4)
	for i := range addrs {
		if addrs[i], err = freeAddr(); err != nil {
			return nil, err
		}
	}
	hqHTTP, hqNATS, agentHTTP, broker := addrs[0], addrs[1], addrs[2], addrs[3]
	e.hq, e.broker, e.metrics = "http://"+hqHTTP, "tcp://"+broker, "http://"+agentHTTP+"/metrics"

	cloudCfg := filepath.Join(dir, "cloud.yaml")
	if err := os.WriteFile(cloudCfg, fmt.Appendf(nil, cloudYAML, filepath.Join(dir, "cloud"), hqHTTP, hqNATS), 0o600); err != nil {
		return nil, err
	}
	hq, err := startProc("posoffer-cloud", filepath.Join(dir, "cloud.log"), cloudBin, "run", "--config", cloudCfg)
	if err != nil {
		return nil, err
	}
	procs = append(procs, hq)
	if err := hq.waitReady(ctx, e.hq+"/readyz", 30*time.Second); err != nil {
		return nil, err
	}
	fmt.Fprintf(logw, "HQ on %s (NATS %s), files in %s\n", e.hq, hqNATS, dir)
	cloudSection, err := command(ctx, cloudBin, "store", "add", "--config", cloudCfg, "--out", filepath.Join(dir, "store-"+simStore), simStore)
	if err != nil {
		return nil, err
	}
	token, err := command(ctx, cloudBin, "token", "create", "--config", cloudCfg, "--role", "admin", "--name", "posoffer-sim shoppers")
	if err != nil {
		return nil, err
	}
	e.token = lastLine(token)
	h := &hqClient{url: e.hq, token: e.token}
	if err := h.loadCatalog(ctx, w.CatalogDocument()); err != nil {
		return nil, err
	}

	// The tenant key follows the seed, so that the same customers are
	// held out in every run of a seed.
	tenantKey := sha256.Sum256(fmt.Appendf(nil, "posoffer-sim shoppers tenant %d", c.seed))
	if err := os.WriteFile(filepath.Join(dir, "tenant.key"), tenantKey[:], 0o600); err != nil {
		return nil, err
	}
	agentCfg := filepath.Join(dir, "agent.yaml")
	cfg := fmt.Sprintf(agentYAML, simStore, c.tz.String(), filepath.Join(dir, "agent"), filepath.Join(dir, "tenant.key"),
		agentHTTP, broker, c.k, c.seed) + cloudSection
	if err := os.WriteFile(agentCfg, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	secret, err := command(ctx, agentBin, "terminal", "add", "--config", agentCfg, simTerminal)
	if err != nil {
		return nil, err
	}
	e.password = lastLine(secret)
	agent, err := startProc("posoffer-agent", filepath.Join(dir, "agent.log"), agentBin, "run", "--config", agentCfg)
	if err != nil {
		return nil, err
	}
	procs = append(procs, agent)
	// Ready once the catalog from HQ is in.
	if err := agent.waitReady(ctx, "http://"+agentHTTP+"/readyz", 30*time.Second); err != nil {
		return nil, err
	}
	fmt.Fprintf(logw, "agent %s on %s, as terminal %s\n", simStore, e.broker, simTerminal)
	return e, nil
}

// cloudYAML is HQ's configuration: data dir, HTTP and NATS listeners. HQ
// learns every second from data time, so a simulated day is learned from
// as soon as it is in.
const cloudYAML = `version: 1
data_dir: %s
http: {listen: "%s"}
nats: {listen: "%s"}
decide:
  interval: 1s
`

// agentYAML is the agent's configuration: store, zone, data dir, tenant
// key, HTTP and MQTT listeners, max suggestions and seed; the cloud:
// section store add printed follows. The clock is the terminal's, so that
// simulated days are days to the agent.
const agentYAML = `version: 1
store: %s
timezone: %s
data_dir: %s
tenant_key_file: %s
http: {listen: "%s"}
mqtt: {listen: "%s"}
discovery: {advertise: false}
clock: {source: terminal}
decide:
  report_candidates: true
  max_suggestions: %d
  seed: %d
`
