package storetest

import (
	"cmp"
	"slices"
	"testing"
	"time"

	"github.com/stele-audit/stele"
)

// testPurgeEventsAnywhere: expired events are found and purged wherever
// their seqs lie (back-filled events with old times among current ones);
// what stays of each is its seq, time and leaf hash, which LeafHashes still
// answers; the statement is stored with them; a batch that is not what the
// store holds deletes nothing.
func testPurgeEventsAnywhere(t *testing.T, s stele.Store) {
	a, b := mustAccount(t, s, "acme"), mustAccount(t, s, "beta")
	rows := make([]stele.EventRow, 10)
	for i := range rows {
		rows[i] = eventRow(a.ID, int64(i))
	}
	cutoff := base + 100_000
	young := base + 1_000_000
	// Seqs 1, 2, 5, 6 and 9 are current; 0, 3, 4, 7, 8 back-filled or old.
	for _, seq := range []int{1, 2, 5, 6, 9} {
		rows[seq].Time = young + int64(seq)
	}
	rows[8].Time = base - 5 // the oldest of all, at a high seq
	appendRows(t, s, a.ID, rows, []stele.TreeNode{{Level: 1, Index: 0, Hash: hashOf("n")}})
	appendRows(t, s, b.ID, []stele.EventRow{eventRow(b.ID, 0)}, nil)
	if err := s.Append(ctx(t), func(tx stele.AppendTx) error {
		return tx.InsertIdempotency(ctx(t), a.ID, map[int64]int64{11: 3, 12: 5})
	}); err != nil {
		t.Fatal(err)
	}

	exp, err := s.ExpiredEvents(ctx(t), a.ID, cutoff, nil, 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	for _, e := range exp {
		got = append(got, e.Seq)
		if e.Time != rows[e.Seq].Time || e.LeafHash != rows[e.Seq].LeafHash {
			t.Fatalf("expired event %+v is not row %d", e, e.Seq)
		}
	}
	if want := []int64{8, 0, 3, 4, 7}; !slices.Equal(got, want) {
		t.Fatalf("ExpiredEvents = %v, want %v (oldest first)", got, want)
	}
	if two, _ := s.ExpiredEvents(ctx(t), a.ID, cutoff, nil, 2); len(two) != 2 || two[0].Seq != 8 || two[1].Seq != 0 {
		t.Fatalf("ExpiredEvents limit 2 = %+v", two)
	}
	if next, _ := s.ExpiredEvents(ctx(t), a.ID, cutoff, &exp[1], 2); len(next) != 2 || next[0].Seq != 3 || next[1].Seq != 4 {
		t.Fatalf("ExpiredEvents after seq 0, limit 2 = %+v", next)
	}
	if n, _ := s.CountRows(ctx(t), a.ID); n != 10 {
		t.Fatal("ExpiredEvents deleted rows")
	}

	at := time.Now().UTC().Truncate(time.Microsecond)
	batch := bySeq(exp[:3]) // seqs 0, 3, 8
	// A batch naming an event that is not as stored, or not expired,
	// deletes nothing.
	bad := append([]stele.PurgedEvent(nil), batch...)
	bad[1].LeafHash = hashOf("other")
	wantCode(t, s.PurgeEvents(ctx(t), a.ID, cutoff, bad, nil), stele.ECONFLICT)
	current := []stele.PurgedEvent{batch[0], {Seq: 1, Time: rows[1].Time, LeafHash: rows[1].LeafHash}}
	wantCode(t, s.PurgeEvents(ctx(t), a.ID, cutoff, current, nil), stele.ECONFLICT)
	wrong := &stele.PurgeStatement{AccountID: a.ID, First: 3, Note: []byte("not this batch"), CreatedAt: at}
	wantCode(t, s.PurgeEvents(ctx(t), a.ID, cutoff, batch, wrong), stele.ECONFLICT)
	if n, _ := s.CountRows(ctx(t), a.ID); n != 10 {
		t.Fatalf("a refused purge deleted rows: %d left", n)
	}
	if ps, _ := s.PurgeStatements(ctx(t), a.ID); len(ps) != 0 {
		t.Fatalf("a refused purge stored its statement: %+v", ps)
	}

	stmt := &stele.PurgeStatement{AccountID: a.ID, First: 0, Note: []byte("signed 0,3,8"), CreatedAt: at}
	if err := s.PurgeEvents(ctx(t), a.ID, cutoff, batch, stmt); err != nil {
		t.Fatal(err)
	}
	// Purged again (another purger took them first): nothing, and a conflict.
	wantCode(t, s.PurgeEvents(ctx(t), a.ID, cutoff, batch, nil), stele.ECONFLICT)
	rest, _ := s.ExpiredEvents(ctx(t), a.ID, cutoff, nil, 100)
	if len(rest) != 2 || rest[0].Seq != 4 || rest[1].Seq != 7 {
		t.Fatalf("expired after the first batch: %+v", rest)
	}
	if err := s.PurgeEvents(ctx(t), a.ID, cutoff, rest, &stele.PurgeStatement{AccountID: a.ID, First: 4, Note: []byte("signed 4,7"), CreatedAt: at}); err != nil {
		t.Fatal(err)
	}

	if n, _ := s.CountRows(ctx(t), a.ID); n != 5 {
		t.Fatalf("%d rows left, want the 5 current ones", n)
	}
	for _, seq := range []int64{0, 3, 4, 7, 8} {
		if _, err := s.Row(ctx(t), a.ID, seq); stele.ErrorCode(err) != stele.ENOTFOUND {
			t.Fatalf("purged row %d: %v", seq, err)
		}
	}
	// Every leaf is still there, purged or not.
	leaves, err := s.LeafHashes(ctx(t), a.ID, 0, 10)
	if err != nil || len(leaves) != 10 {
		t.Fatalf("LeafHashes after purge: %d, %v", len(leaves), err)
	}
	for i := range leaves {
		if leaves[i] != rows[i].LeafHash {
			t.Fatalf("leaf %d changed by the purge", i)
		}
	}
	kept, err := s.PurgedEvents(ctx(t), a.ID, 3, 100)
	if err != nil || len(kept) != 4 || kept[0].Seq != 3 || kept[3].Seq != 8 || kept[3].Time != rows[8].Time || kept[3].LeafHash != rows[8].LeafHash {
		t.Fatalf("PurgedEvents from 3 = %+v, %v", kept, err)
	}
	ps, err := s.PurgeStatements(ctx(t), a.ID)
	if err != nil || len(ps) != 2 || ps[0].First != 0 || string(ps[0].Note) != "signed 0,3,8" || ps[1].First != 4 || !ps[0].CreatedAt.Equal(at) {
		t.Fatalf("PurgeStatements = %+v, %v", ps, err)
	}
	if n, _ := s.CountRows(ctx(t), b.ID); n != 1 {
		t.Fatal("another account's rows were purged")
	}
	if err := s.Append(ctx(t), func(tx stele.AppendTx) error {
		seen, err := tx.IdempotentSeqs(ctx(t), a.ID, []int64{11, 12})
		if err == nil && (len(seen) != 1 || seen[12] != 5) {
			t.Errorf("idempotency after purge %v, want only the kept seq 5", seen)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// Deleting the account takes what was kept of its purged events too.
	if _, err := s.DeleteAccountEvents(ctx(t), a.ID, 100); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAccount(ctx(t), a.ID); err != nil {
		t.Fatal(err)
	}
	if kept, _ := s.PurgedEvents(ctx(t), a.ID, 0, 100); len(kept) != 0 {
		t.Fatalf("purged leaves left after the account's deletion: %+v", kept)
	}
	if ps, _ := s.PurgeStatements(ctx(t), a.ID); len(ps) != 0 {
		t.Fatalf("purge statements left after the account's deletion: %+v", ps)
	}
}

func bySeq(es []stele.PurgedEvent) []stele.PurgedEvent {
	out := slices.Clone(es)
	slices.SortFunc(out, func(a, b stele.PurgedEvent) int { return cmp.Compare(a.Seq, b.Seq) })
	return out
}
