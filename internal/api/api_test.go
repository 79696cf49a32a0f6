package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/api"
	"github.com/stele-audit/stele/internal/apikey"
	"github.com/stele-audit/stele/internal/datapath"
	"github.com/stele-audit/stele/internal/ingest"
	"github.com/stele-audit/stele/internal/seal"
	"github.com/stele-audit/stele/internal/sqlite"
	"github.com/stele-audit/stele/internal/sqlite/sqlitetest"
)

// env is Stele wired on a real SQLite file behind a real listener.
type env struct {
	t      testing.TB
	srv    *httptest.Server
	db     *sqlite.DB
	dbPath string
	quotas *ingest.Quotas
	keys   map[string]string // name → API key text
	ids    map[string]string // name → API key id
	accts  map[string]*stele.Account
}

func newEnv(t testing.TB) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "stele.db")
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	master, err := seal.NewMasterKey(1, bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	c := datapath.Start(db, sqlitetest.Keys(t), master, logger, ingest.WriterConfig{})
	quotas := ingest.NewQuotas(db, ingest.QuotaConfig{})
	c.Ingest.SetQuotas(quotas)
	s := &api.Server{Ingest: c.Ingest, Search: c.Search, Accounts: db, APIKeys: db, Logger: logger, Ready: db.Ping}
	e := &env{t: t, srv: httptest.NewServer(s.Handler()), db: db, dbPath: path, quotas: quotas,
		keys: map[string]string{}, ids: map[string]string{}, accts: map[string]*stele.Account{}}
	t.Cleanup(func() {
		e.srv.Close()
		c.Stop()
		db.Close()
	})
	unlimited := int64(0)
	// The tests post events at fixed dates; a retention of a century keeps
	// them shown whatever today's date is (team's 90 days would hide them
	// some months on). A test of retention sets the account's back.
	century := stele.MaxRetentionDays
	for _, name := range []string{stele.SystemAccount, "acme", "globex"} {
		a := &stele.Account{Name: name, Type: "team", RetentionDays: &century}
		if name == "acme" { // the benchmarks send it all they can
			a.Ingest = stele.IngestOverride{EventsPerSecond: &unlimited, BytesPerSecond: &unlimited}
		}
		if err := db.CreateAccount(ctx, a); err != nil {
			t.Fatal(err)
		}
		e.accts[name] = a
	}
	all := []stele.Scope{stele.ScopeEventsWrite, stele.ScopeEventsRead, stele.ScopeEventsExport}
	e.issue("acme", "acme", all, false)
	e.issue("globex", "globex", all, false)
	e.issue("acme-read", "acme", []stele.Scope{stele.ScopeEventsRead}, false)
	e.issue("operator", stele.SystemAccount, []stele.Scope{stele.ScopeEventsWrite}, true)
	return e
}

func (e *env) issue(name, account string, scopes []stele.Scope, operator bool) {
	e.t.Helper()
	k, text, err := apikey.Issue(context.Background(), e.db, e.accts[account], scopes, operator, name, time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	e.keys[name], e.ids[name] = text, k.ID
}

type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) errorBody(t *testing.T) (code, message string, details []stele.FieldError) {
	t.Helper()
	var body struct {
		Error struct {
			Code    string             `json:"code"`
			Message string             `json:"message"`
			Details []stele.FieldError `json:"details"`
		} `json:"error"`
	}
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatalf("error body %q: %v", r.Body, err)
	}
	return body.Error.Code, body.Error.Message, body.Error.Details
}

func (e *env) do(method, path, key, contentType string, body []byte) response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, b}
}

func (e *env) post(key, body string) response {
	return e.do("POST", "/v1/events", e.keys[key], "application/json", []byte(body))
}

func (e *env) mustPost(key, body string) []stele.Receipt {
	e.t.Helper()
	r := e.post(key, body)
	if r.Status != http.StatusCreated {
		e.t.Fatalf("POST: %d %s", r.Status, r.Body)
	}
	var out struct{ Events []stele.Receipt }
	if err := json.Unmarshal(r.Body, &out); err != nil {
		e.t.Fatal(err)
	}
	return out.Events
}

type page struct {
	Events     []stele.Event `json:"events"`
	NextCursor *string       `json:"next_cursor"`
	Query      string        `json:"query"`
}

