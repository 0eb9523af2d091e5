// Package alerts raises HQ's budget alerts: an offer's discount at a store
// reaching 80% and 100% of its budget there (limits.budget is per store).
// Each alert is stored once, shown on the dashboard's overview, and sent
// to a webhook when one is configured: a JSON POST, signed with HMAC-SHA256
// when a secret is, retried until the webhook answers 2xx. Several HQ
// replicas may run it: the database keeps each alert once and lets one
// replica at a time send it.
package alerts

import (
	"bytes"
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/posoffer/posoffer/cloud/store"
)

// Options configure the alerts.
type Options struct {
	DB *store.DB
	// Webhook is the URL alerts are POSTed to; "" sends none (they are
	// still raised and shown).
	Webhook string
	// Secret, when set, signs each POST: X-Posoffer-Signature is
	// "sha256=" and the hex HMAC-SHA256 of the body with it.
	Secret []byte
	// Currency and MinorUnit say what the amounts are in.
	Currency  string
	MinorUnit int
	// Interval is how often budgets are checked and alerts sent; 0: 30s.
	Interval time.Duration
	Client   *http.Client // nil: one with a 10 s timeout
	Logger   *slog.Logger
	Registry prometheus.Registerer
	Now      func() time.Time
}

// lease is how long a replica that claimed alerts has to send them before
// another may: so also the wait before a failed send is tried again. A
// replica claims no more than it can send within the lease at the
// client's timeout each, and sends none once the lease may be over.
const lease = time.Minute

// Alerts checks budgets and sends alerts.
type Alerts struct {
	o      Options
	raised prometheus.Counter
	sent   *prometheus.CounterVec
}

// New returns the alerts of opts.
func New(opts Options) *Alerts {
	if opts.Interval <= 0 {
		opts.Interval = 30 * time.Second
	}
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	a := &Alerts{o: opts,
		raised: prometheus.NewCounter(prometheus.CounterOpts{Name: "posoffer_cloud_budget_alerts_total",
			Help: "Budget alerts raised by this replica."}),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "posoffer_cloud_budget_alert_webhooks_total",
			Help: "Budget alert webhook calls, by result (delivered or failed)."}, []string{"result"}),
	}
	if opts.Registry != nil {
		opts.Registry.MustRegister(a.raised, a.sent)
	}
	return a
}

// Run checks and sends every Interval until ctx ends: a slow webhook
// never holds up the checks.
func (a *Alerts) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	if a.o.Webhook != "" {
		wg.Go(func() {
			every(ctx, a.o.Interval, func() {
				if err := a.Send(ctx); err != nil && ctx.Err() == nil {
					a.o.Logger.Error("alerts: webhook", "err", err)
				}
			})
		})
	}
	every(ctx, a.o.Interval, func() {
		if _, err := a.Check(ctx); err != nil && ctx.Err() == nil {
			a.o.Logger.Error("alerts: budgets not checked", "err", err)
		}
	})
}

// every runs fn now and then every d until ctx ends.
func every(ctx context.Context, d time.Duration, fn func()) {
	for {
		fn()
		select {
		case <-ctx.Done():
			return
		case <-time.After(d):
		}
	}
}

