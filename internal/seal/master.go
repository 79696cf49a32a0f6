package seal

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/stele-audit/stele"
)

// MasterKeyFile is the name of the generated master key in the data directory.
const MasterKeyFile = "master.key"

// MasterKey wraps and unwraps account keys. Version is recorded with every
// wrapped key so that a rotated master can still unwrap older ones.
type MasterKey struct {
	Version int
	key     [32]byte
}

// NewMasterKey returns a master key of the given version from 32 bytes.
func NewMasterKey(version int, key []byte) (*MasterKey, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("master key: want 32 bytes, have %d", len(key))
	}
	m := &MasterKey{Version: version}
	copy(m.key[:], key)
	return m, nil
}

// LoadMasterKey finds the master key: STELE_MASTER_KEY (base64 or hex of 32
// bytes), else the file STELE_MASTER_KEY_FILE names, else MasterKeyFile in
// dataDir, generated there with mode 0600 on first start. A generated key
// sits beside the data it protects, which the log says plainly.
func LoadMasterKey(dataDir string, getenv func(string) string, logger *slog.Logger) (*MasterKey, error) {
	if v := getenv("STELE_MASTER_KEY"); v != "" {
		k, err := parseKey(v)
		if err != nil {
			return nil, fmt.Errorf("STELE_MASTER_KEY: %w", err)
		}
		return NewMasterKey(1, k)
	}
	if p := getenv("STELE_MASTER_KEY_FILE"); p != "" {
		return readKeyFile(p)
	}
	p := filepath.Join(dataDir, MasterKeyFile)
	m, err := readKeyFile(p)
	if !errors.Is(err, fs.ErrNotExist) {
		return m, err
	}
	return generateKeyFile(p, logger)
}

func readKeyFile(path string) (*MasterKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read master key: %w", err)
	}
	k, err := parseKey(string(bytes.TrimSpace(b)))
	if err != nil {
		return nil, fmt.Errorf("master key file %s: %w", path, err)
	}
	return NewMasterKey(1, k)
}

func generateKeyFile(path string, logger *slog.Logger) (*MasterKey, error) {
	k := make([]byte, 32)
	rand.Read(k)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) { // another process made it first
		return readKeyFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("create master key: %w", err)
	}
	_, err = f.WriteString(base64.StdEncoding.EncodeToString(k) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("write master key: %w", err)
	}
	logger.Warn("generated a new master key beside the data it protects; for production keep it elsewhere and set STELE_MASTER_KEY or STELE_MASTER_KEY_FILE", "file", path)
	return NewMasterKey(1, k)
}

func parseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if b, err := hex.DecodeString(s); err == nil && len(b) == 32 {
		return b, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == 32 {
			return b, nil
		}
	}
	return nil, stele.Errorf(stele.EINVALID, "a master key is 32 bytes in base64 or hex")
}
