package api_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/api"
	"github.com/stele-audit/stele/internal/metrics"
)

// The OpenAPI document is checked by a validator we did not write
// (kin-openapi): the document itself, then real requests to the real API
// and the API's real answers, each against the document. A field, status,
// parameter or content type that drifts on either side fails here.

func init() {
	// JSON Lines has no body decoder of its own in kin-openapi; the document
	// describes an application/x-ndjson body as the array of its lines.
	openapi3filter.RegisterBodyDecoder("application/x-ndjson", func(body io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
		lines := []any{}
		sc := bufio.NewScanner(body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var v any
			if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
				return nil, fmt.Errorf("line %d: %w", len(lines)+1, err)
			}
			lines = append(lines, v)
		}
		return lines, sc.Err()
	})
}

// loadOpenAPI loads and validates the embedded document.
func loadOpenAPI(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(api.OpenAPI())
	if err != nil {
		t.Fatalf("load openapi.json: %v", err)
	}
	if err := doc.Validate(context.Background(), openapi3.EnableExamplesValidation()); err != nil {
		t.Fatalf("openapi.json is not a valid OpenAPI document: %v", err)
	}
	return doc
}

// closeObjects sets additionalProperties: false on every object schema of
// the document's components that leaves it open. The published document
// keeps response objects open so that fields can be added without breaking
// clients; the test closes them, so that a field the API sends and the
// document does not describe is a failure.
func closeObjects(doc *openapi3.T) {
	seen := map[*openapi3.Schema]bool{}
	var walk func(r *openapi3.SchemaRef)
	walk = func(r *openapi3.SchemaRef) {
		if r == nil || r.Value == nil || seen[r.Value] {
			return
		}
		s := r.Value
		seen[s] = true
		if s.Type.Is("object") && s.AdditionalProperties.Has == nil && s.AdditionalProperties.Schema == nil && len(s.Properties) > 0 {
			no := false
			s.AdditionalProperties.Has = &no
		}
		for _, p := range s.Properties {
			walk(p)
		}
		walk(s.Items)
		walk(s.AdditionalProperties.Schema)
		for _, l := range []openapi3.SchemaRefs{s.AllOf, s.AnyOf, s.OneOf} {
			for _, x := range l {
				walk(x)
			}
		}
	}
	for _, r := range doc.Components.Schemas {
		walk(r)
	}
}

func TestOpenAPIDocumentIsValid(t *testing.T) {
	doc := loadOpenAPI(t)
	if doc.OpenAPI != "3.0.3" {
		t.Errorf("openapi %q", doc.OpenAPI)
	}
	// Every route the API registers is described.
	src, err := os.ReadFile("server.go")
	if err != nil {
		t.Fatal(err)
	}
	routes := regexp.MustCompile(`mux\.Handle(?:Func)?\("([A-Z]+) ([^"]+)"`).FindAllStringSubmatch(string(src), -1)
	if len(routes) < 9 {
		t.Fatalf("found only %d routes in server.go", len(routes))
	}
	for _, m := range append(routes, []string{"", "GET", "/metrics"}) {
		item := doc.Paths.Find(m[2])
		if item == nil || item.GetOperation(m[1]) == nil {
			t.Errorf("%s %s is served but not in openapi.json", m[1], m[2])
		}
	}
	// Every operation that takes a key says which scope it needs.
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.Security != nil && len(*op.Security) == 0 {
				continue
			}
			scopes, _ := op.Extensions["x-scopes"].([]any)
			if len(scopes) != 1 || !strings.Contains(op.Description, fmt.Sprintf("`%s`", scopes[0])) {
				t.Errorf("%s %s: x-scopes %v not stated in its description", method, path, scopes)
			}
		}
	}
}

// conformance sends requests to a running API and checks each request and
// each response against the document.
type conformance struct {
	t      *testing.T
	router routers.Router
	base   string
	client *http.Client
}

func newConformance(t *testing.T, base string, client *http.Client) *conformance {
	doc := loadOpenAPI(t)
	closeObjects(doc)
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &conformance{t: t, router: router, base: base, client: client}
}

