package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/api"
	"github.com/stele-audit/stele/internal/apikey"
	"github.com/stele-audit/stele/internal/audit"
	"github.com/stele-audit/stele/internal/datapath"
	"github.com/stele-audit/stele/internal/ingest"
	"github.com/stele-audit/stele/internal/seal"
	"github.com/stele-audit/stele/internal/sqlite"
	"github.com/stele-audit/stele/internal/sqlite/sqlitetest"
	"github.com/stele-audit/stele/internal/stream"
)

// streamsEnv is the API with streams on a real SQLite file behind a real
// listener, with keys: acme (streams:manage), acme-events (no
// streams:manage), globex (streams:manage) and operator (streams:manage,
// operator).
type streamsEnv struct {
	srv  *httptest.Server
	keys map[string]string
	data *datapath.Path
	db   *sqlite.DB
	acct map[string]*stele.Account
}

func newStreamsEnv(t *testing.T) *streamsEnv {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "stele.db"))
	if err != nil {
		t.Fatal(err)
	}
	master, _ := seal.NewMasterKey(1, bytes.Repeat([]byte{7}, 32))
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	c := datapath.Start(db, sqlitetest.Keys(t), master, logger, ingest.WriterConfig{})
	svc := &stream.Service{Store: db, Secrets: c.Keyring, Audit: &audit.Recorder{Sink: c.Ingest, Logger: logger}}
	s := &api.Server{Ingest: c.Ingest, Search: c.Search, Accounts: db, APIKeys: db, Logger: logger, Ready: db.Ping, Streams: svc}
	e := &streamsEnv{srv: httptest.NewServer(s.Handler()), keys: map[string]string{}, data: c, db: db, acct: map[string]*stele.Account{}}
	t.Cleanup(func() {
		e.srv.Close()
		c.Stop()
		db.Close()
	})
	for _, name := range []string{stele.SystemAccount, "acme", "globex"} {
		a := &stele.Account{Name: name, Type: "team"}
		if err := db.CreateAccount(ctx, a); err != nil {
			t.Fatal(err)
		}
		e.acct[name] = a
	}
	issue := func(name, account string, operator bool, scopes ...stele.Scope) {
		_, text, err := apikey.Issue(ctx, db, e.acct[account], scopes, operator, name, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		e.keys[name] = text
	}
	issue("acme", "acme", false, stele.ScopeStreamsManage, stele.ScopeEventsRead)
	issue("acme-events", "acme", false, stele.ScopeEventsWrite, stele.ScopeEventsRead)
	issue("globex", "globex", false, stele.ScopeStreamsManage)
	issue("operator", stele.SystemAccount, true, stele.ScopeStreamsManage, stele.ScopeEventsWrite)
	return e
}

func (e *streamsEnv) do(t *testing.T, method, path, key, body string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, rd)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+e.keys[key])
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, b}
}

const hecStream = `{"name":"Splunk","query":"category:authentication","destination":{"type":"https",
	"url":"https://splunk.example.com:8088/services/collector/event","format":"splunk_hec",
	"headers":{"Authorization":"Splunk 1f2e3d4c-secret-token"}}}`

