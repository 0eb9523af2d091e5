package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// newHQWithHTTP is newHQ with more keys in its http section.
func newHQWithHTTP(t *testing.T, httpKeys string) *hq {
	t.Helper()
	h := &hq{dir: t.TempDir(), http: freePort(t), logs: &bytes.Buffer{}}
	natsCfg := ""
	if url := os.Getenv("POSOFFER_TEST_NATS_URL"); url != "" {
		h.natsURL, natsCfg = url, "url: "+url
	} else {
		listen := freePort(t)
		h.natsURL, natsCfg = "nats://"+listen, "listen: "+listen
	}
	if dsn := os.Getenv("POSOFFER_TEST_PG_URL"); dsn != "" {
		h.dsn = pgSchema(t, dsn)
	}
	h.config = filepath.Join(h.dir, "cloud.yaml")
	cfg := fmt.Sprintf("version: 1\ndata_dir: %s\nhttp: {listen: '%s', %s}\nnats: {%s}\ndb: '%s'\n",
		filepath.Join(h.dir, "data"), h.http, httpKeys, natsCfg, h.dsn)
	if err := os.WriteFile(h.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	h.start(t)
	t.Cleanup(func() { h.stop(t) })
	return h
}

// trickle writes s to c one byte every gap until it is written or a write
// fails (the server closed the connection).
func trickle(c net.Conn, s string, gap time.Duration) {
	for i := range len(s) {
		if _, err := c.Write([]byte{s[i]}); err != nil {
			return
		}
		time.Sleep(gap)
	}
}

// readAll reads what the server sends until it closes the connection, or
// fails the test after within.
func readAll(t *testing.T, c net.Conn, within time.Duration) (string, time.Duration) {
	t.Helper()
	start := time.Now()
	c.SetReadDeadline(start.Add(within))
	b, err := io.ReadAll(c)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("the connection is still open after %v; read %q", within, b)
	}
	return string(b), time.Since(start)
}

// TestSlowClientsAreCut: a client that sends its body, or its headers, a
// byte a second loses its connection once the deadline passes (408 for a
// body), and is counted; the live feed, which outlives both deadlines, is
// not cut.
func TestSlowClientsAreCut(t *testing.T) {
	h := newHQWithHTTP(t, "read_header_timeout: 1s, body_timeout: 1s")
	admin, analyst := h.token(t, "admin"), h.token(t, "analyst")

	feed, err := http.NewRequest("GET", "http://"+h.http+"/api/v1/feed", nil)
	if err != nil {
		t.Fatal(err)
	}
	feed.Header.Set("Authorization", "Bearer "+analyst)
	resp, err := http.DefaultClient.Do(feed)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("feed: %v %v", resp, err)
	}
	defer resp.Body.Close()
	feedEnded := make(chan error, 1)
	go func() { _, err := io.Copy(io.Discard, resp.Body); feedEnded <- err }()

	// A body a byte a second.
	c, err := net.Dial("tcp", h.http)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /api/v1/offers HTTP/1.1\r\nHost: hq\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: 200\r\n\r\n", admin)
	go trickle(c, `{"id":"slow-offer","status":"active"`+strings.Repeat(" ", 200), time.Second)
	got, took := readAll(t, c, 5*time.Second)
	if !strings.HasPrefix(got, "HTTP/1.1 408 ") || !strings.Contains(got, `"code":"bad_request"`) {
		t.Errorf("slow body: %q, want 408 with a JSON error", got)
	}
	t.Logf("slow body: cut after %v", took.Round(time.Millisecond))

	// Headers a byte a second.
	c2, err := net.Dial("tcp", h.http)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	go trickle(c2, "GET /api/v1/me HTTP/1.1\r\nHost: hq\r\nAuthorization: Bearer "+admin+"\r\n\r\n", time.Second)
	got, took = readAll(t, c2, 5*time.Second)
	if strings.Contains(got, " 200 ") {
		t.Errorf("slow headers: %q, want the connection closed", got)
	}
	t.Logf("slow headers: cut after %v, answered %q", took.Round(time.Millisecond), got)

	if !waitFor(5*time.Second, func() bool { return metric(t, h.http, "posoffer_cloud_http_slow_requests_total") == "2" }) {
		t.Errorf("posoffer_cloud_http_slow_requests_total = %q, want 2",
			metric(t, h.http, "posoffer_cloud_http_slow_requests_total"))
	}
	// A client that sends at an ordinary pace is served.
	if code := apiCall(t, "http://"+h.http, admin, "GET", "offers", ""); code != http.StatusOK {
		t.Errorf("GET offers: %d", code)
	}
	select {
	case err := <-feedEnded:
		t.Fatalf("the live feed ended (%v) while the slow clients were cut", err)
	default:
	}
}

