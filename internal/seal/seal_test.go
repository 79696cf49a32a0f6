package seal

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/sqlite"
)

// testKeys opens a key store of its own for the test: a real SQLite one.
func testKeys(t testing.TB) stele.KeyStore {
	k, err := sqlite.OpenKeys(context.Background(), filepath.Join(t.TempDir(), "keys.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	return k
}

func testMaster(_ testing.TB, b byte) *MasterKey {
	m, _ := NewMasterKey(1, bytes.Repeat([]byte{b}, 32))
	return m
}

func TestSealOpenRoundTripAndBindsAdditionalData(t *testing.T) {
	ctx := context.Background()
	r := NewKeyring(testMaster(t, 1), testKeys(t))
	k, err := r.Account(ctx, 7)
	if err != nil {
		t.Fatal(err)
	}
	plain := []byte("ada@acme.io changed a role")
	for _, seq := range []int64{0, 1, 1 << 20, 1<<40 + 3} {
		v, ct := k.Seal(nil, seq, plain, []byte("ad"))
		if bytes.Contains(ct, plain) || len(ct) != len(plain)+Overhead {
			t.Fatalf("seq %d: ciphertext %x", seq, ct)
		}
		got, err := k.Open(v, seq, ct, []byte("ad"))
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("seq %d: open = %q, %v", seq, got, err)
		}
		if _, err := k.Open(v, seq, ct, []byte("other")); !errors.Is(err, ErrDecrypt) {
			t.Errorf("seq %d: open with other AD: %v", seq, err)
		}
		flipped := bytes.Clone(ct)
		flipped[len(flipped)/2] ^= 1
		if _, err := k.Open(v, seq, flipped, []byte("ad")); !errors.Is(err, ErrDecrypt) {
			t.Errorf("seq %d: open of altered ciphertext: %v", seq, err)
		}
	}
	// A payload sealed for one seq block does not open as another's.
	v, ct := k.Seal(nil, 5, plain, nil)
	if _, err := k.Open(v, 5+1<<20, ct, nil); err == nil {
		t.Error("payload opened under another seq block's key")
	}
}

func TestKeysAreStoredWrappedAndSurviveReload(t *testing.T) {
	ctx := context.Background()
	store := testKeys(t)
	k1, err := NewKeyring(testMaster(t, 1), store).Account(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := store.WrappedKeys(ctx, 3)
	if err != nil || len(stored) != 2 {
		t.Fatalf("stored %d keys (%v), want data and index", len(stored), err)
	}
	v, ct := k1.Seal(nil, 9, []byte("secret"), nil)
	k2, err := NewKeyring(testMaster(t, 1), store).Account(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := k2.Open(v, 9, ct, nil); err != nil || string(got) != "secret" {
		t.Fatalf("reloaded keys: %q, %v", got, err)
	}
	if k1.Token(stele.FieldActor, "u_1") != k2.Token(stele.FieldActor, "u_1") {
		t.Error("tokens differ after reload")
	}
	if _, err := NewKeyring(testMaster(t, 2), store).Account(ctx, 3); err == nil {
		t.Error("another master key unwrapped the account's keys")
	}
	// A wrapped key moved to another account does not unwrap there.
	var moved []stele.WrappedKey
	for _, w := range stored { // by purpose: data, then index
		moved = append(moved, stele.WrappedKey{AccountID: 4, Purpose: w.Purpose, Version: 1, MasterVersion: 1, Wrapped: w.Wrapped})
	}
	if err := store.AddWrappedKeys(ctx, moved); err != nil {
		t.Fatal(err)
	}
	if _, err := NewKeyring(testMaster(t, 1), store).Account(ctx, 4); err == nil {
		t.Error("a key copied to another account unwrapped")
	}
}

func TestTokensDifferByAccountAndField(t *testing.T) {
	ctx := context.Background()
	r := NewKeyring(testMaster(t, 1), testKeys(t))
	a, _ := r.Account(ctx, 1)
	b, _ := r.Account(ctx, 2)
	if a.Token(stele.FieldActor, "u_1") == b.Token(stele.FieldActor, "u_1") {
		t.Error("two accounts share a token")
	}
	if a.Token(stele.FieldActor, "x") == a.Token(stele.FieldTarget, "x") {
		t.Error("two fields share a token")
	}
	if a.Token(stele.FieldActor, "x") == 0 || len(a.Tokens(stele.FieldActor, "x")) != 1 {
		t.Error("bad tokens")
	}
}

func TestLoadMasterKeyGeneratesPrivateFileOnce(t *testing.T) {
	dir := t.TempDir()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	env := func(string) string { return "" }
	m1, err := LoadMasterKey(dir, env, logger)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, MasterKeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	m2, err := LoadMasterKey(dir, env, logger)
	if err != nil || m1.key != m2.key {
		t.Fatalf("second load gave another key: %v", err)
	}
	hexKey := "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	m3, err := LoadMasterKey(dir, func(k string) string {
		if k == "STELE_MASTER_KEY" {
			return hexKey
		}
		return ""
	}, logger)
	if err != nil || m3.key[31] != 0x1f {
		t.Fatalf("env key: %v", err)
	}
	if _, err := LoadMasterKey(dir, func(k string) string {
		if k == "STELE_MASTER_KEY" {
			return "short"
		}
		return ""
	}, logger); err == nil {
		t.Error("a short key was accepted")
	}
}

func BenchmarkSeal450(b *testing.B) {
	k, _ := NewKeyring(testMaster(nil, 1), testKeys(b)).Account(context.Background(), 1)
	plain := bytes.Repeat([]byte("x"), 450)
	ad := make([]byte, 64)
	dst := make([]byte, 0, 512)
	var seq int64
	for b.Loop() {
		k.Seal(dst[:0], seq, plain, ad)
		seq++
	}
}

func BenchmarkToken(b *testing.B) {
	k, _ := NewKeyring(testMaster(nil, 1), testKeys(b)).Account(context.Background(), 1)
	for b.Loop() {
		k.Token(stele.FieldActor, "u_123456")
	}
}

func TestSecretsAreBoundToAccountAndPurpose(t *testing.T) {
	ctx := context.Background()
	r := NewKeyring(testMaster(t, 1), testKeys(t))
	s, err := r.SealSecret(ctx, 1, "totp", "JBSWY3DPEHPK3PXP")
	if err != nil || strings.Contains(s, "JBSWY3DPEHPK3PXP") {
		t.Fatalf("sealed %q, %v", s, err)
	}
	if got, err := r.OpenSecret(ctx, 1, "totp", s); err != nil || got != "JBSWY3DPEHPK3PXP" {
		t.Fatalf("open = %q, %v", got, err)
	}
	if _, err := r.OpenSecret(ctx, 2, "totp", s); err == nil {
		t.Error("another account opened the secret")
	}
	if _, err := r.OpenSecret(ctx, 1, "other", s); err == nil {
		t.Error("another purpose opened the secret")
	}
	if _, err := r.OpenSecret(ctx, 1, "totp", "JBSWY3DPEHPK3PXP"); err == nil {
		t.Error("plain text opened as a sealed secret")
	}
}

func TestPseudonymsAreKeyedAndStable(t *testing.T) {
	a := NewKeyring(testMaster(t, 1), testKeys(t))
	b := NewKeyring(testMaster(t, 1), testKeys(t))
	c := NewKeyring(testMaster(t, 2), testKeys(t))
	p := a.Pseudonym("login-throttle/email", "ada@acme.io")
	if p != b.Pseudonym("login-throttle/email", "ada@acme.io") {
		t.Error("two keyrings on one master key disagree")
	}
	if p == c.Pseudonym("login-throttle/email", "ada@acme.io") || p == a.Pseudonym("login-throttle/ip", "ada@acme.io") {
		t.Error("another master key or purpose gave the same pseudonym")
	}
	if strings.Contains(p, "ada") || len(p) != 64 {
		t.Errorf("pseudonym %q", p)
	}
}
