// Package apikey issues API keys and authenticates requests that carry them.
// A key is "stele_" + its public id + "_" + a 256-bit secret; only the
// SHA-256 of the secret is stored, and checking compares hashes in constant time.
package apikey

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"slices"
	"strings"
	"time"

	"github.com/stele-audit/stele"
)

const prefix = "stele_"

// Issue creates a key for account with scopes, stores it, and returns the
// key's record and its full secret text, which is never shown again.
func Issue(ctx context.Context, store stele.APIKeyStore, account *stele.Account, scopes []stele.Scope, operator bool, name string, now time.Time) (*stele.APIKey, string, error) {
	if len(scopes) == 0 {
		return nil, "", &stele.Error{Code: stele.EINVALID, Message: "a key needs at least one scope",
			Details: []stele.FieldError{{Field: "scopes", Rule: "required"}}}
	}
	for _, s := range scopes {
		if !slices.Contains(stele.Scopes, s) {
			return nil, "", &stele.Error{Code: stele.EINVALID, Message: "unknown scope " + string(s),
				Details: []stele.FieldError{{Field: "scopes", Rule: "enum", Message: "known scopes: " + joinScopes(stele.Scopes)}}}
		}
	}
	if operator && account.Name != stele.SystemAccount {
		return nil, "", stele.Errorf(stele.EINVALID, "operator keys belong to the %s account", stele.SystemAccount)
	}
	// rand.Text gives 26 base32 characters (130 bits); two make the secret.
	id := "key_" + strings.ToLower(rand.Text()[:16])
	secret := strings.ToLower(rand.Text() + rand.Text())
	sum := sha256.Sum256([]byte(secret))
	k := &stele.APIKey{
		ID: id, AccountID: account.ID, Account: account.Name, Name: name, Scopes: scopes,
		Operator: operator, SecretHash: sum[:], CreatedAt: now.UTC().Truncate(stele.TimeUnit),
	}
	if err := store.CreateAPIKey(ctx, k); err != nil {
		return nil, "", err
	}
	return k, prefix + id + "_" + secret, nil
}

// ParseScopes parses a comma-separated scope list.
func ParseScopes(s string) []stele.Scope {
	var out []stele.Scope
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, stele.Scope(f))
		}
	}
	return out
}

func joinScopes(ss []stele.Scope) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = string(s)
	}
	return strings.Join(parts, ", ")
}

var errInvalidKey = stele.Errorf(stele.EUNAUTHORIZED, "invalid API key")

// KeyID returns the public id of a key's full text, as events name its
// holder, or false when key is not shaped like a key.
func KeyID(key string) (string, bool) {
	id, _, ok := parse(key)
	return id, ok
}

// parse splits a key's full text into its id and its secret.
func parse(key string) (id, secret string, ok bool) {
	rest, ok := strings.CutPrefix(key, prefix)
	if !ok {
		return "", "", false
	}
	return cutID(rest)
}

// cutID splits "key_<16>_<secret>" into the id and the secret.
func cutID(s string) (id, secret string, ok bool) {
	const idLen = len("key_") + 16
	if len(s) < idLen+2 || !strings.HasPrefix(s, "key_") || s[idLen] != '_' {
		return "", "", false
	}
	return s[:idLen], s[idLen+1:], true
}
