package integrity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/ledger"
	"github.com/stele-audit/stele/internal/record"
)

// ErrEventAltered is the failure of an event that is not what its leaf in
// the tree commits to: altered after it was recorded, or never logged.
var ErrEventAltered = errors.New("the event does not match its leaf hash in the tree")

// CheckEventIncluded checks that the event e, as decrypted from the store
// or as a server sent it, is leaf e.Seq of the signed tree cp. Its leaf
// hash, recomputed from the event's canonical encoding, must be leaf (the
// hash the tree holds, where the proof starts), and the proof must lead
// from there to cp's root. cp must come from a checkpoint whose signature
// has been checked. The error wraps ErrEventAltered or ledger.ErrProof.
func CheckEventIncluded(e *stele.Event, leaf ledger.Hash, proof []ledger.Hash, cp ledger.CheckpointBody) error {
	if err := canonicalMetadata(e.Metadata); err != nil {
		return fmt.Errorf("%w: %v", ErrEventAltered, err)
	}
	if ledger.LeafHash(record.AppendCanonical(nil, e)) != leaf {
		return ErrEventAltered
	}
	return ledger.VerifyInclusion(leaf, e.Seq, cp.Size, proof, cp.Root)
}

// canonicalMetadata checks that every metadata value is of a kind a stored
// event holds (what validation admits), so that hashing an event a server
// made up fails as a mismatch rather than as a panic.
func canonicalMetadata(m map[string]any) error {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys) // the first offender named is the same every time
	for _, k := range keys {
		switch m[k].(type) {
		case string, json.Number, bool, nil:
		default:
			return fmt.Errorf("metadata %q is not a string, number, boolean or null", k)
		}
	}
	return nil
}

// EventStatus is what is known of an event's place in its account's tree,
// as the console's event page shows it.
type EventStatus struct {
	Verified   bool
	Pending    bool   // newer than the latest signed checkpoint
	Checkpoint string // which checkpoint it was checked against
	Detail     string
}

// EventStatus checks an event of the account, as decrypted from the store,
// against the account's latest checkpoint: the checkpoint's signature, the
// event's leaf hash recomputed from it, and the inclusion proof from that
// leaf to the signed root. A check that runs and fails is a status, not an
// error; errors are the store's.
func (c *Checkpointer) EventStatus(ctx context.Context, account *stele.Account, e *stele.Event) (EventStatus, error) {
	latest, err := c.Store.LatestCheckpoint(ctx, account.ID)
	if stele.ErrorCode(err) == stele.ENOTFOUND || (err == nil && latest.Size <= e.Seq) {
		return EventStatus{Pending: true, Detail: "This event is newer than the latest signed checkpoint; the next one, signed within a minute while events arrive, will include it."}, nil
	}
	if err != nil {
		return EventStatus{}, err
	}
	origin := c.Origin(account.Name)
	st := EventStatus{Checkpoint: fmt.Sprintf("checkpoint of %s at tree size %d", origin, latest.Size)}
	cp, err := ledger.OpenCheckpoint(latest.Note, c.Key.Verifier)
	if err != nil {
		st.Detail = "The latest checkpoint's signature does not verify under this server's signing key: " + err.Error()
		return st, nil
	}
	if cp.Origin != origin || cp.Size != latest.Size || cp.Root != latest.Root {
		st.Detail = "The latest checkpoint's stored size or root is not what its signed note says: the checkpoint was altered."
		return st, nil
	}
	proof, err := ProveInclusion(ctx, c.Events, account.ID, e.Seq, cp.Size)
	if err != nil {
		st.Detail = "No inclusion proof could be built: " + stele.ErrorMessage(err)
		return st, nil
	}
	switch err := CheckEventIncluded(e, proof.LeafHash, proof.Hashes, cp); {
	case errors.Is(err, ErrEventAltered):
		st.Detail = "The event as decrypted does not match its leaf hash in the tree: it was altered after it was recorded."
	case errors.Is(err, ledger.ErrProof):
		st.Detail = "The inclusion proof does not lead to the signed root: " + err.Error()
	case err != nil:
		return EventStatus{}, err
	default:
		st.Verified = true
		st.Detail = fmt.Sprintf("Leaf %x… is included in the signed tree of %d events (proof of %d hashes); stele verify checks the same offline.",
			proof.LeafHash[:6], cp.Size, len(proof.Hashes))
	}
	return st, nil
}
