package retention_test

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/audit"
	"github.com/stele-audit/stele/internal/datapath"
	"github.com/stele-audit/stele/internal/ingest"
	"github.com/stele-audit/stele/internal/record"
	"github.com/stele-audit/stele/internal/retention"
	"github.com/stele-audit/stele/internal/seal"
	"github.com/stele-audit/stele/internal/sqlite"
	"github.com/stele-audit/stele/internal/sqlite/sqlitetest"
)

// clock is an injectable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

type env struct {
	db      *sqlite.DB
	dbPath  string
	keys    *sqlite.KeyDB
	keysAt  string
	keyring *seal.Keyring
	master  *seal.MasterKey
	svc     *ingest.Service
	clock   *clock
	job     *retention.Job
}

var t0 = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func newEnv(t *testing.T) *env { return newBenchEnv(t) }

func newBenchEnv(t testing.TB) *env {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "stele.db")
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	master, _ := seal.NewMasterKey(1, bytes.Repeat([]byte{9}, 32))
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	c := &clock{t: t0}
	keysAt := filepath.Join(filepath.Dir(path), "keys.db")
	keys := sqlitetest.KeysAt(t, keysAt)
	stack := datapath.Start(db, keys, master, logger, ingest.WriterConfig{Now: c.Now})
	t.Cleanup(func() { stack.Stop(); db.Close() })
	e := &env{db: db, dbPath: path, keys: keys, keysAt: keysAt, keyring: stack.Keyring, master: master, svc: stack.Ingest, clock: c}
	for _, name := range []string{stele.SystemAccount, "acme"} {
		if err := db.CreateAccount(ctx, &stele.Account{Name: name, Type: "free"}); err != nil {
			t.Fatal(err)
		}
	}
	e.job = &retention.Job{Accounts: db, Store: db, Audit: &audit.Recorder{Sink: e.svc}, Now: c.Now, Batch: 7, Pause: -1, Logger: logger}
	return e
}

// ingestAt stores one event of acme per time, in this order.
func (e *env) ingestAt(t *testing.T, times ...time.Time) {
	t.Helper()
	events := make([]stele.Event, len(times))
	for i, tm := range times {
		events[i] = stele.Event{Account: "acme", Action: "user.login", Time: tm, Outcome: stele.OutcomeSuccess,
			Actor: &stele.Ref{ID: fmt.Sprintf("u_%d", i)}}
	}
	if _, err := e.svc.Record(t.Context(), events...); err != nil {
		t.Fatal(err)
	}
}

// rows returns acme's rows of action user.login by seq.
func (e *env) rows(t *testing.T) []stele.EventRow {
	t.Helper()
	a, _ := e.db.AccountByName(t.Context(), "acme")
	rows, err := e.db.Rows(t.Context(), stele.RowQuery{AccountID: a.ID, Limit: 100000,
		Filters: []stele.RowFilter{{Field: stele.FieldAction, Values: []string{"user.login"}}}})
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(rows, func(a, b stele.EventRow) int { return cmp.Compare(a.Seq, b.Seq) })
	return rows
}

func days(n int) time.Duration { return time.Duration(n) * 24 * time.Hour }

