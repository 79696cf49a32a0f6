package seal

import (
	"bytes"
	"context"
	"fmt"

	"github.com/stele-audit/stele"
)

// MoveLegacyKeys moves the wrapped keys that releases before the key store
// kept in the event store into this keyring's key store, once, on the first
// open after an upgrade, and returns how many keys it moved.
//
// Nothing is lost on the way: every legacy key must unwrap under the
// master key before anything is written; each is then added to the key
// store (a key already there, from a run cut short or another node's, must
// unwrap to the same key); the key store is read back and every key
// checked again; only then are the legacy keys destroyed in the event
// store. A failure leaves the legacy keys where they are, and the next open
// tries again. Keys of an account whose keys the key store has destroyed
// are not moved back (an event store restored from before a deletion): they
// are destroyed with the rest.
func (r *Keyring) MoveLegacyKeys(ctx context.Context, from stele.LegacyKeys) (int, error) {
	legacy, err := from.LegacyWrappedKeys(ctx)
	if err != nil {
		return 0, fmt.Errorf("move keys to the key store: %w", err)
	}
	byAccount := map[int64][]stele.WrappedKey{}
	var order []int64
	for _, w := range legacy {
		raw, err := r.unwrap(w)
		if err != nil {
			return 0, fmt.Errorf("move keys to the key store: nothing moved: %w", err)
		}
		clear(raw)
		if _, ok := byAccount[w.AccountID]; !ok {
			order = append(order, w.AccountID)
		}
		byAccount[w.AccountID] = append(byAccount[w.AccountID], w)
	}
	moved := 0
	for _, id := range order {
		n, err := r.moveAccount(ctx, byAccount[id])
		if err != nil {
			return moved, fmt.Errorf("move keys to the key store: account %d: %w", id, err)
		}
		moved += n
	}
	if err := from.DropLegacyKeys(ctx); err != nil {
		return moved, fmt.Errorf("move keys to the key store: keys moved and checked, but not yet removed from the event store: %w", err)
	}
	return moved, nil
}

// moveAccount adds one account's legacy keys to the key store, unless its
// keys there were destroyed, and checks what the key store then holds.
func (r *Keyring) moveAccount(ctx context.Context, legacy []stele.WrappedKey) (int, error) {
	id := legacy[0].AccountID
	have, err := r.store.WrappedKeys(ctx, id)
	if stele.ErrorCode(err) == stele.EGONE {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var missing []stele.WrappedKey
	for _, w := range legacy {
		if _, ok := findKey(have, w); !ok {
			missing = append(missing, w)
		}
	}
	if len(missing) > 0 {
		err := r.store.AddWrappedKeys(ctx, missing)
		if err != nil && stele.ErrorCode(err) != stele.ECONFLICT { // ECONFLICT: another process moved them first
			return 0, err
		}
	}
	if have, err = r.store.WrappedKeys(ctx, id); err != nil {
		return 0, err
	}
	for _, w := range legacy {
		got, ok := findKey(have, w)
		if !ok {
			return 0, fmt.Errorf("key %s v%d is not in the key store after it was added", w.Purpose, w.Version)
		}
		if err := r.sameKey(w, got); err != nil {
			return 0, err
		}
	}
	return len(missing), nil
}

func findKey(keys []stele.WrappedKey, w stele.WrappedKey) (stele.WrappedKey, bool) {
	for _, k := range keys {
		if k.Purpose == w.Purpose && k.Version == w.Version {
			return k, true
		}
	}
	return stele.WrappedKey{}, false
}

// sameKey checks that two wrapped forms of one key unwrap to the same key.
func (r *Keyring) sameKey(a, b stele.WrappedKey) error {
	ra, err := r.unwrap(a)
	if err != nil {
		return err
	}
	defer clear(ra)
	rb, err := r.unwrap(b)
	if err != nil {
		return err
	}
	defer clear(rb)
	if !bytes.Equal(ra, rb) {
		return stele.Errorf(stele.ECONFLICT, "account %d key %s v%d differs between the event store and the key store; nothing removed", a.AccountID, a.Purpose, a.Version)
	}
	return nil
}
