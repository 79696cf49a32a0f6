package seal

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/record"
)

// Rotation is the outcome of an account key rotation: the new current
// versions of its data and index keys.
type Rotation struct {
	AccountID    int64
	DataVersion  int
	IndexVersion int
}

// Rotate adds a new data key and a new index key version to an account.
// New payloads are sealed, and new tokens computed, under them; older
// versions stay to open older payloads and to find older rows (queries
// search the tokens of every index version). Other processes see the new
// versions within their keyrings' RefreshEvery.
func (r *Keyring) Rotate(ctx context.Context, accountID int64) (Rotation, error) {
	wrapped, err := r.store.WrappedKeys(ctx, accountID)
	if err != nil {
		return Rotation{}, fmt.Errorf("rotate keys: %w", err)
	}
	if len(wrapped) == 0 {
		return Rotation{}, stele.Errorf(stele.ENOTFOUND, "account %d has no keys to rotate", accountID)
	}
	rot := Rotation{AccountID: accountID}
	for _, w := range wrapped {
		switch w.Purpose {
		case PurposeData:
			rot.DataVersion = max(rot.DataVersion, w.Version)
		case PurposeIndex:
			rot.IndexVersion = max(rot.IndexVersion, w.Version)
		}
	}
	rot.DataVersion++
	rot.IndexVersion++
	now := r.now().UTC().Truncate(stele.TimeUnit)
	var keys []stele.WrappedKey
	for _, pv := range []struct {
		purpose string
		version int
	}{{PurposeData, rot.DataVersion}, {PurposeIndex, rot.IndexVersion}} {
		raw := make([]byte, 32)
		rand.Read(raw)
		keys = append(keys, r.wrapNew(accountID, pv.purpose, pv.version, raw, now))
		clear(raw)
	}
	if err := r.store.AddWrappedKeys(ctx, keys); err != nil {
		return Rotation{}, fmt.Errorf("rotate keys: %w", err)
	}
	r.Forget(accountID)
	return rot, nil
}

// Rewrap wraps every key of the accounts that is not under the current
// master key version again under it, and returns how many keys changed.
// Once it has run for every account, older master key versions can be
// retired from the key file.
func (r *Keyring) Rewrap(ctx context.Context, store stele.KeyStore, accountIDs []int64) (int, error) {
	current := r.MasterVersion()
	n := 0
	for _, id := range accountIDs {
		wrapped, err := store.WrappedKeys(ctx, id)
		if err != nil {
			return n, fmt.Errorf("rewrap keys: %w", err)
		}
		var out []stele.WrappedKey
		for _, w := range wrapped {
			if w.MasterVersion == current {
				continue
			}
			raw, err := r.unwrap(w)
			if err != nil {
				return n, err
			}
			nw := r.wrapNew(w.AccountID, w.Purpose, w.Version, raw, w.CreatedAt)
			clear(raw)
			out = append(out, nw)
		}
		if len(out) == 0 {
			continue
		}
		if err := store.RewrapKeys(ctx, out); err != nil {
			return n, fmt.Errorf("rewrap keys: %w", err)
		}
		n += len(out)
		r.Forget(id)
	}
	return n, nil
}

// ReencryptResult counts what Reencrypt did.
type ReencryptResult struct {
	AccountID int64
	Version   int   // the data key version rows were moved to
	Rows      int64 // rows sealed again
}

// Reencrypt seals the account's payloads written under older data key
// versions again under the current one, batch rows per transaction. The
// additional data, and so the leaf hashes, are unchanged; only the key
// version and the ciphertext of each row change. pause, if positive, is
// waited between batches so that a background run leaves the writer to
// ingest.
func (r *Keyring) Reencrypt(ctx context.Context, store stele.KeyRotationStore, accountID int64, batch int, pause time.Duration) (ReencryptResult, error) {
	r.Forget(accountID)
	k, err := r.Account(ctx, accountID)
	if err != nil {
		return ReencryptResult{}, err
	}
	res := ReencryptResult{AccountID: accountID, Version: k.DataVersion()}
	if batch <= 0 {
		batch = 1000
	}
	var from int64
	var ad []byte
	for {
		rows, err := store.RowsBelowKeyVersion(ctx, accountID, res.Version, from, batch)
		if err != nil {
			return res, err
		}
		if len(rows) == 0 {
			return res, nil
		}
		out := make([]stele.Reencrypted, 0, len(rows))
		for i := range rows {
			row := &rows[i]
			ad = record.AppendAD(ad[:0], row)
			plain, err := k.Open(row.KeyVersion, row.Seq, row.Payload, ad)
			if err != nil {
				return res, fmt.Errorf("re-encrypt event %s: %w", stele.EventID(accountID, row.Seq), err)
			}
			v, sealed := k.Seal(nil, row.Seq, plain, ad)
			clear(plain)
			out = append(out, stele.Reencrypted{AccountID: accountID, Seq: row.Seq, OldVersion: row.KeyVersion, NewVersion: v, Payload: sealed})
		}
		n, err := store.UpdatePayloads(ctx, out)
		if err != nil {
			return res, err
		}
		res.Rows += n
		from = rows[len(rows)-1].Seq + 1
		if pause > 0 {
			select {
			case <-ctx.Done():
				return res, ctx.Err()
			case <-time.After(pause):
			}
		}
	}
}
