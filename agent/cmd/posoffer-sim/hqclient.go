package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/posoffer/posoffer/agent/internal/shopsim"
)

// hqClient speaks to HQ's API (/api/v1) and reads the agent's metrics.
type hqClient struct {
	url, token, metrics string
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

// do sends a request with the token and decodes a JSON answer into out
// (nil: none wanted). It returns the status code.
func (h *hqClient) do(ctx context.Context, method, path string, body []byte, out any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, h.url+path, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+h.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, fmt.Errorf("HQ %s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("HQ %s %s: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

// loadCatalog puts the catalog's segments and offers into HQ (created, or
// replaced when HQ has them) and publishes them to the stores.
func (h *hqClient) loadCatalog(ctx context.Context, doc []byte) error {
	var cat struct {
		Segments []map[string]any `yaml:"segments"`
		Offers   []map[string]any `yaml:"offers"`
	}
	if err := yaml.Unmarshal(doc, &cat); err != nil {
		return fmt.Errorf("catalog: %w", err)
	}
	for _, part := range []struct {
		path string
		list []map[string]any
	}{{"segments", cat.Segments}, {"offers", cat.Offers}} {
		for _, o := range part.list {
			b, err := json.Marshal(o)
			if err != nil {
				return fmt.Errorf("catalog: %w", err)
			}
			code, err := h.do(ctx, http.MethodPost, "/api/v1/"+part.path, b, nil)
			if code == http.StatusConflict {
				_, err = h.do(ctx, http.MethodPut, fmt.Sprintf("/api/v1/%s/%v", part.path, o["id"]), b, nil)
			}
			if err != nil {
				return err
			}
		}
	}
	_, err := h.do(ctx, http.MethodPost, "/api/v1/publish", []byte("{}"), nil)
	return err
}

// model is what GET /api/v1/decide/model says of HQ's model.
type model struct {
	Revision  int64     `json:"revision"`
	DataUntil time.Time `json:"data_until"`
}

// settle is how long HQ's model must stay the same, with the agent's
// outbox empty, before the simulator takes it as HQ's last word on the
// data: HQ publishes only a model that says something new, so a day that
// teaches nothing (no suggestion made) brings no model.
const settle = 3 * time.Second

// waitModel waits until HQ has a model learned from data up to until, or
// one that stayed the same for settle after the agent's outbox emptied,
// and the agent (when its metrics are known) serves it. It returns the
// model's revision.
func (h *hqClient) waitModel(ctx context.Context, until time.Time, timeout time.Duration) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var m model
	var last error
	rev, since := int64(-1), time.Now()
	for {
		var got model
		code, err := h.do(ctx, http.MethodGet, "/api/v1/decide/model?limit=1", nil, &got)
		if err == nil && !got.DataUntil.Before(until) {
			m = got
			break
		}
		if err == nil || code == http.StatusNotFound { // 404: no model yet
			if got.Revision != rev {
				rev, since = got.Revision, time.Now()
			}
			if h.metrics != "" {
				if depth, derr := h.agentMetric(ctx, "posoffer_outbox_depth"); derr != nil || depth > 0 {
					since = time.Now()
				}
			}
			if time.Since(since) >= settle {
				m = got
				break
			}
		}
		last = err
		if err == nil {
			last = fmt.Errorf("HQ's model %d has data until %s, not yet %s", got.Revision, got.DataUntil.Format(time.RFC3339), until.Format(time.RFC3339))
		}
		if !pause(ctx, 50*time.Millisecond) {
			return 0, fmt.Errorf("no model from HQ within %v: %v", timeout, last)
		}
	}
	if h.metrics == "" || m.Revision == 0 {
		return m.Revision, nil
	}
	for {
		rev, err := h.agentMetric(ctx, "posoffer_decide_model_revision")
		if err == nil && int64(rev) >= m.Revision {
			return m.Revision, nil
		}
		last = err
		if err == nil {
			last = fmt.Errorf("the agent serves model %d", int64(rev))
		}
		if !pause(ctx, 50*time.Millisecond) {
			return 0, fmt.Errorf("the agent did not take HQ's model %d within %v: %v", m.Revision, timeout, last)
		}
	}
}

// agentMetric reads a gauge from the agent's metrics.
func (h *hqClient) agentMetric(ctx context.Context, name string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.metrics, nil)
	if err != nil {
		return 0, err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if n, value, ok := strings.Cut(sc.Text(), " "); ok && n == name {
			return strconv.ParseFloat(strings.TrimSpace(value), 64)
		}
	}
	return 0, fmt.Errorf("no %s in %s", name, h.metrics)
}

// uplift fills in what HQ measured over the simulated days, from to to:
// its overall conversion uplift, its 95% interval and its verdict.
func (h *hqClient) uplift(ctx context.Context, sum *shopsim.Summary, from, to time.Time) error {
	var rep upliftReport
	q := url.Values{"from": {from.UTC().Format(time.RFC3339)}, "to": {to.UTC().Format(time.RFC3339)}}
	if _, err := h.do(ctx, http.MethodGet, "/api/v1/reports/uplift?"+q.Encode(), nil, &rep); err != nil {
		return err
	}
	c := rep.Overall.Conversion
	if c.Difference == nil || c.CI == nil {
		return errors.New("HQ's uplift report has no overall.conversion.difference and ci")
	}
	sum.HQExposed, sum.HQHeldOut = rep.Overall.Exposed, rep.Overall.HeldOut
	sum.HQSays = c.Verdict
	ci := *c.CI
	sum.UpliftMeasured = c.Difference
	sum.UpliftCI = []*float64{&ci[0], &ci[1]}
	sum.UpliftInCI = ci[0] <= sum.UpliftTrue && sum.UpliftTrue <= ci[1]
	sum.UpliftEffectInCI = ci[0] <= sum.UpliftEffect && sum.UpliftEffect <= ci[1]
	return nil
}

// upliftReport is the part of GET /api/v1/reports/uplift the simulator
// reads.
type upliftReport struct {
	Overall struct {
		Exposed    int64 `json:"exposed_transactions"`
		HeldOut    int64 `json:"held_out_transactions"`
		Conversion struct {
			Difference *float64    `json:"difference"`
			CI         *[2]float64 `json:"ci"`
			Verdict    string      `json:"verdict"`
		} `json:"conversion"`
	} `json:"overall"`
}

// pause waits d, or less when ctx ends; false then.
func pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
