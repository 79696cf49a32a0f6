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
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/api"
	"github.com/stele-audit/stele/internal/apikey"
	"github.com/stele-audit/stele/internal/audit"
	"github.com/stele-audit/stele/internal/datapath"
	"github.com/stele-audit/stele/internal/ingest"
	"github.com/stele-audit/stele/internal/integrity"
	"github.com/stele-audit/stele/internal/ledger"
	"github.com/stele-audit/stele/internal/seal"
	"github.com/stele-audit/stele/internal/search"
	"github.com/stele-audit/stele/internal/sqlite"
	"github.com/stele-audit/stele/internal/sqlite/sqlitetest"
)

// readClock is the time Reads sees, moved by the test.
type readClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *readClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *readClock) Add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

// readEnv is the API with reads recorded and tamper evidence on, behind a
// real listener, on SQLite.
type readEnv struct {
	srv    *httptest.Server
	plain  *httptest.Server // the same API on the same store, reads unrecorded
	db     *sqlite.DB
	search *search.Service
	ingest *ingest.Service
	reads  *audit.Reads
	clk    *readClock
	keys   map[string]string
	ids    map[string]string
	accts  map[string]*stele.Account
}

func newReadEnv(t testing.TB, sink audit.Sink, cfg audit.ReadsConfig) *readEnv {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "stele.db"))
	if err != nil {
		t.Fatal(err)
	}
	master, _ := seal.NewMasterKey(1, bytes.Repeat([]byte{7}, 32))
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	c := datapath.Start(db, sqlitetest.Keys(t), master, logger, ingest.WriterConfig{})
	sk, _, _ := ledger.NewSigningKey("stele.test")
	cp := &integrity.Checkpointer{Accounts: db, Events: db, Store: db, Key: sk, OriginPrefix: "stele.test", Logger: logger}
	if sink == nil {
		sink = c.Ingest
	}
	e := &readEnv{db: db, search: c.Search, ingest: c.Ingest, clk: &readClock{t: time.Now()},
		keys: map[string]string{}, ids: map[string]string{}, accts: map[string]*stele.Account{}}
	if cfg.Now == nil {
		cfg.Now = e.clk.Now
	}
	rec := &audit.Recorder{Sink: sink, Logger: logger}
	e.reads = audit.NewReads(rec, cfg)
	s := &api.Server{Ingest: c.Ingest, Search: c.Search, Accounts: db, APIKeys: db, Logger: logger, Ready: db.Ping,
		Checkpoints: cp, Audit: &audit.Recorder{Sink: c.Ingest, Logger: logger}, Reads: e.reads}
	e.srv = httptest.NewServer(s.Handler())
	plain := *s
	plain.Reads = nil
	e.plain = httptest.NewServer(plain.Handler())
	t.Cleanup(func() {
		e.srv.Close()
		e.plain.Close()
		e.reads.Close()
		c.Stop()
		db.Close()
	})
	for _, name := range []string{stele.SystemAccount, "acme", "globex"} {
		a := &stele.Account{Name: name, Type: "team"}
		if err := db.CreateAccount(ctx, a); err != nil {
			t.Fatal(err)
		}
		e.accts[name] = a
	}
	rw := []stele.Scope{stele.ScopeEventsWrite, stele.ScopeEventsRead}
	for _, k := range []struct {
		name, account string
		operator      bool
	}{{"acme", "acme", false}, {"acme-2", "acme", false}, {"globex", "globex", false}, {"operator", stele.SystemAccount, true}} {
		key, text, err := apikey.Issue(ctx, db, e.accts[k.account], rw, k.operator, k.name, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		e.keys[k.name], e.ids[k.name] = text, key.ID
	}
	return e
}

// get sends GET path with the named key and returns the status and body.
func (e *readEnv) get(t testing.TB, key, path string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+e.keys[key])
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (e *readEnv) mustGet(t testing.TB, key, path string, v any) {
	t.Helper()
	status, b := e.get(t, key, path)
	if status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, status, b)
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatal(err)
		}
	}
}