func (e *env) list(key, q string, limit int, cursor string) page {
	e.t.Helper()
	v := url.Values{"q": {q}, "limit": {fmt.Sprint(limit)}}
	if cursor != "" {
		v.Set("cursor", cursor)
	}
	r := e.do("GET", "/v1/events?"+v.Encode(), e.keys[key], "", nil)
	if r.Status != http.StatusOK {
		e.t.Fatalf("GET %q: %d %s", q, r.Status, r.Body)
	}
	var p page
	if err := json.Unmarshal(r.Body, &p); err != nil {
		e.t.Fatal(err)
	}
	return p
}

const loginEvent = `{"action":"user.login","actor":{"type":"user","id":"u_1","name":"Ada Lovelace","email":"Ada@Acme.io"},"ip":"203.0.113.7","outcome":"success"}`

func TestPostedEventComesBackWhole(t *testing.T) {
	e := newEnv(t)
	body := `{"time":"2026-11-24T10:00:00.123456Z","action":"user.role_changed","outcome":"success",
		"actor":{"type":"user","id":"u_123","name":"Ada Lovelace","email":"ada@acme.io"},
		"target":{"type":"user","id":"u_456","name":"Bob"},"source":{"type":"okta","id":"okta-1","name":"Okta"},
		"ip":"203.0.113.7","user_agent":"Mozilla/5.0","request_id":"req-1",
		"description":"Ada changed Bob's role from viewer to admin",
		"metadata":{"role_before":"viewer","role_after":"admin","count":3,"ok":true}}`
	rs := e.mustPost("acme", body)
	if len(rs) != 1 || rs[0].Seq != 0 || !strings.HasPrefix(rs[0].ID, "evt_") || len(rs[0].LeafHash) != 64 || rs[0].Account != "acme" {
		t.Fatalf("receipt = %+v", rs)
	}
	r := e.do("GET", "/v1/events/"+rs[0].ID, e.keys["acme"], "", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("GET event: %d %s", r.Status, r.Body)
	}
	var got map[string]any
	json.Unmarshal(r.Body, &got)
	for k, want := range map[string]any{
		"id": rs[0].ID, "seq": 0.0, "account": "acme", "time": "2026-11-24T10:00:00.123456Z",
		"action": "user.role_changed", "category": "user_management", "ip": "203.0.113.7",
		"description": "Ada changed Bob's role from viewer to admin", "request_id": "req-1",
	} {
		if got[k] != want {
			t.Errorf("%s = %v, want %v", k, got[k], want)
		}
	}
	if m := got["metadata"].(map[string]any); m["role_after"] != "admin" || m["count"] != 3.0 || m["ok"] != true {
		t.Errorf("metadata = %v", m)
	}
	if a := got["actor"].(map[string]any); a["email"] != "ada@acme.io" || a["name"] != "Ada Lovelace" {
		t.Errorf("actor = %v", a)
	}
	if _, ok := got["received_at"].(string); !ok {
		t.Error("no received_at")
	}
}

func TestBatchIsRejectedWholeWithEveryProblemNamed(t *testing.T) {
	e := newEnv(t)
	r := e.post("acme", `{"events":[`+loginEvent+`,{"action":"user.login","ip":"not-an-ip"},{"action":"nope","outcome":"maybe"}]}`)
	if r.Status != http.StatusBadRequest {
		t.Fatalf("status %d %s", r.Status, r.Body)
	}
	code, msg, details := r.errorBody(t)
	if code != "invalid" || msg == "" {
		t.Errorf("code %q message %q", code, msg)
	}
	want := map[string]bool{"1 ip ip": true, "2 action pattern": true, "2 outcome enum": true}
	for _, d := range details {
		delete(want, fmt.Sprintf("%d %s %s", d.Index, d.Field, d.Rule))
	}
	if len(want) != 0 {
		t.Errorf("missing details %v in %+v", want, details)
	}
	if p := e.list("acme", "", 10, ""); len(p.Events) != 0 {
		t.Fatalf("a rejected batch stored %d events", len(p.Events))
	}
}

