package retention

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/audit"
	"github.com/stele-audit/stele/internal/record"
	"github.com/stele-audit/stele/internal/recovery"
)

// PurgeRecorder signs the integrity record of purges: the statement that
// a batch of events, each before the cutoff, is purged
// (integrity.Checkpointer.SignPurgeSet). The store keeps it in the
// transaction that deletes them.
type PurgeRecorder interface {
	SignPurgeSet(ctx context.Context, account *stele.Account, cutoff time.Time, batch []stele.PurgedEvent) (*stele.PurgeStatement, error)
}

// DefaultBatch is how many rows one purge transaction deletes.
const DefaultBatch = 5000

// Job purges expired events.
type Job struct {
	Accounts stele.AccountStore
	Store    stele.RetentionStore
	Audit    *audit.Recorder     // records each purge in the account's log
	Types    []stele.AccountType // days per account type; DefaultAccountTypes when nil
	Logger   *slog.Logger
	Now      func() time.Time // the clock retention is measured by; time.Now when nil

	// Batch is the number of rows per transaction, DefaultBatch when 0.
	Batch int
	// Pause is waited between batches so that the writer serves ingest in
	// between. Zero waits twice as long as the last batch took, so that a
	// purge holds the single writer at most a third of the time
	// (BenchmarkIngestDuringPurge measures what ingest keeps); negative
	// does not wait.
	Pause time.Duration
	// Integrity, when set, signs a purge statement for every batch before
	// its rows are deleted; the deleting transaction stores it.
	Integrity PurgeRecorder
	// Alerts, when set, loses the account's alert history (firings and
	// their deliveries) past the same cutoff as its events.
	Alerts AlertHistory
}

// AlertHistory is the store of alert firings (stele.AlertStore's
// PruneAlertHistory).
type AlertHistory interface {
	PruneAlertHistory(ctx context.Context, accountID int64, before time.Time) (int64, error)
}

// Result is one account's purge.
type Result struct {
	Account       string    `json:"account"`
	RetentionDays int       `json:"retention_days"`
	Cutoff        time.Time `json:"cutoff"`
	LegalHold     bool      `json:"legal_hold"`
	DryRun        bool      `json:"dry_run,omitempty"`
	Deleted       int64     `json:"deleted"`
	FromSeq       int64     `json:"from_seq"`
	BelowSeq      int64     `json:"below_seq"`
	Oldest        time.Time `json:"oldest,omitzero"`
	Newest        time.Time `json:"newest,omitzero"`
	Batches       int       `json:"batches"`
	// AlertFirings is how many alert firings past the cutoff went, with
	// their deliveries.
	AlertFirings int64 `json:"alert_firings_deleted,omitempty"`
}

func (j *Job) now() time.Time {
	if j.Now != nil {
		return j.Now()
	}
	return time.Now()
}

func (j *Job) types() []stele.AccountType {
	if j.Types != nil {
		return j.Types
	}
	return stele.DefaultAccountTypes
}

func (j *Job) batch() int {
	if j.Batch > 0 {
		return j.Batch
	}
	return DefaultBatch
}

// Cutoff returns the time before which an account's events are expired at
// now, and its retention in days; ok is false when the account has no known
// retention (then nothing of it is purged).
func Cutoff(a *stele.Account, types []stele.AccountType, now time.Time) (cutoff time.Time, days int, ok bool) {
	return a.RetentionCutoff(types, now)
}

// Run purges every account, or only the one named (when name is not "").
// An account's failure is logged and the others still run; the first error
// is returned.
func (j *Job) Run(ctx context.Context, name string, dryRun bool) ([]Result, error) {
	var accts []*stele.Account
	if name != "" {
		a, err := j.Accounts.AccountByName(ctx, name)
		if err != nil {
			return nil, err
		}
		accts = []*stele.Account{a}
	} else {
		var err error
		if accts, err = j.Accounts.Accounts(ctx); err != nil {
			return nil, fmt.Errorf("retention: list accounts: %w", err)
		}
	}
	var (
		out      []Result
		firstErr error
	)
	for _, a := range accts {
		// One account's purge that panics fails alone: the others still run.
		var r Result
		err := recovery.Call(func() (err error) {
			r, err = j.RunAccount(ctx, a, dryRun)
			return err
		})
		if err != nil {
			if ctx.Err() != nil {
				return out, ctx.Err()
			}
			recovery.Log(j.log(), slog.LevelError, "retention purge", err, "account", a.Name)
			if firstErr == nil {
				firstErr = fmt.Errorf("retention: account %s: %w", a.Name, err)
			}
			continue
		}
		out = append(out, r)
	}
	return out, firstErr
}

