package console_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/api"
	"github.com/stele-audit/stele/internal/apikey"
	"github.com/stele-audit/stele/internal/audit"
	"github.com/stele-audit/stele/internal/console"
	"github.com/stele-audit/stele/internal/datapath"
	"github.com/stele-audit/stele/internal/export"
	"github.com/stele-audit/stele/internal/hostiletest"
	"github.com/stele-audit/stele/internal/ingest"
	"github.com/stele-audit/stele/internal/integrity"
	"github.com/stele-audit/stele/internal/ledger"
	"github.com/stele-audit/stele/internal/query"
	"github.com/stele-audit/stele/internal/retention"
	"github.com/stele-audit/stele/internal/seal"
	"github.com/stele-audit/stele/internal/sqlite"
	"github.com/stele-audit/stele/internal/sqlite/sqlitetest"
	"github.com/stele-audit/stele/internal/users"
)

// readSide is Stele as a fuzz worker reads it back: the API (with tamper
// evidence) and the console on one SQLite store behind a real listener,
// made once per worker process. Each account takes accountRuns inputs, so
// that its pages stay small, and then the next one is made; signing in
// (a password hash) is paid once per account.
type readSide struct {
	srv     *httptest.Server
	db      *sqlite.DB
	path    *datapath.Path
	cp      *integrity.Checkpointer
	logs    *logBuffer
	start   time.Time
	n       int // inputs so far
	account *stele.Account
	write   string // the account's API key: events:write and events:read
	browser *http.Client
	hash    string // the owners' password hash
}

const accountRuns = 64

func newReadSide(f *testing.F) *readSide {
	ctx := context.Background()
	// tmpfs where there is one: every commit syncs, and the fuzzer commits
	// a lot.
	dir := f.TempDir()
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "stele-fuzz-"); err == nil {
			dir = d
			f.Cleanup(func() { os.RemoveAll(d) })
		}
	}
	db, err := sqlite.Open(ctx, filepath.Join(dir, "stele.db"))
	if err != nil {
		f.Fatal(err)
	}
	master, err := seal.NewMasterKey(1, bytes.Repeat([]byte{5}, 32))
	if err != nil {
		f.Fatal(err)
	}
	logs := &logBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelError}))
	path := datapath.Start(db, sqlitetest.Keys(f), master, logger, ingest.WriterConfig{})
	key, _, err := ledger.NewSigningKey("stele.fuzz")
	if err != nil {
		f.Fatal(err)
	}
	cp := &integrity.Checkpointer{Accounts: db, Events: db, Store: db, Key: key, OriginPrefix: "stele.fuzz", Logger: logger}
	apiSrv := &api.Server{Ingest: path.Ingest, Search: path.Search, Accounts: db, APIKeys: db, Logger: logger, Ready: db.Ping, Checkpoints: cp}
	con := &console.Server{Accounts: db, Users: db, Sessions: db, APIKeys: db, Counter: db, Search: path.Search, Ingest: path.Ingest,
		Logger: logger, Secrets: path.Keyring, Retention: &retention.Settings{Accounts: db, Audit: &audit.Recorder{Sink: path.Ingest}}, Throttle: db}
	if err := con.Init(); err != nil {
		f.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", apiSrv.Handler())
	con.Routes(mux)
	rs := &readSide{srv: httptest.NewServer(mux), db: db, path: path, cp: cp, logs: logs, start: time.Now().UTC().Add(-time.Hour)}
	f.Cleanup(func() { rs.srv.Close(); path.Stop(); db.Close() })
	if err := db.CreateAccount(ctx, &stele.Account{Name: stele.SystemAccount, Type: "team"}); err != nil {
		f.Fatal(err)
	}
	return rs
}

