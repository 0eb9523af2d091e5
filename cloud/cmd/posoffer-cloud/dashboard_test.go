package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/posoffer/posoffer/cloud/bus"
	"github.com/posoffer/posoffer/protocol"
)

// TestDashboard drives HQ's dashboard in headless Chromium through a
// marketer's whole loop: log in with a token, create an offer from a
// template with a live preview, save it, see a running store's agent offer
// it at the till, see the checkout that applies it arrive in the live feed
// and in the overview's numbers, then pause and end it. An analyst sees
// everything but the editor and the actions, and the API refuses the
// analyst's changes; a bad token is refused at login. The tokens come from
// posoffer-cloud token create, run beside the running HQ on its database.
// Screenshots of each page go to the test's temporary directory, or to
// POSOFFER_SCREENSHOTS.
func TestDashboard(t *testing.T) {
	chrome := findChrome(t)
	start := time.Now()
	h := newHQ(t, "")
	if os.Getenv("POSOFFER_TEST_NATS_URL") != "" {
		keepCatalog(t, h)
	}
	admin, analyst := h.token(t, "admin"), h.token(t, "analyst")
	base := "http://" + h.http
	// An agent answers tills once it has a catalog: the store starts with
	// HQ's, an offer for a coupon that the test's baskets do not have. On
	// a NATS server shared with other tests, the bucket may hold their
	// offers: publish makes it hold this HQ's alone, until keepCatalog
	// puts theirs back.
	welcome := `{"id":"` + uniqueID("welcome-") + `","status":"active","condition":{"coupon":{"code":"WELCOME"}},
		"reward":{"type":"amount_off","amount":100}}`
	if code := apiCall(t, base, admin, "POST", "offers", welcome); code != http.StatusCreated {
		t.Fatalf("POST /api/v1/offers: %d", code)
	}
	if code := apiCall(t, base, admin, "POST", "publish", ""); code != http.StatusOK {
		t.Fatalf("POST /api/v1/publish: %d", code)
	}
	a := newAgent(t, h, h.natsURL, "")
	b := newBrowser(t, chrome, base)
	t.Logf("HQ, store and browser up in %v", time.Since(start).Round(time.Millisecond))

	// A token the API does not know is refused at login.
	b.open("/")
	b.waitFor("the login page, for a browser without a token", and(`location.pathname === "/login"`, byID("token")))
	b.login("pof_" + strings.Repeat("x", 52))
	b.waitFor("the login page to refuse a bad token", contains(text(byID("login-error")), "not accepted"))
	b.screenshot("login-refused")

	// An admin logs in and lands on the overview.
	b.login(admin)
	b.waitFor("the overview, after the admin's login", and(`location.pathname === "/"`, eq(text(byID("role")), "admin")))

	// The editor: a template's form, a live preview on the sample basket.
	offerID := uniqueID("coffee-pastry-")
	b.open("/offers/new")
	b.waitFor("the templates in the editor", eq(data("template", "ready"), "true"))
	b.setField("template", "buy_x_get_y", "change")
	b.waitFor("the buy X get Y form", byID("f-buy_qty"))
	b.do(
		chromedp.SendKeys(chromedp.ID("f-id"), offerID),
		chromedp.SendKeys(chromedp.ID("f-name"), "Two coffees, a pastry free"),
		chromedp.SendKeys(chromedp.ID("f-text"), "Free pastry with 2 coffees"),
		chromedp.SendKeys(chromedp.ID("f-buy_categories"), "coffee"),
		chromedp.SendKeys(chromedp.ID("f-buy_qty"), "2"),
		chromedp.SendKeys(chromedp.ID("f-get_categories"), "pastry"),
	)
	b.setField("f-status", "active", "change")
	b.waitFor("the preview to show the free pastry (280)",
		and(eq(data("preview", "state"), "applied"), eq(data("preview-discount", "value"), "280")))
	b.waitFor("the document built from the template", fmt.Sprintf(`(() => {
		const doc = JSON.parse(document.getElementById("offer-json").textContent);
		return doc.id === %q && doc.status === "active" && doc.reward.type === "buy_x_get_y";
	})()`, offerID))

	// Validation errors appear next to the field they are about, and go.
	b.setField("f-percent", "150", "input")
	b.waitFor("the language's refusal of 150% next to the percent field",
		and("!"+byID("err-percent")+".hidden", contains(text(byID("err-percent")), "percent")))
	if disabled := b.eval(byID("save") + ".disabled"); disabled != "true" {
		t.Errorf("Save is enabled for an offer the language refuses")
	}
	b.setField("f-buy_qty", "", "input")
	b.waitFor("a required field left empty", contains(text(byID("err-buy_qty")), "required"))
	b.setField("f-buy_qty", "2", "input")
	b.setField("f-percent", "100", "input")
	b.waitFor("the form to be valid again, with the preview of 280", and(byID("err-percent")+".hidden",
		byID("err-buy_qty")+".hidden", eq(data("preview-discount", "value"), "280"), "!"+byID("save")+".disabled"))
	b.screenshot("editor")

	// Save publishes it; the store's agent offers it at the till.
	b.do(chromedp.Click(chromedp.ID("save")))
	b.waitFor("the offer saved and published", eq(data("save-status", "state"), "published"))
	saved := time.Now()
	term := newTerminal(t, a)
	defer term.close()
	var reply *protocol.Message
	if !waitFor(10*time.Second, func() bool {
		id := uniqueID("m")
		reply = term.send(id, basketMsg(id), 2*time.Second)
		return offered(reply, offerID) != nil
	}) {
		t.Fatalf("10 s after the dashboard saved it, the agent does not offer %s: %+v", offerID, reply)
	}
	t.Logf("the offer reached the till %v after Save", time.Since(saved).Round(time.Millisecond))
	if o := offered(reply, offerID); o.Discount != 280 {
		t.Errorf("the till is offered a discount of %d, want 280", o.Discount)
	}

	// Opened again, the offer is in its template's form, previewed alike;
	// a change to it is saved and published. JSON is the advanced mode.
	b.open("/offers/" + offerID + "/edit")
	b.waitFor("the saved offer in its form, previewed", and(eq(byID("template")+"?.value", "buy_x_get_y"),
		eq(byID("f-name")+"?.value", "Two coffees, a pastry free"), eq(data("preview-discount", "value"), "280")))
	b.setField("f-name", "Pastry on us with 2 coffees", "input")
	b.waitFor("the edited document in the preview", contains(text(byID("offer-json")), "Pastry on us"))
	b.setField("template", "json", "change")
	b.waitFor("the document in the advanced mode", contains(byID("doc")+"?.value", "Pastry on us"))
	b.do(chromedp.Click(chromedp.ID("save")))
	b.waitFor("the change saved and published", eq(data("save-status", "state"), "published"))

	// The overview follows the live feed: a checkout that applies the
	// offer shows up in the feed, today's numbers and the chart.
	b.open("/")
	b.waitFor("the overview's feed to be live and its numbers loaded",
		and(eq(data("feed-state", "state"), "open"), data("today-redemptions", "value")+` !== ""`))
	if before := b.eval(data("today-redemptions", "value")); before != "0" {
		t.Errorf("today's redemptions before any checkout: %s, want 0", before)
	}
	txn := uniqueID("t01-")
	checkout := fmt.Sprintf(`{"v":1,"type":"checkout","id":"m-%s","txn":"%s","customer":"%s","paid":700,
 "applied":[{"offer":"%s","discount":280,"points":0}],
 "lines":[{"sku":"C","qty":2,"price":350,"category":"coffee"},{"sku":"P","qty":1,"price":280,"category":"pastry"}]}`,
		txn, txn, loyaltyID, offerID)
	if r := term.send("m-"+txn, checkout, 5*time.Second); r == nil || r.Type != protocol.TypeAck {
		t.Fatalf("checkout: %+v", r)
	}
	checkedOut := time.Now()
	b.waitFor("the checkout in the live feed", query(`#feed-list li[data-txn="`+txn+`"][data-offer="`+offerID+`"]`))
	t.Logf("the redemption reached the live feed %v after the checkout", time.Since(checkedOut).Round(time.Millisecond))
	b.waitFor("today's numbers and the chart to count the redemption", and(
		eq(data("today-redemptions", "value"), "1"), eq(data("today-discount", "value"), "280"),
		eq(data("chart-redemptions", "last"), "1"), eq(data("chart-discount", "last"), "280")))
	b.waitFor("the offer among the top offers",
		eq(text(query(`#top-offers tr[data-offer="`+offerID+`"] .redemptions`)), "1"))
	b.screenshot("overview")

	b.open("/feed")
	b.waitFor("the redemption on the feed page", query(`#feed-list li[data-txn="`+txn+`"]`))
	b.screenshot("feed")

	b.open("/stores")
	b.waitFor("the store online on the stores page",
		query(`#stores-table tr[data-store="`+a.store+`"][data-online="true"]`))
	b.screenshot("stores")

	// The offers page: its numbers, and the admin's actions.
	row := `#offers-table tr[data-offer="` + offerID + `"]`
	b.open("/offers")
	b.waitFor("the offer's row with its redemption",
		and(eq(text(query(row+" .redemptions")), "1"), eq(text(query(row+" .discount")), "280")))
	if got := b.eval(and(byID("new-offer"), query(row+` [data-action="pause"]`))); got != "true" {
		t.Errorf("the admin's offers page has no New offer link or no Pause action")
	}
	b.screenshot("offers")
	b.do(chromedp.Click(chromedp.CSS(row + ` [data-action="pause"]`)))
	b.waitFor("the offer paused", eq(query(row)+"?.dataset.status", "paused"))
	if !waitFor(10*time.Second, func() bool {
		id := uniqueID("m")
		reply = term.send(id, basketMsg(id), 2*time.Second)
		return reply != nil && reply.Type == protocol.TypeOffers && offered(reply, offerID) == nil
	}) {
		t.Errorf("10 s after the dashboard paused it, the agent still offers %s", offerID)
	}

	// An analyst reads everything and changes nothing.
	b.follow(chromedp.ID("logout"))
	b.waitFor("the login page after logging out", `location.pathname === "/login"`)
	b.login(analyst)
	b.waitFor("the overview, after the analyst's login", eq(text(byID("role")), "analyst"))
	if got := b.eval(`document.cookie.includes("posoffer_token")`); got != "false" {
		t.Errorf("the page's script can read the token cookie")
	}
	b.open("/offers")
	b.waitFor("the offers for the analyst", query(row))
	if got := b.eval(and("!"+byID("new-offer"), "!"+query("[data-action]"), "!"+query(".actions"))); got != "true" {
		t.Errorf("the analyst's offers page shows the New offer link or actions")
	}
	b.screenshot("offers-analyst")
	b.open("/offers/new")
	b.waitFor("the editor refused to the analyst", and(byID("forbidden"), "!"+byID("editor")))
	status := b.eval(fmt.Sprintf(`fetch("/api/v1/offers/%s/resume", {method: "POST", headers: {"X-Requested-With": "posoffer"}})
		.then((r) => r.status)`, offerID))
	if status != "403" {
		t.Errorf("the API answers the analyst's resume from the dashboard with %s, want 403", status)
	}
	doc := `{"id":"analyst-offer","status":"active","reward":{"type":"percent_off","percent":5}}`
	if code := apiCall(t, base, analyst, "POST", "offers", doc); code != http.StatusForbidden {
		t.Errorf("the API answers an analyst token's POST /api/v1/offers with %d, want 403", code)
	}

	// The admin ends it for good, from the offers page.
	end := row + ` [data-action="end"]`
	b.follow(chromedp.ID("logout"))
	b.login(admin)
	b.waitFor("the overview, after the admin's second login", eq(text(byID("role")), "admin"))
	b.open("/offers")
	b.waitFor("the paused offer", query(end))
	b.do(chromedp.Click(chromedp.CSS(end)))
	b.waitFor("End to ask once more", eq(query(end)+"?.dataset.confirm", "yes"))
	b.do(chromedp.Click(chromedp.CSS(end)))
	b.waitFor("the offer ended", eq(query(row)+"?.dataset.status", "ended"))

	b.checkConsole()
	t.Logf("dashboard loop done in %v", time.Since(start).Round(time.Millisecond))
}

