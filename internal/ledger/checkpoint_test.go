package ledger

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func testKey(t testing.TB, name string) *SigningKey {
	t.Helper()
	k, _, err := NewSigningKey(name)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestCheckpointSignOpenRoundTrip(t *testing.T) {
	k := testKey(t, "stele.local")
	c := CheckpointBody{Origin: Origin("", "acme"), Size: 120, Root: LeafHash([]byte("x"))}
	msg, err := SignCheckpoint(k.Signer, c)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(msg), "stele.local/acme\n120\n") {
		t.Fatalf("note = %q", msg)
	}
	got, err := OpenCheckpoint(msg, k.Verifier)
	if err != nil || got != c {
		t.Fatalf("open = %+v, %v", got, err)
	}
	other := testKey(t, "stele.local")
	if _, err := OpenCheckpoint(msg, other.Verifier); !errors.Is(err, ErrSignature) {
		t.Fatalf("another key's verifier accepted it: %v", err)
	}
	forged := strings.Replace(string(msg), "\n120\n", "\n121\n", 1)
	if _, err := OpenCheckpoint([]byte(forged), k.Verifier); !errors.Is(err, ErrSignature) {
		t.Fatalf("altered body accepted: %v", err)
	}
}

func TestParseCheckpointRejectsMalformed(t *testing.T) {
	root := "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
	for _, text := range []string{
		"", "o\n1\n" + root, "o\n01\n" + root + "\n", "o\n-1\n" + root + "\n", "o\n1\nAAAA\n",
		"\n1\n" + root + "\n", "o\n1\n" + root + "\n\n",
	} {
		if _, err := ParseCheckpoint(text); !errors.Is(err, ErrFormat) {
			t.Errorf("ParseCheckpoint(%q) = %v", text, err)
		}
	}
	if _, err := ParseCheckpoint("o\n1\n" + root + "\next\n"); err != nil {
		t.Errorf("extension line rejected: %v", err)
	}
}

func TestPurgeStatementRoundTripAndIsNoCheckpoint(t *testing.T) {
	k := testKey(t, "stele.local")
	p := PurgeBody{Origin: "stele.local/acme", Below: 1000, Root: LeafHash([]byte("y")), Time: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)}
	msg, err := SignPurge(k.Signer, p)
	if err != nil {
		t.Fatal(err)
	}
	got, err := OpenPurge(msg, k.Verifier)
	if err != nil || got != p {
		t.Fatalf("open = %+v, %v", got, err)
	}
	if _, err := OpenCheckpoint(msg, k.Verifier); err == nil {
		t.Fatal("a purge statement parsed as a checkpoint")
	}
}

func TestLoadSigningKeyGeneratesPrivateFileOnce(t *testing.T) {
	dir := t.TempDir()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	k1, err := LoadSigningKey(dir, func(string) string { return "" }, "test.example", logger)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, SigningKeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	k2, err := LoadSigningKey(dir, func(string) string { return "" }, "ignored", logger)
	if err != nil || k2.VerifierKey != k1.VerifierKey {
		t.Fatalf("reload gave another key: %v", err)
	}
	if !strings.HasPrefix(k1.VerifierKey, "test.example+") {
		t.Fatalf("verifier key %q", k1.VerifierKey)
	}
	_, skey, _ := NewSigningKey("env.example")
	k3, err := LoadSigningKey(dir, func(n string) string {
		if n == "STELE_SIGNING_KEY" {
			return skey
		}
		return ""
	}, "", logger)
	if err != nil || !strings.HasPrefix(k3.VerifierKey, "env.example+") {
		t.Fatalf("env key: %v %v", k3, err)
	}
}

// FuzzOpenCheckpoint feeds arbitrary notes to the checkpoint opener: it must
// never panic, and whatever it accepts must re-format to the signed body.
func FuzzOpenCheckpoint(f *testing.F) {
	k, skey, err := NewSigningKey("fuzz.example")
	if err != nil {
		f.Fatal(err)
	}
	_ = skey
	msg, _ := SignCheckpoint(k.Signer, CheckpointBody{Origin: "fuzz.example/acme", Size: 3, Root: EmptyRoot})
	f.Add(msg)
	f.Add([]byte("fuzz.example/acme\n3\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n— x y\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := OpenCheckpoint(b, k.Verifier)
		if err != nil {
			return
		}
		if !strings.HasPrefix(string(b), FormatCheckpoint(c)) {
			t.Fatalf("accepted %q as %+v", b, c)
		}
	})
}

// FuzzParseCheckpoint checks the body parser alone, without signatures.
func FuzzParseCheckpoint(f *testing.F) {
	f.Add("stele.local/acme\n120\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n")
	f.Add("o\n1\nAAAA\n")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCheckpoint(s)
		if err != nil {
			return
		}
		if !strings.HasPrefix(s, FormatCheckpoint(c)) {
			t.Fatalf("accepted %q as %+v", s, c)
		}
		if _, err := ParsePurge(s); err == nil {
			t.Fatalf("%q is both a checkpoint and a purge statement", s)
		}
	})
}
