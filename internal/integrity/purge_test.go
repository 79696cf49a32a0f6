package integrity_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/audit"
	"github.com/stele-audit/stele/internal/integrity"
	"github.com/stele-audit/stele/internal/ledger"
	"github.com/stele-audit/stele/internal/record"
	"github.com/stele-audit/stele/internal/retention"
)

// recordAt stores one event of account per time, in this order.
func (s *stack) recordAt(t testing.TB, account string, times ...time.Time) {
	t.Helper()
	events := make([]stele.Event, len(times))
	for i, tm := range times {
		events[i] = stele.Event{Account: account, Action: "user.login", Outcome: stele.OutcomeSuccess, Time: tm,
			Actor: &stele.Ref{Type: "user", ID: fmt.Sprintf("u_%d", i)}, Description: fmt.Sprintf("login %d", i)}
	}
	if _, err := s.ingest.Record(context.Background(), events...); err != nil {
		t.Fatal(err)
	}
}

// purgeJob is the retention job of the stack, its clock stopped at now.
func (s *stack) purgeJob(now time.Time) *retention.Job {
	return &retention.Job{Accounts: s.db, Store: s.db, Audit: &audit.Recorder{Sink: s.ingest}, Now: func() time.Time { return now },
		Batch: 7, Pause: -1, Integrity: s.cp, Logger: testLogger}
}

