package stream_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/audit"
	"github.com/stele-audit/stele/internal/datapath"
	"github.com/stele-audit/stele/internal/forward"
	"github.com/stele-audit/stele/internal/ingest"
	"github.com/stele-audit/stele/internal/rsyslogtest"
	"github.com/stele-audit/stele/internal/seal"
	"github.com/stele-audit/stele/internal/sqlite"
	"github.com/stele-audit/stele/internal/sqlite/sqlitetest"
	"github.com/stele-audit/stele/internal/stream"
)

// env is Stele's data path on a real SQLite file with the streams service
// and a forwarder over it; accounts _system, acme and globex.
type env struct {
	t      *testing.T
	db     *sqlite.DB
	data   *datapath.Path
	svc    *stream.Service
	fwd    *stream.Forwarder
	accts  map[string]*stele.Account
	logs   *syncBuffer
	actor  audit.Actor
	rootCA *x509.CertPool
}

// syncBuffer is a log the test reads, written by many goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return openEnv(t, filepath.Join(t.TempDir(), "stele.db"), true)
}

// openEnv opens the store at path; create makes its accounts.
func openEnv(t *testing.T, path string, create bool) *env {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	master, err := seal.NewMasterKey(1, bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	data := datapath.Start(db, sqlitetest.KeysAt(t, path+".keys"), master, logger, ingest.WriterConfig{})
	t.Cleanup(func() {
		data.Stop()
		db.Close()
	})
	rec := &audit.Recorder{Sink: data.Ingest, Logger: logger}
	e := &env{t: t, db: db, data: data, accts: map[string]*stele.Account{}, logs: logs, actor: audit.CLI()}
	e.fwd = &stream.Forwarder{Store: db, Keys: data.Keyring, Audit: rec, Logger: logger, Wake: data.Writer.NextCommit,
		Options: forward.Options{Hostname: "stele-test", Timeout: 5 * time.Second, MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond},
		Config: stream.Config{Poll: 50 * time.Millisecond, Refresh: 100 * time.Millisecond, SaveEvery: 50 * time.Millisecond,
			MinBackoff: 10 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}}
	e.svc = &stream.Service{Store: db, Secrets: data.Keyring, Audit: rec, Changed: e.fwd.Poke}
	for _, name := range []string{stele.SystemAccount, "acme", "globex"} {
		if create {
			a := &stele.Account{Name: name, Type: "enterprise"}
			if err := db.CreateAccount(ctx, a); err != nil {
				t.Fatal(err)
			}
		}
		a, err := db.AccountByName(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		e.accts[name] = a
	}
	return e
}

// run runs the forwarder until the test ends or stop is called.
func (e *env) run() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.fwd.Run(ctx)
	}()
	stop = sync.OnceFunc(func() {
		cancel()
		<-done
	})
	e.t.Cleanup(stop)
	return stop
}

func (e *env) owner(name string) stream.Owner {
	return stream.Owner{Account: e.accts[name], Operator: name == stele.SystemAccount}
}

func (e *env) create(account string, in stream.Input) *stream.View {
	e.t.Helper()
	v, err := e.svc.Create(e.t.Context(), e.owner(account), in, e.actor)
	if err != nil {
		e.t.Fatalf("create stream: %v", err)
	}
	return v
}

// record stores n events of account: logins (even i) and role changes
// (odd i) by u_<i>, at times one second apart from start, or now if
// start is zero.
func (e *env) record(account string, n int, start time.Time) []stele.Receipt {
	e.t.Helper()
	var out []stele.Receipt
	for b := range slices.Chunk(make([]int, n), 500) {
		evs := make([]stele.Event, len(b))
		for i := range evs {
			k := len(out) + i
			ev := stele.Event{Account: account, Action: "user.login", Outcome: stele.OutcomeSuccess,
				Actor:       &stele.Ref{Type: "user", ID: fmt.Sprintf("u_%d", k), Email: fmt.Sprintf("user%d@example.com", k)},
				Description: fmt.Sprintf("event %d of %s", k, account)}
			if k%2 == 1 {
				ev.Action = "user.role_changed"
			}
			if !start.IsZero() {
				ev.Time = start.Add(time.Duration(k) * time.Second)
			}
			evs[i] = ev
		}
		rs, err := e.data.Ingest.Record(e.t.Context(), evs...)
		if err != nil {
			e.t.Fatal(err)
		}
		out = append(out, rs...)
	}
	return out
}

// until calls cond until it holds, failing the test after a minute.
func (e *env) until(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(time.Minute)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("waited a minute for %s", what)
		}
		<-tick.C
	}
}

func (e *env) get(account, id string) *stream.View {
	e.t.Helper()
	v, err := e.svc.Get(e.t.Context(), e.owner(account), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}

// ownEvents returns account's events with action, newest first.
func (e *env) ownEvents(account, q string) []*stele.Event {
	e.t.Helper()
	page, err := e.data.Search.Search(e.t.Context(), e.accts[account], mustQuery(e.t, q), "", 100)
	if err != nil {
		e.t.Fatal(err)
	}
	return page.Events
}

func mustQuery(t *testing.T, q string) stele.Query {
	t.Helper()
	parsed, err := stream.ParseQuery(q)
	if err != nil {
		t.Fatal(err)
	}
	return parsed
}

// collector is an HTTPS receiver that keeps the lines of every request it
// accepts; it answers status instead while that is set.
type collector struct {
	mu      sync.Mutex
	srv     *httptest.Server
	lines   []map[string]any
	headers []http.Header
	status  int
	refused int
}

func newCollector(t *testing.T) *collector {
	c := &collector{}
	c.srv = httptest.NewTLSServer(c)
	t.Cleanup(c.srv.Close)
	return c
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.status != 0 {
		c.refused++
		http.Error(w, `{"text":"Invalid token","code":4}`, c.status)
		return
	}
	for _, line := range strings.Split(strings.TrimSuffix(string(body), "\n"), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			http.Error(w, "bad line", 400)
			return
		}
		c.lines = append(c.lines, m)
	}
	c.headers = append(c.headers, r.Header.Clone())
	io.WriteString(w, `{"text":"Success","code":0}`)
}

func (c *collector) setStatus(s int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.status = s
}

func (c *collector) got() ([]map[string]any, []http.Header) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.lines), slices.Clone(c.headers)
}

func (c *collector) refusals() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.refused
}

// trust makes the forwarder trust the collectors' certificates; call it
// before run.
func (e *env) trust(cs ...*collector) {
	pool := x509.NewCertPool()
	for _, c := range cs {
		pool.AddCert(c.srv.Certificate())
	}
	e.fwd.Options.RootCAs = pool
}

// syslogIDs returns the event ids of rsyslog's messages, in order.
func syslogIDs(t *testing.T, msgs []string) []string {
	t.Helper()
	var out []string
	for _, m := range rsyslogtest.Parse(t, msgs) {
		out = append(out, (*m.StructuredData)["stele@32473"]["id"])
	}
	return out
}

func ids(rs []stele.Receipt) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}
