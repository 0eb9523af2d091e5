package api

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/posoffer/posoffer/cloud/store/storetest"
)

func loadOpenAPI(t *testing.T) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := yaml.Unmarshal(OpenAPI, &doc); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	return doc
}

// Every route is described, with the role it needs, and nothing else is.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	doc := loadOpenAPI(t)
	paths, _ := doc["paths"].(map[string]any)
	described := map[string]bool{}
	for path, item := range paths {
		for method := range item.(map[string]any) {
			if method != "parameters" {
				described[strings.ToUpper(method)+" "+path] = true
			}
		}
	}
	s := newServer(Options{})
	for _, rt := range s.routes() {
		key := rt.method + " " + rt.path
		if !described[key] {
			t.Errorf("route %s is not in openapi.yaml", key)
			continue
		}
		delete(described, key)
		op := paths[rt.path].(map[string]any)[strings.ToLower(rt.method)].(map[string]any)
		role := rt.role
		if role == "" {
			role = "none"
		}
		if op["x-posoffer-role"] != role {
			t.Errorf("%s: x-posoffer-role %v, want %s", key, op["x-posoffer-role"], role)
		}
		responses, _ := op["responses"].(map[string]any)
		if _, ok := responses["200"]; !ok && rt.method != "POST" {
			t.Errorf("%s: no 200 response", key)
		}
		sec, public := op["security"]
		switch {
		case rt.role == "" && (!public || len(sec.([]any)) != 0):
			t.Errorf("%s: a route without a token needs security: []", key)
		case rt.role != "" && responses["401"] == nil:
			t.Errorf("%s: no 401 response", key)
		case rt.role == RoleAdmin && responses["403"] == nil:
			t.Errorf("%s: no 403 response", key)
		}
	}
	for key := range described {
		t.Errorf("openapi.yaml describes %s, which is not a route", key)
	}

	// Every $ref resolves.
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				if ref, ok := e.(string); k == "$ref" && ok {
					if !resolves(doc, ref) {
						t.Errorf("$ref %s does not resolve", ref)
					}
				}
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(doc)

	// The error codes are the package's.
	codes := doc["components"].(map[string]any)["schemas"].(map[string]any)["ErrorCode"].(map[string]any)["enum"].([]any)
	for _, c := range []string{CodeBadRequest, CodeInvalidOffer, CodeInvalidSegment, CodeNotFound, CodeConflict,
		CodeUnauthorized, CodeForbidden, CodeMethodNotAllowed, CodeTooLarge, CodeUnavailable, CodeInternal} {
		if !slices.Contains(codes, any(c)) {
			t.Errorf("ErrorCode lacks %s", c)
		}
	}
	if len(codes) != 11 {
		t.Errorf("ErrorCode has %d codes, the package 11", len(codes))
	}
}

func resolves(doc map[string]any, ref string) bool {
	var v any = doc
	for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		m, ok := v.(map[string]any)
		if !ok {
			return false
		}
		if v, ok = m[part]; !ok {
			return false
		}
	}
	return true
}

func TestOpenAPIServed(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	r := e.do("GET", "/api/v1/openapi.yaml", "", "")
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/yaml" || string(r.body) != string(OpenAPI) {
		t.Fatalf("%d %s", r.status, r.header.Get("Content-Type"))
	}
}