// send stores n events in acme, through the ingest path.
func (e *readEnv) send(t testing.TB, account string, n int) []stele.Receipt {
	t.Helper()
	var batch []map[string]any
	for i := range n {
		batch = append(batch, map[string]any{"action": "user.login", "actor": map[string]string{"id": fmt.Sprintf("u_%d", i)}})
	}
	body, _ := json.Marshal(map[string]any{"events": batch})
	p := &stele.Principal{AccountID: e.accts[account].ID, Account: account, Scopes: []stele.Scope{stele.ScopeEventsWrite}}
	r, err := e.ingest.Ingest(context.Background(), p, body)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// viewed stops recording reads (so that every read noted is recorded)
// and returns the audit_log.viewed events of account, oldest first, read
// from the store.
func (e *readEnv) viewed(t testing.TB, account string) []*stele.Event {
	t.Helper()
	e.reads.Close()
	q := stele.Query{Terms: []stele.Term{{Field: stele.FieldAction, Values: []string{"audit_log.viewed"}}}}
	page, err := e.search.Search(context.Background(), e.accts[account], q, "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(page.Events)
	return page.Events
}

type viewedWant struct{ key, view, query, results string }

func checkViewed(t *testing.T, e *readEnv, got []*stele.Event, want []viewedWant) {
	t.Helper()
	if len(got) != len(want) {
		for _, g := range got {
			t.Logf("%s %+v %v", g.Account, g.Actor, g.Metadata)
		}
		t.Fatalf("%d audit_log.viewed events, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Category != stele.CategoryAudit || g.Actor == nil || g.Actor.Type != "api_key" || g.Actor.ID != e.ids[w.key] ||
			g.Metadata["via"] != "api" || g.Metadata["view"] != w.view || g.Metadata["query"] != w.query ||
			fmt.Sprint(g.Metadata["results"]) != w.results {
			t.Errorf("record %d: %s by %+v %v, want %+v", i, g.Category, g.Actor, g.Metadata, w)
		}
	}
}

// TestAPIReadsAreRecordedOncePerKeyQueryAndWindow: paging five times
// through one query writes one record; another query, another key, and
// the same query once the window has passed write one each.
func TestAPIReadsAreRecordedOncePerKeyQueryAndWindow(t *testing.T) {
	e := newReadEnv(t, nil, audit.ReadsConfig{})
	e.send(t, "acme", 120)
	q := url.QueryEscape("action:user.login  after:24h")
	cursor := ""
	for range 5 { // five pages, and back to the first
		var p struct {
			Events     []stele.Event `json:"events"`
			NextCursor string        `json:"next_cursor"`
		}
		e.mustGet(t, "acme", "/v1/events?limit=30&q="+q+"&cursor="+url.QueryEscape(cursor), &p)
		cursor = p.NextCursor
	}
	e.mustGet(t, "acme", "/v1/events?q=actor:u_7", nil)     // another query
	e.mustGet(t, "acme-2", "/v1/events?limit=30&q="+q, nil) // another key
	e.mustGet(t, "acme", "/v1/events?q="+q, nil)            // a refresh: the same read
	e.clk.Add(audit.DefaultReadWindow)                      // the window has passed
	e.mustGet(t, "acme", "/v1/events?limit=10&q="+q, nil)   // the same query, read again
	checkViewed(t, e, e.viewed(t, "acme"), []viewedWant{
		{"acme", "search", "action:user.login after:24h", "30"},
		{"acme", "search", "actor:u_7", "1"},
		{"acme-2", "search", "action:user.login after:24h", "30"},
		{"acme", "search", "action:user.login after:24h", "10"},
	})
	if got := e.viewed(t, "globex"); len(got) != 0 {
		t.Fatalf("globex has %d records of acme's reads", len(got))
	}
}

// TestAPIEventAndProofReadsAreRecorded: an event, an event with its
// proof, an inclusion and a consistency proof are each recorded; proofs
// once per kind and window, however many a verifier samples.
func TestAPIEventAndProofReadsAreRecorded(t *testing.T) {
	e := newReadEnv(t, nil, audit.ReadsConfig{})
	receipts := e.send(t, "acme", 10)
	id := receipts[3].ID
	e.mustGet(t, "acme", "/v1/events/"+id, nil)
	e.mustGet(t, "acme", "/v1/events/"+id, nil)
	e.mustGet(t, "acme", "/v1/events/"+receipts[4].ID+"?proof=true", nil)
	e.mustGet(t, "acme", "/v1/proofs/inclusion?seq=2&size=10", nil)
	e.mustGet(t, "acme", "/v1/proofs/inclusion?seq=5&size=10", nil)
	e.mustGet(t, "acme", "/v1/proofs/consistency?from=3&to=10", nil)
	e.mustGet(t, "acme", "/v1/checkpoint", nil) // the tree head: no events read
	if status, _ := e.get(t, "acme", "/v1/events/"+id+"x"); status == http.StatusOK {
		t.Fatal("a bad id was found")
	}
	checkViewed(t, e, e.viewed(t, "acme"), []viewedWant{
		{"acme", "event", id, "1"},
		{"acme", "event", receipts[4].ID, "1"},
		{"acme", "inclusion_proof", "seq:2 size:10", "1"},
		{"acme", "consistency_proof", "from:3 to:10", "0"},
	})
}

// TestAPIOperatorReadsAreRecordedInTheAccountRead: an operator key reads
// another account's log by naming it; the read is recorded in that
// account's log and in _system's. A key that is not an operator's cannot
// name another account.
func TestAPIOperatorReadsAreRecordedInTheAccountRead(t *testing.T) {
	e := newReadEnv(t, nil, audit.ReadsConfig{})
	receipts := e.send(t, "acme", 3)
	var p struct {
		Events []stele.Event `json:"events"`
	}
	e.mustGet(t, "operator", "/v1/events?account=acme&q=action:user.login", &p)
	if len(p.Events) != 3 || p.Events[0].Account != "acme" {
		t.Fatalf("the operator read %d events", len(p.Events))
	}
	e.mustGet(t, "operator", "/v1/events/"+receipts[0].ID+"?account=acme", nil)
	e.mustGet(t, "operator", "/v1/proofs/inclusion?account=acme&seq=1&size=3", nil)
	for _, tc := range []struct {
		key, path string
		status    int
	}{
		{"globex", "/v1/events?account=acme", http.StatusForbidden},
		{"globex", "/v1/events/" + receipts[0].ID + "?account=acme", http.StatusForbidden},
		{"globex", "/v1/proofs/inclusion?account=acme&seq=1&size=3", http.StatusForbidden},
		{"globex", "/v1/events/" + receipts[0].ID, http.StatusNotFound},
		{"operator", "/v1/events/" + receipts[0].ID, http.StatusNotFound}, // not without naming the account
		{"operator", "/v1/events?account=initech", http.StatusNotFound},
	} {
		if status, body := e.get(t, tc.key, tc.path); status != tc.status {
			t.Errorf("%s GET %s: %d %s, want %d", tc.key, tc.path, status, body, tc.status)
		}
	}
	want := []viewedWant{
		{"operator", "search", "action:user.login", "3"},
		{"operator", "event", receipts[0].ID, "1"},
		{"operator", "inclusion_proof", "seq:1 size:3", "1"},
	}
	acme := e.viewed(t, "acme")
	checkViewed(t, e, acme, want)
	for _, g := range acme {
		if g.Metadata["reader_account"] != stele.SystemAccount {
			t.Errorf("acme's record does not name the reader's account: %v", g.Metadata)
		}
	}
	sys := e.viewed(t, stele.SystemAccount)
	checkViewed(t, e, sys, want)
	for _, g := range sys {
		if g.Metadata["read_account"] != "acme" {
			t.Errorf("_system's record does not name the account read: %v", g.Metadata)
		}
	}
	if got := e.viewed(t, "globex"); len(got) != 0 {
		t.Fatalf("globex's refused reads were recorded: %d", len(got))
	}
	// …as refusals, in globex's own log.
	q := stele.Query{Terms: []stele.Term{{Field: stele.FieldAction, Values: []string{"audit_log.denied"}}}}
	denied, err := e.search.Search(context.Background(), e.accts["globex"], q, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(denied.Events) != 3 || denied.Events[0].Metadata["permission"] != "operator" || denied.Events[0].Actor.ID != e.ids["globex"] {
		t.Fatalf("globex's refusals: %d", len(denied.Events))
	}
}

// TestAPIReadingTheRecordsOfReadsEndsThere: reading audit_log.viewed
// itself is a read like any other, recorded once per window: the record
// changes what the next read returns, and nothing more is written.
func TestAPIReadingTheRecordsOfReadsEndsThere(t *testing.T) {
	e := newReadEnv(t, nil, audit.ReadsConfig{})
	for range 10 {
		e.mustGet(t, "acme", "/v1/events?q=action:audit_log.viewed", nil)
	}
	got := e.viewed(t, "acme")
	if len(got) != 1 {
		t.Fatalf("%d records of reading the records, want 1", len(got))
	}
}

// TestAPIReadsSucceedWhenTheirRecordCannot: with the recording stuck and
// its queue full, or the store refusing every record, reads answer 200
// at once; what was not recorded is counted.
func TestAPIReadsSucceedWhenTheirRecordCannot(t *testing.T) {
	release := make(chan struct{})
	stuck := audit.SinkFunc(func(ctx context.Context, events ...stele.Event) ([]stele.Receipt, error) {
		<-release
		return nil, nil
	})
	e := newReadEnv(t, stuck, audit.ReadsConfig{Queue: 1, Linger: time.Nanosecond})
	e.send(t, "acme", 3)
	for i := range 10 {
		e.mustGet(t, "acme", fmt.Sprintf("/v1/events?q=u_%d", i), nil)
	}
	if f := e.reads.Figures(); f.Dropped < 8 {
		t.Fatalf("figures %+v: reads beyond the queue were not dropped", f)
	}
	close(release)

	refusing := audit.SinkFunc(func(ctx context.Context, events ...stele.Event) ([]stele.Receipt, error) {
		return nil, stele.Errorf(stele.EUNAVAILABLE, "store down")
	})
	e = newReadEnv(t, refusing, audit.ReadsConfig{})
	e.send(t, "acme", 3)
	for i := range 3 {
		e.mustGet(t, "acme", fmt.Sprintf("/v1/events?q=u_%d", i), nil)
	}
	e.reads.Close()
	if f := e.reads.Figures(); f.Failed != 3 {
		t.Fatalf("figures %+v", f)
	}
}