func TestRequestShapeErrors(t *testing.T) {
	e := newEnv(t)
	big := `{"events":[` + strings.Repeat(loginEvent+",", stele.MaxBodyBytes/len(loginEvent)) + loginEvent + `]}`
	tests := []struct {
		name, contentType, body string
		status                  int
		field, rule             string
	}{
		{"oversize body", "application/json", big, http.StatusRequestEntityTooLarge, "", ""},
		{"wrong content type", "text/plain", loginEvent, http.StatusUnsupportedMediaType, "", ""},
		{"unknown field", "application/json", `{"action":"user.login","colour":"red"}`, http.StatusBadRequest, "colour", "unknown_field"},
		{"assigned field", "application/json", `{"action":"user.login","seq":1}`, http.StatusBadRequest, "seq", "unknown_field"},
		{"future time", "application/json", `{"action":"user.login","time":"2999-01-01T00:00:00Z"}`, http.StatusBadRequest, "time", "future"},
		{"too many metadata keys", "application/json", `{"action":"user.login","metadata":{` + manyKeys(51) + `}}`, http.StatusBadRequest, "metadata", "max_keys"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do("POST", "/v1/events", e.keys["acme"], tt.contentType, []byte(tt.body))
			if r.Status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tt.status, r.Body)
			}
			_, _, details := r.errorBody(t)
			if tt.field != "" && (len(details) != 1 || details[0].Field != tt.field || details[0].Rule != tt.rule) {
				t.Errorf("details %+v, want %s %s", details, tt.field, tt.rule)
			}
		})
	}
}

func manyKeys(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf(`"k%d":%d`, i, i)
	}
	return strings.Join(parts, ",")
}

func TestKeysAndScopes(t *testing.T) {
	e := newEnv(t)
	if r := e.do("POST", "/v1/events", "", "application/json", []byte(loginEvent)); r.Status != 401 || r.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("no key: %d", r.Status)
	}
	k := e.keys["acme"]
	bad := k[:len(k)-1] + map[bool]string{true: "a", false: "b"}[k[len(k)-1] != 'a']
	if r := e.do("GET", "/v1/events", bad, "", nil); r.Status != 401 {
		t.Errorf("wrong secret: %d", r.Status)
	}
	if r := e.do("GET", "/v1/events", "stele_nonsense", "", nil); r.Status != 401 {
		t.Errorf("malformed key: %d", r.Status)
	}
	if r := e.post("acme-read", loginEvent); r.Status != 403 {
		t.Errorf("read key writing: %d", r.Status)
	}
	if r := e.do("GET", "/v1/events", e.keys["operator"], "", nil); r.Status != 403 {
		t.Errorf("write-only key reading: %d", r.Status)
	}
	if r := e.post("acme", `{"events":[{"action":"user.login"},{"account":"globex","action":"user.login"}]}`); r.Status != 403 ||
		!strings.Contains(string(r.Body), `"index":1,"field":"account","rule":"forbidden"`) {
		t.Errorf("account key writing to another account: %d %s", r.Status, r.Body)
	}
	// Revocation takes effect on the next request.
	if err := e.db.RevokeAPIKey(context.Background(), e.ids["acme-read"], time.Now()); err != nil {
		t.Fatal(err)
	}
	if r := e.do("GET", "/v1/events", e.keys["acme-read"], "", nil); r.Status != 401 {
		t.Errorf("revoked key: %d", r.Status)
	}
}

// TestWriteKeyChecksHoldInTheCommit: a write takes its key from the cache
// without reading the store, and the commit confirms the key generation.
// A key changed since (here: another key revoked) is read again and the
// write goes through; a key revoked after it was cached writes nothing.
func TestWriteKeyChecksHoldInTheCommit(t *testing.T) {
	e := newEnv(t)
	e.mustPost("acme", `{"action":"user.login","actor":{"id":"u_1"}}`) // caches the key
	if err := e.db.RevokeAPIKey(context.Background(), e.ids["acme-read"], time.Now()); err != nil {
		t.Fatal(err)
	}
	e.mustPost("acme", `{"action":"user.login","actor":{"id":"u_2"}}`)
	if err := e.db.RevokeAPIKey(context.Background(), e.ids["acme"], time.Now()); err != nil {
		t.Fatal(err)
	}
	if r := e.post("acme", `{"action":"user.login","actor":{"id":"u_3"}}`); r.Status != 401 || r.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("a revoked key wrote: %d %s", r.Status, r.Body)
	}
	head, err := e.db.CurrentHead(context.Background(), e.accts["acme"].ID)
	if err != nil || head.Size != 2 {
		t.Errorf("the account holds %d events (%v), want the 2 written before the revocation", head.Size, err)
	}
}

