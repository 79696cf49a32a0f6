package storetest

import (
	"testing"
	"time"

	"github.com/stele-audit/stele"
)

func runRetention(t *testing.T, open func(t *testing.T) stele.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s stele.Store)
	}{
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
