package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/audit"
	"github.com/stele-audit/stele/internal/seal"
	"github.com/stele-audit/stele/internal/sqlite"
	"github.com/stele-audit/stele/internal/sqlite/sqlitetest"
)

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// quotaStack is the service over a real SQLite file with quotas of type
// "metered" (10 events and 1000 bytes a second, 2 s bursts) on accounts
// acme and globex.
type quotaStack struct {
	db           *sqlite.DB
	svc          *Service
	quotas       *Quotas
	clock        *fakeClock
	acme, globex *stele.Account
}

var meteredTypes = []stele.AccountType{{Name: "metered", RetentionDays: 30,
	Ingest: stele.IngestQuota{EventsPerSecond: 10, BytesPerSecond: 1000, BurstSeconds: 2}}}

func newQuotaStack(t *testing.T) *quotaStack {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "stele.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s := &quotaStack{db: db, clock: &fakeClock{t: time.Now()},
		acme: &stele.Account{Name: "acme", Type: "metered"}, globex: &stele.Account{Name: "globex", Type: "metered"}}
	for _, a := range []*stele.Account{s.acme, s.globex} {
		if err := db.CreateAccount(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	master, _ := seal.NewMasterKey(1, bytes.Repeat([]byte{5}, 32))
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	wctx, cancel := context.WithCancel(ctx)
	w := NewWriter(wctx, db, logger, WriterConfig{Now: s.clock.Now})
	t.Cleanup(func() { cancel(); w.Wait() })
	s.svc = NewService(db, seal.NewKeyring(master, sqlitetest.Keys(t)), w, logger)
	s.quotas = NewQuotas(db, QuotaConfig{Types: meteredTypes, Now: s.clock.Now})
	s.svc.SetQuotas(s.quotas)
	return s
}

func (s *quotaStack) principal(a *stele.Account) *stele.Principal {
	return &stele.Principal{AccountID: a.ID, Account: a.Name, KeyID: "k", Scopes: []stele.Scope{stele.ScopeEventsWrite}}
}

// eventsBody returns a body of n small events, each naming account if not "".
func eventsBody(n int, account string) []byte {
	named := ""
	if account != "" {
		named = `"account":"` + account + `",`
	}
	events := make([]string, n)
	for i := range events {
		events[i] = `{` + named + `"action":"user.login"}`
	}
	return []byte(`{"events":[` + strings.Join(events, ",") + `]}`)
}

func (s *quotaStack) stored(t *testing.T, a *stele.Account) int64 {
	t.Helper()
	h, err := s.db.CurrentHead(context.Background(), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	return h.Size
}

// wantRefused checks err is code with one detail naming field, and
// returns the error.
func wantRefused(t *testing.T, err error, code stele.Code, field string) *stele.Error {
	t.Helper()
	var e *stele.Error
	if !errors.As(err, &e) || e.Code != code || len(e.Details) != 1 || e.Details[0].Field != field {
		t.Fatalf("got %v, want %s naming %s", err, code, field)
	}
	return e
}

// TestQuotaRefusesBeyondTheBurstUntilTheBucketRefills: a full bucket takes
// a burst at once; the next request is refused whole, naming the events
// quota and its limit, with the wait until it would pass, and stores
// nothing; once that time has passed it goes through.
func TestQuotaRefusesBeyondTheBurstUntilTheBucketRefills(t *testing.T) {
	s := newQuotaStack(t)
	ctx := t.Context()
	if _, err := s.svc.Ingest(ctx, s.principal(s.acme), eventsBody(15, "")); err != nil {
		t.Fatal(err)
	}
	_, err := s.svc.Ingest(ctx, s.principal(s.acme), eventsBody(8, ""))
	e := wantRefused(t, err, stele.ETHROTTLED, stele.FieldIngestEventsPerSecond)
	if e.RetryAfter != 300*time.Millisecond || !strings.Contains(e.Message, "10 events a second") || !strings.Contains(e.Message, "acme") {
		t.Fatalf("refusal %q waits %v, want 300ms and the account's limit named", e.Message, e.RetryAfter)
	}
	if n := s.stored(t, s.acme); n != 15 {
		t.Fatalf("acme holds %d events, want the first 15 only", n)
	}
	s.clock.Add(e.RetryAfter)
	if _, err := s.svc.Ingest(ctx, s.principal(s.acme), eventsBody(8, "")); err != nil {
		t.Fatalf("after the wait it named: %v", err)
	}
	// The other account's bucket is its own.
	if _, err := s.svc.Ingest(ctx, s.principal(s.globex), eventsBody(20, "")); err != nil {
		t.Fatalf("globex: %v", err)
	}
}

// TestQuotaRefusesARequestLargerThanTheBurst: a request that even a full
// bucket cannot take is too large, not throttled: waiting would not help.
func TestQuotaRefusesARequestLargerThanTheBurst(t *testing.T) {
	s := newQuotaStack(t)
	_, err := s.svc.Ingest(t.Context(), s.principal(s.acme), eventsBody(21, ""))
	e := wantRefused(t, err, stele.ETOOLARGE, stele.FieldIngestEventsPerSecond)
	if e.Details[0].Rule != "burst" || !strings.Contains(e.Message, "at most 20 events") {
		t.Fatalf("refusal %q %+v", e.Message, e.Details)
	}
	if n := s.stored(t, s.acme); n != 0 {
		t.Fatalf("acme holds %d events", n)
	}
}

// TestQuotaCountsTheBodyAsSent: the bytes quota is charged the request
// body's size, whitespace and all.
func TestQuotaCountsTheBodyAsSent(t *testing.T) {
	s := newQuotaStack(t)
	ctx := t.Context()
	padded := append(bytes.Repeat([]byte(" "), 1500), `{"action":"user.login"}`...)
	if _, err := s.svc.Ingest(ctx, s.principal(s.acme), padded); err != nil {
		t.Fatal(err)
	}
	_, err := s.svc.Ingest(ctx, s.principal(s.acme), padded)
	e := wantRefused(t, err, stele.ETHROTTLED, stele.FieldIngestBytesPerSecond)
	if !strings.Contains(e.Message, "1000 bytes a second") {
		t.Fatalf("refusal %q", e.Message)
	}
	if n := s.stored(t, s.acme); n != 1 {
		t.Fatalf("acme holds %d events, want 1", n)
	}
}

// TestQuotaChargesEachAccountAnOperatorWritesFor: an operator's batch is
// charged to the accounts its events name, all or nothing: one account out
// of quota refuses the batch and charges the other nothing.
func TestQuotaChargesEachAccountAnOperatorWritesFor(t *testing.T) {
	s := newQuotaStack(t)
	ctx := t.Context()
	if _, err := s.svc.Ingest(ctx, s.principal(s.globex), eventsBody(18, "")); err != nil {
		t.Fatal(err)
	}
	operator := &stele.Principal{AccountID: 99, Account: stele.SystemAccount, Operator: true, Scopes: []stele.Scope{stele.ScopeEventsWrite}}
	mixed := []byte(`{"events":[{"account":"acme","action":"user.login"},{"account":"globex","action":"user.login"},` +
		`{"account":"globex","action":"user.login"},{"account":"globex","action":"user.login"}]}`)
	_, err := s.svc.Ingest(ctx, operator, mixed)
	wantRefused(t, err, stele.ETHROTTLED, stele.FieldIngestEventsPerSecond)
	if a, g := s.stored(t, s.acme), s.stored(t, s.globex); a != 0 || g != 18 {
		t.Fatalf("acme holds %d and globex %d events, want 0 and 18", a, g)
	}
	// acme was charged nothing: its whole burst is still there.
	if _, err := s.svc.Ingest(ctx, operator, eventsBody(20, "acme")); err != nil {
		t.Fatalf("acme after the refused batch: %v", err)
	}
}

// TestStelesOwnEventsAreNeverThrottled: Record stores Stele's events in an
// account whose quota is spent.
func TestStelesOwnEventsAreNeverThrottled(t *testing.T) {
	s := newQuotaStack(t)
	ctx := t.Context()
	if _, err := s.svc.Ingest(ctx, s.principal(s.acme), eventsBody(20, "")); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := s.svc.Record(ctx, stele.Event{Account: "acme", Action: "audit_log.viewed"}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestQuotaGivesBackWhatAFailedWriteTook: a batch the commit leaves out
// (its key changed in flight) stores nothing and costs nothing, so the
// retry the API makes is not charged twice.
func TestQuotaGivesBackWhatAFailedWriteTook(t *testing.T) {
	s := newQuotaStack(t)
	ctx := t.Context()
	gen, err := s.db.APIKeyGeneration(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stale := s.principal(s.acme)
	stale.Generation, stale.HasGeneration = gen-1, true
	if _, err := s.svc.Ingest(ctx, stale, eventsBody(20, "")); !errors.Is(err, ErrKeyChanged) {
		t.Fatalf("stale key: %v", err)
	}
	if _, err := s.svc.Ingest(ctx, s.principal(s.acme), eventsBody(20, "")); err != nil {
		t.Fatalf("the retry: %v", err)
	}
}

// TestQuotaFollowsTheAccountsSettings: an account's own settings replace
// its type's once they are read again, within QuotaConfig.Reread; 0 is
// unlimited.
func TestQuotaFollowsTheAccountsSettings(t *testing.T) {
	s := newQuotaStack(t)
	ctx := t.Context()
	if _, err := s.svc.Ingest(ctx, s.principal(s.acme), eventsBody(20, "")); err != nil {
		t.Fatal(err)
	}
	unlimited := int64(0)
	if _, _, err := s.db.UpdateAccount(ctx, s.acme.ID, stele.AccountUpdate{IngestEventsPerSecond: stele.SettingChange{Set: &unlimited}}); err != nil {
		t.Fatal(err)
	}
	_, err := s.svc.Ingest(ctx, s.principal(s.acme), eventsBody(1, ""))
	e := wantRefused(t, err, stele.ETHROTTLED, stele.FieldIngestEventsPerSecond)
	s.clock.Add(10 * time.Second) // the default Reread; the bucket refills too
	for range 3 {
		if _, err := s.svc.Ingest(ctx, s.principal(s.acme), eventsBody(20, "")); err != nil {
			t.Fatalf("with no events quota (before: %v): %v", e, err)
		}
	}
}

// TestThrottlingIsRecordedOncePerWindow: however many requests an account
// has refused, a flush records one ingest.throttled event in its own log
// with the counts, and the next flush, with no new refusals, none.
func TestThrottlingIsRecordedOncePerWindow(t *testing.T) {
	s := newQuotaStack(t)
	ctx := t.Context()
	if _, err := s.svc.Ingest(ctx, s.principal(s.acme), eventsBody(20, "")); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := s.svc.Ingest(ctx, s.principal(s.acme), eventsBody(3, "")); stele.ErrorCode(err) != stele.ETHROTTLED {
			t.Fatalf("want throttled, got %v", err)
		}
	}
	s.clock.Add(time.Minute)
	if err := s.quotas.Flush(ctx, &audit.Recorder{Sink: s.svc}); err != nil {
		t.Fatal(err)
	}
	if err := s.quotas.Flush(ctx, &audit.Recorder{Sink: s.svc}); err != nil {
		t.Fatal(err)
	}
	if n := s.stored(t, s.acme); n != 21 {
		t.Fatalf("acme holds %d events, want its 20 and one ingest.throttled", n)
	}
	if n := s.stored(t, s.globex); n != 0 {
		t.Fatalf("globex, never refused, holds %d events", n)
	}
	got := s.quotas.Refusals()
	want := []Refused{{Account: "acme", Quota: QuotaEvents, Requests: 5, Events: 15}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("refusals %+v, want %+v", got, want)
	}
}

// TestAdmitRefusesUnreadBodiesTheQuotaCannotTake: once an account's quota
// is spent, a request is refused before its body is read, by the events a
// body of its size holds (estimated from the account's events so far) or
// by its bytes; one that fits is let through, and nothing is charged.
func TestAdmitRefusesUnreadBodiesTheQuotaCannotTake(t *testing.T) {
	s := newQuotaStack(t)
	ctx := t.Context()
	p := s.principal(s.acme)
	// A fresh account is admitted: nothing is known of its events yet.
	if err := s.svc.Admit(ctx, p, 900); err != nil {
		t.Fatal(err)
	}
	body := eventsBody(16, "") // 16 of the 20 events a burst holds
	if _, err := s.svc.Ingest(ctx, p, body); err != nil {
		t.Fatal(err)
	}
	// 4 events left: a body of 3 events passes, one of 6 does not.
	if err := s.svc.Admit(ctx, p, int64(len(eventsBody(3, "")))); err != nil {
		t.Fatalf("a body of 3 events with 4 left: %v", err)
	}
	e := wantRefused(t, s.svc.Admit(ctx, p, int64(len(eventsBody(6, "")))), stele.ETHROTTLED, stele.FieldIngestEventsPerSecond)
	if e.RetryAfter != 200*time.Millisecond {
		t.Fatalf("refused a body of 6 events with 4 left, wait %v, want 200ms", e.RetryAfter)
	}
	// Admit took nothing: the 4 events still go in.
	if _, err := s.svc.Ingest(ctx, p, eventsBody(4, "")); err != nil {
		t.Fatal(err)
	}
	if err := s.svc.Admit(ctx, p, 1); err == nil {
		t.Fatal("a body after the quota was spent was admitted")
	}
	// Bytes: two events of 1,700 bytes in all leave the 2,000-byte bucket
	// too little for a body of 500 bytes, whatever its events.
	s.clock.Add(2 * time.Second)
	long := `{"action":"user.login","description":"` + strings.Repeat("x", 800) + `"}`
	if _, err := s.svc.Ingest(ctx, p, []byte(`{"events":[`+long+`,`+long+`]}`)); err != nil {
		t.Fatal(err)
	}
	wantRefused(t, s.svc.Admit(ctx, p, 500), stele.ETHROTTLED, stele.FieldIngestBytesPerSecond)
	// Another account, and an operator key, are not held by acme's quota.
	if err := s.svc.Admit(ctx, s.principal(s.globex), 1); err != nil {
		t.Fatal(err)
	}
	if err := s.svc.Admit(ctx, &stele.Principal{Account: stele.SystemAccount, Operator: true}, 1); err != nil {
		t.Fatal(err)
	}
}
