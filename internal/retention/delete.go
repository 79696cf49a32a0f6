package retention

import (
	"context"
	"fmt"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/audit"
)

// Forgetter drops an account's cached keys (seal.Keyring does).
type Forgetter interface{ Forget(accountID int64) }

// Deletion is what deleting an account removed.
type Deletion struct {
	Account string `json:"account"`
	Keys    int64  `json:"keys_destroyed"`
	Events  int64  `json:"events_deleted"`
}

// DeleteAccount deletes the named account for good. Its wrapped keys are
// destroyed first, so that from that moment nothing of it decrypts, even
// if deleting the rows is cut short; then its events go in batches of
// batch rows, then every other row of it; _system records the deletion
// (a failure to record it is an *audit.RecordError, the account gone).
//
// Crypto-shredding is only as complete as the copies of the wrapped keys:
// a backup taken before the deletion still holds them, and with the master
// key it still decrypts. The account is gone for good once such backups
// have aged out or the master key they need has been rotated away
// (stele crypto rotate --master, then retiring the old version).
func DeleteAccount(ctx context.Context, accounts stele.AccountStore, del stele.AccountDeleter, keys Forgetter, rec *audit.Recorder,
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
	if d.Keys, err = del.DeleteWrappedKeys(ctx, a.ID); err != nil {
		return d, fmt.Errorf("destroy keys: %w", err)
	}
	if keys != nil {
		keys.Forget(a.ID)
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