var oaOptions = &openapi3filter.Options{
	MultiError:          true,
	SkipSettingDefaults: true,
	// Undocumented statuses fail.
	IncludeResponseStatus: true,
	// A key is there or not; whether it is good is the server's business.
	AuthenticationFunc: func(_ context.Context, in *openapi3filter.AuthenticationInput) error {
		if !strings.HasPrefix(in.RequestValidationInput.Request.Header.Get("Authorization"), "Bearer stele_") {
			return fmt.Errorf("no bearer API key")
		}
		return nil
	},
	SchemaValidationOptions: []openapi3.SchemaValidationOption{openapi3.EnableFormatValidation()},
}

// call is one request of a conformance run.
type call struct {
	method, path, key string
	header            map[string]string // Content-Type defaults to application/json when there is a body
	body              string
	status            int
	// refused says the document itself rules the request out, as the API
	// does: the request must fail validation (and still get a documented answer).
	refused bool
}

func (c *conformance) run(cl call) response {
	t := c.t
	t.Helper()
	name := cl.method + " " + cl.path
	if len(name) > 120 {
		name = name[:120] + "…"
	}
	req, err := http.NewRequest(cl.method, c.base+cl.path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cl.key != "" {
		req.Header.Set("Authorization", "Bearer "+cl.key)
	}
	if cl.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range cl.header {
		req.Header.Set(k, v)
	}
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		t.Fatalf("%s: no route in openapi.json: %v", name, err)
	}
	setBody := func() {
		if cl.body != "" {
			req.Body = io.NopCloser(strings.NewReader(cl.body))
			req.ContentLength = int64(len(cl.body))
		}
	}
	ctx := context.Background()
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: oaOptions}
	setBody()
	reqErr := openapi3filter.ValidateRequest(ctx, in)
	switch {
	case reqErr != nil && !cl.refused:
		t.Errorf("%s: the request does not match openapi.json: %v", name, reqErr)
	case reqErr != nil:
		t.Logf("%s: refused as expected: %.200v", name, reqErr)
	case reqErr == nil && cl.refused:
		t.Errorf("%s: openapi.json accepts a request the API refuses", name)
	}
	setBody()
	resp, err := c.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != cl.status {
		t.Errorf("%s: status %d, want %d: %.300s", name, resp.StatusCode, cl.status, b)
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header, Options: oaOptions}
	out.SetBodyBytes(b)
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		t.Errorf("%s: the %d response does not match openapi.json: %v\nbody: %.500s", name, resp.StatusCode, err, b)
	}
	return response{resp.StatusCode, resp.Header, b}
}