func TestPurgeDeletesEverythingExpiredAndNothingYounger(t *testing.T) {
	e := newEnv(t)
	var times []time.Time
	for d := 45; d >= 0; d-- { // one event a day, oldest first, across the 30-day line
		times = append(times, t0.Add(-days(d)))
	}
	times = append(times, t0.Add(-days(30)+time.Microsecond)) // just inside, out of order at the end
	e.ingestAt(t, times...)
	cutoff := t0.Add(-days(30))

	res, err := e.job.Run(t.Context(), "acme", false)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Deleted != 15 || res[0].FromSeq != 0 || res[0].BelowSeq != 15 || res[0].Batches != 3 {
		t.Fatalf("result %+v, want 15 deleted in 3 batches of at most 7", res)
	}
	rows := e.rows(t)
	if len(rows) != len(times)-15 {
		t.Fatalf("%d rows left, want %d", len(rows), len(times)-15)
	}
	for _, r := range rows {
		if record.Time(r.Time).Before(cutoff) {
			t.Errorf("expired event seq %d (%v) survived", r.Seq, record.Time(r.Time))
		}
	}
	// The head and the tree are untouched: the log still has every seq.
	a, _ := e.db.AccountByName(t.Context(), "acme")
	if h, _ := e.db.CurrentHead(t.Context(), a.ID); h.Size != int64(len(times)+1) {
		t.Errorf("head size %d after purge, want %d (events and the purge record)", h.Size, len(times)+1)
	}
	// The purge is in the account's log, as an audit event with its figures.
	purged, err := e.db.Rows(t.Context(), stele.RowQuery{AccountID: a.ID, Limit: 10,
		Filters: []stele.RowFilter{{Field: stele.FieldAction, Values: []string{"retention.purged"}}}})
	if err != nil || len(purged) != 1 || purged[0].Category != stele.CategoryAudit {
		t.Fatalf("retention.purged rows %+v, %v", purged, err)
	}
	// A second run finds nothing more: the youngest-but-expired boundary holds.
	res, err = e.job.Run(t.Context(), "acme", false)
	if err != nil || res[0].Deleted != 0 {
		t.Fatalf("second run %+v, %v", res, err)
	}
	// Time passes: the next day's events expire, and only they: the day's
	// own (seq 15) and the one sent out of order at the end (seq 46).
	e.clock.Set(t0.Add(days(1)))
	res, err = e.job.Run(t.Context(), "acme", false)
	if err != nil || res[0].Deleted != 2 || res[0].FromSeq != 15 || res[0].BelowSeq != 47 {
		t.Fatalf("run a day later %+v, %v", res, err)
	}
}

// Back-filled events (old times after younger seqs) expire with their
// time, not their place in the log.
func TestPurgeDeletesBackfilledEventsWhereverTheirSeqsLie(t *testing.T) {
	e := newEnv(t)
	old := t0.Add(-days(60))
	// seq 2 is young; seqs 3 and 4 are old but come after it, and so
	// do seqs 6 and 8 among younger ones.
	young := t0.Add(-days(1))
	e.ingestAt(t, old, old, young, old, old, young, old.Add(time.Hour), young, old.Add(-time.Hour), young)
	res, err := e.job.Run(t.Context(), "acme", false)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Deleted != 6 || res[0].FromSeq != 0 || res[0].BelowSeq != 9 || !res[0].Oldest.Equal(old.Add(-time.Hour)) || !res[0].Newest.Equal(old.Add(time.Hour)) {
		t.Fatalf("result %+v, want seqs 0, 1, 3, 4, 6 and 8", res[0])
	}
	var left []int64
	for _, r := range e.rows(t) {
		left = append(left, r.Seq)
	}
	if fmt.Sprint(left) != "[2 5 7 9]" {
		t.Fatalf("rows left %v, want the young seqs 2 5 7 9", left)
	}
	a, _ := e.db.AccountByName(t.Context(), "acme")
	kept, err := e.db.PurgedEvents(t.Context(), a.ID, 0, 100)
	if err != nil || len(kept) != 6 {
		t.Fatalf("purged leaves kept: %+v, %v", kept, err)
	}
}

func TestLegalHoldSuspendsPurge(t *testing.T) {
	e := newEnv(t)
	e.ingestAt(t, t0.Add(-days(100)), t0.Add(-days(90)))
	a, _ := e.db.AccountByName(t.Context(), "acme")
	on := true
	if _, _, err := e.db.UpdateAccount(t.Context(), a.ID, stele.AccountUpdate{LegalHold: &on}); err != nil {
		t.Fatal(err)
	}
	res, err := e.job.Run(t.Context(), "", false)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Account == "acme" && (!r.LegalHold || r.Deleted != 0) {
			t.Fatalf("held account purged: %+v", r)
		}
	}
	if n := len(e.rows(t)); n != 2 {
		t.Fatalf("%d rows under legal hold, want 2", n)
	}
	off := false
	if _, _, err := e.db.UpdateAccount(t.Context(), a.ID, stele.AccountUpdate{LegalHold: &off}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.job.Run(t.Context(), "acme", false); err != nil {
		t.Fatal(err)
	}
	if n := len(e.rows(t)); n != 0 {
		t.Fatalf("%d rows after the hold was lifted, want 0", n)
	}
}