func TestOperatorKeyWritesForNamedAccounts(t *testing.T) {
	e := newEnv(t)
	rs := e.mustPost("operator", `{"events":[{"account":"acme","action":"user.login"},{"account":"globex","action":"user.logout"},{"action":"settings.updated"}]}`)
	if rs[0].Account != "acme" || rs[1].Account != "globex" || rs[2].Account != stele.SystemAccount {
		t.Fatalf("receipts %+v", rs)
	}
	if p := e.list("globex", "", 10, ""); len(p.Events) != 1 || p.Events[0].Action != "user.logout" {
		t.Fatalf("globex sees %+v", p.Events)
	}
	r := e.post("operator", `{"events":[{"account":"acme","action":"user.login"},{"account":"nobody","action":"user.login"}]}`)
	_, _, d := r.errorBody(t)
	if r.Status != 400 || len(d) != 1 || d[0].Index != 1 || d[0].Field != "account" || d[0].Rule != "unknown" {
		t.Fatalf("unknown account: %d %+v", r.Status, d)
	}
}

func TestAccountsNeverSeeEachOthersEvents(t *testing.T) {
	e := newEnv(t)
	acme := e.mustPost("acme", loginEvent)
	e.mustPost("globex", `{"action":"user.logout","actor":{"id":"u_1"}}`)
	if p := e.list("globex", "actor:u_1", 100, ""); len(p.Events) != 1 || p.Events[0].Account != "globex" {
		t.Fatalf("globex query returned %+v", p.Events)
	}
	if r := e.do("GET", "/v1/events/"+acme[0].ID, e.keys["globex"], "", nil); r.Status != 404 {
		t.Fatalf("globex read acme's event: %d", r.Status)
	}
	if r := e.do("GET", "/v1/events/evt_zzzz", e.keys["acme"], "", nil); r.Status != 404 {
		t.Fatalf("bad id: %d", r.Status)
	}
}

func TestIdempotencyKeyReplaysOriginalIDs(t *testing.T) {
	e := newEnv(t)
	first := e.mustPost("acme", `{"events":[{"action":"user.login","idempotency_key":"k1"},{"action":"user.logout","idempotency_key":"k2"}]}`)
	again := e.mustPost("acme", `{"events":[{"action":"user.login","idempotency_key":"k1"},{"action":"user.logout","idempotency_key":"k3"}]}`)
	if again[0].ID != first[0].ID || !again[0].Replayed || again[0].LeafHash != first[0].LeafHash {
		t.Fatalf("replay %+v, first %+v", again[0], first[0])
	}
	if again[1].Replayed || again[1].Seq != 2 {
		t.Fatalf("new key %+v", again[1])
	}
	// The new keys of a batch that replayed one were recorded too.
	third := e.mustPost("acme", `{"events":[{"action":"user.login"},{"action":"user.login","idempotency_key":"k3"},{"action":"user.login","idempotency_key":"k4"}]}`)
	if third[0].Seq != 3 || third[1].Seq != 2 || !third[1].Replayed || third[2].Seq != 4 || third[2].Replayed {
		t.Fatalf("after a batch with a replay %+v", third)
	}
	// Another account may use the same key for its own event.
	if g := e.mustPost("globex", `{"action":"user.login","idempotency_key":"k1"}`); g[0].Replayed {
		t.Fatal("idempotency keys leaked across accounts")
	}
	// Two events of one batch with one key: the second replays the first.
	dup := e.mustPost("acme", `{"events":[{"action":"user.login","idempotency_key":"k9"},{"action":"user.login","idempotency_key":"k9"}]}`)
	if dup[1].ID != dup[0].ID || !dup[1].Replayed {
		t.Fatalf("in-batch duplicate %+v", dup)
	}
	if p := e.list("acme", "", 100, ""); len(p.Events) != 6 {
		t.Fatalf("stored %d events, want 6", len(p.Events))
	}
}

