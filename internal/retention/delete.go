package retention

import (
	"context"
	"fmt"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/audit"
)

// KeyDestroyer destroys an account's keys in the key store and drops any
// cached copy (seal.Keyring does).
type KeyDestroyer interface {
	DestroyKeys(ctx context.Context, accountID int64) (int64, error)
}

// Deletion is what deleting an account removed.
type Deletion struct {
	Account string `json:"account"`
	Keys    int64  `json:"keys_destroyed"`
	Events  int64  `json:"events_deleted"`
}

// DeleteAccount deletes the named account for good. Its keys are destroyed
// in the key store first, so that from that moment nothing of it
// decrypts, even if deleting the rows is cut short, and no copy of the
// event store, from before the deletion or after, decrypts it either; then
// its events go in batches of batch rows, then every other row of it;
// _system records the deletion (a failure to record it is an
// *audit.RecordError, the account gone).
//
// Crypto-shredding is as complete as the copies of the key store: a
// backup of the key store taken before the deletion still holds the keys
// until it ages out (docs/SECURITY.md: keep those backups short-lived).
func DeleteAccount(ctx context.Context, accounts stele.AccountStore, del stele.AccountDeleter, keys KeyDestroyer, rec *audit.Recorder,
	name string, actor audit.Actor, batch int) (Deletion, error) {
	if name == stele.SystemAccount {
		return Deletion{}, stele.Errorf(stele.EINVALID, "the operator account %s cannot be deleted", stele.SystemAccount)
	}
	a, err := accounts.AccountByName(ctx, name)
	if err != nil {
		return Deletion{}, err
	}
	if batch <= 0 {
		batch = DefaultBatch
	}
	d := Deletion{Account: a.Name}
	if d.Keys, err = keys.DestroyKeys(ctx, a.ID); err != nil {
		return d, fmt.Errorf("destroy keys: %w", err)
	}
	for {
		n, err := del.DeleteAccountEvents(ctx, a.ID, batch)
		if err != nil {
			return d, fmt.Errorf("delete events: %w", err)
		}
		d.Events += n
		if n == 0 {
			break
		}
	}
	if err := del.DeleteAccount(ctx, a.ID); err != nil {
		return d, fmt.Errorf("delete account: %w", err)
	}
	return d, rec.AccountDeleted(ctx, actor, a, d.Keys, d.Events)
}
