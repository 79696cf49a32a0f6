package main

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/hostiletest"
)

// TestHostileEventsHurtNoOne is issue 15's finding end to end, on the real
// binary: the poisoned latency event (requests 1e19) is refused with a
// message naming the field; the same event and worse, stored as a store
// written before that check holds them, are read by every console page and
// every API route of the account, as its owner, and the server answers each
// sensibly and stays up. Before, POST /v1/events took the event (201) and
// the next GET /admin/system killed the process with a stack overflow.
func TestHostileEventsHurtNoOne(t *testing.T) {
	data := newStoreDir(t)
	runCLI(t, "accounts", "create", "acme", "--type", "team", "--data", data)
	var key struct{ Key string }
	if err := json.Unmarshal([]byte(runCLI(t, "keys", "create", "--account", "acme", "--scopes",
		"events:write,events:read,events:export", "--json", "--data", data)), &key); err != nil {
		t.Fatal(err)
	}
	const pw = "hostile events hurt no one"
	runCLI(t, "users", "create", "--account", "acme", "--email", "owner@acme.example", "--role", "owner", "--password", pw, "--data", data)
	plantOldStoreEvents(t, data)
	runCLI(t, "checkpoint", "sign", "--data", data)
	serve, base := startServe(t, data)

	api := &probe{t: t, base: base, key: key.Key, c: http.DefaultClient}
	status, body := api.do("POST", "/v1/events", hostiletest.Poisoned)
	var refused struct {
		Error struct{ Details []stele.FieldError }
	}
	if err := json.Unmarshal(body, &refused); status != http.StatusBadRequest || err != nil || len(refused.Error.Details) != 1 ||
		refused.Error.Details[0].Field != "metadata.requests" || refused.Error.Details[0].Rule != "range" {
		t.Fatalf("POST the poisoned event: %d %s", status, body)
	}

	// Every API route of the account.
	var list struct {
		Events []stele.Event `json:"events"`
	}
	status, body = api.do("GET", "/v1/events?limit=1000", "")
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // 1e400 is valid JSON, but no float64
	if err := dec.Decode(&list); status != http.StatusOK || err != nil || len(list.Events) < 4 {
		t.Fatalf("GET /v1/events: %d %v %s", status, err, body)
	}
	var n int64
	for _, e := range list.Events {
		n = max(n, e.Seq+1)
	}
	if status, body := api.do("GET", "/v1/checkpoint", ""); status != http.StatusOK || !bytes.HasPrefix(body, []byte("stele.local/acme\n")) {
		t.Errorf("GET /v1/checkpoint: %d %s", status, body)
	}
	routes := []string{"/v1/events?q=" + url.QueryEscape("category:system"), "/v1/events?q=alert", "/v1/events?q=1e19",
		"/v1/proofs/inclusion?seq=0", fmt.Sprintf("/v1/proofs/consistency?from=1&to=%d", n), "/v1/openapi.json"}
	for _, e := range list.Events {
		routes = append(routes, "/v1/events/"+e.ID, "/v1/events/"+e.ID+"?proof=true")
	}
	for _, r := range routes {
		if status, body := api.do("GET", r, ""); status != http.StatusOK || !json.Valid(body) {
			t.Errorf("GET %s: %d %.200s", r, status, body)
		}
	}
	for _, format := range []string{"csv", "jsonl", "ocsf", "bundle"} {
		status, body := api.do("GET", "/v1/export?format="+format, "")
		if status != http.StatusOK {
			t.Errorf("export %s: %d %.200s", format, status, body)
			continue
		}
		checkExport(t, format, body, len(list.Events))
	}
	if status, _ := api.do("GET", "/healthz", ""); status != http.StatusOK {
		t.Errorf("healthz: %d", status)
	}
	if status, _ := api.do("GET", "/metrics", ""); status != http.StatusOK {
		t.Errorf("metrics: %d", status)
	}

	// Every console page of the account, as its owner.
	jar, _ := cookiejar.New(nil)
	owner := &probe{t: t, base: base, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	if status, _ := owner.form("/login", url.Values{"email": {"owner@acme.example"}, "password": {pw}}); status != http.StatusSeeOther {
		t.Fatalf("sign in: %d", status)
	}
	pages := map[string]int{
		"/": http.StatusSeeOther, "/admin": http.StatusSeeOther, "/login": http.StatusSeeOther,
		"/admin/audit-logs": 200, "/admin/audit-logs?range=all": 200, "/admin/audit-logs?range=24h&category=system": 200,
		"/admin/audit-logs?q=alert&outcome=failure": 200, "/admin/audit-logs?q=" + url.QueryEscape(hostiletest.Markup): http.StatusBadRequest, // not a query
		"/admin/audit-logs?range=custom&from=2020-01-01&to=2030-01-01": 200, "/admin/audit-logs?actor=" + url.QueryEscape(hostiletest.Markup): 200,
		"/admin/system": 200, "/admin/system?range=7d": 200, "/admin/users": 200, "/admin/api-keys": 200,
		"/admin/settings": 200, "/account": 200, "/admin/accounts": http.StatusForbidden, "/static/console.css": 200,
	}
	for _, e := range list.Events {
		pages["/admin/audit-logs/"+e.ID] = 200
	}
	for p, want := range pages {
		status, body := owner.do("GET", p, "")
		if status != want {
			t.Errorf("GET %s: %d, want %d", p, status, want)
			continue
		}
		if strings.Contains(string(body), "<script>") {
			t.Errorf("GET %s: a script element from event data", p)
		}
	}
	for _, format := range []string{"csv", "jsonl", "ocsf"} {
		status, body := owner.do("GET", "/admin/audit-logs/export?range=all&format="+format, "")
		if status != http.StatusOK {
			t.Errorf("console export %s: %d", format, status)
			continue
		}
		checkExport(t, format, body, len(list.Events))
	}

	if serve.ProcessState != nil {
		t.Fatalf("serve exited: %v", serve.ProcessState)
	}
	if status, _ := api.do("GET", "/healthz", ""); status != http.StatusOK {
		t.Fatalf("healthz at the end: %d", status)
	}
}

// plantOldStoreEvents stores hostiletest.OldStoreEvents in acme as an older
// Stele would have, before serve starts.
func plantOldStoreEvents(t *testing.T, data string) {
	t.Helper()
	a, err := openApp(t.Context(), storeFlags{data: data}, newLogger("error"))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := a.ingest.AppendUnchecked(t.Context(), hostiletest.OldStoreEvents("acme", time.Now().UTC())...); err != nil {
		t.Fatal(err)
	}
}

// checkExport fails unless body is a whole export of at least n events in
// format: CSV that encoding/csv reads, with formula cells neutralised; JSON
// Lines of valid JSON; a bundle that is one JSON object.
func checkExport(t *testing.T, format string, body []byte, n int) {
	t.Helper()
	switch format {
	case "csv":
		r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(body, []byte("\ufeff"))))
		rows, err := r.ReadAll()
		if err != nil || len(rows) < n+1 {
			t.Errorf("csv: %d rows, %v", len(rows), err)
			return
		}
		for _, row := range rows[1:] {
			for _, cell := range row {
				if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
					t.Errorf("csv: a cell a spreadsheet would run: %q", cell)
				}
			}
		}
	case "jsonl", "ocsf":
		lines := 0
		sc := bufio.NewScanner(bytes.NewReader(body))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if lines++; !json.Valid(sc.Bytes()) {
				t.Errorf("%s: line %d is not JSON: %.200s", format, lines, sc.Bytes())
			}
		}
		if lines < n {
			t.Errorf("%s: %d lines, want at least %d", format, lines, n)
		}
	case "bundle":
		var b struct{ Events []json.RawMessage }
		if err := json.Unmarshal(body, &b); err != nil || len(b.Events) < n {
			t.Errorf("bundle: %d events, %v", len(b.Events), err)
		}
	}
}

// probe makes raw requests of a running server: with an API key, or with a
// cookie jar as a signed-in console user.
type probe struct {
	t    *testing.T
	base string
	key  string
	c    *http.Client
}

func (c *probe) do(method, path, body string) (int, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return c.send(req)
}

func (c *probe) form(path string, v url.Values) (int, []byte) {
	c.t.Helper()
	req, _ := http.NewRequest("POST", c.base+path, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.send(req)
}

func (c *probe) send(req *http.Request) (int, []byte) {
	c.t.Helper()
	resp, err := c.c.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v (did the server die?)", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: reading the body: %v", req.Method, req.URL.Path, err)
	}
	return resp.StatusCode, b
}
