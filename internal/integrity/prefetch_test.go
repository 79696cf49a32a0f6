package integrity_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/integrity"
	"github.com/stele-audit/stele/internal/ledger"
)

// eventsOnly hides the SQLite store's ProofHashes, so that proofs read
// their hashes one range at a time through stele.EventStore.
type eventsOnly struct{ stele.EventStore }

// TestProofsReadInOneQueryMatchRangeReads holds the proofs built from
// hashes read in one query to the proofs built range by range, for every
// seq, size and pair of sizes of a small tree, and on a tree missing a
// stored node and some leaves.
func TestProofsReadInOneQueryMatchRangeReads(t *testing.T) {
	key, _, _ := ledger.NewSigningKey("stele.local")
	dir := baseStore(t, key)
	ctx := context.Background()
	compare := func(t *testing.T) {
		s := openStack(t, filepath.Join(dir, "stele.db"), key)
		defer s.stop()
		acct, err := s.db.AccountByName(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		head, _ := s.db.CurrentHead(ctx, acct.ID)
		for size := int64(0); size <= head.Size; size++ {
			for seq := int64(0); seq < size; seq++ {
				p1, err1 := integrity.ProveInclusion(ctx, s.db, acct.ID, seq, size)
				p2, err2 := integrity.ProveInclusion(ctx, eventsOnly{s.db}, acct.ID, seq, size)
				if !reflect.DeepEqual(p1, p2) || fmt.Sprint(err1) != fmt.Sprint(err2) {
					t.Fatalf("inclusion of %d in %d: one query %v %v, range reads %v %v", seq, size, p1, err1, p2, err2)
				}
			}
			for from := int64(0); from <= size; from++ {
				p1, err1 := integrity.ProveConsistency(ctx, s.db, acct.ID, from, size)
				p2, err2 := integrity.ProveConsistency(ctx, eventsOnly{s.db}, acct.ID, from, size)
				if !reflect.DeepEqual(p1, p2) || fmt.Sprint(err1) != fmt.Sprint(err2) {
					t.Fatalf("consistency %d..%d: one query %v %v, range reads %v %v", from, size, p1, err1, p2, err2)
				}
			}
		}
	}
	t.Run("intact", compare)
	tamper(t, dir, func(db *sql.DB) {
		exec(t, db, `DELETE FROM tree_nodes WHERE level = 4 AND idx = 1`)
		exec(t, db, `DELETE FROM events WHERE seq IN (3, 50, 51) AND account_id = (SELECT id FROM accounts WHERE name = 'acme')`)
	})
	t.Run("missing node and leaves", compare)
}
