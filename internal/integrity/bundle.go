package integrity

import (
	"context"
	"io"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/export"
	"github.com/stele-audit/stele/internal/ledger"
	"github.com/stele-audit/stele/internal/search"
)

// WriteBundle streams a verifiable bundle of account's events matching q:
// a checkpoint of the current tree (signed now if the tree grew) and each
// event with its inclusion proof in that tree. Events that arrive while it
// runs are beyond the checkpoint and left out. It returns how many events
// it wrote.
func WriteBundle(ctx context.Context, w io.Writer, cp *Checkpointer, s *search.Service, account *stele.Account, q stele.Query) (int64, error) {
	c, err := cp.Sign(ctx, account)
	if err != nil {
		return 0, err
	}
	bw, err := export.NewBundleWriter(w, account.Name, c.Note)
	if err != nil {
		return 0, err
	}
	r := Hashes{Store: cp.Events, AccountID: account.ID}
	var n int64
	_, err = s.Each(ctx, account, q, func(e *stele.Event) error {
		if e.Seq >= c.Size {
			return nil
		}
		leaves, err := r.LeafHashes(ctx, e.Seq, e.Seq+1)
		if err != nil {
			return err
		}
		if len(leaves) != 1 {
			return stele.Errorf(stele.ENOTFOUND, "event %s has no leaf hash", e.ID)
		}
		proof, err := ledger.InclusionProof(ctx, r, e.Seq, c.Size)
		if err != nil {
			return err
		}
		n++
		return bw.Add(e, leaves[0], proof)
	})
	if err != nil {
		return n, err
	}
	return n, bw.Close()
}