// next returns the account of the next input, making a new one (with a
// key and a signed-in owner) every accountRuns inputs.
func (rs *readSide) next(t *testing.T) {
	t.Helper()
	rs.n++
	if rs.account != nil && rs.n%accountRuns != 0 {
		return
	}
	ctx := context.Background()
	a := &stele.Account{Name: fmt.Sprintf("fuzz%d", rs.n), Type: "team"}
	if err := rs.db.CreateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	_, k, err := apikey.Issue(ctx, rs.db, a, []stele.Scope{stele.ScopeEventsWrite, stele.ScopeEventsRead}, false, "fuzz", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	email := a.Name + "@fuzz.example"
	if rs.hash == "" { // a password hash holds its salt: one serves every owner
		rs.hash = users.HashPassword(password)
	}
	u := &stele.User{ID: fmt.Sprintf("u_fuzz%d", rs.n), AccountID: a.ID, Account: a.Name, Email: email, Name: a.Name,
		Role: stele.RoleOwner, PasswordHash: rs.hash}
	if err := rs.db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	rs.browser = &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := rs.browser.PostForm(rs.srv.URL+"/login", url.Values{"email": {email}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in: %d", resp.StatusCode)
	}
	rs.account, rs.write = a, k
}

// get fetches path, with the API key or as the signed-in owner, and fails
// on a status outside ok and on any panic the server logged.
func (rs *readSide) get(t *testing.T, path string, withKey bool, ok ...int) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", rs.srv.URL+path, nil)
	c := rs.browser
	if withKey {
		req.Header.Set("Authorization", "Bearer "+rs.write)
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	if strings.Contains(rs.logs.String(), "panic") {
		t.Fatalf("GET %s: the server panicked:\n%s", path, rs.logs.String())
	}
	for _, s := range ok {
		if resp.StatusCode == s {
			return resp.StatusCode, body
		}
	}
	t.Fatalf("GET %s: %d, want one of %v\n%.500s", path, resp.StatusCode, ok, body)
	return 0, nil
}

// inputEvent is the body of one event from the fuzzer's strings: each
// string field as given, the metadata either the raw JSON given (any
// shape: ingest refuses what it must) or a string, a number spliced in as
// its JSON text, a boolean and a null under a given key.
func inputEvent(at time.Time, action, category, outcome, actorID, actorName, actorEmail, target, description, userAgent, ip,
	metaKey, metaString, metaNumber, metaRaw string) []byte {
	ev := map[string]any{"time": at.Format(time.RFC3339Nano), "action": action}
	for k, v := range map[string]string{"category": category, "outcome": outcome, "description": description, "user_agent": userAgent, "ip": ip} {
		if v != "" {
			ev[k] = v
		}
	}
	if actorID != "" || actorName != "" || actorEmail != "" {
		ev["actor"] = map[string]string{"type": "user", "id": actorID, "name": actorName, "email": actorEmail}
	}
	if target != "" {
		ev["target"] = map[string]string{"type": "user", "id": target, "name": target}
	}
	switch {
	case metaRaw != "" && json.Valid([]byte(metaRaw)):
		ev["metadata"] = json.RawMessage(metaRaw)
	default:
		if metaKey == "" {
			metaKey = "text"
		}
		m := map[string]any{metaKey: metaString, "flag": true, "none": nil}
		if isJSONNumber(metaNumber) {
			m["number"] = json.Number(metaNumber)
			m["requests"] = json.Number(metaNumber) // charted on the System page
			m["p95_ms"] = json.Number(metaNumber)
		}
		ev["metadata"] = m
	}
	b, _ := json.Marshal(ev)
	return b
}

func isJSONNumber(s string) bool {
	var n json.Number
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var v any
	if s == "" || d.Decode(&v) != nil || d.More() {
		return false
	}
	n, ok := v.(json.Number)
	return ok && string(n) == s
}

// FuzzReadSide stores arbitrary events through the real ingest path (POST
// /v1/events, so only what ingest accepts is stored) and reads each back
// through every reader: the Audit Logs page (filtered to the event, and
// with the fuzzer's own query and filters), the event page, the System
// page over both ranges, the API's list and GET /v1/events/{id}, the
// CSV, JSON Lines and OCSF exports, a verifiable bundle, and
// export.AppendEventJSON. Nothing may panic or fail; the HTML must hold no
// markup that came from the event (see unsafeMarkup) and none of the
// event's strings unescaped; CSV must parse, with no cell a spreadsheet
// would run; JSON must parse; the bundle must verify.
func FuzzReadSide(f *testing.F) {
	markup := hostiletest.Markup
	for _, seed := range [][15]string{
		{"user.login", "", "success", "u_1", "Ada Lovelace", "ada@acme.io", "u_2", "Ada signed in", "Mozilla/5.0", "203.0.113.7", "role", "admin", "42", "", "actor:ada@acme.io"},
		{"system.api_latency", "", "", "", "", "", "", "", "", "", "k", "v", "9007199254740991", "", ""},
		{"system.api_latency", "", "", "", "", "", "", "", "", "", "", "", "", `{"requests":1e19,"errors":0,"p50_ms":1,"p95_ms":2,"p99_ms":3}`, ""},
		{"system.api_latency", "", "", "", "", "", "", "", "", "", "", "", "", `{"requests":"1e999","errors":"NaN","p50_ms":"-Infinity","p95_ms":"0x1p4","p99_ms":4.5e-324}`, "category:system"},
		{"deploy.started", "configuration", "failure", markup, markup, "a@b.example", markup, markup + " =cmd|'/c calc'!A1", markup, "::1", markup, markup, "-0.0e-7", "", markup},
		{"user.login", "", "", "", "", "a@b" + markup, "", "", "", "", "", "", "", "", ""},
		{"user.login", "", "", "javascript:alert(1)", "\u202egnp.exe", "x@y", "javascript:alert(1)", "\x00\xff\ufffd", "@SUM(1)", "", "=1+1", "+1", "1e-300", "", `"\"><svg onload=alert(1)>" -outcome:success`},
		{"finding.generated", "", "", "", "", "", "", "", "", "", "", "", "", `{"a":{"nested":1}}`, "after:1d before:2h"},
		{"user.role_changed", "", "", "", "", "", "", "", "", "", "", "", "", `{"role_before":"viewer","role_after":"<b>admin</b>","x":null,"y":true,"z":-9007199254740991}`, "role_after"},
	} {
		f.Add(seed[0], seed[1], seed[2], seed[3], seed[4], seed[5], seed[6], seed[7], seed[8], seed[9], seed[10], seed[11], seed[12], seed[13], seed[14])
	}
	rs := newReadSide(f)
	f.Fuzz(func(t *testing.T, action, category, outcome, actorID, actorName, actorEmail, target, description, userAgent, ip,
		metaKey, metaString, metaNumber, metaRaw, q string) {
		rs.next(t)
		// Within the last hour however long the fuzzer runs; an account's
		// inputs never share a time, so a window of one µs is one event.
		at := rs.start.Add(time.Duration(rs.n%3_000_000) * time.Millisecond)
		body := inputEvent(at, action, category, outcome, actorID, actorName, actorEmail, target, description, userAgent, ip,
			metaKey, metaString, metaNumber, metaRaw)
		req, _ := http.NewRequest("POST", rs.srv.URL+"/v1/events", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+rs.write)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var created struct{ Events []stele.Receipt }
		err = json.NewDecoder(resp.Body).Decode(&created)
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusBadRequest:
			return // not storable: nothing to read back
		case resp.StatusCode != http.StatusCreated || err != nil || len(created.Events) != 1:
			t.Fatalf("POST %s: %d %v", body, resp.StatusCode, err)
		}
		id := created.Events[0].ID
		_, seq, err := stele.ParseEventID(id)
		if err != nil {
			t.Fatal(err)
		}
		e, err := rs.path.Search.Event(context.Background(), rs.account, seq)
		if err != nil {
			t.Fatal(err)
		}
		window := "after:" + e.Time.Format(time.RFC3339Nano) + " before:" + e.Time.Add(time.Microsecond).Format(time.RFC3339Nano)

		// The console.
		strs := eventStrings(e)
		checkPage := func(path string, ok ...int) []byte {
			status, page := rs.get(t, path, false, ok...)
			if bad := unsafeMarkup(string(page)); bad != nil {
				t.Fatalf("GET %s: markup from the event: %q", path, bad)
			}
			if bad := foreignMarkup(string(page), strs); bad != nil {
				t.Fatalf("GET %s: markup no template writes, from the event: %q", path, bad)
			}
			if status != http.StatusOK {
				return nil
			}
			return page
		}
		list := checkPage("/admin/audit-logs?range=all&q="+url.QueryEscape(window), http.StatusOK)
		if !bytes.Contains(list, []byte(`href="/admin/audit-logs/`+id+`"`)) {
			t.Fatalf("the event is not on its own page of the audit log")
		}
		filtered := url.Values{"q": {q}, "actor": {actorEmail}, "action": {action}, "category": {category}, "outcome": {outcome}, "range": {"24h"}}
		checkPage("/admin/audit-logs?"+filtered.Encode(), http.StatusOK, http.StatusBadRequest)
		checkPage("/admin/audit-logs/"+id, http.StatusOK)
		checkPage("/admin/system", http.StatusOK)
		checkPage("/admin/system?range=7d", http.StatusOK)

		// The API.
		_, got := rs.get(t, "/v1/events/"+id, true, http.StatusOK)
		want, err := export.AppendEventJSON(nil, e)
		if err != nil {
			t.Fatalf("AppendEventJSON: %v", err)
		}
		if !json.Valid(want) || string(got) != string(want)+"\n" {
			t.Fatalf("GET /v1/events/%s:\n%s\nAppendEventJSON:\n%s", id, got, want)
		}
		_, page := rs.get(t, "/v1/events?q="+url.QueryEscape(window), true, http.StatusOK)
		if !json.Valid(page) || !bytes.Contains(page, want) {
			t.Fatalf("GET /v1/events of the event's window:\n%s", page)
		}
		rs.get(t, "/v1/events?q="+url.QueryEscape(q), true, http.StatusOK, http.StatusBadRequest)

		// The exports.
		checkExports(t, e)
		wq, err := query.Parse(window, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		var bundle bytes.Buffer
		if n, err := integrity.WriteBundle(context.Background(), &bundle, rs.cp, rs.path.Search, rs.account, wq); err != nil || n != 1 {
			t.Fatalf("bundle: %d events, %v", n, err)
		}
		b, err := export.DecodeBundle(&bundle)
		if err != nil {
			t.Fatalf("the bundle does not decode: %v", err)
		}
		rep, err := export.VerifyBundle(b, rs.cp.Key.Verifier)
		if err != nil || len(rep.Failures) != 0 || rep.Events != 1 {
			t.Fatalf("the bundle does not verify: %+v %v", rep, err)
		}
	})
}

// eventStrings are the strings of e that a page may show.
func eventStrings(e *stele.Event) []string {
	out := []string{e.Action, e.Category, e.Outcome, e.IP, e.UserAgent, e.RequestID, e.Description, e.IdempotencyKey}
	for _, r := range []*stele.Ref{e.Actor, e.Target, e.Source} {
		if r != nil {
			out = append(out, r.Type, r.ID, r.Name, r.Email)
		}
	}
	for k, v := range e.Metadata {
		out = append(out, k)
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// checkExports encodes e in every export format and checks the output.
func checkExports(t *testing.T, e *stele.Event) {
	t.Helper()
	for _, name := range export.Names() {
		f, _ := export.Lookup(name)
		var buf bytes.Buffer
		w := f.New(&buf)
		if err := w.Write(e); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := w.Close(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		line, err := f.Append(nil, e)
		if err != nil {
			t.Fatalf("%s Append: %v", name, err)
		}
		if !bytes.HasSuffix(buf.Bytes(), line) {
			t.Fatalf("%s: the writer and Append disagree", name)
		}
		switch name {
		case "csv":
			rows, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(buf.Bytes(), []byte("\ufeff")))).ReadAll()
			if err != nil || len(rows) != 2 || len(rows[1]) != len(export.CSVHeader) {
				t.Fatalf("csv: %d rows, %v\n%q", len(rows), err, buf.Bytes())
			}
			for i, cell := range rows[1] {
				if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
					t.Fatalf("csv: column %s is a cell a spreadsheet would run: %q", export.CSVHeader[i], cell)
				}
			}
			if meta := rows[1][22]; meta != "" && !json.Valid([]byte(meta)) {
				t.Fatalf("csv: the metadata cell is not JSON: %q", meta)
			}
		default:
			sc := bufio.NewScanner(&buf)
			sc.Buffer(nil, 1<<20)
			n := 0
			for sc.Scan() {
				n++
				if !json.Valid(sc.Bytes()) {
					t.Fatalf("%s: not JSON: %s", name, sc.Bytes())
				}
			}
			if n != 1 {
				t.Fatalf("%s: %d lines", name, n)
			}
		}
	}
}