func TestDryRunDeletesNothing(t *testing.T) {
	e := newEnv(t)
	e.ingestAt(t, t0.Add(-days(40)), t0.Add(-days(35)), t0)
	res, err := e.job.Run(t.Context(), "acme", true)
	if err != nil || res[0].Deleted != 2 || !res[0].DryRun {
		t.Fatalf("dry run %+v, %v", res, err)
	}
	if n := len(e.rows(t)); n != 3 {
		t.Fatalf("dry run left %d rows, want 3", n)
	}
}

// purges is a PurgeRecorder that checks that each statement is signed
// while the rows it describes still exist, and before the cutoff.
type purges struct {
	t      *testing.T
	e      *env
	signed [][]int64
}

func (p *purges) SignPurgeSet(ctx context.Context, a *stele.Account, cutoff time.Time, batch []stele.PurgedEvent) (*stele.PurgeStatement, error) {
	var seqs []int64
	for _, ev := range batch {
		if _, err := p.e.db.Row(ctx, a.ID, ev.Seq); err != nil {
			p.t.Errorf("signing seq %d after its row went: %v", ev.Seq, err)
		}
		if !record.Time(ev.Time).Before(cutoff) {
			p.t.Errorf("signing seq %d of time %v, not before the cutoff %v", ev.Seq, record.Time(ev.Time), cutoff)
		}
		seqs = append(seqs, ev.Seq)
	}
	p.signed = append(p.signed, seqs)
	return &stele.PurgeStatement{AccountID: a.ID, First: seqs[0], Note: fmt.Appendf(nil, "seqs %v", seqs), CreatedAt: t0}, nil
}