func TestCursorPagesStayStableWhileEventsArrive(t *testing.T) {
	e := newEnv(t)
	var batch []string
	for i := range 250 {
		batch = append(batch, fmt.Sprintf(`{"action":"user.login","time":"2026-11-2%dT10:00:%02dZ","actor":{"id":"u_%d"}}`, i%3+1, i%60, i))
	}
	e.mustPost("acme", `{"events":[`+strings.Join(batch, ",")+`]}`)
	seen := map[string]bool{}
	var prev *stele.Event
	cursor := ""
	for pages := 0; ; pages++ {
		p := e.list("acme", "", 100, cursor)
		// Newer events arriving between pages must not shift what follows.
		e.mustPost("acme", `{"action":"user.logout"}`)
		for i := range p.Events {
			ev := &p.Events[i]
			if seen[ev.ID] {
				t.Fatalf("event %s returned twice", ev.ID)
			}
			seen[ev.ID] = true
			if prev != nil && (ev.Time.After(prev.Time) || ev.Time.Equal(prev.Time) && ev.Seq > prev.Seq) {
				t.Fatalf("not newest first: %v/%d after %v/%d", ev.Time, ev.Seq, prev.Time, prev.Seq)
			}
			prev = ev
		}
		if p.NextCursor == nil {
			break
		}
		cursor = *p.NextCursor
	}
	if len(seen) != 250 {
		t.Fatalf("paged through %d events, want 250", len(seen))
	}
	for _, bad := range []string{"limit=0", "limit=1001", "limit=x", "cursor=nonsense"} {
		if r := e.do("GET", "/v1/events?"+bad, e.keys["acme"], "", nil); r.Status != 400 {
			t.Errorf("%s: %d", bad, r.Status)
		}
	}
}

func TestQueryLanguageOverHTTP(t *testing.T) {
	e := newEnv(t)
	e.mustPost("acme", `{"events":[
		{"action":"user.login","actor":{"id":"u_1","email":"ada@acme.io"},"ip":"203.0.113.7","outcome":"success","time":"2026-11-20T10:00:00Z"},
		{"action":"user.login_failed","actor":{"id":"u_2","email":"bob@acme.io"},"ip":"198.51.100.9","outcome":"failure","time":"2026-11-21T10:00:00Z"},
		{"action":"user.role_changed","actor":{"id":"u_1"},"target":{"id":"u_2","name":"Bob"},"time":"2026-11-22T10:00:00Z","description":"promoted to admin"},
		{"action":"finding.generated","source":{"type":"aws","id":"aws-prod-123"},"time":"2026-11-23T10:00:00Z","metadata":{"severity":"critical"}},
		{"action":"deploy.finished","category":"configuration","time":"2026-11-24T01:00:00Z"}]}`)
	tests := []struct {
		q    string
		want []string // actions, newest first
	}{
		{"", []string{"deploy.finished", "finding.generated", "user.role_changed", "user.login_failed", "user.login"}},
		{"action:user.login", []string{"user.login"}},
		{"action:user.*", []string{"user.role_changed", "user.login_failed", "user.login"}},
		{"action:user.login,finding.generated", []string{"finding.generated", "user.login"}},
		{"-action:user.*", []string{"deploy.finished", "finding.generated"}},
		{"category:configuration", []string{"deploy.finished"}},
		{"actor:ada@acme.io", []string{"user.login"}},
		{"actor:ADA@acme.io", []string{"user.login"}},
		{"actor:u_1", []string{"user.role_changed", "user.login"}},
		{"-actor:u_1", []string{"deploy.finished", "finding.generated", "user.login_failed"}},
		{"target:u_2", []string{"user.role_changed"}},
		{"source:aws-prod-123", []string{"finding.generated"}},
		{"outcome:failure", []string{"user.login_failed"}},
		{"ip:198.51.100.9", []string{"user.login_failed"}},
		{"after:2026-11-22 before:2026-11-24", []string{"finding.generated", "user.role_changed"}},
		{"critical", []string{"finding.generated"}},
		{"admin", []string{"user.role_changed"}},
		{"bob", []string{"user.role_changed", "user.login_failed"}},
		{`"promoted to"`, []string{"user.role_changed"}},
		{"action:user.* -outcome:failure actor:u_1", []string{"user.role_changed", "user.login"}},
		{"action:user.login action:finding.generated", []string{"finding.generated", "user.login"}},
		{"-action:user.login -action:finding.generated -action:deploy.finished", []string{"user.role_changed", "user.login_failed"}},
		{"action:user.login_failed OR source:aws-prod-123", []string{"finding.generated", "user.login_failed"}},
		{"(actor:ada@acme.io OR target:u_2) -outcome:success", []string{"user.role_changed"}},
		{"-(actor:u_1 OR critical) action:user.*", []string{"user.login_failed"}},
		{"admin OR bob AND outcome:failure", []string{"user.role_changed", "user.login_failed"}},
	}
	for _, tt := range tests {
		p := e.list("acme", tt.q, 100, "")
		var got []string
		for _, ev := range p.Events {
			got = append(got, ev.Action)
		}
		if strings.Join(got, " ") != strings.Join(tt.want, " ") {
			t.Errorf("%q: got %v, want %v", tt.q, got, tt.want)
		}
	}
	r := e.do("GET", "/v1/events?q="+url.QueryEscape("category:nonsense"), e.keys["acme"], "", nil)
	if _, _, d := r.errorBody(t); r.Status != 400 || len(d) == 0 || d[0].Field != "q" {
		t.Errorf("bad query: %d %s", r.Status, r.Body)
	}
	r = e.do("GET", "/v1/events?q="+url.QueryEscape("(action:user.login OR x"), e.keys["acme"], "", nil)
	if _, msg, d := r.errorBody(t); r.Status != 400 || len(d) == 0 || d[0].Field != "q" || !strings.Contains(msg, "unbalanced parenthesis at byte 0") {
		t.Errorf("unbalanced query: %d %s", r.Status, r.Body)
	}
}

