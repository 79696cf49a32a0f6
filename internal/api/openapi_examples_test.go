package api

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stele-audit/stele/internal/query"
)

// TestOpenAPIShowsTheQueryExamples: the description of the query language
// shows every documented example (each finds events in the demo data:
// internal/demo's tests run them).
func TestOpenAPIShowsTheQueryExamples(t *testing.T) {
	var doc struct {
		Info struct{ Description string } `json:"info"`
	}
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	for _, ex := range query.Examples {
		if !strings.Contains(doc.Info.Description, "`"+ex.Query+"`") {
			t.Errorf("openapi.json's description of the query language does not show %q", ex.Query)
		}
	}
}