// Check raises the alerts of the budget levels that offers' discounts
// reached at stores since the last check, and returns them.
func (a *Alerts) Check(ctx context.Context) ([]store.BudgetAlert, error) {
	offers, err := a.o.DB.Offers(ctx, "")
	if err != nil {
		return nil, err
	}
	budgets := map[string]int64{}
	var ids []string
	for _, o := range offers {
		var doc struct {
			Limits struct {
				Budget int64 `json:"budget"`
			} `json:"limits"`
		}
		if json.Unmarshal(o.Doc, &doc) == nil && doc.Limits.Budget > 0 {
			budgets[o.ID] = doc.Limits.Budget
			ids = append(ids, o.ID)
		}
	}
	use, err := a.o.DB.BudgetUse(ctx, ids)
	if err != nil {
		return nil, err
	}
	now := a.o.Now()
	var reached []store.BudgetAlert
	for _, id := range ids {
		budget := budgets[id]
		for st, discount := range use[id] {
			for _, level := range store.BudgetLevels {
				if discount*100 >= budget*level {
					reached = append(reached, store.BudgetAlert{Offer: id, Store: st, Level: level, Budget: budget,
						Discount: discount, At: now.UTC()})
				}
			}
		}
	}
	slices.SortFunc(reached, func(x, y store.BudgetAlert) int {
		return cmp.Or(strings.Compare(x.Offer, y.Offer), strings.Compare(x.Store, y.Store), cmp.Compare(x.Level, y.Level))
	})
	added, err := a.o.DB.AddBudgetAlerts(ctx, reached)
	if err != nil {
		return nil, err
	}
	for _, x := range added {
		a.raised.Inc()
		a.o.Logger.Warn("budget alert", "offer", x.Offer, "store", x.Store, "level", x.Level, "discount", x.Discount,
			"budget", x.Budget)
	}
	return added, nil
}

// Payload is the JSON body of a webhook call.
type Payload struct {
	Type      string    `json:"type"` // "budget_alert"
	ID        string    `json:"id"`   // the same for every retry of one alert
	Offer     string    `json:"offer"`
	Name      string    `json:"name,omitempty"`
	Store     string    `json:"store"`
	Level     int64     `json:"level"` // percent of the budget reached: 80 or 100
	Budget    int64     `json:"budget"`
	Discount  int64     `json:"discount"`
	Currency  string    `json:"currency,omitempty"`
	MinorUnit int       `json:"minor_unit"`
	At        time.Time `json:"at"`
}

// Send claims the alerts not yet delivered and POSTs each to the webhook.
func (a *Alerts) Send(ctx context.Context) error {
	timeout := a.o.Client.Timeout
	if timeout <= 0 || timeout > lease/2 {
		timeout = lease / 2
	}
	claimedAt := a.o.Now()
	claimed, err := a.o.DB.ClaimBudgetAlerts(ctx, claimedAt, lease, max(1, int(lease/timeout)-1))
	if err != nil || len(claimed) == 0 {
		return err
	}
	names := map[string]string{}
	if offers, err := a.o.DB.Offers(ctx, ""); err == nil {
		for _, o := range offers {
			var doc struct {
				Name string `json:"name"`
			}
			json.Unmarshal(o.Doc, &doc)
			names[o.ID] = doc.Name
		}
	}
	var errs []error
	for _, x := range claimed {
		if a.o.Now().Add(timeout).After(claimedAt.Add(lease)) {
			break // the lease may end before an answer: another claim sends the rest
		}
		p := Payload{Type: "budget_alert", ID: fmt.Sprintf("%s/%s/%d/%d", x.Offer, x.Store, x.Level, x.Budget),
			Offer: x.Offer, Name: names[x.Offer], Store: x.Store, Level: x.Level, Budget: x.Budget,
			Discount: x.Discount, Currency: a.o.Currency, MinorUnit: a.o.MinorUnit, At: x.At}
		sendErr := a.post(ctx, p)
		result := "delivered"
		if sendErr != nil {
			result = "failed"
			errs = append(errs, fmt.Errorf("alert %s: %w", p.ID, sendErr))
		}
		a.sent.WithLabelValues(result).Inc()
		if err := a.o.DB.SettleBudgetAlert(ctx, x, a.o.Now(), sendErr); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (a *Alerts) post(ctx context.Context, p Payload) error {
	body, err := json.Marshal(p)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, lease/2)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.o.Webhook, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "posoffer-cloud")
	req.Header.Set("X-Posoffer-Alert", p.ID)
	if len(a.o.Secret) > 0 {
		m := hmac.New(sha256.New, a.o.Secret)
		m.Write(body)
		req.Header.Set("X-Posoffer-Signature", "sha256="+hex.EncodeToString(m.Sum(nil)))
	}
	resp, err := a.o.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("the webhook answered %s", resp.Status)
	}
	return nil
}
