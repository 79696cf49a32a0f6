package audit

import (
	"context"
	"fmt"

	"github.com/stele-audit/stele"
)

// KeysRotated records in the account's log and in _system's that a added
// data key version dataVersion and index key version indexVersion to acct.
func (r *Recorder) KeysRotated(ctx context.Context, a Actor, acct *stele.Account, dataVersion, indexVersion int) error {
	return r.record(ctx, a, both(stele.Event{Account: acct.Name, Action: "crypto.key_rotated", Outcome: stele.OutcomeSuccess,
		Target: accountRef(acct.Name),
		Description: fmt.Sprintf("%s rotated the keys of %s: data key v%d, index key v%d; older versions still decrypt",
			a.name(), acct.Name, dataVersion, indexVersion),
		Metadata: map[string]any{"data_key_version": dataVersion, "index_key_version": indexVersion}})...)
}

// MasterRotation is a rotation of the master key: the version every
// account key is wrapped under now, how many were rewrapped, whether older
// versions were retired, and why it stopped short (nil when it did not).
type MasterRotation struct {
	Version   int
	Rewrapped int
	Retired   bool
	Err       error
}

// MasterKeyRotated records in _system that a rotated the master key. A
// rotation cut short (a rewrap that failed, a retirement refused) still
// changed keys: it is recorded too, as a failure.
func (r *Recorder) MasterKeyRotated(ctx context.Context, a Actor, m MasterRotation) error {
	e := stele.Event{Account: stele.SystemAccount, Action: "crypto.key_rotated", Outcome: stele.OutcomeSuccess,
		Target:      &stele.Ref{Type: "master_key", ID: fmt.Sprintf("v%d", m.Version)},
		Description: fmt.Sprintf("%s rotated the master key to version %d: %d account keys rewrapped", a.name(), m.Version, m.Rewrapped),
		Metadata:    map[string]any{"master_key_version": m.Version, "keys_rewrapped": m.Rewrapped, "older_versions_retired": m.Retired}}
	if m.Err != nil {
		e.Outcome, e.Metadata["error"] = stele.OutcomeFailure, stele.ErrorMessage(m.Err)
	}
	return r.record(ctx, a, e)
}

// Reencrypted records in the account's log that a sealed rows of acct's
// events again under data key version version.
func (r *Recorder) Reencrypted(ctx context.Context, a Actor, acct *stele.Account, rows int64, version int) error {
	return r.record(ctx, a, stele.Event{Account: acct.Name, Action: "crypto.reencrypted", Outcome: stele.OutcomeSuccess,
		Target:      accountRef(acct.Name),
		Description: fmt.Sprintf("%s sealed %d events of %s again under data key v%d", a.name(), rows, acct.Name, version),
		Metadata:    map[string]any{"rows": rows, "data_key_version": version}})
}
