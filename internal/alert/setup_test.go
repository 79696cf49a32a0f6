package alert

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/audit"
	"github.com/stele-audit/stele/internal/datapath"
	"github.com/stele-audit/stele/internal/ingest"
	"github.com/stele-audit/stele/internal/notify"
	"github.com/stele-audit/stele/internal/seal"
	"github.com/stele-audit/stele/internal/sqlite"
	"github.com/stele-audit/stele/internal/sqlite/sqlitetest"
)

// stack is a real data path on a SQLite file in a temporary directory,
// with a Matcher wired into its ingest service.
type stack struct {
	db      *sqlite.DB
	path    *datapath.Path
	matcher *Matcher
	rules   *Service
	audit   *audit.Recorder
	acme    *stele.Account
	beta    *stele.Account
	file    string
}

var testMaster = func() *seal.MasterKey {
	m, _ := seal.NewMasterKey(1, bytes.Repeat([]byte{5}, 32))
	return m
}()

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newStack(t testing.TB) *stack {
	t.Helper()
	file := filepath.Join(t.TempDir(), "stele.db")
	s := openStack(t, file)
	for _, name := range []string{stele.SystemAccount, "acme", "beta"} {
		if err := s.db.CreateAccount(t.Context(), &stele.Account{Name: name, Type: "enterprise"}); err != nil {
			t.Fatal(err)
		}
	}
	var err error
	if s.acme, err = s.db.AccountByName(t.Context(), "acme"); err != nil {
		t.Fatal(err)
	}
	if s.beta, err = s.db.AccountByName(t.Context(), "beta"); err != nil {
		t.Fatal(err)
	}
	return s
}

// openStack opens another data path on file, as a second process would.
func openStack(t testing.TB, file string) *stack {
	t.Helper()
	db, err := sqlite.Open(t.Context(), file)
	if err != nil {
		t.Fatal(err)
	}
	p := datapath.Start(db, sqlitetest.KeysAt(t, file+".keys"), testMaster, quietLogger(), ingest.WriterConfig{})
	t.Cleanup(func() { p.Stop(); db.Close() })
	m := NewMatcher(db)
	p.Ingest.SetAlertMatcher(m)
	rec := &audit.Recorder{Sink: p.Ingest, Logger: quietLogger()}
	s := &stack{db: db, path: p, matcher: m, audit: rec, file: file,
		rules: &Service{Store: db, Sealer: p.Keyring, Audit: rec, Policy: loopbackPolicy, Changed: m.Invalidate}}
	if a, err := db.AccountByName(context.Background(), "acme"); err == nil {
		s.acme = a
	}
	if b, err := db.AccountByName(context.Background(), "beta"); err == nil {
		s.beta = b
	}
	return s
}

// ingest stores events for account through the API's path.
func (s *stack) ingest(t *testing.T, account *stele.Account, body string) []stele.Receipt {
	t.Helper()
	p := &stele.Principal{AccountID: account.ID, Account: account.Name, Scopes: []stele.Scope{stele.ScopeEventsWrite}}
	rs, err := s.path.Ingest.Ingest(t.Context(), p, []byte(body))
	if err != nil {
		t.Fatalf("ingest: %v", err)
	}
	return rs
}

func (s *stack) matches(t *testing.T, account *stele.Account) []stele.AlertMatch {
	t.Helper()
	ms, err := s.db.AlertMatches(t.Context(), account.ID, 0, 1<<40, 100_000)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

func (s *stack) rule(t *testing.T, account *stele.Account, in Input) *Rule {
	t.Helper()
	r, err := s.rules.Create(t.Context(), account, in, audit.CLI())
	if err != nil {
		t.Fatalf("create rule: %v", err)
	}
	return r
}

func webhookTo(url string) []notifyDestination {
	return []notifyDestination{{Type: "webhook", URL: url, Secret: "whsec_0123456789abcdefghijklmnopqrstuvwxyz"}}
}

func threshold(count int, window, groupBy string) *ThresholdInput {
	return &ThresholdInput{Count: count, Window: window, GroupBy: groupBy}
}

type notifyDestination = notify.Destination

var loopbackPolicy = notify.URLPolicy{AllowLoopbackHTTP: true}

const tick = 10 * time.Millisecond
