package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/posoffer/posoffer/protocol"
	"github.com/posoffer/posoffer/protocol/decide"
)

// The offers of the scripted day: a spend threshold with a budget of ¥250
// per store, and tea 3 for 2. The day is worked out by hand below.
const (
	spendOffer = `{"id":"spend-1000","name":"¥100 off ¥1,000","status":"active","condition":{"spend":{"min":1000}},
		"reward":{"type":"amount_off","amount":100},"limits":{"budget":250}}`
	teaOffer = `{"id":"tea-3for2","name":"Tea 3 for 2","status":"active","condition":{"items":{"categories":["tea"],"min_qty":3}},
		"reward":{"type":"buy_x_get_y","buy":{"categories":["tea"],"qty":2},"get":{"categories":["tea"],"qty":1}}}`
)

// A line of coffee at ¥300 and of tea at ¥160.
func coffee(qty int) string {
	return fmt.Sprintf(`{"sku":"C","qty":%d,"price":300,"category":"coffee"}`, qty)
}

func tea(qty int) string {
	return fmt.Sprintf(`{"sku":"T","qty":%d,"price":160,"category":"tea"}`, qty)
}

// TestDashboardReports checks every number HQ shows for a scripted day
// against the day worked out by hand, in the API and on screen in
// headless Chromium: a store in Tokyo, HQ in Tokyo counting yen. Then each
// page for both roles, the editor's round trip of every template, the
// preview at a chosen store and time, exports parsed back, the calendar
// and the budget alert on the overview and at the webhook. Any JavaScript
// error or policy violation fails it.
func TestDashboardReports(t *testing.T) {
	chrome := findChrome(t)
	hook := &alertHook{}
	hookSrv := httptest.NewServer(hook)
	defer hookSrv.Close()
	secret := filepath.Join(t.TempDir(), "webhook.secret")
	os.WriteFile(secret, []byte("a-webhook-secret-of-some-length\n"), 0o600)
	h := newHQWith(t, "", fmt.Sprintf("currency: JPY\ntimezone: Asia/Tokyo\n"+
		"alerts: {webhook_url: '%s', webhook_secret_file: '%s', interval: 200ms}\n", hookSrv.URL, secret))
	if os.Getenv("POSOFFER_TEST_NATS_URL") != "" {
		keepCatalog(t, h)
	}
	admin, analyst := h.token(t, "admin"), h.token(t, "analyst")
	base := "http://" + h.http
	for _, doc := range []string{spendOffer, teaOffer} {
		if code := apiCall(t, base, admin, "POST", "offers", doc); code != http.StatusCreated {
			t.Fatalf("POST /api/v1/offers: %d", code)
		}
	}
	if code := apiCall(t, base, admin, "POST", "publish", ""); code != http.StatusOK {
		t.Fatalf("POST /api/v1/publish: %d", code)
	}
	a := newAgentWith(t, h, h.natsURL, "", "timezone: Asia/Tokyo\n")
	term := newTerminal(t, a)
	defer term.close()
	// One coffee: nothing applies or nearly applies, so nothing is shown
	// before the day begins.
	if !waitFor(15*time.Second, func() bool {
		id := uniqueID("m")
		r := term.send(id, fmt.Sprintf(`{"v":1,"type":"basket","id":%q,"txn":"warm-up","lines":[%s]}`, id, coffee(1)),
			2*time.Second)
		return r != nil && r.Type == protocol.TypeOffers && r.Catalog > 0 && len(r.Offers)+len(r.Nudges) == 0
	}) {
		t.Fatal("the agent does not serve HQ's catalog")
	}

	// The day. Every transaction is anonymous and outside the holdout,
	// so the till may nudge.
	day := scriptDay(t, a.store)
	for _, tx := range day {
		for i, lines := range tx.baskets {
			id := fmt.Sprintf("%s-b%d", tx.txn, i)
			r := term.send(id, fmt.Sprintf(`{"v":1,"type":"basket","id":%q,"txn":%q,"lines":[%s]}`, id, tx.txn, lines),
				5*time.Second)
			if r == nil || r.Type != protocol.TypeOffers {
				t.Fatalf("%s: basket %d: %+v", tx.txn, i, r)
			}
			if got := replyOf(r); got != tx.want[i] {
				t.Fatalf("%s: basket %d: the till shows %s, want %s", tx.txn, i, got, tx.want[i])
			}
		}
		if tx.checkout == "" {
			continue // abandoned
		}
		id := tx.txn + "-ck"
		r := term.send(id, fmt.Sprintf(`{"v":1,"type":"checkout","id":%q,"txn":%q,%s}`, id, tx.txn, tx.checkout),
			5*time.Second)
		if r == nil || r.Type != protocol.TypeAck {
			t.Fatalf("%s: checkout: %+v", tx.txn, r)
		}
	}

	// By hand. spend-1000: redeemed by T1 and T5 (¥200); shown as
	// applying to T1, T3, T5 and the abandoned T6 (4 impressions), of
	// which 3 checked out and 2 redeemed it: uptake 2/3; nudged in T1 and
	// T2, of which T1 redeemed it: 1/2. tea-3for2: redeemed by T4 and T5
	// (¥320), shown to both: uptake 1. Five checkouts, sales ¥5,460.
	today := time.Now().In(tokyo(t)).Format(time.DateOnly)
	want := map[string]map[string]any{
		"spend-1000": {"redemptions": 2.0, "discount": 200.0, "points": 0.0, "impressions": 4.0,
			"nudge_impressions": 2.0, "shown_checkouts": 3.0, "shown_redeemed": 2.0, "uptake": 2.0 / 3,
			"nudged_checkouts": 2.0, "nudged_redeemed": 1.0, "nudge_uptake": 0.5, "budget": 250.0, "budget_burn": 0.8},
		"tea-3for2": {"redemptions": 2.0, "discount": 320.0, "points": 0.0, "impressions": 2.0, "nudge_impressions": 0.0,
			"shown_checkouts": 2.0, "shown_redeemed": 2.0, "uptake": 1.0, "nudged_checkouts": 0.0, "nudged_redeemed": 0.0,
			"nudge_uptake": nil, "budget": 0.0, "budget_burn": nil},
	}
	var offers struct {
		From, To string
		Items    []map[string]any
	}
	if !waitFor(20*time.Second, func() bool {
		offers.Items = nil
		apiGet(t, base, analyst, "reports/offers?from="+today, &offers)
		return len(offers.Items) == 2 && offers.Items[1]["redemptions"] == 2.0 && offers.Items[0]["impressions"] == 4.0
	}) {
		t.Fatalf("HQ's offer report did not come to the day's figures: %+v", offers.Items)
	}
	for _, row := range offers.Items {
		for k, v := range want[row["offer"].(string)] {
			if !reflect.DeepEqual(row[k], v) {
				t.Errorf("API: %s %s = %v, want %v", row["offer"], k, row[k], v)
			}
		}
	}
	var stores struct{ Items []map[string]any }
	apiGet(t, base, analyst, "reports/stores?from="+today, &stores)
	if len(stores.Items) != 1 || stores.Items[0]["checkouts"] != 5.0 || stores.Items[0]["sales"] != 5460.0 ||
		stores.Items[0]["redemptions"] != 4.0 || stores.Items[0]["discount"] != 520.0 {
		t.Errorf("API: store report %+v, want 5 checkouts, sales 5460, 4 redemptions, discount 520", stores.Items)
	}

	b := newBrowser(t, chrome, base)
	b.login(analyst)
	b.waitFor("the overview for the analyst", eq(text(byID("role")), "analyst"))

	// The overview: today in Tokyo, in yen, and the budget alert at 80%.
	b.waitFor("today's numbers", and(eq(data("today-redemptions", "value"), "4"),
		eq(text(byID("today-discount")), "¥520")))
	b.waitFor("the budget alert of spend-1000 at 80%",
		query(`#alert-list li[data-offer="spend-1000"][data-level="80"]`))
	b.waitFor("spend-1000 among the top offers with its uptake", and(
		eq(text(query(`#top-offers tr[data-offer="spend-1000"] .discount`)), "¥200"),
		eq(text(query(`#top-offers tr[data-offer="spend-1000"] .uptake`)), "66.7%")))
	b.screenshot("overview")

	// The offers page.
	row := func(id string) string { return `#offers-table tr[data-offer="` + id + `"]` }
	b.open("/offers")
	b.waitFor("the offers' figures", and(
		eq(text(query(row("spend-1000")+" .redemptions")), "2"), eq(text(query(row("spend-1000")+" .discount")), "¥200"),
		eq(text(query(row("spend-1000")+" .impressions")), "4"), eq(text(query(row("spend-1000")+" .uptake")), "66.7%"),
		eq(text(query(row("tea-3for2")+" .discount")), "¥320"), eq(text(query(row("tea-3for2")+" .uptake")), "100%")))
	if got := b.eval(and("!"+byID("new-offer"), "!"+query("[data-action]"))); got != "true" {
		t.Errorf("the analyst's offers page has admin actions")
	}
	rows := b.csv(`#offers-csv button`)
	checkCSV(t, "offers", rows, "offer", "spend-1000", map[string]string{"redemptions": "2", "discount": "200",
		"impressions": "4", "shown_checkouts": "3", "shown_redeemed": "2", "budget": "250", "budget_burn": "0.8"})
	b.screenshot("offers")

	// The offer's page: its rules, numbers, stores, budget and history.
	b.open("/offers/spend-1000")
	b.waitFor("the offer's rules and numbers", and(
		contains(text(byID("offer-rules")), "the basket comes to at least ¥1,000: ¥100 off the basket"),
		eq(data("s-redemptions", "value"), "2"), eq(text(byID("s-discount")), "¥200"),
		eq(text(byID("s-uptake")), "66.7%"), contains(text(byID("s-uptake-of")), "2 of the 3 checkouts"),
		eq(text(query(`#offer-stores tr[data-store="`+a.store+`"] .discount`)), "¥200"),
		contains(text(byID("budget-summary")), "80%"), contains(text(byID("offer-audit")), "create")))
	b.screenshot("offer")

	// Reports: per store with totals, per day, segments, the audit log;
	// each table's export parsed back.
	b.open("/reports#stores")
	b.waitFor("the store report", eq(text(query(`#report-stores tr[data-store="`+a.store+`"] .discount`)), "¥520"))
	rows = b.csv(`#tab-stores .csv-slot button`)
	checkCSV(t, "stores", rows, "store", a.store, map[string]string{"checkouts": "5", "sales": "5460",
		"redemptions": "4", "discount": "520", "impressions": "6", "shown_checkouts": "5", "shown_redeemed": "4"})
	b.screenshot("reports")
	b.do(chromedp.Click(chromedp.CSS(`#tabs button[data-tab="days"]`)))
	b.waitFor("today in the day report", eq(text(query(`#report-days tr[data-day="`+today+`"] td:nth-child(4)`)), "4"))
	rows = b.csv(`#tab-days .csv-slot button`)
	checkCSV(t, "days", rows, "day", today, map[string]string{"checkouts": "5", "redemptions": "4", "discount": "520"})
	b.do(chromedp.Click(chromedp.CSS(`#tabs button[data-tab="audit"]`)))
	b.waitFor("the audit log", contains(text(byID("report-audit")), "spend-1000"))
	b.do(chromedp.Click(chromedp.CSS(`#tabs button[data-tab="segments"]`)))
	b.waitFor("the segment report", eq(text(query(`#report-segments tr[data-segment=""] td:nth-child(2)`)), "4"))

	// The stores page: its zone, and its alarms and discrepancies.
	b.open("/stores")
	b.waitFor("the store in Tokyo", eq(text(query(`#stores-table tr[data-store="`+a.store+`"] .zone`)), "Asia/Tokyo"))
	b.screenshot("stores")
	b.open("/feed")
	b.waitFor("the feed in HQ's zone", and(query(`#feed-list li[data-offer="spend-1000"]`),
		contains(text(query("[data-zone-label]")), "Asia/Tokyo")))
	b.screenshot("feed")
	b.open("/suggestions")
	b.waitFor("the suggestions page", query("main h1"))
	b.screenshot("suggestions")
	b.open("/calendar")
	b.waitFor("the calendar for the analyst", query(`#calendar tr[data-offer="spend-1000"] td[data-on="true"]`))
	b.open("/offers/new")
	b.waitFor("the editor refused to the analyst", and(byID("forbidden"), "!"+byID("editor")))

	// The webhook took the alert once, signed.
	if !waitFor(10*time.Second, func() bool { return hook.count() == 1 }) {
		t.Fatalf("the webhook got %d alerts, want 1", hook.count())
	}
	if p := hook.first(); p["offer"] != "spend-1000" || p["level"] != 80.0 || p["store"] != a.store ||
		p["currency"] != "JPY" || p["discount"] != 200.0 || !hook.signed() {
		t.Errorf("webhook payload %+v (signed %v)", p, hook.signed())
	}

	// An admin edits every template's offer in its form, and saves it
	// unchanged; an offer no template makes opens as JSON.
	b.follow(chromedp.ID("logout"))
	b.login(admin)
	b.waitFor("the overview for the admin", eq(text(byID("role")), "admin"))
	editorRoundTrips(t, b, base, admin, a.store)

	// The calendar: the weekday-morning offer on weekdays only.
	b.open("/calendar")
	b.waitFor("the calendar", query(`#calendar tr[data-offer="weekday-tea"] td[data-on="true"]`))
	if got := b.eval(`[...document.querySelectorAll('#calendar tr[data-offer="weekday-tea"] td[data-on="true"]')]
		.every((td) => ![0, 6].includes(new Date(td.dataset.day + "T00:00:00Z").getUTCDay()))`); got != "true" {
		t.Errorf("the calendar shows the weekday offer on a weekend")
	}
	b.screenshot("calendar")
	for _, path := range []string{"/", "/offers", "/offers/spend-1000", "/reports", "/stores", "/feed", "/suggestions"} {
		b.open(path)
		b.waitFor("the admin's "+path, and(eq(text(byID("role")), "admin"), `!document.querySelector("[role=alert]:not([hidden])")`))
	}
	b.checkConsole()
}