// backfilledStore builds a stopped store: account acme (free, 30 days) with
// 40 events, every odd seq back-filled with a time 60 days old among
// current ones, checkpointed at 40, purged by the retention job, then 5
// events more and a checkpoint of them. It returns the directory and the
// clock's time.
func backfilledStore(t *testing.T, key *ledger.SigningKey) (string, time.Time) {
	t.Helper()
	dir := t.TempDir()
	s := openStack(t, filepath.Join(dir, "stele.db"), key)
	ctx := context.Background()
	if err := s.db.CreateAccount(ctx, &stele.Account{Name: "acme", Type: "free"}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	var times []time.Time
	for i := range 40 {
		if i%2 == 1 {
			times = append(times, now.Add(-60*24*time.Hour+time.Duration(i)*time.Minute))
		} else {
			times = append(times, now.Add(-time.Hour+time.Duration(i)*time.Second))
		}
	}
	s.recordAt(t, "acme", times...)
	if _, err := s.cp.SignAll(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := s.purgeJob(now).Run(ctx, "acme", false)
	if err != nil || len(res) != 1 || res[0].Deleted != 20 || res[0].Batches != 3 {
		t.Fatalf("purge: %+v, %v; want the 20 back-filled events in 3 batches", res, err)
	}
	s.recordAt(t, "acme", now, now, now, now, now)
	if _, err := s.cp.SignAll(ctx); err != nil {
		t.Fatal(err)
	}
	s.stop()
	return dir, now
}

// TestVerifyAcceptsAPurgeOfBackfilledEventsAndCatchesWhatHidesInIt: events
// purged by time wherever their seqs lie verify, and proofs across them
// still hold; a tampered statement, a current event deleted among purged
// ones (with or without a forged purged record), and an event purged before
// it expired are each reported.
func TestVerifyAcceptsAPurgeOfBackfilledEventsAndCatchesWhatHidesInIt(t *testing.T) {
	key, _, _ := ledger.NewSigningKey("stele.local")
	base, now := backfilledStore(t, key)
	ctx := context.Background()

	s := openStack(t, filepath.Join(copyStore(t, base), "stele.db"), key)
	acct, _ := s.db.AccountByName(ctx, "acme")
	for seq := int64(1); seq < 40; seq += 2 {
		if _, err := s.db.Row(ctx, acct.ID, seq); stele.ErrorCode(err) != stele.ENOTFOUND {
			t.Fatalf("back-filled seq %d survived the purge: %v", seq, err)
		}
	}
	rep := s.verify(t, key)
	if !rep.OK() || rep.Purged != 20 || rep.Events != 26 || rep.Checkpoints != 2 {
		t.Fatalf("a purge of back-filled events: %+v", rep)
	}
	// Proofs of the events between purged ones, and from the checkpoint
	// before the purge to the one after, still hold.
	latest, err := s.db.LatestCheckpoint(ctx, acct.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, seq := range []int64{0, 2, 38, 44} {
		p, err := integrity.ProveInclusion(ctx, s.db, acct.ID, seq, latest.Size)
		if err != nil || p.Root != latest.Root {
			t.Fatalf("inclusion of seq %d after the purge: %+v, %v", seq, p, err)
		}
		if err := ledger.VerifyInclusion(p.LeafHash, p.Seq, p.Size, p.Hashes, latest.Root); err != nil {
			t.Fatalf("inclusion proof of seq %d: %v", seq, err)
		}
	}
	first, _ := s.db.CheckpointAt(ctx, acct.ID, 40)
	c, err := integrity.ProveConsistency(ctx, s.db, acct.ID, 40, latest.Size)
	if err != nil || c.FromRoot != first.Root || c.ToRoot != latest.Root {
		t.Fatalf("consistency 40 → %d after the purge: %+v, %v", latest.Size, c, err)
	}
	if err := ledger.VerifyConsistency(40, latest.Size, first.Root, latest.Root, c.Hashes); err != nil {
		t.Fatalf("consistency proof after the purge: %v", err)
	}
	s.stop()

	cases := []struct {
		name   string
		tamper func(db *sql.DB)
		kind   string
		seq    int64
	}{
		{"a statement's range widened", func(db *sql.DB) {
			var note []byte
			db.QueryRow(`SELECT note FROM purge_statements WHERE first_seq = 1`).Scan(&note)
			exec(t, db, `UPDATE purge_statements SET note = ? WHERE first_seq = 1`, []byte(strings.Replace(string(note), "\n1\n", "\n1-2\n", 1)))
		}, integrity.KindPurgeInvalid, 1},
		{"a current event deleted between purged ones", func(db *sql.DB) {
			exec(t, db, `DELETE FROM events WHERE seq = 4`)
		}, integrity.KindRowMissing, 4},
		{"a current event deleted, a purged record forged for it", func(db *sql.DB) {
			exec(t, db, `INSERT INTO purged_events SELECT account_id, seq, time - 86400000000 * 90, leaf_hash FROM events WHERE seq = 6`)
			exec(t, db, `DELETE FROM events WHERE seq = 6`)
		}, integrity.KindRowMissing, 6},
		{"a purged record's time made old", func(db *sql.DB) {
			exec(t, db, `UPDATE purged_events SET time = time - 1 WHERE seq = 3`)
		}, integrity.KindPurgeInvalid, 1},
		{"a purged record deleted", func(db *sql.DB) {
			exec(t, db, `DELETE FROM purged_events WHERE seq = 5`)
		}, integrity.KindRowMissing, 5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyStore(t, base)
			tamper(t, dir, tc.tamper)
			s := openStack(t, filepath.Join(dir, "stele.db"), key)
			defer s.stop()
			rep := s.verify(t, key)
			if rep.OK() {
				t.Fatal("passed")
			}
			found := false
			for _, f := range rep.Failures {
				found = found || f.Kind == tc.kind && f.Seq == tc.seq
			}
			if !found {
				t.Fatalf("want %q at seq %d, got %+v", tc.kind, tc.seq, rep.Failures)
			}
		})
	}

	// A statement validly signed, but over an event that had not expired
	// at its cutoff (a purge too early): the store keeps its record, and
	// verify says it was purged before its retention ended.
	t.Run("an event purged before it expired", func(t *testing.T) {
		dir := copyStore(t, base)
		s := openStack(t, filepath.Join(dir, "stele.db"), key)
		defer s.stop()
		r, err := s.db.Row(ctx, acct.ID, 8)
		if err != nil {
			t.Fatal(err)
		}
		cutoff := now.Add(-30 * 24 * time.Hour)
		batch := []stele.PurgedEvent{{Seq: 8, Time: r.Time, LeafHash: r.LeafHash}}
		stmt, err := s.cp.SignPurgeSet(ctx, acct, cutoff, batch)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.db.PurgeEvents(ctx, acct.ID, r.Time+1, batch, stmt); err != nil {
			t.Fatal(err)
		}
		rep := s.verify(t, key)
		if rep.OK() || len(rep.Failures) != 1 || rep.Failures[0].Kind != integrity.KindPurgedTooEarly || rep.Failures[0].Seq != 8 {
			t.Fatalf("an early purge: %+v", rep.Failures)
		}
		if !strings.Contains(rep.Failures[0].Detail, record.Time(r.Time).Format("2006-01-02")) {
			t.Errorf("the failure does not say the event's time: %s", rep.Failures[0].Detail)
		}
	})
}

// TestLegalHoldWinsOverAPurgeByTime: an account on legal hold keeps its
// expired events, back-filled or not, and verifies as it was.
func TestLegalHoldWinsOverAPurgeByTime(t *testing.T) {
	key, _, _ := ledger.NewSigningKey("stele.local")
	s := openStack(t, filepath.Join(t.TempDir(), "stele.db"), key)
	defer s.stop()
	ctx := context.Background()
	held := &stele.Account{Name: "acme", Type: "free", LegalHold: true}
	if err := s.db.CreateAccount(ctx, held); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	s.recordAt(t, "acme", now, now.Add(-90*24*time.Hour), now, now.Add(-60*24*time.Hour))
	res, err := s.purgeJob(now).Run(ctx, "acme", false)
	if err != nil || res[0].Deleted != 0 || !res[0].LegalHold {
		t.Fatalf("purge under legal hold: %+v, %v", res, err)
	}
	if n, _ := s.db.CountRows(ctx, held.ID); n != 4 {
		t.Fatalf("%d events under legal hold, want 4", n)
	}
	if rep := s.verify(t, key); !rep.OK() || rep.Purged != 0 {
		t.Fatalf("verify under legal hold: %+v", rep)
	}
}

// TestRemoteVerifierFollowsTheLogAcrossAPurgeByTime: a client that trusted
// a checkpoint before back-filled events were purged verifies the log
// after it: consistency and inclusion proofs read the purged leaves.
func TestRemoteVerifierFollowsTheLogAcrossAPurgeByTime(t *testing.T) {
	ctx := t.Context()
	s := newLiveServer(t) // acme is a team account: 90 days
	now := time.Now().UTC().Truncate(time.Second)
	var times []time.Time
	for i := range 30 {
		if i%3 == 1 {
			times = append(times, now.Add(-100*24*time.Hour+time.Duration(i)*time.Minute))
		} else {
			times = append(times, now.Add(-time.Duration(i)*time.Minute))
		}
	}
	s.recordAt(t, "acme", times...)
	v := &integrity.RemoteVerifier{API: s.api, Samples: 50}
	state := &integrity.TrustState{}
	if rep, err := v.Verify(ctx, state, s.key.VerifierKey); err != nil || !rep.OK() || rep.Size != 30 {
		t.Fatalf("before the purge: %+v %v", rep, err)
	}
	res, err := s.purgeJob(now).Run(ctx, "acme", false)
	if err != nil || res[0].Deleted != 10 {
		t.Fatalf("purge: %+v %v", res, err)
	}
	s.recordAt(t, "acme", now, now)
	if _, err := s.cp.SignAll(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err := v.Verify(ctx, state, "")
	if err != nil || !rep.OK() || rep.Trusted != 30 || rep.Size != 33 || len(rep.Events) != 23 {
		t.Fatalf("after the purge: %+v %v", rep, err)
	}
}
