package integrity_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/integrity"
	"github.com/stele-audit/stele/internal/ledger"
	"golang.org/x/mod/sumdb/note"
)

func TestTrustKeysPutsTheFirstKeyGivenFirstAndKeepsTheRest(t *testing.T) {
	local, _, _ := ledger.NewSigningKey("stele.local")
	old, _, _ := ledger.NewSigningKey("stele.local")
	now, _, _ := ledger.NewSigningKey("stele.local")
	for _, tc := range []struct {
		name    string
		local   note.Verifier
		keys    []string
		want    note.Verifier // nil: none trusted
		also    int
		refused bool
	}{
		{"the local key", local.Verifier, []string{""}, local.Verifier, 0, false},
		{"no key at all", nil, []string{""}, nil, 0, false},
		{"nothing given", nil, nil, nil, 0, false},
		{"given in place of the local one", local.Verifier, []string{now.VerifierKey}, now.Verifier, 0, false},
		{"after a change of key", nil, []string{now.VerifierKey, old.VerifierKey}, now.Verifier, 1, false},
		{"older keys beside the local one", local.Verifier, []string{"", old.VerifierKey, now.VerifierKey}, local.Verifier, 2, false},
		{"not a key", local.Verifier, []string{"stele.local+abc"}, nil, 0, true},
		{"a later key not a key", nil, []string{now.VerifierKey, "  "}, nil, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := &integrity.StoreVerifier{Verifier: tc.local}
			trusted, err := v.TrustKeys(tc.keys)
			if tc.refused {
				var e *stele.Error
				if !errors.As(err, &e) || e.Code != stele.EINVALID || e.Details[0].Field != "public-key" {
					t.Fatalf("TrustKeys = %v; want EINVALID of public-key", err)
				}
				return
			}
			if err != nil || trusted != (tc.want != nil) || len(v.Also) != tc.also {
				t.Fatalf("TrustKeys = %v, %v; Also %d, want %v, %d", trusted, err, len(v.Also), tc.want != nil, tc.also)
			}
			if tc.want != nil && v.Verifier.KeyHash() != tc.want.KeyHash() {
				t.Fatalf("trusted %s, want %s", v.Verifier.Name(), tc.want.Name())
			}
		})
	}
}

func TestVerifyTrustedMovesTheTrustOnOnlyWhenEveryCheckPassed(t *testing.T) {
	ctx := t.Context()
	s := newLiveServer(t)
	s.record(t, "acme", 10, 0)
	path := filepath.Join(t.TempDir(), "stele", "verify-state.json")
	v := &integrity.RemoteVerifier{API: s.api, Samples: 3}

	if rep, err := v.VerifyTrusted(ctx, path, ""); rep != nil || stele.ErrorCode(err) != stele.EINVALID {
		t.Fatalf("no key, nothing trusted: %+v %v", rep, err)
	}
	other, _, _ := ledger.NewSigningKey("stele.local")
	if rep, err := v.VerifyTrusted(ctx, path, other.VerifierKey); err != nil || rep.OK() {
		t.Fatalf("another key: %+v %v", rep, err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a failed verification saved the trust: %v", err)
	}
	if rep, err := v.VerifyTrusted(ctx, path, s.key.VerifierKey); err != nil || !rep.OK() {
		t.Fatalf("the key: %+v %v", rep, err)
	}
	state, err := integrity.LoadTrustState(path)
	if l := state.Logs[s.cp.Origin("acme")]; err != nil || l.Size != 10 || l.PublicKey != s.key.VerifierKey {
		t.Fatalf("trust saved: %+v %v", state, err)
	}
	// The key now comes from the file.
	if rep, err := v.VerifyTrusted(ctx, path, ""); err != nil || !rep.OK() || rep.Trusted != 10 {
		t.Fatalf("again: %+v %v", rep, err)
	}
}
