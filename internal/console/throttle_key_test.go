package console

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stele-audit/stele/internal/seal"
)

// TestThrottleKeysAreKeyedPseudonyms checks that what the store keeps of a
// failed sign-in cannot be matched against a guessed email or address by
// someone without the master key.
func TestThrottleKeysAreKeyedPseudonyms(t *testing.T) {
	master, _ := seal.NewMasterKey(1, bytes.Repeat([]byte{4}, 32))
	keyed := &Server{Secrets: seal.NewKeyring(master, nil)}
	plain := &Server{}
	for _, kind := range []string{"email", "ip"} {
		k, p := keyed.throttleKey(kind, "Ada@Acme.io"), plain.throttleKey(kind, "Ada@Acme.io")
		if k == p || !strings.HasPrefix(k, kind+":") || strings.Contains(strings.ToLower(k), "acme") {
			t.Errorf("%s: keyed %q, unkeyed %q", kind, k, p)
		}
	}
	if keyed.throttleKey("email", "Ada@Acme.io") != keyed.throttleKey("email", "ada@acme.io") {
		t.Error("email case changes the key")
	}
}