// scripted is one transaction of the scripted day: its baskets, what the
// till must show for each (offersAndNudges), and its checkout ("" when
// abandoned).
type scripted struct {
	txn      string
	baskets  []string
	want     []string
	checkout string
}

// scriptDay is the day the test works out by hand, its transaction ids
// outside the holdout. In order:
//
//	T1 ¥900 of coffee: nudged toward spend-1000; ¥1,200: it applies; redeemed.
//	T2 ¥900: nudged; checks out at ¥900.
//	T3 ¥1,200: it applies; the cashier does not apply it.
//	T6 ¥1,200: it applies; abandoned (its impression rides with T4's checkout).
//	T4 three teas, ¥480: tea-3for2 applies (¥160); spend-1000, 52% short, is no nudge.
//	T5 ¥1,200 of coffee and three teas: both apply; both redeemed.
func scriptDay(t *testing.T, store string) []scripted {
	t.Helper()
	txn := func(name string) string {
		for i := 0; ; i++ {
			id := fmt.Sprintf("%s-%d", name, i)
			if !decide.InHoldout(decide.HoldoutID("", store, "t01", id), decide.DefaultHoldout) {
				return id
			}
		}
	}
	ck := func(lines, applied string, paid int) string {
		return fmt.Sprintf(`"paid":%d,"applied":[%s],"lines":[%s]`, paid, applied, lines)
	}
	spend, teaFree := `{"offer":"spend-1000","discount":100}`, `{"offer":"tea-3for2","discount":160}`
	return []scripted{
		{txn("T1"), []string{coffee(3), coffee(4)}, []string{"nudge:spend-1000", "offer:spend-1000"},
			ck(coffee(4), spend, 1100)},
		{txn("T2"), []string{coffee(3)}, []string{"nudge:spend-1000"}, ck(coffee(3), "", 900)},
		{txn("T3"), []string{coffee(4)}, []string{"offer:spend-1000"}, ck(coffee(4), "", 1200)},
		{txn("T6"), []string{coffee(4)}, []string{"offer:spend-1000"}, ""},
		{txn("T4"), []string{tea(3)}, []string{"offer:tea-3for2"}, ck(tea(3), teaFree, 320)},
		{txn("T5"), []string{coffee(4) + "," + tea(3)}, []string{"offer:tea-3for2 offer:spend-1000"},
			ck(coffee(4)+","+tea(3), spend+","+teaFree, 1420)},
	}
}

