package storetest

import (
	"testing"
	"time"

	"github.com/stele-audit/stele"
)

func testCheckpoints(t *testing.T, s stele.Store) {
	is := s
	a := mustAccount(t, s, "acme")
	b := mustAccount(t, s, "globex")
	if _, err := is.LatestCheckpoint(ctx(t), a.ID); stele.ErrorCode(err) != stele.ENOTFOUND {
		t.Fatalf("latest of an account without checkpoints: %v", err)
	}
	at := time.Now().UTC().Truncate(time.Microsecond)
	for _, size := range []int64{10, 30, 20} {
		c := &stele.Checkpoint{AccountID: a.ID, Size: size, Root: hashOf("root", size), Note: []byte("note " + string(rune('0'+size/10))), CreatedAt: at}
		if err := is.AddCheckpoint(ctx(t), c); err != nil {
			t.Fatal(err)
		}
	}
	// A second signer racing for the same size keeps the first.
	if err := is.AddCheckpoint(ctx(t), &stele.Checkpoint{AccountID: a.ID, Size: 30, Root: hashOf("other"), Note: []byte("x"), CreatedAt: at}); err != nil {
		t.Fatal(err)
	}
	latest, err := is.LatestCheckpoint(ctx(t), a.ID)
	if err != nil || latest.Size != 30 || latest.Root != hashOf("root", int64(30)) || string(latest.Note) != "note 3" || !latest.CreatedAt.Equal(at) {
		t.Fatalf("latest = %+v, %v", latest, err)
	}
	c20, err := is.CheckpointAt(ctx(t), a.ID, 20)
	if err != nil || c20.Size != 20 {
		t.Fatalf("at 20 = %+v, %v", c20, err)
	}
	if _, err := is.CheckpointAt(ctx(t), a.ID, 25); stele.ErrorCode(err) != stele.ENOTFOUND {
		t.Fatalf("at 25: %v", err)
	}
	all, err := is.Checkpoints(ctx(t), a.ID)
	if err != nil || len(all) != 3 || all[0].Size != 10 || all[2].Size != 30 {
		t.Fatalf("all = %v, %v", all, err)
	}
	if _, err := is.LatestCheckpoint(ctx(t), b.ID); stele.ErrorCode(err) != stele.ENOTFOUND {
		t.Fatalf("another account's checkpoint leaked: %v", err)
	}
	if _, err := is.CheckpointAt(ctx(t), b.ID, 20); stele.ErrorCode(err) != stele.ENOTFOUND {
		t.Fatalf("another account's checkpoint leaked: %v", err)
	}
}

func testPurgesAndRowsBySeq(t *testing.T, s stele.Store) {
	is := s
	a := mustAccount(t, s, "acme")
	if n, err := is.MaxSeq(ctx(t), a.ID); err != nil || n != -1 {
		t.Fatalf("max seq of an empty account = %d, %v", n, err)
	}
	var rows []stele.EventRow
	for seq := range int64(50) {
		rows = append(rows, eventRow(a.ID, seq))
	}
	appendRows(t, s, a.ID, rows, nil)
	got, err := is.RowsBySeq(ctx(t), a.ID, 10, 15)
	if err != nil || len(got) != 15 || got[0].Seq != 10 || got[14].Seq != 24 {
		t.Fatalf("rows by seq = %v, %v", seqs(got), err)
	}
	if got[3].LeafHash != rows[13].LeafHash || string(got[3].Payload) != string(rows[13].Payload) {
		t.Fatal("rows by seq do not read back exactly")
	}
	if n, err := is.MaxSeq(ctx(t), a.ID); err != nil || n != 49 {
		t.Fatalf("max seq = %d, %v", n, err)
	}
	at := time.Now().UTC().Truncate(time.Microsecond)
	p := &stele.Purge{AccountID: a.ID, Below: 16, Frontier: [][32]byte{hashOf("f16")}, Note: []byte("purged"), CreatedAt: at}
	if err := is.AddPurge(ctx(t), p); err != nil {
		t.Fatal(err)
	}
	if err := is.AddPurge(ctx(t), &stele.Purge{AccountID: a.ID, Below: 16, Note: []byte("again"), CreatedAt: at}); err != nil {
		t.Fatal(err)
	}
	if err := is.AddPurge(ctx(t), &stele.Purge{AccountID: a.ID, Below: 24, Frontier: [][32]byte{hashOf("f16"), hashOf("f8")}, Note: []byte("more"), CreatedAt: at}); err != nil {
		t.Fatal(err)
	}
	ps, err := is.Purges(ctx(t), a.ID)
	if err != nil || len(ps) != 2 || ps[0].Below != 16 || string(ps[0].Note) != "purged" || len(ps[1].Frontier) != 2 || ps[1].Frontier[1] != hashOf("f8") {
		t.Fatalf("purges = %+v, %v", ps, err)
	}
}