// The list response says how the query was read: its canonical form, with
// OR and parentheses made explicit and repeated qualifiers joined.
func TestListSaysHowTheQueryWasRead(t *testing.T) {
	e := newEnv(t)
	e.mustPost("acme", `{"action":"user.login","outcome":"success","description":"or else"}`)
	for q, want := range map[string]string{
		"":                                     "",
		"action:user.login action:user.logout": "action:user.login,user.logout",
		"action:user.login or action:user.logout": "action:user.login,user.logout or",
		"a b OR c AND d":                       "(a b) OR (c d)",
		"  Action:user.login   AND <b>OR</b> ": "action:user.login <b>OR</b>",
		`x OR "OR"`:                            `x OR "OR"`,
	} {
		if got := e.list("acme", q, 10, "").Query; got != want {
			t.Errorf("%q was read as %q, want %q", q, got, want)
		}
	}
}

func TestNothingSecretIsStoredInClear(t *testing.T) {
	e := newEnv(t)
	secrets := []string{"grace.hopper@navy.example", "Grace Brewster Hopper", "192.0.2.201",
		"the compiler was rewritten", "metadata-value-xyzzy", "u_hopper_1969", "Target Person Name", "aws-secret-src-77", "idem-key-plugh"}
	e.mustPost("acme", `{"action":"user.role_changed","actor":{"type":"user","id":"u_hopper_1969","name":"Grace Brewster Hopper","email":"grace.hopper@navy.example"},
		"target":{"id":"u_target","name":"Target Person Name"},"source":{"id":"aws-secret-src-77"},"ip":"192.0.2.201",
		"description":"the compiler was rewritten","metadata":{"note":"metadata-value-xyzzy"},"idempotency_key":"idem-key-plugh"}`)
	// Read the database with its WAL, as an attacker holding the files would.
	e.srv.Close()
	e.db.Close()
	var all []byte
	for _, suffix := range []string{"", "-wal", "-shm"} {
		b, err := os.ReadFile(e.dbPath + suffix)
		if err == nil {
			all = append(all, b...)
		}
	}
	if len(all) == 0 {
		t.Fatal("database file is empty")
	}
	lower := bytes.ToLower(all)
	for _, s := range secrets {
		if bytes.Contains(lower, bytes.ToLower([]byte(s))) {
			t.Errorf("%q appears in the database in clear", s)
		}
	}
	if !bytes.Contains(all, []byte("user.role_changed")) {
		t.Error("the action should be stored in clear (sanity check of the scan)")
	}
}