func TestOpenAPIMatchesTheAPI(t *testing.T) {
	p := newProofEnv(t)
	c := newConformance(t, p.srv.URL, p.srv.Client())
	key := p.key

	// Ingest.
	single := c.run(call{method: "POST", path: "/v1/events", key: key, status: 201, body: `{"time":"2026-11-24T10:00:00.123456Z",
		"action":"user.role_changed","outcome":"success",
		"actor":{"type":"user","id":"u_123","name":"Ada Lovelace","email":"ada@acme.io"},
		"target":{"type":"user","id":"u_456","name":"Bob"},"source":{"type":"okta","id":"okta-1","name":"Okta"},
		"ip":"203.0.113.7","user_agent":"Mozilla/5.0","request_id":"req-1","description":"Ada changed Bob's role",
		"metadata":{"role_before":"viewer","role_after":"admin","count":3,"ok":true,"none":null},"idempotency_key":"idem-1"}`})
	var receipts struct{ Events []stele.Receipt }
	if err := json.Unmarshal(single.Body, &receipts); err != nil || len(receipts.Events) != 1 {
		t.Fatalf("receipts %s: %v", single.Body, err)
	}
	id := receipts.Events[0].ID
	c.run(call{method: "POST", path: "/v1/events", key: key, status: 201, body: `{"events":[` + loginEvent + `,
		{"action":"user.logout","actor":{"id":"u_1"},"outcome":"success"},
		{"action":"billing.invoice_paid","category":"configuration","metadata":{"amount":12.5}},
		{"action":"user.role_changed","idempotency_key":"idem-1"}]}`})
	c.run(call{method: "POST", path: "/v1/events", key: key, status: 201, body: `{"action":"user.login","actor":null,"metadata":null}`})

	// Refused ingest: the document refuses each of these too.
	r := c.run(call{method: "POST", path: "/v1/events", key: key, status: 400, refused: true,
		body: `{"events":[` + loginEvent + `,{"action":"user.login","ip":"not-an-ip"},{"action":"nope","outcome":"maybe"}]}`})
	if _, _, d := r.errorBody(t); len(d) < 2 {
		t.Errorf("invalid batch details %+v", d)
	}
	c.run(call{method: "POST", path: "/v1/events", key: key, status: 400, refused: true, body: `{"action":"user.login","colour":"red"}`})
	c.run(call{method: "POST", path: "/v1/events", key: key, status: 400, refused: true, body: `{"action":"user.login","seq":1}`})
	c.run(call{method: "POST", path: "/v1/events", key: key, status: 400, refused: true, body: `{"action":"user.login","target":{"email":"a@b.c"}}`})
	c.run(call{method: "POST", path: "/v1/events", key: key, status: 400, refused: true, body: `{"action":"user.login","metadata":{` + manyKeys(51) + `}}`})
	c.run(call{method: "POST", path: "/v1/events", key: key, status: 400, refused: true, body: `{"action":"user.login","metadata":{"nested":{"a":1}}}`})
	c.run(call{method: "POST", path: "/v1/events", key: key, status: 400, refused: true, body: `{"events":[]}`})
	c.run(call{method: "POST", path: "/v1/events", key: key, status: 400, refused: true, body: `{"action":"` + strings.Repeat("a.b", 50) + `"}`})
	c.run(call{method: "POST", path: "/v1/events", key: key, status: 415, refused: true, body: loginEvent,
		header: map[string]string{"Content-Type": "text/plain"}})
	c.run(call{method: "POST", path: "/v1/events", status: 401, refused: true, body: loginEvent})
	c.run(call{method: "GET", path: "/v1/events", key: "stele_key_nonsense_x", status: 401})
	big := `{"events":[` + strings.Repeat(loginEvent+",", stele.MaxBodyBytes/len(loginEvent)) + loginEvent + `]}`
	c.run(call{method: "POST", path: "/v1/events", key: key, status: 413, refused: true, body: big})

	// Search.
	first := c.run(call{method: "GET", path: "/v1/events?" + url.Values{"q": {"action:user.* -outcome:failure"}, "limit": {"2"}}.Encode(), key: key, status: 200})
	var pg page
	if err := json.Unmarshal(first.Body, &pg); err != nil || pg.NextCursor == nil || len(pg.Events) != 2 {
		t.Fatalf("first page %s: %v", first.Body, err)
	}
	last := c.run(call{method: "GET", path: "/v1/events?" + url.Values{"q": {"action:user.* -outcome:failure"}, "limit": {"2"}, "cursor": {*pg.NextCursor}}.Encode(), key: key, status: 200})
	if err := json.Unmarshal(last.Body, &pg); err != nil || pg.NextCursor != nil {
		t.Errorf("last page %s: %v", last.Body, err)
	}
	c.run(call{method: "GET", path: "/v1/events?q=actor:ada@acme.io", key: key, status: 200})
	c.run(call{method: "GET", path: "/v1/events?limit=0", key: key, status: 400, refused: true})
	c.run(call{method: "GET", path: "/v1/events?limit=1001", key: key, status: 400, refused: true})
	c.run(call{method: "GET", path: "/v1/events?cursor=nonsense", key: key, status: 400})
	c.run(call{method: "GET", path: "/v1/events?" + url.Values{"q": {"colour:red"}}.Encode(), key: key, status: 400})

	// One event.
	c.run(call{method: "GET", path: "/v1/events/" + id, key: key, status: 200})
	c.run(call{method: "GET", path: "/v1/events/" + id + "?proof=true", key: key, status: 200})
	c.run(call{method: "GET", path: "/v1/events/evt_zzzz", key: key, status: 404})
	c.run(call{method: "GET", path: "/v1/events/" + stele.EventID(999, 0), key: key, status: 404})

	// Tamper evidence.
	cp := c.run(call{method: "GET", path: "/v1/checkpoint", key: key, header: map[string]string{"Accept": "application/json"}, status: 200})
	var cpj struct{ Size int64 }
	if err := json.Unmarshal(cp.Body, &cpj); err != nil || cpj.Size != 5 {
		t.Fatalf("checkpoint %s: %v", cp.Body, err)
	}
	if r := c.run(call{method: "GET", path: "/v1/checkpoint", key: key, status: 200}); !strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("checkpoint note served as %q", r.Header.Get("Content-Type"))
	}
	c.run(call{method: "GET", path: "/v1/checkpoint?format=json&size=5", key: key, status: 200})
	c.run(call{method: "GET", path: "/v1/checkpoint?size=3", key: key, status: 404})
	c.run(call{method: "GET", path: "/v1/checkpoint?size=-1", key: key, status: 400, refused: true})
	c.run(call{method: "GET", path: "/v1/proofs/inclusion?seq=2", key: key, status: 200})
	c.run(call{method: "GET", path: "/v1/proofs/inclusion?seq=0&size=5", key: key, status: 200})
	c.run(call{method: "GET", path: "/v1/proofs/inclusion", key: key, status: 400, refused: true})
	c.run(call{method: "GET", path: "/v1/proofs/inclusion?seq=x", key: key, status: 400, refused: true})
	c.run(call{method: "GET", path: "/v1/proofs/inclusion?seq=5&size=5", key: key, status: 400})
	c.run(call{method: "GET", path: "/v1/proofs/inclusion?seq=0&size=99", key: key, status: 404})
	c.run(call{method: "GET", path: "/v1/proofs/consistency?from=2&to=5", key: key, status: 200})
	c.run(call{method: "GET", path: "/v1/proofs/consistency", key: key, status: 200})
	c.run(call{method: "GET", path: "/v1/proofs/consistency?from=6&to=5", key: key, status: 400})
	c.run(call{method: "GET", path: "/v1/proofs/consistency?from=1&to=99", key: key, status: 404})

	// Export.
	c.run(call{method: "GET", path: "/v1/export?" + url.Values{"q": {"action:user.*"}}.Encode(), key: key, status: 200})
	c.run(call{method: "GET", path: "/v1/export?format=jsonl", key: key, status: 200})
	c.run(call{method: "GET", path: "/v1/export?format=csv", key: key, status: 200})
	c.run(call{method: "GET", path: "/v1/export?format=ocsf", key: key, status: 200})
	c.run(call{method: "GET", path: "/v1/export?format=bundle", key: key, status: 200})
	c.run(call{method: "GET", path: "/v1/export?format=xml", key: key, status: 400, refused: true})

	// Service routes, without a key.
	if r := c.run(call{method: "GET", path: "/v1/openapi.json", status: 200}); !bytes.Equal(r.Body, api.OpenAPI()) {
		t.Error("GET /v1/openapi.json is not the embedded document")
	}
	c.run(call{method: "GET", path: "/healthz", status: 200})
}

