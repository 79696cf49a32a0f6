package audit

import (
	"context"
	"fmt"

	"github.com/stele-audit/stele"
)

// KeyCreated records that a created API key k.
func (r *Recorder) KeyCreated(ctx context.Context, a Actor, k *stele.APIKey) error {
	scopes := stele.JoinScopes(k.Scopes)
	return r.record(ctx, a, stele.Event{Account: k.Account, Action: "api_key.created", Outcome: stele.OutcomeSuccess,
		Target:      keyRef(k),
		Description: fmt.Sprintf("%s created API key %s with scopes %s", a.name(), k.ID, scopes),
		Metadata:    map[string]any{"scopes": scopes, "operator": k.Operator, "state_before": "", "state_after": "active"}})
}

// KeyRevoked records that a revoked API key k.
func (r *Recorder) KeyRevoked(ctx context.Context, a Actor, k *stele.APIKey) error {
	return r.record(ctx, a, stele.Event{Account: k.Account, Action: "api_key.revoked", Outcome: stele.OutcomeSuccess,
		Target:      keyRef(k),
		Description: fmt.Sprintf("%s revoked API key %s", a.name(), k.ID),
		Metadata:    map[string]any{"scopes": stele.JoinScopes(k.Scopes), "operator": k.Operator, "state_before": "active", "state_after": "revoked"}})
}

func keyRef(k *stele.APIKey) *stele.Ref {
	return &stele.Ref{Type: "api_key", ID: k.ID, Name: k.Name}
}
