package api

import (
	_ "embed"
	"net/http"
)

// OpenAPI is the API's description, OpenAPI 3.1 in YAML.
//
//go:embed openapi.yaml
var OpenAPI []byte

// openAPI serves OpenAPI; it needs no token.
func (s *server) openAPI(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/yaml")
	w.Write(OpenAPI)
	return nil
}
