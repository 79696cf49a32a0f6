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
	"sync/atomic"
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/alert"
	"github.com/stele-audit/stele/internal/api"
	"github.com/stele-audit/stele/internal/apikey"
	"github.com/stele-audit/stele/internal/audit"
	"github.com/stele-audit/stele/internal/datapath"
	"github.com/stele-audit/stele/internal/ingest"
	"github.com/stele-audit/stele/internal/notify"
	"github.com/stele-audit/stele/internal/seal"
	"github.com/stele-audit/stele/internal/search"
	"github.com/stele-audit/stele/internal/sqlite"
	"github.com/stele-audit/stele/internal/sqlite/sqlitetest"
)

// alertEnv is the API with alert rules, on a real SQLite store, and keys
// of two accounts.
type alertEnv struct {
	srv              *httptest.Server
	search           *search.Service
	acme             *stele.Account
	key, other, read string
}

func newAlertEnv(t *testing.T) *alertEnv {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "stele.db"))
	if err != nil {
		t.Fatal(err)
	}
	master, _ := seal.NewMasterKey(1, bytes.Repeat([]byte{7}, 32))
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	c := datapath.Start(db, sqlitetest.Keys(t), master, logger, ingest.WriterConfig{})
	n, err := notify.New(notify.Config{ConsoleURL: "https://stele.example.com", URLPolicy: notify.URLPolicy{AllowLoopbackHTTP: true}})
	if err != nil {
		t.Fatal(err)
	}
	rules := &alert.Service{Store: db, Sealer: c.Keyring, Audit: &audit.Recorder{Sink: c.Ingest, Logger: logger},
		Policy: notify.URLPolicy{AllowLoopbackHTTP: true}, Notifier: n}
	s := &api.Server{Ingest: c.Ingest, Search: c.Search, Accounts: db, APIKeys: db, Logger: logger, Ready: db.Ping, Alerts: rules}
	e := &alertEnv{srv: httptest.NewServer(s.Handler()), search: c.Search}
	t.Cleanup(func() { e.srv.Close(); c.Stop(); db.Close() })
	for _, name := range []string{stele.SystemAccount, "acme", "globex"} {
		a := &stele.Account{Name: name, Type: "team"}
		if err := db.CreateAccount(ctx, a); err != nil {
			t.Fatal(err)
		}
		if name == "acme" {
			e.acme = a
		}
		scopes := []stele.Scope{stele.ScopeAlertsManage}
		_, key, err := apikey.Issue(ctx, db, a, scopes, false, "", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		switch name {
		case "acme":
			e.key = key
		case "globex":
			e.other = key
		}
	}
	_, e.read, err = apikey.Issue(ctx, db, e.acme, []stele.Scope{stele.ScopeEventsRead}, false, "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestAlertRulesThroughTheAPI(t *testing.T) {
	e := newAlertEnv(t)
	got := make(chan notify.WebhookBody, 4)
	var secret atomic.Value // the secret Stele generates, once known
	secret.Store("")
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := notify.VerifyWebhook([]string{secret.Load().(string)}, r.Header.Get(notify.SignatureHeader), body, time.Now(), 0); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var b notify.WebhookBody
		json.Unmarshal(body, &b)
		got <- b
	}))
	defer hook.Close()
	c := newConformance(t, e.srv.URL, e.srv.Client())

	created := c.run(call{method: "POST", path: "/v1/alert-rules", key: e.key, status: 201, body: `{"name": "Failed logins",
		"query": "action:user.login_failed", "threshold": {"count": 5, "window": "10m", "group_by": "actor"}, "cooldown": "15m",
		"destinations": [{"type": "webhook", "url": "` + hook.URL + `/hook"},
			{"type": "slack", "url": "https://hooks.slack.com/services/T0/B0/SECRETPATH"},
			{"type": "email", "to": ["secops@example.com"]}]}`})
	var rule alert.Rule
	if err := json.Unmarshal(created.Body, &rule); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(rule.Destinations[0].Secret, "whsec_") || strings.Contains(string(created.Body), "SECRETPATH") ||
		rule.Threshold.Window != "10m" || rule.Cooldown != "15m" || !rule.Enabled || created.Header.Get("Location") != "/v1/alert-rules/"+rule.ID {
		t.Fatalf("created %s", created.Body)
	}
	generated := rule.Destinations[0].Secret
	secret.Store(generated)
	path := "/v1/alert-rules/" + rule.ID
	one := c.run(call{method: "GET", path: path, key: e.key, status: 200})
	if strings.Contains(string(one.Body), generated) || strings.Contains(string(one.Body), "SECRETPATH") {
		t.Fatalf("a read returned a secret: %s", one.Body)
	}
	list := c.run(call{method: "GET", path: "/v1/alert-rules", key: e.key, status: 200})
	if strings.Count(string(list.Body), `"id":"rul_`) != 1 || strings.Contains(string(list.Body), generated) {
		t.Fatalf("list %s", list.Body)
	}

	// Refused: each names its field and rule, and nothing is stored.
	for _, tc := range []struct{ body, field, rule string }{
		{`{"name": "x", "query": "colour:red", "destinations": [{"type": "email", "to": ["a@example.com"]}]}`, "query", "unknown_field"},
		{`{"name": "x", "query": "action:user.login", "destinations": []}`, "destinations", "required"},
		{`{"name": "x", "query": "action:user.login", "threshold": {"count": 5, "window": "10m", "group_by": "target"},
			"destinations": [{"type": "email", "to": ["a@example.com"]}]}`, "threshold.group_by", "one_of"},
		{`{"name": "x", "query": "action:user.login", "destinations": [{"type": "webhook", "url": "http://10.0.0.1/x"}]}`, "destinations[0].url", "https"},
	} {
		refused := tc.field != "query" && tc.field != "destinations[0].url"
		r := c.run(call{method: "POST", path: "/v1/alert-rules", key: e.key, status: 400, body: tc.body, refused: refused})
		_, _, details := r.errorBody(t)
		found := false
		for _, d := range details {
			found = found || d.Field == tc.field && d.Rule == tc.rule
		}
		if !found {
			t.Errorf("%s: details %+v, want %s %s", tc.body, details, tc.field, tc.rule)
		}
	}
	r := c.run(call{method: "POST", path: "/v1/alert-rules", key: e.key, status: 400, refused: true,
		body: `{"name": "x", "query": "action:user.login", "colour": "red", "destinations": [{"type": "email", "to": ["a@example.com"]}]}`})
	if _, _, d := r.errorBody(t); len(d) != 1 || d[0].Field != "colour" || d[0].Rule != "unknown_field" {
		t.Errorf("unknown field: %+v", d)
	}
	c.run(call{method: "POST", path: "/v1/alert-rules", key: e.key, status: 415, refused: true, body: `{}`, header: map[string]string{"Content-Type": "text/plain"}})

	// Update: a secret left out is kept, the change recorded.
	c.run(call{method: "PUT", path: path, key: e.key, status: 200, body: `{"name": "Failed logins", "query": "action:user.login_failed outcome:failure",
		"enabled": false, "destinations": [{"type": "webhook", "url": "` + hook.URL + `/hook"}]}`})
	tested := c.run(call{method: "POST", path: path + "/test", key: e.key, status: 200})
	var res struct{ Results []alert.TestResult }
	if err := json.Unmarshal(tested.Body, &res); err != nil || len(res.Results) != 1 || !res.Results[0].OK {
		t.Fatalf("test %s: %v", tested.Body, err)
	}
	select {
	case b := <-got:
		if !b.Test || b.Rule.ID != rule.ID {
			t.Fatalf("test body %+v", b)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the test alert did not arrive signed with the kept secret")
	}
	c.run(call{method: "GET", path: path + "/firings", key: e.key, status: 200})
	c.run(call{method: "GET", path: path + "/firings?limit=0", key: e.key, status: 400, refused: true})

	// Tenancy and scope.
	c.run(call{method: "GET", path: path, key: e.other, status: 404})
	c.run(call{method: "PUT", path: path, key: e.other, status: 404, body: `{"name": "x", "query": "action:user.login", "destinations": [{"type": "email", "to": ["a@example.com"]}]}`})
	c.run(call{method: "DELETE", path: path, key: e.other, status: 404})
	c.run(call{method: "GET", path: "/v1/alert-rules", key: e.read, status: 403})
	c.run(call{method: "GET", path: "/v1/alert-rules", status: 401, refused: true})

	c.run(call{method: "DELETE", path: path, key: e.key, status: 204})
	c.run(call{method: "DELETE", path: path, key: e.key, status: 404})

	page, err := e.search.Search(t.Context(), e.acme, stele.Query{Terms: []stele.Term{{Field: stele.FieldAction, Values: []string{"alert_rule.*"}}}}, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, ev := range page.Events {
		actions = append(actions, ev.Action)
		if ev.Actor == nil || ev.Actor.Type != "api_key" || ev.IP != "127.0.0.1" {
			t.Errorf("%s recorded without the key and its ip: %+v", ev.Action, ev.Actor)
		}
	}
	if strings.Join(actions, " ") != "alert_rule.deleted alert_rule.tested alert_rule.updated alert_rule.created" {
		t.Fatalf("acme's log: %v", actions)
	}
}