func TestEveryBatchGetsASignedPurgeStatement(t *testing.T) {
	e := newEnv(t)
	var times []time.Time
	for i := range 10 {
		times = append(times, t0.Add(-days(40)+time.Duration(i)*time.Minute))
	}
	// The first event is the newest of the old ones: batches go by time.
	times[0] = t0.Add(-days(40) + time.Hour)
	e.ingestAt(t, append(times, t0)...)
	p := &purges{t: t, e: e}
	e.job.Batch, e.job.Integrity = 4, p
	if _, err := e.job.Run(t.Context(), "acme", false); err != nil {
		t.Fatal(err)
	}
	a, err := e.db.AccountByName(t.Context(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	stored, err := e.db.PurgeStatements(t.Context(), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	var notes []string
	for _, s := range stored {
		notes = append(notes, string(s.Note))
	}
	if fmt.Sprint(p.signed) != "[[1 2 3 4] [5 6 7 8] [0 9]]" || fmt.Sprint(notes) != "[seqs [0 9] seqs [1 2 3 4] seqs [5 6 7 8]]" {
		t.Fatalf("signed %v, stored %v", p.signed, notes)
	}
}

func TestPurgeRacingIngestLosesNothingYoung(t *testing.T) {
	e := newEnv(t)
	var old []time.Time
	for i := range 60 {
		old = append(old, t0.Add(-days(50)+time.Duration(i)*time.Minute))
	}
	e.ingestAt(t, old...)
	e.job.Batch = 5
	const writers, each = 4, 15
	var wg sync.WaitGroup
	start := make(chan struct{})
	for w := range writers {
		wg.Go(func() {
			<-start
			for i := range each {
				e.ingestAt(t, t0.Add(-time.Duration(w*each+i)*time.Second))
			}
		})
	}
	var res []retention.Result
	var err error
	wg.Go(func() {
		<-start
		res, err = e.job.Run(t.Context(), "acme", false)
	})
	close(start)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	// A run racing ingest may stop where its plan ended; a second finishes.
	if _, err := e.job.Run(t.Context(), "acme", false); err != nil {
		t.Fatal(err)
	}
	rows := e.rows(t)
	if len(rows) != writers*each {
		t.Fatalf("%d rows left, want the %d young ones (first run %+v)", len(rows), writers*each, res)
	}
	for _, r := range rows {
		if r.Time < record.Micros(t0.Add(-days(30))) {
			t.Fatalf("old row %d survived", r.Seq)
		}
	}
}

func TestParseAccountTypes(t *testing.T) {
	types, err := retention.ParseAccountTypes("free=7, enterprise=3650,custom=12")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"free": 7, "team": 90, "business": 365, "enterprise": 3650, "custom": 12}
	if len(types) != len(want) {
		t.Fatalf("types %v", types)
	}
	for _, ty := range types {
		if want[ty.Name] != ty.RetentionDays {
			t.Errorf("%s = %d days, want %d", ty.Name, ty.RetentionDays, want[ty.Name])
		}
	}
	for _, bad := range []string{"free", "free=0", "free=x", "=3", "Free=3"} {
		if _, err := retention.ParseAccountTypes(bad); stele.ErrorCode(err) != stele.EINVALID {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if stele.DefaultAccountTypes[0].RetentionDays != 30 {
		t.Fatal("ParseAccountTypes changed the built-in defaults")
	}
}

// TestPurgeTakesAlertHistoryPastTheCutoff: the alert firings of an account
// older than its retention go with its events (once recorded and
// delivered); newer ones stay, and a legal hold keeps them all.
func TestPurgeTakesAlertHistoryPastTheCutoff(t *testing.T) {
	e := newEnv(t)
	e.job.Alerts = e.db
	a, _ := e.db.AccountByName(t.Context(), "acme")
	firing := func(id string, at time.Time) *stele.AlertFiring {
		return &stele.AlertFiring{ID: id, AccountID: a.ID, RuleID: "rul_1", RuleName: "r", Query: "action:user.login",
			Destinations: "sealed", Count: 1, Seqs: []int64{0}, FiredAt: at, Recorded: true}
	}
	old, recent := firing("alr_old", t0.Add(-days(40))), firing("alr_new", t0.Add(-days(10)))
	if err := e.db.CommitAlertRound(t.Context(), &stele.AlertRound{Firings: []*stele.AlertFiring{old, recent}}); err != nil {
		t.Fatal(err)
	}
	on := true
	if _, _, err := e.db.UpdateAccount(t.Context(), a.ID, stele.AccountUpdate{LegalHold: &on}); err != nil {
		t.Fatal(err)
	}
	if res, err := e.job.RunAccount(t.Context(), a, false); err != nil || res.AlertFirings != 0 {
		t.Fatalf("under legal hold: %+v, %v", res, err)
	}
	off := false
	_, a, err := e.db.UpdateAccount(t.Context(), a.ID, stele.AccountUpdate{LegalHold: &off})
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.job.RunAccount(t.Context(), a, false) // free: 30 days
	if err != nil || res.AlertFirings != 1 {
		t.Fatalf("purge: %+v, %v; want the 40-day-old firing gone", res, err)
	}
	if _, err := e.db.AlertFiring(t.Context(), a.ID, "alr_old"); stele.ErrorCode(err) != stele.ENOTFOUND {
		t.Fatalf("the old firing: %v", err)
	}
	if _, err := e.db.AlertFiring(t.Context(), a.ID, "alr_new"); err != nil {
		t.Fatalf("the recent firing: %v", err)
	}
	// Recorded in the account's log, as a purge of events is.
	rows, err := e.db.Rows(t.Context(), stele.RowQuery{AccountID: a.ID, Limit: 10,
		Filters: []stele.RowFilter{{Field: stele.FieldAction, Values: []string{"retention.alert_history_purged"}}}})
	if err != nil || len(rows) != 1 {
		t.Fatalf("retention.alert_history_purged recorded %d times, %v; want once", len(rows), err)
	}
}
