package integrity_test

import (
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/integrity"
	"github.com/stele-audit/stele/internal/ledger"
	"github.com/stele-audit/stele/internal/record"
	"github.com/stele-audit/stele/internal/search"
)

func TestEventStatusFollowsCheckpoints(t *testing.T) {
	ctx := t.Context()
	key, _, err := ledger.NewSigningKey("stele.local")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s := openStack(t, filepath.Join(dir, "stele.db"), key)
	defer s.stop()
	acct := &stele.Account{Name: "acme", Type: "team"}
	if err := s.db.CreateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	s.record(t, "acme", 5, 0)
	e, err := search.New(s.db, s.keys).Event(ctx, acct, 3)
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.cp.EventStatus(ctx, acct, e)
	if err != nil || !st.Pending || st.Verified {
		t.Fatalf("before any checkpoint: %+v %v", st, err)
	}
	if _, err := s.cp.Sign(ctx, acct); err != nil {
		t.Fatal(err)
	}
	st, err = s.cp.EventStatus(ctx, acct, e)
	if err != nil || !st.Verified || !strings.Contains(st.Checkpoint, "tree size 5") {
		t.Fatalf("after a checkpoint: %+v %v", st, err)
	}
	edited := *e
	edited.Description = "edited"
	st, err = s.cp.EventStatus(ctx, acct, &edited)
	if err != nil || st.Verified || !strings.Contains(st.Detail, "altered after it was recorded") {
		t.Fatalf("an edited event: %+v %v", st, err)
	}

	// Whoever can write the database can replace the checkpoint; only a
	// note signed by the server's key is believed.
	other, _, _ := ledger.NewSigningKey("stele.local")
	tamper(t, dir, func(db *sql.DB) {
		var root []byte
		if err := db.QueryRow(`SELECT root FROM checkpoints WHERE size = 5`).Scan(&root); err != nil {
			t.Fatal(err)
		}
		forged, err := ledger.SignCheckpoint(other.Signer, ledger.CheckpointBody{Origin: s.cp.Origin("acme"), Size: 5, Root: ledger.Hash(root)})
		if err != nil {
			t.Fatal(err)
		}
		exec(t, db, `UPDATE checkpoints SET note = ? WHERE size = 5`, forged)
	})
	st, err = s.cp.EventStatus(ctx, acct, e)
	if err != nil || st.Verified || !strings.Contains(st.Detail, "signature does not verify") {
		t.Fatalf("a checkpoint signed by another key: %+v %v", st, err)
	}
}

func TestCheckEventIncludedRefusesWhatNoStoredEventHolds(t *testing.T) {
	e := &stele.Event{Seq: 0, Action: "user.login", Metadata: map[string]any{"nested": map[string]any{"a": "b"}}}
	cp := ledger.CheckpointBody{Size: 1}
	err := integrity.CheckEventIncluded(e, ledger.Hash{}, nil, cp)
	if !errors.Is(err, integrity.ErrEventAltered) || !strings.Contains(err.Error(), `metadata "nested"`) {
		t.Fatalf("nested metadata: %v", err)
	}
	// The event that is the one leaf of a tree of size 1 is included.
	e.Metadata = map[string]any{"n": "1"}
	leaf := leafOf(e)
	if err := integrity.CheckEventIncluded(e, leaf, nil, ledger.CheckpointBody{Size: 1, Root: leaf}); err != nil {
		t.Fatal(err)
	}
	if err := integrity.CheckEventIncluded(e, leaf, nil, ledger.CheckpointBody{Size: 2, Root: leaf}); !errors.Is(err, ledger.ErrProof) {
		t.Fatalf("a proof too short: %v", err)
	}
}

func leafOf(e *stele.Event) ledger.Hash { return ledger.LeafHash(record.AppendCanonical(nil, e)) }