// JavaScript expressions that the test's conditions are made of.

// byID is the element with the id, or null.
func byID(id string) string { return fmt.Sprintf("document.getElementById(%q)", id) }

// query is the first element that the CSS selector matches, or null.
func query(css string) string { return fmt.Sprintf("document.querySelector(%q)", css) }

// data is a data attribute of the element with the id.
func data(id, key string) string { return byID(id) + "?.dataset." + key }

// text is the text of an element.
func text(element string) string { return element + "?.textContent" }

// eq is true when expr is the string value.
func eq(expr, value string) string { return fmt.Sprintf("%s === %q", expr, value) }

// contains is true when the string expr contains s.
func contains(expr, s string) string { return fmt.Sprintf("(%s || \"\").includes(%q)", expr, s) }

// and is true when every condition is truthy.
func and(conds ...string) string { return "!!(" + strings.Join(conds, ") && !!(") + ")" }

// keepCatalog puts the catalog bucket back as it is now when the test
// ends: on a NATS server shared with other tests, their agents take their
// catalog from it.
func keepCatalog(t *testing.T, h *hq) {
	t.Helper()
	ctx := context.Background()
	nc, err := bus.Connect(h.natsURL, h.creds(), "test")
	if err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	kv, err := js.KeyValue(ctx, protocol.CatalogBucket)
	if err != nil {
		t.Fatal(err)
	}
	contents := func() map[string][]byte {
		keys, err := kv.Keys(ctx)
		if err != nil && !errors.Is(err, jetstream.ErrNoKeysFound) {
			t.Fatal(err)
		}
		m := map[string][]byte{}
		for _, k := range keys {
			if e, err := kv.Get(ctx, k); err == nil {
				m[k] = e.Value()
			}
		}
		return m
	}
	saved := contents()
	t.Cleanup(func() {
		defer nc.Close()
		for k, v := range contents() {
			if _, ok := saved[k]; !ok {
				kv.Delete(ctx, k)
			} else if bytes.Equal(v, saved[k]) {
				delete(saved, k)
			}
		}
		for k, v := range saved {
			kv.Put(ctx, k, v)
		}
	})
}