// replyOf is what a till shows: "offer:ID" and "nudge:ID", offers first.
func replyOf(r *protocol.Message) string {
	var out []string
	for _, o := range r.Offers {
		out = append(out, "offer:"+o.ID)
	}
	for _, n := range r.Nudges {
		out = append(out, "nudge:"+n.Offer)
	}
	return strings.Join(out, " ")
}

func tokyo(t *testing.T) *time.Location {
	loc, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// apiGet GETs an API path with a bearer token into v.
func apiGet(t *testing.T, base, token, path string, v any) {
	t.Helper()
	if err := json.Unmarshal(apiOK(t, base, token, "GET", path, ""), v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// apiOK calls the API with a bearer token and returns the body of its 200.
func apiOK(t *testing.T, base, token, method, path, body string) []byte {
	t.Helper()
	req, _ := http.NewRequest(method, base+"/api/v1/"+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, out)
	}
	return out
}

// csv clicks a CSV button and returns the file it made, parsed.
func (b *browser) csv(button string) [][]string {
	b.t.Helper()
	b.eval(`(() => {
		window.__csv = null;
		if (!window.__csvHooked) {
			const make = URL.createObjectURL;
			URL.createObjectURL = (blob) => { blob.text().then((t) => { window.__csv = t; }); return make.call(URL, blob); };
			window.__csvHooked = true;
		}
		return true;
	})()`)
	b.eval(query(button) + ".click() || true")
	b.waitFor("the CSV of "+button, "window.__csv !== null")
	rows, err := csv.NewReader(strings.NewReader(b.eval("window.__csv"))).ReadAll()
	if err != nil {
		b.t.Fatalf("the CSV of %s does not parse: %v", button, err)
	}
	return rows
}

// checkCSV finds the row whose column key is value, and checks columns.
func checkCSV(t *testing.T, name string, rows [][]string, key, value string, want map[string]string) {
	t.Helper()
	if len(rows) < 2 {
		t.Errorf("%s CSV: %d rows", name, len(rows))
		return
	}
	col := map[string]int{}
	for i, c := range rows[0] {
		col[c] = i
	}
	for _, r := range rows[1:] {
		if r[col[key]] != value {
			continue
		}
		for k, v := range want {
			if i, ok := col[k]; !ok || r[i] != v {
				t.Errorf("%s CSV: %s %s: column %s is %q, want %q (header %v)", name, key, value, k, r[col[k]], v, rows[0])
			}
		}
		return
	}
	t.Errorf("%s CSV has no row with %s %s: %v", name, key, value, rows)
}

// editorRoundTrips makes an offer with each template through the API,
// opens it in the editor, sees its template's form filled in, and saves
// it: the offer is unchanged. A points offer opens as JSON. A copy of an
// offer starts as a draft with its own id. The weekday offer previews at
// the store in Tokyo, in and out of its hours.
func editorRoundTrips(t *testing.T, b *browser, base, admin, storeID string) {
	t.Helper()
	made := map[string]string{
		"buy_x_get_y": `{"id":"weekday-tea","name":"Weekday tea","status":"active","buy_categories":"tea","buy_qty":2,
			"days":["mon","tue","wed","thu","fri"],"from":"06:00","until":"11:00"}`,
		"spend_threshold":   `{"id":"spend-5000","status":"active","min_spend":5000,"percent_off":"7.5","max_discount":1000}`,
		"bundle":            `{"id":"onigiri-3","status":"draft","components":[{"categories":["onigiri"],"qty":3}],"price":300,"budget":9000}`,
		"percent_off_brand": `{"id":"acme-10","status":"paused","brand":"acme","percent":10,"stores":"` + storeID + `"}`,
	}
	for name, fields := range made {
		doc := fillTemplate(t, base, admin, name, fields)
		if code := apiCall(t, base, admin, "POST", "offers", string(doc)); code != http.StatusCreated {
			t.Fatalf("POST %s offer: %d", name, code)
		}
		var o struct{ ID string }
		json.Unmarshal(doc, &o)
		b.open("/offers/" + o.ID + "/edit")
		b.waitFor("the "+name+" form of "+o.ID, and(eq(byID("template")+"?.value", name),
			eq(byID("f-id")+"?.value", o.ID), byID("f-id")+"?.readOnly", "!"+byID("save")+"?.disabled"))
		if name == "buy_x_get_y" {
			b.screenshot("editor")
		}
		b.do(chromedp.Click(chromedp.ID("save")))
		b.waitFor("the "+o.ID+" saved", eq(data("save-status", "state"), "published"))
		var stored struct{ Doc json.RawMessage }
		apiGet(t, base, admin, "offers/"+o.ID, &stored)
		if !sameJSON(stored.Doc, doc) {
			t.Errorf("%s: saved from its form unchanged, it became\n%s\nwas\n%s", o.ID, stored.Doc, doc)
		}
	}
	points := `{"id":"points-5","status":"active","reward":{"type":"points","points":5}}`
	if code := apiCall(t, base, admin, "POST", "offers", points); code != http.StatusCreated {
		t.Fatalf("POST points offer: %d", code)
	}
	b.open("/offers/points-5/edit")
	b.waitFor("the points offer as JSON", and(eq(byID("template")+"?.value", "json"), "!"+byID("json-field")+"?.hidden",
		contains(byID("doc")+"?.value", `"points": 5`)))

	// A copy starts as a draft of its own.
	b.open("/offers/new?from=spend-5000")
	b.waitFor("the copy in its form", and(eq(byID("template")+"?.value", "spend_threshold"),
		eq(byID("f-id")+"?.value", "spend-5000-copy"), eq(byID("f-status")+"?.value", "draft"),
		eq(byID("f-min_spend")+"?.value", "5000")))

	// The preview at the store in Tokyo: a Monday at 09:30 there is in the
	// weekday offer's hours, 17:32 is not.
	b.open("/offers/weekday-tea/edit")
	b.waitFor("the store among the preview's stores", query(`#preview-store option[value="`+storeID+`"]`))
	b.setField("preview-store", storeID, "change")
	b.setField("preview-at", "2026-11-23T09:30", "change")
	b.waitFor("the offer applying on Monday 09:30 in Tokyo", and(eq(data("preview", "state"), "applied"),
		contains(text(byID("preview-zone")), "Mon 2026-11-23 09:30 Asia/Tokyo")))
	b.setField("preview-at", "2026-11-23T17:32", "change")
	b.waitFor("the offer out of its hours at 17:32 in Tokyo", and(eq(data("preview", "state"), "skipped"),
		contains(text(byID("preview-reason")), "schedule"), query("#preview-lines")+"?.hidden"))
}

// fillTemplate makes the offer document of a template's fields.
func fillTemplate(t *testing.T, base, token, name, fields string) []byte {
	t.Helper()
	return apiOK(t, base, token, "POST", "templates/"+name, `{"fields":`+fields+`}`)
}

func sameJSON(a, b []byte) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}

// alertHook is a webhook that records the alerts it is sent.
type alertHook struct {
	mu   sync.Mutex
	got  []map[string]any
	sigs []bool
}

func (h *alertHook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	m := hmac.New(sha256.New, []byte("a-webhook-secret-of-some-length"))
	m.Write(body)
	var p map[string]any
	json.Unmarshal(body, &p)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.got = append(h.got, p)
	h.sigs = append(h.sigs, r.Header.Get("X-Posoffer-Signature") == "sha256="+hex.EncodeToString(m.Sum(nil)))
}

func (h *alertHook) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.got)
}

func (h *alertHook) first() map[string]any {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.got[0]
}

func (h *alertHook) signed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.sigs) > 0 && h.sigs[0]
}
