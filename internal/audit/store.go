package audit

import (
	"context"
	"fmt"

	"github.com/stele-audit/stele"
)

// Initialization is what stele init made: the kind of store, the origin
// prefix of its checkpoints and the verifier key to publish, where its keys
// went ("files" in a directory, "environment" lines printed, or the "data
// directory"), and the first operator's email.
type Initialization struct {
	Store       string // "sqlite" or "postgres"
	Origin      string
	VerifierKey string
	Keys        string
	Operator    string
}

// StoreInitialized records in _system that a made the store as in says.
func (r *Recorder) StoreInitialized(ctx context.Context, a Actor, in Initialization) error {
	return r.record(ctx, a, stele.Event{Account: stele.SystemAccount, Action: "system.initialized", Outcome: stele.OutcomeSuccess,
		Target: &stele.Ref{Type: "store", ID: in.Store, Name: in.Origin},
		Description: fmt.Sprintf("%s made this %s store, with checkpoints signed as %s, keys kept in %s, and the operator %s",
			a.name(), in.Store, in.Origin, in.Keys, in.Operator),
		Metadata: map[string]any{"store": in.Store, "origin_prefix": in.Origin, "verifier_key": in.VerifierKey, "keys": in.Keys, "operator": in.Operator}})
}

// SignerChange is a change of the key that signs checkpoints, or of their
// origin prefix: from what the store's latest checkpoint carries to what
// signs from now on.
type SignerChange struct {
	FromName, FromPrefix string
	ToName, ToPrefix     string
	VerifierKey          string // the new verifier key, to publish
}

// SigningKeyChanged records in _system that a changed the checkpoint
// signing key or origin prefix on purpose (stele serve
// --accept-new-origin), so that verifiers can be told when their pinned key
// stopped signing.
func (r *Recorder) SigningKeyChanged(ctx context.Context, a Actor, c SignerChange) error {
	return r.record(ctx, a, stele.Event{Account: stele.SystemAccount, Action: "crypto.key_rotated", Outcome: stele.OutcomeSuccess,
		Target: &stele.Ref{Type: "signing_key", ID: c.ToName},
		Description: fmt.Sprintf("%s changed the checkpoint signer from %s (origin %s/…) to %s (origin %s/…); verifiers must trust the new verifier key",
			a.name(), c.FromName, c.FromPrefix, c.ToName, c.ToPrefix),
		Metadata: map[string]any{"previous_signer": c.FromName, "previous_origin_prefix": c.FromPrefix,
			"signer": c.ToName, "origin_prefix": c.ToPrefix, "verifier_key": c.VerifierKey}})
}