// findChrome returns the path of Chromium or Chrome, or skips the test.
func findChrome(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	t.Skip("no chromium, chromium-browser or google-chrome on PATH: the dashboard's browser test needs one " +
		"(CI installs Debian's chromium)")
	return ""
}

// token makes an API token of the role with posoffer-cloud token create,
// against the running HQ's database.
func (h *hq) token(t *testing.T, role string) string {
	t.Helper()
	out, err := exec.Command(cloudBin, "token", "create", "--config", h.config, "--role", role).Output()
	if err != nil {
		t.Fatalf("token create --role %s: %v", role, err)
	}
	token := strings.TrimSpace(string(out))
	if !strings.HasPrefix(token, "pof_") {
		t.Fatalf("token create printed %q", out)
	}
	return token
}

// apiCall calls HQ's API with a bearer token and returns the status.
func apiCall(t *testing.T, base, token, method, path, body string) int {
	t.Helper()
	req, err := http.NewRequest(method, base+"/api/v1/"+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// offered returns the offer of the id in an offers reply, or nil.
func offered(r *protocol.Message, id string) *protocol.Offer {
	if r == nil || r.Type != protocol.TypeOffers {
		return nil
	}
	i := slices.IndexFunc(r.Offers, func(o protocol.Offer) bool { return o.ID == id })
	if i < 0 {
		return nil
	}
	return &r.Offers[i]
}

// browser is a headless Chromium with one tab.
type browser struct {
	t     *testing.T
	ctx   context.Context
	base  string // HQ's http://host:port
	shots string // where screenshots go

	mu       sync.Mutex
	problems []string // uncaught exceptions and policy violations
}

// stepTimeout bounds each step the test waits for.
const stepTimeout = 20 * time.Second

func newBrowser(t *testing.T, path, base string) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // CI runs as root
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	shots := os.Getenv("POSOFFER_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	b := &browser{t: t, ctx: ctx, base: base, shots: shots}
	messages := chromedp.Console(ctx) // subscribes now; starts the browser
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.IsException() || m.Source == "security" || strings.Contains(m.Text, "Content Security Policy") {
				b.mu.Lock()
				b.problems = append(b.problems, m.String())
				b.mu.Unlock()
			}
		}
	}()
	return b
}