// feedClient reads a live feed until it ends: ended closes then, and
// events has the names of the events it sent.
type feedClient struct {
	ended  chan struct{}
	events chan string
}

func openFeed(t *testing.T, h *hq, token string) *feedClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+h.http+"/api/v1/feed", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("feed: %v %v", resp, err)
	}
	f := &feedClient{ended: make(chan struct{}), events: make(chan string, 100)}
	go func() {
		defer close(f.ended)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if name, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
				f.events <- name
			}
		}
	}()
	return f
}

// endsWithin checks that the feed sends an end event and ends within d.
func (f *feedClient) endsWithin(t *testing.T, d time.Duration, what string) {
	t.Helper()
	select {
	case <-f.ended:
	case <-time.After(d):
		t.Fatalf("%s: the feed still streams %v later", what, d)
	}
	for {
		select {
		case e := <-f.events:
			if e == "end" {
				return
			}
		default:
			t.Fatalf("%s: the feed ended without an end event", what)
		}
	}
}

// tokenID is the id of a token, from HQ's database.
func tokenID(t *testing.T, h *hq, token string) string {
	t.Helper()
	sum := sha256.Sum256([]byte(token))
	tok, err := h.db(t).TokenByHash(context.Background(), hex.EncodeToString(sum[:]))
	if err != nil {
		t.Fatal(err)
	}
	return tok.ID
}

// TestRevokedOrExpiredTokenEndsItsFeed: revoking a token with the CLI (a
// process of its own, as another HQ replica would be) ends the feeds open
// with it within a couple of seconds; a token made with --expires stops
// working, and its feed ends, when it expires.
func TestRevokedOrExpiredTokenEndsItsFeed(t *testing.T) {
	h := newHQ(t, "")
	revoked := h.token(t, "analyst")
	kept := h.token(t, "analyst")
	feed, other := openFeed(t, h, revoked), openFeed(t, h, kept)
	out, err := exec.Command(cloudBin, "token", "revoke", "--config", h.config, "--id", tokenID(t, h, revoked)).CombinedOutput()
	if err != nil {
		t.Fatalf("token revoke: %v\n%s", err, out)
	}
	start := time.Now()
	feed.endsWithin(t, 3*time.Second, "revoked")
	t.Logf("the feed ended %v after the revocation", time.Since(start).Round(time.Millisecond))
	select {
	case <-other.ended:
		t.Fatal("the feed of a token not revoked ended")
	default:
	}

	out, err = exec.Command(cloudBin, "token", "create", "--config", h.config, "--role", "analyst", "--name", "temp",
		"--expires", "3s").Output()
	if err != nil {
		t.Fatalf("token create --expires: %v", err)
	}
	expiring := strings.TrimSpace(string(out))
	if code := apiCall(t, "http://"+h.http, expiring, "GET", "me", ""); code != http.StatusOK {
		t.Fatalf("a token expiring in 3s: %d", code)
	}
	feed = openFeed(t, h, expiring)
	list, _ := exec.Command(cloudBin, "token", "list", "--config", h.config).Output()
	if !strings.Contains(string(list), "EXPIRES") || !strings.Contains(string(list), time.Now().UTC().Format("2006-01-02T")) {
		t.Errorf("token list does not show the expiry:\n%s", list)
	}
	feed.endsWithin(t, 6*time.Second, "expired")

	req, _ := http.NewRequest("GET", "http://"+h.http+"/api/v1/me", nil)
	req.Header.Set("Authorization", "Bearer "+expiring)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var reply struct {
		Error struct{ Code, Message string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&reply); err != nil || resp.StatusCode != http.StatusUnauthorized ||
		reply.Error.Code != "unauthorized" || !strings.Contains(reply.Error.Message, "expired") {
		t.Errorf("an expired token: %d %+v %v", resp.StatusCode, reply, err)
	}
	if _, _, code := runToken(t, h, "create", "--role", "analyst", "--expires", "1h", "--expires-at", "2030-01-01T00:00:00Z"); code != exitUsage {
		t.Errorf("--expires with --expires-at: exit %d, want %d", code, exitUsage)
	}
	if _, _, code := runToken(t, h, "create", "--role", "analyst", "--expires-at", "2001-01-01T00:00:00Z"); code != exitUsage {
		t.Errorf("--expires-at in the past: exit %d, want %d", code, exitUsage)
	}
}

func runToken(t *testing.T, h *hq, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := tokenCmd(context.Background(), append([]string{args[0], "--config", h.config}, args[1:]...), &out, &errOut)
	return out.String(), errOut.String(), code
}
