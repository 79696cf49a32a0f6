package ledger

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// SigningKeyFile is the signing key's file name in the data directory.
const SigningKeyFile = "signing.key"

// SigningKey is the checkpoint signer and its public verifier key.
type SigningKey struct {
	Signer   note.Signer
	Verifier note.Verifier
	// VerifierKey is the verifier key text (name+hash+base64), what
	// `stele checkpoint public-key` prints and auditors pin.
	VerifierKey string
}

// LoadSigningKey returns the signing key: STELE_SIGNING_KEY (a note signer
// key, PRIVATE+KEY+…) when set, else the file STELE_SIGNING_KEY_FILE names,
// else SigningKeyFile in dataDir, generated
// there with mode 0600 under the given key name on first use.
func LoadSigningKey(dataDir string, getenv func(string) string, name string, logger *slog.Logger) (*SigningKey, error) {
	if v := getenv("STELE_SIGNING_KEY"); v != "" {
		k, err := ParseSigningKey(v)
		if err != nil {
			return nil, fmt.Errorf("STELE_SIGNING_KEY: %w", err)
		}
		return k, nil
	}
	if getenv("STELE_SIGNING_KEY_FILE") != "" {
		return ReadSigningKey(dataDir, getenv)
	}
	path := filepath.Join(dataDir, SigningKeyFile)
	b, err := os.ReadFile(path)
	if err == nil {
		k, err := ParseSigningKey(string(b))
		if err != nil {
			return nil, fmt.Errorf("signing key file %s: %w", path, err)
		}
		return k, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read signing key: %w", err)
	}
	if name == "" {
		name = DefaultOriginPrefix
	}
	skey, _, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		return nil, fmt.Errorf("generate signing key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) { // another process made it first
		return LoadSigningKey(dataDir, getenv, name, logger)
	}
	if err != nil {
		return nil, fmt.Errorf("create signing key: %w", err)
	}
	_, err = f.WriteString(skey + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	// The new file's name is durable once its directory is synced.
	if err == nil {
		err = syncDir(dataDir)
	}
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("write signing key: %w", err)
	}
	k, err := ParseSigningKey(skey)
	if err != nil {
		return nil, err
	}
	logger.Info("generated the checkpoint signing key; publish its verifier key (stele checkpoint public-key)", "file", path, "verifier", k.VerifierKey)
	return k, nil
}

// ReadSigningKey finds the signing key as LoadSigningKey does but never
// makes one: a new key would sign checkpoints no verifier trusts. With no
// STELE_SIGNING_KEY and no file in dataDir the error wraps fs.ErrNotExist.
func ReadSigningKey(dataDir string, getenv func(string) string) (*SigningKey, error) {
	if v := getenv("STELE_SIGNING_KEY"); v != "" {
		k, err := ParseSigningKey(v)
		if err != nil {
			return nil, fmt.Errorf("STELE_SIGNING_KEY: %w", err)
		}
		return k, nil
	}
	path := SigningKeyPath(dataDir, getenv)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read signing key: %w", err)
	}
	k, err := ParseSigningKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("signing key file %s: %w", path, err)
	}
	return k, nil
}

// SigningKeyPath returns the file the signing key is read from when
// STELE_SIGNING_KEY is unset: STELE_SIGNING_KEY_FILE, else SigningKeyFile
// in dataDir.
func SigningKeyPath(dataDir string, getenv func(string) string) string {
	if p := getenv("STELE_SIGNING_KEY_FILE"); p != "" {
		return p
	}
	return filepath.Join(dataDir, SigningKeyFile)
}

// Name returns the key's name: the name its signatures carry, which
// verifiers look for.
func (k *SigningKey) Name() string { return k.Verifier.Name() }

// ParseSigningKey parses a note signer key and derives its verifier.
func ParseSigningKey(text string) (*SigningKey, error) {
	s, err := note.NewSigner(strings.TrimSpace(text))
	if err != nil {
		return nil, fmt.Errorf("not a note signer key: %w", err)
	}
	vkey, err := verifierKeyOf(strings.TrimSpace(text))
	if err != nil {
		return nil, err
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, err
	}
	return &SigningKey{Signer: s, Verifier: v, VerifierKey: vkey}, nil
}

// NewSigningKey generates a fresh signing key (tests, rotation tooling).
func NewSigningKey(name string) (*SigningKey, string, error) {
	skey, _, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		return nil, "", err
	}
	k, err := ParseSigningKey(skey)
	return k, skey, err
}

// verifierKeyOf derives the verifier key of an Ed25519 note signer key
// (PRIVATE+KEY+<name>+<hash>+<base64 of 0x01 ‖ seed>).
func verifierKeyOf(skey string) (string, error) {
	parts := strings.SplitN(skey, "+", 5)
	if len(parts) != 5 || parts[0] != "PRIVATE" || parts[1] != "KEY" {
		return "", errors.New("not a note signer key")
	}
	b, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(b) != 1+ed25519.SeedSize || b[0] != 1 {
		return "", errors.New("not an Ed25519 note signer key")
	}
	pub := ed25519.NewKeyFromSeed(b[1:]).Public().(ed25519.PublicKey)
	return note.NewEd25519VerifierKey(parts[2], pub)
}

// syncDir makes dir's entries durable: a created file survives a power cut
// only once its directory is synced.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