func TestConcurrentWritersAllDurableAndGapFree(t *testing.T) {
	e := newEnv(t)
	const writers, each = 8, 10
	var wg sync.WaitGroup
	var mu sync.Mutex
	seqs := map[int64]bool{}
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				r := e.post("acme", fmt.Sprintf(`{"action":"user.login","actor":{"id":"w%d-%d"}}`, w, i))
				var out struct{ Events []stele.Receipt }
				json.Unmarshal(r.Body, &out)
				if r.Status != 201 || len(out.Events) != 1 {
					t.Errorf("POST %d %s", r.Status, r.Body)
					return
				}
				mu.Lock()
				seqs[out.Events[0].Seq] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for s := range int64(writers * each) {
		if !seqs[s] {
			t.Fatalf("seq %d missing: seqs are not gap-free", s)
		}
	}
}

func TestHealthz(t *testing.T) {
	e := newEnv(t)
	r := e.do("GET", "/healthz", "", "", nil)
	if r.Status != 200 || !strings.Contains(string(r.Body), "ok") || r.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("healthz %d %s", r.Status, r.Body)
	}
}

func TestUnknownRoutesAndMethodsAnswerInJSON(t *testing.T) {
	e := newEnv(t)
	r := e.do("PUT", "/v1/events", e.keys["acme"], "application/json", []byte(loginEvent))
	if code, _, _ := r.errorBody(t); r.Status != http.StatusMethodNotAllowed || r.Header.Get("Allow") != "GET, POST" || code != "method_not_allowed" {
		t.Errorf("PUT /v1/events: %d Allow %q %s", r.Status, r.Header.Get("Allow"), r.Body)
	}
	r = e.do("GET", "/v1/nothing/here", e.keys["acme"], "", nil)
	if code, _, _ := r.errorBody(t); r.Status != http.StatusNotFound || code != "not_found" {
		t.Errorf("GET /v1/nothing/here: %d %s", r.Status, r.Body)
	}
	r = e.do("GET", "/v1/export?format=xml", e.keys["acme"], "", nil)
	if _, msg, _ := r.errorBody(t); r.Status != 400 || !strings.Contains(msg, "bundle") {
		t.Errorf("bad export format: %d %s", r.Status, r.Body)
	}
}

// The list body is written without reflection; it must stay byte for byte
// what encoding/json wrote: decoded and encoded again the old way, every
// page reads the same, HTML characters, escapes and all.
func TestListBodyIsWhatEncodingJSONWrites(t *testing.T) {
	e := newEnv(t)
	e.mustPost("acme", `{"events":[
		{"action":"user.role_changed","category":"user_management","actor":{"type":"user","id":"u_<1>","name":"Zoë \"Z\" Ødegård","email":"z@acme.io"},
		 "target":{"id":"u_2"},"source":{"type":"aws","name":"AWS & co"},"ip":"203.0.113.7","user_agent":"Mozilla/5.0 <x>",
		 "request_id":"r\u2028","description":"line\nbreak\ttab \u0001 😀","idempotency_key":"k-1",
		 "metadata":{"z":null,"a":false,"t":true,"n":3.50,"s":"<b>&</b>","big":-1.5e+3}},
		{"action":"user.login","outcome":"success"},
		{"action":"finding.generated","category":"source_activity","metadata":{}}]}`)
	cursor := ""
	for pages := 0; ; pages++ {
		v := url.Values{"limit": {"2"}}
		if cursor != "" {
			v.Set("cursor", cursor)
		}
		r := e.do("GET", "/v1/events?"+v.Encode(), e.keys["acme"], "", nil)
		if r.Status != http.StatusOK || r.Header.Get("Content-Type") != "application/json; charset=utf-8" {
			t.Fatalf("GET: %d %s %s", r.Status, r.Header.Get("Content-Type"), r.Body)
		}
		var p struct {
			Events     []*stele.Event `json:"events"`
			NextCursor *string        `json:"next_cursor"`
			Query      string         `json:"query"`
		}
		dec := json.NewDecoder(bytes.NewReader(r.Body))
		dec.UseNumber()
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("%v: %s", err, r.Body)
		}
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		enc.Encode(map[string]any{"events": p.Events, "next_cursor": p.NextCursor, "query": p.Query})
		if !bytes.Equal(r.Body, want.Bytes()) {
			t.Fatalf("page %d:\n%s\nencoding/json:\n%s", pages, r.Body, want.Bytes())
		}
		if p.NextCursor == nil {
			if pages != 1 {
				t.Fatalf("%d pages, want 2", pages+1)
			}
			break
		}
		cursor = *p.NextCursor
	}
}