func (b *browser) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fail("browser", err)
	}
}

// open opens a path of HQ and waits for the page to load.
func (b *browser) open(path string) {
	b.t.Helper()
	b.do(chromedp.Navigate(b.base + path))
}

// login submits the login form with the token, from any page: it opens
// the login page first.
func (b *browser) login(token string) {
	b.t.Helper()
	b.open("/login")
	b.do(chromedp.WaitVisible(chromedp.ID("token")), chromedp.SendKeys(chromedp.ID("token"), token))
	b.follow(chromedp.ID("login-submit"))
}

// follow clicks a link or button that loads another page, and waits for
// that page to load.
func (b *browser) follow(sel chromedp.ID) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(sel))); err != nil {
		b.fail("click "+string(sel), err)
	}
}

// setField sets a form control's value as a person would leave it, and
// fires the event the page listens for.
func (b *browser) setField(id, value, event string) {
	b.t.Helper()
	b.eval(fmt.Sprintf(`(() => {
		const e = document.getElementById(%q);
		e.value = %q;
		e.dispatchEvent(new Event(%q, {bubbles: true}));
		return true;
	})()`, id, value, event))
}

// eval evaluates a JavaScript expression, awaiting a promise, and returns
// the result as JSON text (a string's without its quotes).
func (b *browser) eval(expr string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.fail("evaluate "+expr, err)
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// waitFor waits until a JavaScript condition holds on the page.
func (b *browser) waitFor(what, cond string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout+time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[bool]("!!("+cond+")",
		chromedp.WithPollingTimeout(stepTimeout), chromedp.WithPollingInterval(50*time.Millisecond)))
	if err != nil {
		b.fail("waiting for "+what, err)
	}
}

// fail stops the test with what the page showed.
func (b *browser) fail(what string, err error) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + "\n" + document.body.innerText`))
	b.mu.Lock()
	problems := strings.Join(b.problems, "\n")
	b.mu.Unlock()
	b.t.Fatalf("%s: %v\nthe console:\n%s\nthe page:\n%s", what, err, problems, text)
}

// screenshot saves what the 1400x900 window shows as name.png in the
// directory POSOFFER_SCREENSHOTS names (docs/screenshots holds the docs'),
// else in the test's temporary directory.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Errorf("screenshot %s: %v", name, err)
		return
	}
	if err := os.WriteFile(filepath.Join(b.shots, name+".png"), png, 0o644); err != nil {
		b.t.Error(err)
	}
}

// checkConsole fails the test for each uncaught exception or policy
// violation the pages reported.
func (b *browser) checkConsole() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.problems {
		b.t.Errorf("browser console: %s", p)
	}
}
