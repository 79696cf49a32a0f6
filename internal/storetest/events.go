package storetest

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"

	"github.com/stele-audit/stele"
)

// base is the time of the suite's first event: 2025-01-01, in Unix µs.
const base = int64(1_735_689_600_000_000)

func hashOf(parts ...any) [32]byte {
	return sha256.Sum256(fmt.Append(nil, parts...))
}

// eventRow returns a deterministic row of account with seq.
func eventRow(account, seq int64) stele.EventRow {
	h := hashOf("leaf", account, seq)
	payload := make([]byte, 64+seq%7)
	for i := range payload {
		payload[i] = byte(int64(i) * (seq + 1))
	}
	return stele.EventRow{
		AccountID: account, Seq: seq, Time: base + seq*1000, ReceivedAt: base + seq*1000 + 42,
		Action: "user.login", Category: stele.CategoryAuthentication, Outcome: stele.OutcomeSuccess,
		ActorTok: 1000 + seq, KeyVersion: 1, Payload: payload, LeafHash: h,
	}
}

// appendRows appends rows (their seqs must continue the head) in one
// transaction, moving the head on with a made-up frontier.
func appendRows(t *testing.T, s stele.Store, account int64, rows []stele.EventRow, nodes []stele.TreeNode) {
	t.Helper()
	err := s.Append(ctx(t), func(tx stele.AppendTx) error {
		h, err := tx.Head(ctx(t), account)
		if err != nil {
			return err
		}
		if len(rows) > 0 && rows[0].Seq != h.Size {
			return fmt.Errorf("rows start at seq %d, head is at %d", rows[0].Seq, h.Size)
		}
		if err := tx.InsertEvents(ctx(t), rows); err != nil {
			return err
		}
		if err := tx.InsertTreeNodes(ctx(t), account, nodes); err != nil {
			return err
		}
		h.Size += int64(len(rows))
		h.Frontier = [][32]byte{hashOf("frontier", account, h.Size)}
		return tx.SetHead(ctx(t), h)
	})
	if err != nil {
		t.Fatalf("append: %v", err)
	}
}

func seqs(rows []stele.EventRow) []int64 {
	out := make([]int64, len(rows))
	for i, r := range rows {
		out[i] = r.Seq
	}
	return out
}

