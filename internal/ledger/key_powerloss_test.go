//go:build linux

package ledger

import (
	"log/slog"
	"testing"

	"github.com/stele-audit/stele/internal/lazyfs"
)

// The signing key generated on first start must outlive a power cut:
// checkpoints signed with it are durable, and auditors pin its verifier.
func TestSigningKeyFileSurvivesPowerLoss(t *testing.T) {
	fsys := lazyfs.MountTest(t)
	noEnv := func(string) string { return "" }
	logger := slog.New(slog.DiscardHandler)
	generated, err := LoadSigningKey(fsys.Dir(), noEnv, "stele.test", logger)
	if err != nil {
		t.Fatal(err)
	}
	if err := fsys.Drop(); err != nil {
		t.Fatal(err)
	}
	got, err := LoadSigningKey(fsys.Dir(), noEnv, "stele.test", logger)
	if err != nil {
		t.Fatal(err)
	}
	if got.VerifierKey != generated.VerifierKey {
		t.Fatalf("after a power cut the signing key is %s, not the %s generated: a new one replaced it", got.VerifierKey, generated.VerifierKey)
	}
}
