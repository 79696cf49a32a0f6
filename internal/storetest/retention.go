package storetest

import (
	"math"
	"testing"
	"time"

	"github.com/stele-audit/stele"
)

func runRetention(t *testing.T, open func(t *testing.T) stele.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s stele.Store)
	}{
		{"PurgeExpiredDeletesOnlyTheExpiredSeqPrefix", testPurgeExpired},
		{"PurgeExpiredStoresItsStatementOrDeletesNothing", testPurgeStatement},
		{"UpdatePayloads", testUpdatePayloads},
		{"PurgeEventsByTimeWhereverTheirSeqsLie", testPurgeEventsAnywhere},
		{"DeleteAccountRemovesKeysAndRows", testDeleteAccount},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

func testPurgeExpired(t *testing.T, s stele.Store) {
	a, b := mustAccount(t, s, "acme"), mustAccount(t, s, "beta")
	rows := make([]stele.EventRow, 8)
	for i := range rows {
		rows[i] = eventRow(a.ID, int64(i))
	}
	young := base + 1_000_000
	rows[5].Time = young // seq 5 is young; 6 and 7 are old again
	nodes := []stele.TreeNode{{Level: 1, Index: 0, Hash: hashOf("n")}}
	appendRows(t, s, a.ID, rows, nodes)
	appendRows(t, s, b.ID, []stele.EventRow{eventRow(b.ID, 0)}, nil)
	err := s.Append(ctx(t), func(tx stele.AppendTx) error {
		return tx.InsertIdempotency(ctx(t), a.ID, map[int64]int64{11: 1, 12: 6})
	})
	if err != nil {
		t.Fatal(err)
	}
	cutoff := base + 100_000 // every row's time but seq 5's is before it
	headBefore, _ := s.CurrentHead(ctx(t), a.ID)

	p, err := s.ExpiredPrefix(ctx(t), a.ID, cutoff, 0, 100)
	if err != nil || p.Deleted != 5 || p.FromSeq != 0 || p.BelowSeq != 5 || p.OldestTime != rows[0].Time || p.NewestTime != rows[4].Time {
		t.Fatalf("ExpiredPrefix = %+v, %v; want seqs 0-4", p, err)
	}
	if p, _ := s.ExpiredPrefix(ctx(t), a.ID, cutoff, 3, 100); p.Deleted != 2 || p.FromSeq != 3 {
		t.Fatalf("ExpiredPrefix from 3 = %+v", p)
	}
	if n, _ := s.CountRows(ctx(t), a.ID); n != 8 {
		t.Fatalf("ExpiredPrefix deleted rows: %d left", n)
	}
	// Bounded by limit, then by below, then by the first young seq.
	steps := []struct {
		below, limit    int64
		deleted, fromTo int64
	}{{math.MaxInt64, 2, 2, 0}, {3, 5, 1, 2}, {math.MaxInt64, 5, 2, 3}, {math.MaxInt64, 5, 0, 0}}
	for i, st := range steps {
		got, err := s.PurgeExpired(ctx(t), a.ID, cutoff, st.below, int(st.limit), nil)
		if err != nil {
			t.Fatal(err)
		}
		if got.Deleted != st.deleted || (st.deleted > 0 && got.FromSeq != st.fromTo) {
			t.Fatalf("step %d: %+v, want %d deleted from seq %d", i, got, st.deleted, st.fromTo)
		}
	}
	left, err := s.LeafHashes(ctx(t), a.ID, 0, 8)
	if err != nil || len(left) != 3 {
		t.Fatalf("rows left %d, %v; want seqs 5, 6, 7", len(left), err)
	}
	if r, err := s.Row(ctx(t), a.ID, 5); err != nil || r.Time != young {
		t.Fatalf("young row: %v %v", r, err)
	}
	if h, _ := s.CurrentHead(ctx(t), a.ID); h.Size != headBefore.Size || len(h.Frontier) != len(headBefore.Frontier) {
		t.Fatalf("head changed by a purge: %+v", h)
	}
	if ns, _ := s.TreeNodes(ctx(t), a.ID, 1, 0, 10); len(ns) != 1 {
		t.Fatalf("tree nodes after purge: %v", ns)
	}
	if n, _ := s.CountRows(ctx(t), b.ID); n != 1 {
		t.Fatal("another account's rows were purged")
	}
	err = s.Append(ctx(t), func(tx stele.AppendTx) error {
		seen, err := tx.IdempotentSeqs(ctx(t), a.ID, []int64{11, 12})
		if err == nil && (len(seen) != 1 || seen[12] != 6) {
			t.Errorf("idempotency after purge %v, want only the kept seq 6", seen)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// testPurgeStatement: a purge's signed statement is stored by the
// transaction that deletes its rows, so that no crash can leave the rows
// gone without it; a statement that does not describe the batch (another
// purger took part of it) deletes nothing.
func testPurgeStatement(t *testing.T, s stele.Store) {
	is := s
	a := mustAccount(t, s, "acme")
	rows := make([]stele.EventRow, 6)
	for i := range rows {
		rows[i] = eventRow(a.ID, int64(i))
	}
	appendRows(t, s, a.ID, rows, nil)
	cutoff := base + 100_000 // every row is older
	at := time.Now().UTC().Truncate(time.Microsecond)

	wrong := &stele.Purge{AccountID: a.ID, Below: 3, Note: []byte("signed below 3"), CreatedAt: at}
	_, err := s.PurgeExpired(ctx(t), a.ID, cutoff, math.MaxInt64, 2, wrong) // the batch ends below 2
	if stele.ErrorCode(err) != stele.ECONFLICT {
		t.Fatalf("purge with a statement for another batch: %v, want %s", err, stele.ECONFLICT)
	}
	if n, _ := s.CountRows(ctx(t), a.ID); n != 6 {
		t.Fatalf("a refused purge deleted rows: %d left", n)
	}
	if ps, _ := is.Purges(ctx(t), a.ID); len(ps) != 0 {
		t.Fatalf("a refused purge stored its statement: %+v", ps)
	}

	stmt := &stele.Purge{AccountID: a.ID, Below: 4, Frontier: [][32]byte{hashOf("f4")}, Note: []byte("signed below 4"), CreatedAt: at}
	b, err := s.PurgeExpired(ctx(t), a.ID, cutoff, 4, 10, stmt)
	if err != nil || b.Deleted != 4 || b.BelowSeq != 4 {
		t.Fatalf("purge below 4 = %+v, %v", b, err)
	}
	ps, err := is.Purges(ctx(t), a.ID)
	if err != nil || len(ps) != 1 || ps[0].Below != 4 || string(ps[0].Note) != "signed below 4" || ps[0].Frontier[0] != hashOf("f4") {
		t.Fatalf("purges after the batch = %+v, %v", ps, err)
	}
	// Nothing left to delete below 4: the statement is not stored again.
	if b, err := s.PurgeExpired(ctx(t), a.ID, cutoff, 4, 10, stmt); err != nil || b.Deleted != 0 {
		t.Fatalf("purge of an empty range = %+v, %v", b, err)
	}
}

func testUpdatePayloads(t *testing.T, s stele.Store) {
	a := mustAccount(t, s, "acme")
	rows := make([]stele.EventRow, 5)
	for i := range rows {
		rows[i] = eventRow(a.ID, int64(i))
	}
	rows[3].KeyVersion = 2
	appendRows(t, s, a.ID, rows, nil)
	old, err := s.RowsBelowKeyVersion(ctx(t), a.ID, 2, 1, 10)
	if err != nil || len(old) != 3 || old[0].Seq != 1 || old[2].Seq != 4 {
		t.Fatalf("RowsBelowKeyVersion = %v, %v; want seqs 1, 2, 4", seqs(old), err)
	}
	n, err := s.UpdatePayloads(ctx(t), []stele.Reencrypted{
		{AccountID: a.ID, Seq: 1, OldVersion: 1, NewVersion: 2, Payload: []byte("resealed-1")},
		{AccountID: a.ID, Seq: 3, OldVersion: 1, NewVersion: 2, Payload: []byte("stale: seq 3 is at v2")},
		{AccountID: a.ID, Seq: 99, OldVersion: 1, NewVersion: 2, Payload: []byte("gone")},
	})
	if err != nil || n != 1 {
		t.Fatalf("UpdatePayloads = %d, %v; want 1", n, err)
	}
	r1, _ := s.Row(ctx(t), a.ID, 1)
	r3, _ := s.Row(ctx(t), a.ID, 3)
	if r1.KeyVersion != 2 || string(r1.Payload) != "resealed-1" || r1.LeafHash != rows[1].LeafHash || string(r3.Payload) != string(rows[3].Payload) {
		t.Fatalf("rows after update: %+v / %+v", r1, r3)
	}
}

func testDeleteAccount(t *testing.T, s stele.Store) {
	a, b := mustAccount(t, s, "acme"), mustAccount(t, s, "beta")
	now := time.Now().UTC().Truncate(stele.TimeUnit)
	for _, acct := range []*stele.Account{a, b} {
		rows := make([]stele.EventRow, 5)
		for i := range rows {
			rows[i] = eventRow(acct.ID, int64(i))
		}
		appendRows(t, s, acct.ID, rows, []stele.TreeNode{{Level: 1, Index: 0, Hash: hashOf("n")}})
		if err := s.CreateAPIKey(ctx(t), &stele.APIKey{ID: "key_" + acct.Name, AccountID: acct.ID, Account: acct.Name,
			Scopes: []stele.Scope{stele.ScopeEventsRead}, SecretHash: []byte("h"), CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	total := int64(0)
	for {
		n, err := s.DeleteAccountEvents(ctx(t), a.ID, 2)
		if err != nil {
			t.Fatal(err)
		}
		if n > 2 {
			t.Fatalf("a batch of 2 deleted %d", n)
		}
		if n == 0 {
			break
		}
		total += n
	}
	if total != 5 {
		t.Fatalf("deleted %d events, want 5", total)
	}
	g, err := s.APIKeyGeneration(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAccount(ctx(t), a.ID); err != nil {
		t.Fatal(err)
	}
	generationMoved(t, s, g, "an account and its keys were deleted")
	wantCode(t, s.DeleteAccount(ctx(t), a.ID), stele.ENOTFOUND)
	if _, err := s.Account(ctx(t), a.ID); stele.ErrorCode(err) != stele.ENOTFOUND {
		t.Fatalf("account after delete: %v", err)
	}
	if h, _ := s.CurrentHead(ctx(t), a.ID); h.Size != 0 {
		t.Fatalf("head left: %+v", h)
	}
	if ns, _ := s.TreeNodes(ctx(t), a.ID, 1, 0, 10); len(ns) != 0 {
		t.Fatalf("tree nodes left: %v", ns)
	}
	if _, err := s.APIKey(ctx(t), "key_acme"); stele.ErrorCode(err) != stele.ENOTFOUND {
		t.Fatalf("API key left: %v", err)
	}
	// The other account is whole.
	if n, _ := s.CountRows(ctx(t), b.ID); n != 5 {
		t.Fatalf("beta has %d events", n)
	}
	if _, err := s.APIKey(ctx(t), "key_beta"); err != nil {
		t.Fatal(err)
	}
}