func (j *Job) log() *slog.Logger {
	if j.Logger != nil {
		return j.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// RunAccount purges one account: it finds the expired events, records the
// statements, deletes them batch by batch (re-reading the legal hold before
// each), and records a retention.purged event in the account. A dry run
// only reports what would go.
func (j *Job) RunAccount(ctx context.Context, a *stele.Account, dryRun bool) (Result, error) {
	now := j.now()
	res := Result{Account: a.Name, LegalHold: a.LegalHold, DryRun: dryRun}
	cutoff, days, ok := Cutoff(a, j.types(), now)
	res.RetentionDays, res.Cutoff = days, cutoff
	if !ok || a.LegalHold {
		return res, nil
	}
	if dryRun {
		plan, err := j.plan(ctx, a.ID, record.Micros(cutoff))
		res.fill(plan)
		return res, err
	}
	var done stele.PurgeBatch
	for {
		cur, err := j.Accounts.Account(ctx, a.ID)
		if err != nil {
			return res, err
		}
		if cur.LegalHold { // set while this purge ran: stop here
			res.LegalHold = true
			break
		}
		start := time.Now()
		b, err := j.purgeBatch(ctx, a, cutoff)
		if err != nil {
			res.fill(done)
			if done.Deleted > 0 { // what is gone is recorded whatever happens next
				err = errors.Join(err, j.recordPurge(ctx, a, res))
			}
			return res, err
		}
		if b.Deleted == 0 {
			break
		}
		res.Batches++
		done = merge(done, b)
		if b.Deleted < int64(j.batch()) {
			break // no more expired events
		}
		if err := j.yield(ctx, time.Since(start)); err != nil {
			res.fill(done)
			return res, err
		}
	}
	res.fill(done)
	if done.Deleted > 0 {
		if err := j.recordPurge(ctx, a, res); err != nil {
			return res, err
		}
		j.log().Info("retention purge", "account", a.Name, "deleted", done.Deleted, "below_seq", done.BelowSeq)
	}
	if j.Alerts != nil && !res.LegalHold {
		n, err := j.Alerts.PruneAlertHistory(ctx, a.ID, cutoff)
		res.AlertFirings = n
		if err != nil {
			return res, err
		}
		if n > 0 {
			j.log().Info("retention purge of alert history", "account", a.Name, "firings", n)
			if j.Audit != nil {
				return res, j.Audit.AlertHistoryPurged(ctx, a.Name, n, cutoff, days)
			}
		}
	}
	return res, nil
}

// purgeBatch deletes the next batch of the account's expired events,
// wherever their seqs lie: the oldest are read first, on a read
// connection, their statement signed, then they are deleted in the
// transaction that stores it, which deletes nothing unless it finds the
// batch as it was read.
func (j *Job) purgeBatch(ctx context.Context, a *stele.Account, cutoff time.Time) (stele.PurgeBatch, error) {
	cut := record.Micros(cutoff)
	batch, err := j.Store.ExpiredEvents(ctx, a.ID, cut, nil, j.batch())
	if err != nil || len(batch) == 0 {
		return stele.PurgeBatch{}, err
	}
	slices.SortFunc(batch, func(x, y stele.PurgedEvent) int { return cmp.Compare(x.Seq, y.Seq) })
	var stmt *stele.PurgeStatement
	if j.Integrity != nil {
		if stmt, err = j.Integrity.SignPurgeSet(ctx, a, cutoff, batch); err != nil {
			return stele.PurgeBatch{}, fmt.Errorf("sign purge statement: %w", err)
		}
	}
	if err := j.Store.PurgeEvents(ctx, a.ID, cut, batch, stmt); err != nil {
		return stele.PurgeBatch{}, err
	}
	return summary(batch), nil
}

// plan reads, without deleting, every expired event of an account.
func (j *Job) plan(ctx context.Context, accountID, cutoff int64) (stele.PurgeBatch, error) {
	var (
		plan  stele.PurgeBatch
		after *stele.PurgedEvent
	)
	for {
		b, err := j.Store.ExpiredEvents(ctx, accountID, cutoff, after, j.batch())
		if err != nil {
			return plan, err
		}
		plan = merge(plan, summary(b))
		if len(b) < j.batch() {
			return plan, nil
		}
		after = &b[len(b)-1]
	}
}

// summary describes a batch of purged events.
func summary(batch []stele.PurgedEvent) stele.PurgeBatch {
	var b stele.PurgeBatch
	for i, e := range batch {
		if i == 0 {
			b = stele.PurgeBatch{FromSeq: e.Seq, BelowSeq: e.Seq + 1, OldestTime: e.Time, NewestTime: e.Time}
		}
		b.Deleted++
		b.FromSeq, b.BelowSeq = min(b.FromSeq, e.Seq), max(b.BelowSeq, e.Seq+1)
		b.OldestTime, b.NewestTime = min(b.OldestTime, e.Time), max(b.NewestTime, e.Time)
	}
	return b
}

func merge(a, b stele.PurgeBatch) stele.PurgeBatch {
	if b.Deleted == 0 {
		return a
	}
	if a.Deleted == 0 {
		return b
	}
	a.Deleted += b.Deleted
	a.FromSeq = min(a.FromSeq, b.FromSeq)
	a.BelowSeq = max(a.BelowSeq, b.BelowSeq)
	a.OldestTime = min(a.OldestTime, b.OldestTime)
	a.NewestTime = max(a.NewestTime, b.NewestTime)
	return a
}

func (r *Result) fill(b stele.PurgeBatch) {
	r.Deleted, r.FromSeq, r.BelowSeq = b.Deleted, b.FromSeq, b.BelowSeq
	if b.Deleted > 0 {
		r.Oldest, r.Newest = record.Time(b.OldestTime), record.Time(b.NewestTime)
	}
}

func (j *Job) yield(ctx context.Context, took time.Duration) error {
	d := j.Pause
	if d == 0 {
		d = 2 * took
	}
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (j *Job) recordPurge(ctx context.Context, a *stele.Account, r Result) error {
	return j.Audit.Purged(ctx, a.Name, audit.Purge{Deleted: r.Deleted, FromSeq: r.FromSeq, BelowSeq: r.BelowSeq,
		Oldest: r.Oldest, Newest: r.Newest, Cutoff: r.Cutoff, RetentionDays: r.RetentionDays, Batches: r.Batches})
}

// Loop runs the job every interval until ctx is done, the first time after
// one interval. A run that fails or panics is logged; the next one tries
// again.
func (j *Job) Loop(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = time.Hour
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			err := recovery.Call(func() error {
				_, err := j.Run(ctx, "", false)
				return err
			})
			if err != nil && ctx.Err() == nil {
				recovery.Log(j.log(), slog.LevelError, "retention run", err)
			}
		}
	}
}
