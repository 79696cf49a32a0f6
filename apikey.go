package stele

import (
	"context"
	"slices"
	"strings"
	"time"
)

// Scope is a permission an API key carries.
type Scope string

const (
	ScopeEventsWrite   Scope = "events:write"
	ScopeEventsRead    Scope = "events:read"
	ScopeEventsExport  Scope = "events:export"
	ScopeAlertsManage  Scope = "alerts:manage"
	ScopeStreamsManage Scope = "streams:manage"
)

// Scopes lists every scope.
var Scopes = []Scope{ScopeEventsWrite, ScopeEventsRead, ScopeEventsExport, ScopeAlertsManage, ScopeStreamsManage}

// JoinScopes is scopes as stored and shown: comma-joined.
func JoinScopes(scopes []Scope) string {
	parts := make([]string, len(scopes))
	for i, s := range scopes {
		parts[i] = string(s)
	}
	return strings.Join(parts, ",")
}

// SplitScopes is the inverse of JoinScopes.
func SplitScopes(s string) []Scope {
	var out []Scope
	for _, p := range strings.Split(s, ",") {
		if p != "" {
			out = append(out, Scope(p))
		}
	}
	return out
}

// APIKey is a producer's or reader's credential. Only the SHA-256 of its
// secret is kept. An operator key belongs to the _system account and may
// write events for any account by naming it in the event.
type APIKey struct {
	ID         string     `json:"id"`
	AccountID  int64      `json:"account_id"`
	Account    string     `json:"account"`
	Name       string     `json:"name,omitempty"`
	Scopes     []Scope    `json:"scopes"`
	Operator   bool       `json:"operator"`
	SecretHash []byte     `json:"-"`
	CreatedAt  time.Time  `json:"created_at"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

// APIKeyStore keeps API keys.
type APIKeyStore interface {
	CreateAPIKey(ctx context.Context, k *APIKey) error
	APIKey(ctx context.Context, id string) (*APIKey, error) // ENOTFOUND if unknown
	APIKeys(ctx context.Context, accountID int64) ([]*APIKey, error)
	RevokeAPIKey(ctx context.Context, id string, at time.Time) error // ENOTFOUND if unknown
}

// APIKeyGenerationStore is an APIKeyStore with a generation: a counter the
// store changes, in the same transaction, whenever a key is created, revoked
// or deleted or an account is renamed or deleted. A server may cache the keys
// it has checked and trust an entry while the generation is unchanged.
type APIKeyGenerationStore interface {
	APIKeyStore
	APIKeyGeneration(ctx context.Context) (int64, error)
}

// Principal is who a request acts for, as its credential established.
type Principal struct {
	AccountID int64
	Account   string
	KeyID     string
	Scopes    []Scope
	Operator  bool
	// Generation is the key store's generation (APIKeyGenerationStore)
	// when the key was read, if HasGeneration. Events written for the
	// principal are stored only by a transaction that reads the same
	// generation (AppendTx.APIKeyGeneration), so a key revoked or changed
	// since it was read writes nothing.
	Generation    int64
	HasGeneration bool
}

// Can reports whether p holds scope s.
func (p *Principal) Can(s Scope) bool { return p != nil && slices.Contains(p.Scopes, s) }