// newestFirst sorts rows as a store returns them.
func newestFirst(rows []stele.EventRow) []stele.EventRow {
	out := slices.Clone(rows)
	slices.SortFunc(out, func(a, b stele.EventRow) int {
		if a.Time != b.Time {
			return -cmpInt(a.Time, b.Time)
		}
		return -cmpInt(a.Seq, b.Seq)
	})
	return out
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func testAppendReadsBack(t *testing.T, s stele.Store) {
	a := mustAccount(t, s, "acme")
	h, err := s.CurrentHead(ctx(t), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if h.AccountID != a.ID || h.Size != 0 || len(h.Frontier) != 0 {
		t.Fatalf("head before any event = %+v, want size 0", h)
	}
	rows := []stele.EventRow{eventRow(a.ID, 0), eventRow(a.ID, 1), eventRow(a.ID, 2)}
	// Every column set on one row, none of the optional ones on another.
	rows[1] = stele.EventRow{AccountID: a.ID, Seq: 1, Time: base - 5, ReceivedAt: base + 99, Action: "finding.generated",
		Category: stele.CategorySourceActivity, Outcome: stele.OutcomeFailure, ActorTok: -7, ActorEmailTok: 1 << 62,
		TargetTok: -1 << 63, SourceTok: 3, IPTok: 1<<63 - 1, KeyVersion: 12, Payload: []byte{0, 1, 2, 0xff}, LeafHash: hashOf("x")}
	rows[2].ActorTok, rows[2].Outcome, rows[2].Category = 0, stele.OutcomeUnknown, stele.CategoryAudit
	head := stele.Head{AccountID: a.ID, Size: 3, Frontier: [][32]byte{hashOf("f1"), hashOf("f2")}}
	nodes := []stele.TreeNode{{Level: 1, Index: 0, Hash: hashOf("n10")}, {Level: 4, Index: 7, Hash: hashOf("n47")}}
	idem := map[int64]int64{-99: 0, 12345: 2}
	err = s.Append(ctx(t), func(tx stele.AppendTx) error {
		h, err := tx.Head(ctx(t), a.ID)
		if err != nil {
			return err
		}
		if h.AccountID != a.ID || h.Size != 0 {
			return fmt.Errorf("head in the transaction = %+v, want size 0", h)
		}
		seen, err := tx.IdempotentSeqs(ctx(t), a.ID, []int64{-99, 12345})
		if err != nil {
			return err
		}
		if len(seen) != 0 {
			return fmt.Errorf("IdempotentSeqs before any = %v", seen)
		}
		if err := tx.InsertEvents(ctx(t), rows); err != nil {
			return err
		}
		if err := tx.InsertTreeNodes(ctx(t), a.ID, nodes); err != nil {
			return err
		}
		if err := tx.InsertIdempotency(ctx(t), a.ID, idem); err != nil {
			return err
		}
		return tx.SetHead(ctx(t), head)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range rows {
		got, err := s.Row(ctx(t), a.ID, want.Seq)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(*got, want) {
			t.Fatalf("Row(%d) =\n%+v, want\n%+v", want.Seq, *got, want)
		}
	}
	all, err := s.Rows(ctx(t), stele.RowQuery{AccountID: a.ID, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(all, newestFirst(rows)) {
		t.Fatalf("Rows = %v, want %v", seqs(all), seqs(newestFirst(rows)))
	}
	got, err := s.CurrentHead(ctx(t), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, head) {
		t.Fatalf("CurrentHead = %+v, want %+v", got, head)
	}
	n, err := s.CountRows(ctx(t), a.ID)
	if err != nil || n != 3 {
		t.Fatalf("CountRows = %d, %v; want 3", n, err)
	}
	for _, nd := range nodes {
		got, err := s.TreeNodes(ctx(t), a.ID, nd.Level, nd.Index, nd.Index+1)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, []stele.TreeNode{nd}) {
			t.Fatalf("TreeNodes = %+v, want %+v", got, nd)
		}
	}
	leaves, err := s.LeafHashes(ctx(t), a.ID, 0, 3)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(leaves, [][32]byte{rows[0].LeafHash, rows[1].LeafHash, rows[2].LeafHash}) {
		t.Fatal("LeafHashes differ from the inserted rows'")
	}
	err = s.Append(ctx(t), func(tx stele.AppendTx) error {
		h, err := tx.Head(ctx(t), a.ID)
		if err != nil {
			return err
		}
		if !reflect.DeepEqual(h, head) {
			return fmt.Errorf("Head in a later transaction = %+v, want %+v", h, head)
		}
		seen, err := tx.IdempotentSeqs(ctx(t), a.ID, []int64{-99, 5, 12345})
		if err != nil {
			return err
		}
		if !reflect.DeepEqual(seen, idem) {
			return fmt.Errorf("IdempotentSeqs = %v, want %v", seen, idem)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testAppendRollsBack(t *testing.T, s stele.Store) {
	a := mustAccount(t, s, "acme")
	appendRows(t, s, a.ID, []stele.EventRow{eventRow(a.ID, 0)}, nil)
	before, err := s.CurrentHead(ctx(t), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Append(ctx(t), func(tx stele.AppendTx) error {
		if err := tx.InsertEvents(ctx(t), []stele.EventRow{eventRow(a.ID, 1), eventRow(a.ID, 2)}); err != nil {
			return err
		}
		if err := tx.InsertTreeNodes(ctx(t), a.ID, []stele.TreeNode{{Level: 4, Index: 0, Hash: hashOf("n")}}); err != nil {
			return err
		}
		if err := tx.InsertIdempotency(ctx(t), a.ID, map[int64]int64{77: 1}); err != nil {
			return err
		}
		if err := tx.SetHead(ctx(t), stele.Head{AccountID: a.ID, Size: 3, Frontier: [][32]byte{hashOf("z")}}); err != nil {
			return err
		}
		return errRollback
	})
	if !errors.Is(err, errRollback) {
		t.Fatalf("Append = %v, want the function's error", err)
	}
	if n, err := s.CountRows(ctx(t), a.ID); err != nil || n != 1 {
		t.Fatalf("CountRows after rollback = %d, %v; want 1", n, err)
	}
	if _, err := s.Row(ctx(t), a.ID, 1); stele.ErrorCode(err) != stele.ENOTFOUND {
		t.Fatalf("Row of a rolled-back event: %v, want ENOTFOUND", err)
	}
	after, err := s.CurrentHead(ctx(t), a.ID)
	if err != nil || !reflect.DeepEqual(after, before) {
		t.Fatalf("head after rollback = %+v, %v; want %+v", after, err, before)
	}
	if nodes, err := s.TreeNodes(ctx(t), a.ID, 4, 0, 10); err != nil || len(nodes) != 0 {
		t.Fatalf("tree nodes after rollback = %v, %v", nodes, err)
	}
	err = s.Append(ctx(t), func(tx stele.AppendTx) error {
		seen, err := tx.IdempotentSeqs(ctx(t), a.ID, []int64{77})
		if err != nil {
			return err
		}
		if len(seen) != 0 {
			return fmt.Errorf("idempotency token survived the rollback: %v", seen)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testAppendUnknownCategory(t *testing.T, s stele.Store) {
	a := mustAccount(t, s, "acme")
	r := eventRow(a.ID, 0)
	r.Category = "gossip"
	err := s.Append(ctx(t), func(tx stele.AppendTx) error { return tx.InsertEvents(ctx(t), []stele.EventRow{r}) })
	wantCode(t, err, stele.EINVALID)
	if n, _ := s.CountRows(ctx(t), a.ID); n != 0 {
		t.Fatalf("CountRows = %d after a rejected insert, want 0", n)
	}
}

func testAppendDuplicateSeq(t *testing.T, s stele.Store) {
	a := mustAccount(t, s, "acme")
	appendRows(t, s, a.ID, []stele.EventRow{eventRow(a.ID, 0)}, nil)
	err := s.Append(ctx(t), func(tx stele.AppendTx) error {
		return tx.InsertEvents(ctx(t), []stele.EventRow{eventRow(a.ID, 1), eventRow(a.ID, 0)})
	})
	wantCode(t, err, stele.ECONFLICT)
	if n, err := s.CountRows(ctx(t), a.ID); err != nil || n != 1 {
		t.Fatalf("CountRows = %d, %v after a rejected batch; want 1", n, err)
	}
}

func testRowsOrder(t *testing.T, s stele.Store) {
	a := mustAccount(t, s, "acme")
	var rows []stele.EventRow
	// Times out of seq order, with ties.
	for seq, dt := range []int64{5, 3, 5, 9, 3, 5, 1, 9, 0, 5} {
		r := eventRow(a.ID, int64(seq))
		r.Time = base + dt
		rows = append(rows, r)
	}
	appendRows(t, s, a.ID, rows, nil)
	got, err := s.Rows(ctx(t), stele.RowQuery{AccountID: a.ID, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	want := []int64{7, 3, 9, 5, 2, 0, 4, 1, 6, 8}
	if !slices.Equal(seqs(got), want) {
		t.Fatalf("Rows = %v, want %v (time desc, then seq desc)", seqs(got), want)
	}
	got, err = s.Rows(ctx(t), stele.RowQuery{AccountID: a.ID, Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(seqs(got), want[:3]) {
		t.Fatalf("Rows limit 3 = %v, want %v", seqs(got), want[:3])
	}
}

func testRowsPaging(t *testing.T, s stele.Store) {
	a := mustAccount(t, s, "acme")
	var rows []stele.EventRow
	for seq := range int64(47) {
		r := eventRow(a.ID, seq)
		r.Time = base + (seq*7%11)*1000 // ties across page boundaries
		rows = append(rows, r)
	}
	appendRows(t, s, a.ID, rows, nil)
	want := seqs(newestFirst(rows))
	for _, limit := range []int{1, 4, 10, 47, 100} {
		q := stele.RowQuery{AccountID: a.ID, Limit: limit}
		var got []int64
		for page := 0; ; page++ {
			if page > 100 {
				t.Fatal("paging does not end")
			}
			rs, err := s.Rows(ctx(t), q)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, seqs(rs)...)
			if len(rs) < limit {
				break
			}
			last := rs[len(rs)-1]
			q.HasBelow, q.BelowTime, q.BelowSeq = true, last.Time, last.Seq
		}
		if !slices.Equal(got, want) {
			t.Fatalf("limit %d: pages gave %v, want %v", limit, got, want)
		}
	}
}

func testTenancy(t *testing.T, s stele.Store) {
	a := mustAccount(t, s, "acme")
	b := mustAccount(t, s, "beta")
	var ra, rb []stele.EventRow
	for seq := range int64(3) {
		ra = append(ra, eventRow(a.ID, seq))
	}
	for seq := range int64(6) {
		rb = append(rb, eventRow(b.ID, seq)) // same actions, times and tokens as a's
	}
	appendRows(t, s, a.ID, ra, []stele.TreeNode{{Level: 4, Index: 0, Hash: hashOf("a")}})
	appendRows(t, s, b.ID, rb, []stele.TreeNode{{Level: 4, Index: 0, Hash: hashOf("b")}, {Level: 4, Index: 1, Hash: hashOf("b1")}})
	queries := []stele.RowQuery{
		{AccountID: a.ID, Limit: 100},
		{AccountID: a.ID, Limit: 100, Filters: []stele.RowFilter{{Field: stele.FieldAction, Values: []string{"user.login"}}}},
		{AccountID: a.ID, Limit: 100, Filters: []stele.RowFilter{{Field: stele.FieldActor, Tokens: []int64{1000, 1001, 1002, 1003, 1004, 1005}}}},
		{AccountID: a.ID, Limit: 100, Filters: []stele.RowFilter{{Field: stele.FieldTarget, Tokens: []int64{1}, Negate: true}}},
		{AccountID: a.ID, Limit: 100, HasBelow: true, BelowTime: base + 1e9, BelowSeq: 100},
	}
	for i, q := range queries {
		got, err := s.Rows(ctx(t), q)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range got {
			if r.AccountID != a.ID {
				t.Fatalf("query %d returned a row of account %d", i, r.AccountID)
			}
		}
		if len(got) != 3 {
			t.Fatalf("query %d: %d rows, want a's 3", i, len(got))
		}
	}
	if _, err := s.Row(ctx(t), a.ID, 5); stele.ErrorCode(err) != stele.ENOTFOUND {
		t.Fatalf("Row of a seq only b has: %v, want ENOTFOUND", err)
	}
	if n, err := s.CountRows(ctx(t), a.ID); err != nil || n != 3 {
		t.Fatalf("CountRows(a) = %d, %v; want 3", n, err)
	}
	if hs, err := s.LeafHashes(ctx(t), a.ID, 0, 10); err != nil || len(hs) != 3 {
		t.Fatalf("LeafHashes(a) = %d hashes, %v; want 3", len(hs), err)
	}
	if ns, err := s.TreeNodes(ctx(t), a.ID, 4, 0, 10); err != nil || len(ns) != 1 || ns[0].Hash != hashOf("a") {
		t.Fatalf("TreeNodes(a) = %v, %v; want a's one node", ns, err)
	}
	if h, err := s.CurrentHead(ctx(t), a.ID); err != nil || h.Size != 3 {
		t.Fatalf("CurrentHead(a) = %+v, %v; want size 3", h, err)
	}
}

func testConcurrentAppends(t *testing.T, s stele.Store) {
	a := mustAccount(t, s, "acme")
	const workers, each = 4, 6
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				errs <- s.Append(ctx(t), func(tx stele.AppendTx) error {
					h, err := tx.Head(ctx(t), a.ID)
					if err != nil {
						return err
					}
					r := eventRow(a.ID, h.Size)
					r.ActorTok = int64(w*100 + i + 1)
					if err := tx.InsertEvents(ctx(t), []stele.EventRow{r}); err != nil {
						return err
					}
					h.Size++
					h.Frontier = [][32]byte{r.LeafHash}
					return tx.SetHead(ctx(t), h)
				})
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	h, err := s.CurrentHead(ctx(t), a.ID)
	if err != nil || h.Size != workers*each {
		t.Fatalf("head = %+v, %v; want size %d", h, err, workers*each)
	}
	rows, err := s.Rows(ctx(t), stele.RowQuery{AccountID: a.ID, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	got := seqs(rows)
	slices.Sort(got)
	for i, seq := range got {
		if seq != int64(i) {
			t.Fatalf("seqs = %v, want 0..%d without gaps", got, workers*each-1)
		}
	}
	if len(got) != workers*each {
		t.Fatalf("%d rows, want %d", len(got), workers*each)
	}
}

func testRanges(t *testing.T, s stele.Store) {
	a := mustAccount(t, s, "acme")
	b := mustAccount(t, s, "beta")
	var rows []stele.EventRow
	for seq := range int64(20) {
		rows = append(rows, eventRow(a.ID, seq))
	}
	var nodes []stele.TreeNode
	for i := range int64(10) {
		nodes = append(nodes, stele.TreeNode{Level: 1, Index: i, Hash: hashOf(1, i)})
	}
	for i := range int64(5) {
		nodes = append(nodes, stele.TreeNode{Level: 2, Index: i, Hash: hashOf(2, i)})
	}
	appendRows(t, s, a.ID, rows, nodes)
	appendRows(t, s, b.ID, []stele.EventRow{eventRow(b.ID, 0)}, []stele.TreeNode{{Level: 1, Index: 4, Hash: hashOf("b")}})

	for _, r := range []struct{ from, to, n int64 }{{5, 9, 4}, {0, 20, 20}, {18, 25, 2}, {20, 30, 0}, {7, 7, 0}} {
		hs, err := s.LeafHashes(ctx(t), a.ID, r.from, r.to)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(hs)) != r.n {
			t.Fatalf("LeafHashes(%d, %d) = %d hashes, want %d", r.from, r.to, len(hs), r.n)
		}
		for i, h := range hs {
			if h != rows[r.from+int64(i)].LeafHash {
				t.Fatalf("LeafHashes(%d, %d)[%d] is not seq %d's", r.from, r.to, i, r.from+int64(i))
			}
		}
	}
	got, err := s.TreeNodes(ctx(t), a.ID, 1, 3, 6)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, nodes[3:6]) {
		t.Fatalf("TreeNodes(1, 3, 6) = %+v, want %+v", got, nodes[3:6])
	}
	got, err = s.TreeNodes(ctx(t), a.ID, 2, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, nodes[10:]) {
		t.Fatalf("TreeNodes(2, 0, 100) = %+v, want %+v", got, nodes[10:])
	}
	got, err = s.TreeNodes(ctx(t), a.ID, 3, 0, 100)
	if err != nil || len(got) != 0 {
		t.Fatalf("TreeNodes of an empty level = %v, %v", got, err)
	}
}

// tok returns a distinct made-up token.
func tok(name string) int64 {
	h := sha256.Sum256([]byte(name))
	return int64(binary.BigEndian.Uint64(h[:8]))
}
