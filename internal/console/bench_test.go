package console_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/api"
	"github.com/stele-audit/stele/internal/audit"
	"github.com/stele-audit/stele/internal/console"
	"github.com/stele-audit/stele/internal/datapath"
	"github.com/stele-audit/stele/internal/ingest"
	"github.com/stele-audit/stele/internal/retention"
	"github.com/stele-audit/stele/internal/seal"
	"github.com/stele-audit/stele/internal/sqlite"
	"github.com/stele-audit/stele/internal/sqlite/sqlitetest"
	"github.com/stele-audit/stele/internal/users"
)

// benchEvents is the size of the benchmark account: STELE_BENCH_EVENTS,
// default 100,000. The store is kept in $TMPDIR/stele-console-bench-N and
// reused by later runs, since filling a million events takes a minute.
func benchEvents() int {
	if n, err := strconv.Atoi(os.Getenv("STELE_BENCH_EVENTS")); err == nil && n > 0 {
		return n
	}
	return 100_000
}

var benchActions = []string{"user.login", "user.login", "user.login", "user.logout", "user.login_failed", "user.role_changed",
	"user.created", "integration.added", "settings.updated", "finding.generated", "finding.generated", "finding.resolved",
	"source.scan_completed", "system.api_latency", "audit_log.exported", "api_key.created"}

// benchSite opens (filling on first use) a store with one account of n
// events over 30 days, 200 actors, and returns a signed-in client.
func benchSite(b *testing.B) (*http.Client, string) {
	b.Helper()
	n := benchEvents()
	ctx := context.Background()
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("stele-console-bench-%d", n))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		b.Fatal(err)
	}
	db, err := sqlite.Open(ctx, filepath.Join(dir, "stele.db"))
	if err != nil {
		b.Fatal(err)
	}
	master, _ := seal.NewMasterKey(1, bytes.Repeat([]byte{9}, 32))
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	// The account keys live beside the events, so that a later run reusing
	// the store can unwrap them.
	stack := datapath.Start(db, sqlitetest.KeysAt(b, filepath.Join(dir, "keys.db")), master, logger, ingest.WriterConfig{})
	keyring, ing, srch := stack.Keyring, stack.Ingest, stack.Search
	b.Cleanup(func() { stack.Stop(); db.Close() })

	acct, err := db.AccountByName(ctx, "acme")
	if stele.ErrorCode(err) == stele.ENOTFOUND {
		acct = &stele.Account{Name: "acme", Type: "business"}
		for _, a := range []*stele.Account{{Name: stele.SystemAccount, Type: "enterprise"}, acct} {
			if err := db.CreateAccount(ctx, a); err != nil {
				b.Fatal(err)
			}
		}
		end := time.Now().UTC()
		span := 30 * 24 * time.Hour
		batch := make([]stele.Event, 0, 1000)
		for i := range n {
			u := i % 200
			e := stele.Event{Account: "acme", Action: benchActions[i%len(benchActions)], Outcome: stele.OutcomeSuccess,
				Time:        end.Add(-span + time.Duration(int64(span)/int64(n)*int64(i))),
				Actor:       &stele.Ref{Type: "user", ID: fmt.Sprintf("u_%d", u), Name: fmt.Sprintf("User %d", u), Email: fmt.Sprintf("user%d@acme.example", u)},
				Target:      &stele.Ref{Type: "resource", ID: fmt.Sprintf("r_%d", i%997), Name: "Resource"},
				IP:          fmt.Sprintf("203.0.%d.%d", u/250, u%250),
				UserAgent:   "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
				Description: fmt.Sprintf("User %d did %s on resource %d", u, benchActions[i%len(benchActions)], i%997),
				Metadata:    map[string]any{"request": fmt.Sprintf("req-%d", i), "region": "eu-west-1"}}
			if i%13 == 0 {
				e.Outcome = stele.OutcomeFailure
			}
			if e.Action == "integration.added" || e.Action == "finding.generated" {
				e.Source = &stele.Ref{Type: "aws", ID: "aws-prod-123", Name: "AWS production"}
			}
			batch = append(batch, e)
			if len(batch) == cap(batch) || i == n-1 {
				if _, err := ing.Record(ctx, batch...); err != nil {
					b.Fatal(err)
				}
				batch = batch[:0]
			}
		}
		u, _, err := users.New(acct, "owner@acme.example", "", stele.RoleOwner, password)
		if err != nil {
			b.Fatal(err)
		}
		if err := db.CreateUser(ctx, u); err != nil {
			b.Fatal(err)
		}
	} else if err != nil {
		b.Fatal(err)
	}
	con := &console.Server{Accounts: db, Users: db, Sessions: db, APIKeys: db, Counter: db, Search: srch, Ingest: ing, Logger: logger, Secrets: keyring,
		Retention: &retention.Settings{Accounts: db, Audit: &audit.Recorder{Sink: ing}}}
	if err := con.Init(); err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", (&api.Server{Ingest: ing, Search: srch, Accounts: db, APIKeys: db, Logger: logger}).Handler())
	con.Routes(mux)
	srv := httptest.NewServer(mux)
	b.Cleanup(srv.Close)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.PostForm(srv.URL+"/login", url.Values{"email": {"owner@acme.example"}, "password": {password}})
	if err != nil || resp.StatusCode != 200 {
		b.Fatalf("login: %v %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	return c, srv.URL
}

func get(b *testing.B, c *http.Client, u string) int64 {
	resp, err := c.Get(u)
	if err != nil {
		b.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("GET %s: %d", u, resp.StatusCode)
	}
	return n
}

// cpuTime is the process's user plus system CPU time so far. The machine
// the benchmarks run on is shared: wall time per request depends on what
// else runs, CPU time per request much less.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the CPU time since start per iteration. It counts the
// client's work as well as the server's: both run in this process.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
}

// BenchmarkAuditLogsPage measures the server time of the Audit Logs page
// (search, decryption of a page of 50, the chart's counts, rendering).
func BenchmarkAuditLogsPage(b *testing.B) {
	c, base := benchSite(b)
	for _, bc := range []struct{ name, query string }{
		{"default-7d", ""},
		{"30d", "range=30d"},
		{"actor", "range=30d&actor=user7%40acme.example"},
		{"action", "range=30d&action=user.role_changed"},
		{"category", "range=30d&category=user_management"},
		{"outcome", "range=30d&outcome=failure"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			u := base + "/admin/audit-logs?" + bc.query
			get(b, c, u) // brings the chart's rollup up to date
			start := cpuTime()
			for b.Loop() {
				get(b, c, u)
			}
			reportCPU(b, start)
		})
	}
}

// BenchmarkExportCSV measures a console CSV export of the whole account,
// decryption included, in rows per second.
func BenchmarkExportCSV(b *testing.B) {
	c, base := benchSite(b)
	n := benchEvents()
	var bytes int64
	start := cpuTime()
	for b.Loop() {
		bytes = get(b, c, base+"/admin/audit-logs/export?format=csv&range=all")
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(cpuTime()-start)/float64(time.Microsecond)/float64(n)/float64(b.N), "cpu-µs/row")
	b.ReportMetric(float64(bytes)/float64(n), "bytes/row")
}
