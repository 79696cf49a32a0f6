package api

import (
	_ "embed"
	"net/http"
	"strconv"
)

// openAPI is the OpenAPI 3.0 description of this API. openapi_test.go
// checks it with kin-openapi and drives real requests against it, so a
// route or body that drifts from it fails the tests.
//
//go:embed openapi.json
var openAPI []byte

// OpenAPI returns the API's OpenAPI document (JSON).
func OpenAPI() []byte { return openAPI }

// handleOpenAPI serves GET /v1/openapi.json. It needs no key: the document
// describes the API and holds no data.
func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(openAPI)))
	w.WriteHeader(http.StatusOK)
	w.Write(openAPI)
}