// TestStreamsAPIManagesAnAccountsStreams: create, list, read, change,
// replay and delete through a real listener; the token never comes back;
// the key's holder is recorded as the actor.
func TestStreamsAPIManagesAnAccountsStreams(t *testing.T) {
	e := newStreamsEnv(t)
	r := e.do(t, "POST", "/v1/streams", "acme", hecStream)
	if r.Status != 201 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	var v stream.View
	if err := json.Unmarshal(r.Body, &v); err != nil {
		t.Fatal(err)
	}
	if r.Header.Get("Location") != "/v1/streams/"+v.ID || v.Account != "acme" || !v.Enabled || v.Status.State != stream.StateRunning ||
		len(v.Destination.HeaderNames) != 1 || v.Destination.HeaderNames[0] != "Authorization" {
		t.Fatalf("created %s (Location %q)", r.Body, r.Header.Get("Location"))
	}
	for _, path := range []string{"/v1/streams", "/v1/streams/" + v.ID} {
		r := e.do(t, "GET", path, "acme", "")
		if r.Status != 200 || !strings.Contains(string(r.Body), v.ID) {
			t.Fatalf("GET %s: %d %s", path, r.Status, r.Body)
		}
		if strings.Contains(string(r.Body), "secret-token") {
			t.Fatalf("GET %s returns the token: %s", path, r.Body)
		}
	}
	// The same name again is a conflict.
	if r := e.do(t, "POST", "/v1/streams", "acme", hecStream); r.Status != 409 {
		t.Fatalf("a second stream of the same name: %d %s", r.Status, r.Body)
	}
	// PUT without headers to the same host keeps them; enabled can go off.
	r = e.do(t, "PUT", "/v1/streams/"+v.ID, "acme", `{"name":"Splunk","query":"","enabled":false,
		"destination":{"type":"https","url":"https://splunk.example.com:8088/services/collector/event","format":"ndjson"}}`)
	if r.Status != 200 || !strings.Contains(string(r.Body), `"header_names":["Authorization"]`) || !strings.Contains(string(r.Body), `"state":"disabled"`) {
		t.Fatalf("update: %d %s", r.Status, r.Body)
	}
	r = e.do(t, "POST", "/v1/streams/"+v.ID+"/replay", "acme", `{"after":"2026-01-01T00:00:00Z","before":"2026-01-02T00:00:00Z"}`)
	if r.Status != 202 || !strings.Contains(string(r.Body), `"state":"pending"`) {
		t.Fatalf("replay: %d %s", r.Status, r.Body)
	}
	if r := e.do(t, "DELETE", "/v1/streams/"+v.ID, "acme", ""); r.Status != 204 {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	if r := e.do(t, "GET", "/v1/streams/"+v.ID, "acme", ""); r.Status != 404 {
		t.Fatalf("GET after delete: %d", r.Status)
	}
	// Recorded in acme's log, by the key.
	r = e.do(t, "GET", "/v1/events?q=action:stream.*", "acme", "")
	var page struct{ Events []stele.Event }
	if err := json.Unmarshal(r.Body, &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Events) != 4 {
		t.Fatalf("%d stream events in acme's log: %s", len(page.Events), r.Body)
	}
	for _, ev := range page.Events {
		if ev.Actor == nil || ev.Actor.Type != "api_key" || ev.IP == "" {
			t.Fatalf("event %s by %+v from %q", ev.Action, ev.Actor, ev.IP)
		}
		if strings.Contains(ev.Description+ev.Actor.ID, "secret-token") || strings.Contains(jsonOf(t, ev.Metadata), "secret-token") {
			t.Fatalf("the token is in the log: %+v", ev)
		}
	}
}

func jsonOf(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestStreamsAPIKeepsToScopeAndTenancy: without streams:manage a key is
// refused; another account's stream is not found, whatever the verb; an
// account key cannot make a stream of every account, an operator key can.
func TestStreamsAPIKeepsToScopeAndTenancy(t *testing.T) {
	e := newStreamsEnv(t)
	if r := e.do(t, "POST", "/v1/streams", "acme-events", hecStream); r.Status != 403 {
		t.Fatalf("a key without streams:manage: %d", r.Status)
	}
	if r := e.do(t, "GET", "/v1/streams", "", ""); r.Status != 401 {
		t.Fatalf("no key: %d", r.Status)
	}
	r := e.do(t, "POST", "/v1/streams", "acme", hecStream)
	var v stream.View
	json.Unmarshal(r.Body, &v)
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/v1/streams/" + v.ID, ""},
		{"PUT", "/v1/streams/" + v.ID, `{"name":"x","destination":{"type":"syslog","address":"evil.example.net:514","format":"json"}}`},
		{"DELETE", "/v1/streams/" + v.ID, ""},
		{"POST", "/v1/streams/" + v.ID + "/replay", `{"after":"2026-01-01T00:00:00Z","before":"2026-01-02T00:00:00Z"}`},
	} {
		if r := e.do(t, c.method, c.path, "globex", c.body); r.Status != 404 {
			t.Fatalf("globex %s %s: %d %s", c.method, c.path, r.Status, r.Body)
		}
	}
	if r := e.do(t, "GET", "/v1/streams", "globex", ""); r.Status != 200 || strings.Contains(string(r.Body), v.ID) {
		t.Fatalf("globex's list: %s", r.Body)
	}
	all := `{"name":"platform","all_accounts":true,"destination":{"type":"syslog","address":"siem.example.com:6514","tls":true,"format":"cef"}}`
	if r := e.do(t, "POST", "/v1/streams", "acme", all); r.Status != 403 {
		t.Fatalf("an account key made a stream of every account: %d %s", r.Status, r.Body)
	}
	r = e.do(t, "POST", "/v1/streams", "operator", all)
	if r.Status != 201 || !strings.Contains(string(r.Body), `"all_accounts":true`) || !strings.Contains(string(r.Body), `"account":"_system"`) {
		t.Fatalf("the operator's stream: %d %s", r.Status, r.Body)
	}
}

// TestStreamsAPIRefusesBadRequestsNamingTheField: strict JSON, and the
// service's checks, each naming field and rule.
func TestStreamsAPIRefusesBadRequestsNamingTheField(t *testing.T) {
	e := newStreamsEnv(t)
	for _, c := range []struct {
		body        string
		status      int
		field, rule string
	}{
		{`{"name":"s","destination":{"type":"syslog","address":"siem:514","format":"cef"},"colour":"red"}`, 400, "colour", "unknown_field"},
		{`{"name":"s","destination":"siem:514"}`, 400, "destination", "type"},
		{`{"name":"s",`, 400, "body", "json"},
		{`{"name":"s","destination":{"type":"syslog","address":"siem:514","format":"cef"}} {}`, 400, "body", "json"},
		{`{"name":"s","query":"nope:1","destination":{"type":"syslog","address":"siem:514","format":"cef"}}`, 400, "query", "unknown_field"},
		{`{"name":"s","destination":{"type":"https","url":"http://siem.example.com/x","format":"ndjson"}}`, 400, "destination.url", "https"},
		{`{"name":"s","destination":{"type":"syslog","address":"169.254.169.254:514","format":"cef"}}`, 400, "destination.address", "forbidden_address"},
	} {
		r := e.do(t, "POST", "/v1/streams", "acme", c.body)
		if r.Status != c.status {
			t.Fatalf("%s: %d %s", c.body, r.Status, r.Body)
		}
		_, _, details := r.errorBody(t)
		found := false
		for _, d := range details {
			found = found || (d.Field == c.field && d.Rule == c.rule)
		}
		if !found {
			t.Fatalf("%s: details %+v, want %s %s", c.body, details, c.field, c.rule)
		}
	}
	req, _ := http.NewRequest("POST", e.srv.URL+"/v1/streams", strings.NewReader(hecStream))
	req.Header.Set("Authorization", "Bearer "+e.keys["acme"])
	req.Header.Set("Content-Type", "text/plain")
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 415 {
		t.Fatalf("text/plain: %d", resp.StatusCode)
	}
	r := e.do(t, "POST", "/v1/streams/str_nope/replay", "acme", `{"after":"yesterday","before":"2026-01-02T00:00:00Z"}`)
	if r.Status != 400 && r.Status != 404 {
		t.Fatalf("a bad time: %d %s", r.Status, r.Body)
	}
}

// TestOpenAPIMatchesTheStreamsAPI: every streams operation, its answers
// and its refusals, against the document.
func TestOpenAPIMatchesTheStreamsAPI(t *testing.T) {
	e := newStreamsEnv(t)
	c := newConformance(t, e.srv.URL, e.srv.Client())
	acme, op := e.keys["acme"], e.keys["operator"]
	created := c.run(call{method: "POST", path: "/v1/streams", key: acme, status: 201, body: hecStream})
	var v stream.View
	if err := json.Unmarshal(created.Body, &v); err != nil {
		t.Fatal(err)
	}
	c.run(call{method: "POST", path: "/v1/streams", key: acme, status: 201, body: `{"name":"syslog","start":"oldest","enabled":true,
		"destination":{"type":"syslog","address":"siem.example.com:6514","tls":true,"format":"json"}}`})
	c.run(call{method: "POST", path: "/v1/streams", key: op, status: 201, body: `{"name":"platform","all_accounts":true,
		"destination":{"type":"syslog","address":"siem.example.com:514","format":"cef"}}`})
	if _, err := e.data.Ingest.Record(t.Context(), stele.Event{Account: "acme", Action: "user.login"}); err != nil {
		t.Fatal(err)
	}
	c.run(call{method: "GET", path: "/v1/streams", key: acme, status: 200})
	c.run(call{method: "GET", path: "/v1/streams", key: op, status: 200})
	c.run(call{method: "GET", path: "/v1/streams/" + v.ID, key: acme, status: 200})
	c.run(call{method: "PUT", path: "/v1/streams/" + v.ID, key: acme, status: 200, body: `{"name":"Splunk 2","query":"","enabled":false,
		"destination":{"type":"https","url":"https://splunk.example.com:8088/services/collector/event","format":"ocsf"}}`})
	c.run(call{method: "POST", path: "/v1/streams/" + v.ID + "/replay", key: acme, status: 202,
		body: `{"after":"2026-01-01T00:00:00Z","before":"2026-01-02T00:00:00Z"}`})
	c.run(call{method: "GET", path: "/v1/streams/" + v.ID, key: acme, status: 200})

	// Refusals.
	c.run(call{method: "POST", path: "/v1/streams", key: acme, status: 409, body: `{"name":"syslog","destination":{"type":"syslog","address":"s:514","format":"cef"}}`})
	c.run(call{method: "POST", path: "/v1/streams", key: acme, status: 400, refused: true, body: `{"name":"x","colour":"red","destination":{"type":"syslog","address":"s:514","format":"cef"}}`})
	c.run(call{method: "POST", path: "/v1/streams", key: acme, status: 400, refused: true, body: `{"name":"x","destination":{"type":"smtp","format":"cef"}}`})
	c.run(call{method: "POST", path: "/v1/streams", key: acme, status: 400, body: `{"name":"x","query":"after:24h","destination":{"type":"syslog","address":"s:514","format":"cef"}}`})
	c.run(call{method: "POST", path: "/v1/streams", key: acme, status: 403, body: `{"name":"y","all_accounts":true,"destination":{"type":"syslog","address":"s:514","format":"cef"}}`})
	c.run(call{method: "POST", path: "/v1/streams", key: e.keys["acme-events"], status: 403, body: hecStream})
	c.run(call{method: "POST", path: "/v1/streams", key: acme, status: 415, refused: true, body: hecStream, header: map[string]string{"Content-Type": "text/plain"}})
	c.run(call{method: "GET", path: "/v1/streams/str_nope", key: acme, status: 404})
	c.run(call{method: "PUT", path: "/v1/streams/str_nope", key: acme, status: 404, body: hecStream})
	c.run(call{method: "DELETE", path: "/v1/streams/str_nope", key: acme, status: 404})
	c.run(call{method: "POST", path: "/v1/streams/" + v.ID + "/replay", key: acme, status: 400, refused: true, body: `{"after":"2026-01-01T00:00:00Z"}`})
	c.run(call{method: "POST", path: "/v1/streams/" + v.ID + "/replay", key: acme, status: 400, body: `{"after":"2026-01-02T00:00:00Z","before":"2026-01-01T00:00:00Z"}`})
	c.run(call{method: "GET", path: "/v1/streams", status: 401, refused: true})
	big := `{"name":"` + strings.Repeat("a", stele.MaxBodyBytes) + `","destination":{"type":"syslog","address":"s:514","format":"cef"}}`
	c.run(call{method: "POST", path: "/v1/streams", key: acme, status: 413, body: big})
	c.run(call{method: "DELETE", path: "/v1/streams/" + v.ID, key: acme, status: 204})
}