// TestOpenAPIScopesAndUnconfiguredIntegrity covers the 403 and 503 answers,
// on a server without tamper evidence and with a read-only key.
func TestOpenAPIScopesAndUnconfiguredIntegrity(t *testing.T) {
	e := newEnv(t)
	c := newConformance(t, e.srv.URL, e.srv.Client())
	rs := e.mustPost("acme", loginEvent)
	read := e.keys["acme-read"]
	c.run(call{method: "POST", path: "/v1/events", key: read, status: 403, body: loginEvent})
	c.run(call{method: "POST", path: "/v1/events", key: e.keys["acme"], status: 403, body: `{"account":"globex","action":"user.login"}`})
	c.run(call{method: "GET", path: "/v1/events", key: e.keys["operator"], status: 403})
	c.run(call{method: "GET", path: "/v1/export?format=csv", key: read, status: 403})
	c.run(call{method: "GET", path: "/v1/events/" + rs[0].ID, key: e.keys["globex"], status: 404})
	c.run(call{method: "GET", path: "/v1/events/" + rs[0].ID + "?proof=true", key: read, status: 503})
	c.run(call{method: "GET", path: "/v1/checkpoint", key: read, status: 503})
	c.run(call{method: "GET", path: "/v1/proofs/inclusion?seq=0", key: read, status: 503})
	c.run(call{method: "GET", path: "/v1/proofs/consistency?from=0", key: read, status: 503})
	c.run(call{method: "GET", path: "/v1/export?format=bundle", key: e.keys["acme"], status: 503})
	c.run(call{method: "GET", path: "/v1/openapi.json", key: "stele_key_whatever_x", status: 200})

	// GET /metrics is served by stele serve beside the API, from the metrics package.
	m := httptest.NewServer(metrics.New(metrics.Config{}).Handler(""))
	defer m.Close()
	newConformance(t, m.URL, m.Client()).run(call{method: "GET", path: "/metrics", status: 200})
}
