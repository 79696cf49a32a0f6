package seal

import (
	"context"
	"fmt"

	"github.com/stele-audit/stele"
)

// MasterRotation is what RotateMaster did.
type MasterRotation struct {
	Version   int  // the master key version every account key is wrapped under now
	Rewrapped int  // account keys wrapped again
	Retired   bool // older versions were dropped from the key file
}

// RotateMaster moves every account key under a new master key version.
//
// With keyFile, the master key file this keyring's key was read from, it
// adds a version to the file, makes it the keyring's current key and
// rewraps every account key under it. With retire it then drops the older
// versions from the file, unless a second pass finds keys wrapped under one
// of them meanwhile: some server still wraps new keys under an older
// version, and would be unable to read them once restarted. It then
// returns the rotation done with an ECONFLICT error, and the file keeps
// every version.
//
// Without keyFile (the key came from the environment, which cannot be
// rewritten from here), it rewraps every account key under the newest
// version the keyring holds; the operator adds the version to the
// environment first ("v1:…,v2:…").
func (r *Keyring) RotateMaster(ctx context.Context, store stele.KeyStore, keyFile string, retire bool) (MasterRotation, error) {
	if keyFile != "" {
		next, err := AddMasterKeyVersion(keyFile)
		if err != nil {
			return MasterRotation{}, err
		}
		r.mu.Lock()
		r.setMaster(next)
		r.mu.Unlock()
	}
	n, err := r.rewrapAll(ctx, store)
	rot := MasterRotation{Version: r.MasterVersion(), Rewrapped: n}
	if err != nil || !retire || keyFile == "" {
		return rot, err
	}
	late, err := r.rewrapAll(ctx, store)
	rot.Rewrapped += late
	if err != nil {
		return rot, err
	}
	if late > 0 {
		return rot, stele.Errorf(stele.ECONFLICT, "%d account keys were wrapped under an older master key version during the rotation: a server still uses it. "+
			"Restart every server, then retire the older versions", late)
	}
	r.mu.Lock()
	current, err := NewMasterKeyFrom(r.master)
	r.mu.Unlock()
	if err != nil {
		return rot, err
	}
	if err := WriteMasterKeyFile(keyFile, current); err != nil {
		return rot, err
	}
	rot.Retired = true
	return rot, nil
}

// rewrapAll rewraps the keys of every account that holds keys in the key
// store now (whether or not the event store still knows it) under the
// current master key version.
func (r *Keyring) rewrapAll(ctx context.Context, store stele.KeyStore) (int, error) {
	ids, err := store.KeyAccounts(ctx)
	if err != nil {
		return 0, fmt.Errorf("rewrap keys: %w", err)
	}
	return r.Rewrap(ctx, store, ids)
}
