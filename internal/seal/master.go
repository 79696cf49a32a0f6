package seal

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/stele-audit/stele"
)

// MasterKeyFile is the name of the generated master key in the data directory.
const MasterKeyFile = "master.key"

// MasterKey wraps and unwraps account keys. Version is recorded with every
// wrapped key so that a rotated master can still unwrap older ones: a
// MasterKey is the newest version, and carries the older versions it was
// loaded with (see Versions).
type MasterKey struct {
	Version int
	key     [32]byte
	older   []*MasterKey // ascending by version
}

// NewMasterKey returns a master key of the given version from 32 bytes.
func NewMasterKey(version int, key []byte) (*MasterKey, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("master key: want 32 bytes, have %d", len(key))
	}
	if version < 1 {
		return nil, fmt.Errorf("master key: version %d, want 1 or more", version)
	}
	m := &MasterKey{Version: version}
	copy(m.key[:], key)
	return m, nil
}

// Versions returns every version the key was loaded with, oldest first,
// the current one last.
func (m *MasterKey) Versions() []*MasterKey {
	out := make([]*MasterKey, 0, len(m.older)+1)
	for _, o := range m.older {
		out = append(out, &MasterKey{Version: o.Version, key: o.key})
	}
	return append(out, &MasterKey{Version: m.Version, key: m.key})
}

// WithOlder returns the master key m, able to unwrap keys of the older
// versions too. It is an error for two keys to share a version or for an
// older one not to be older.
func (m *MasterKey) WithOlder(older ...*MasterKey) (*MasterKey, error) {
	out := &MasterKey{Version: m.Version, key: m.key}
	seen := map[int]bool{m.Version: true}
	for _, o := range older {
		for _, v := range o.Versions() {
			if seen[v.Version] {
				return nil, fmt.Errorf("master key: version %d given twice", v.Version)
			}
			if v.Version > m.Version {
				return nil, fmt.Errorf("master key: version %d is newer than the current %d", v.Version, m.Version)
			}
			seen[v.Version] = true
			out.older = append(out.older, v)
		}
	}
	slices.SortFunc(out.older, func(a, b *MasterKey) int { return a.Version - b.Version })
	return out, nil
}

// LoadMasterKey finds the master key: STELE_MASTER_KEY, else the file
// STELE_MASTER_KEY_FILE names, else MasterKeyFile in dataDir, generated
// there with mode 0600 on first start. A generated key sits beside the data
// it protects, which the log says plainly.
//
// Either source holds one key (base64 or hex of 32 bytes: version 1) or
// several versions, one "vN:KEY" entry per line (or separated by commas in
// the environment). The highest version is current; the others only unwrap
// account keys not yet rewrapped (stele crypto rotate --master).
func LoadMasterKey(dataDir string, getenv func(string) string, logger *slog.Logger) (*MasterKey, error) {
	if v := getenv("STELE_MASTER_KEY"); v != "" {
		m, err := parseMasterKeys(v)
		if err != nil {
			return nil, fmt.Errorf("STELE_MASTER_KEY: %w", err)
		}
		return m, nil
	}
	p, _ := MasterKeyPath(dataDir, getenv)
	if getenv("STELE_MASTER_KEY_FILE") != "" {
		return readKeyFile(p)
	}
	m, err := readKeyFile(p)
	if !errors.Is(err, fs.ErrNotExist) {
		return m, err
	}
	return generateKeyFile(p, logger)
}

// ReadMasterKey finds the master key as LoadMasterKey does but never makes
// one: for a store that exists already, a new key could unwrap nothing.
// With no key configured and no file in dataDir the error wraps
// fs.ErrNotExist.
func ReadMasterKey(dataDir string, getenv func(string) string) (*MasterKey, error) {
	if v := getenv("STELE_MASTER_KEY"); v != "" {
		m, err := parseMasterKeys(v)
		if err != nil {
			return nil, fmt.Errorf("STELE_MASTER_KEY: %w", err)
		}
		return m, nil
	}
	p, _ := MasterKeyPath(dataDir, getenv)
	return readKeyFile(p)
}

// GenerateMasterKey returns a new random master key (version 1) and its
// text as STELE_MASTER_KEY and the key file hold it.
func GenerateMasterKey() (*MasterKey, string) {
	k := make([]byte, 32)
	rand.Read(k)
	m, _ := NewMasterKey(1, k) // 32 bytes and version 1 cannot fail
	return m, base64.StdEncoding.EncodeToString(k)
}

// MasterKeyPath returns the file the master key is read from, and whether
// STELE_MASTER_KEY overrides it (then no file is used).
func MasterKeyPath(dataDir string, getenv func(string) string) (path string, fromEnv bool) {
	if p := getenv("STELE_MASTER_KEY_FILE"); p != "" {
		return p, getenv("STELE_MASTER_KEY") != ""
	}
	return filepath.Join(dataDir, MasterKeyFile), getenv("STELE_MASTER_KEY") != ""
}

func readKeyFile(path string) (*MasterKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read master key: %w", err)
	}
	m, err := parseMasterKeys(string(b))
	if err != nil {
		return nil, fmt.Errorf("master key file %s: %w", path, err)
	}
	return m, nil
}

// parseMasterKeys reads one bare key (version 1) or "vN:KEY" entries
// separated by newlines, commas or spaces.
func parseMasterKeys(s string) (*MasterKey, error) {
	fields := strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' || r == ',' || r == ' ' || r == '\t' })
	if len(fields) == 0 {
		return nil, stele.Errorf(stele.EINVALID, "no master key")
	}
	var keys []*MasterKey
	for _, f := range fields {
		version, text := 1, f
		if rest, ok := strings.CutPrefix(f, "v"); ok {
			if num, key, ok := strings.Cut(rest, ":"); ok {
				n, err := strconv.Atoi(num)
				if err != nil || n < 1 {
					return nil, stele.Errorf(stele.EINVALID, "a master key entry is vN:KEY with N a positive version")
				}
				version, text = n, key
			}
		} else if len(fields) > 1 {
			return nil, stele.Errorf(stele.EINVALID, "with several master keys, each entry is vN:KEY")
		}
		k, err := parseKey(text)
		if err != nil {
			return nil, err
		}
		m, err := NewMasterKey(version, k)
		if err != nil {
			return nil, err
		}
		keys = append(keys, m)
	}
	slices.SortFunc(keys, func(a, b *MasterKey) int { return a.Version - b.Version })
	return keys[len(keys)-1].WithOlder(keys[:len(keys)-1]...)
}

// FormatMasterKeys renders m and its older versions in the file format.
func FormatMasterKeys(m *MasterKey) string {
	var b strings.Builder
	for _, v := range m.Versions() {
		fmt.Fprintf(&b, "v%d:%s\n", v.Version, base64.StdEncoding.EncodeToString(v.key[:]))
	}
	return b.String()
}

// AddMasterKeyVersion generates a new master key version, one above the
// newest in the file at path, and rewrites the file (atomically, mode 0600)
// with every version. It returns the new current key, older ones included.
func AddMasterKeyVersion(path string) (*MasterKey, error) {
	cur, err := readKeyFile(path)
	if err != nil {
		return nil, err
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	next, err := NewMasterKey(cur.Version+1, raw)
	if err != nil {
		return nil, err
	}
	if next, err = next.WithOlder(cur); err != nil {
		return nil, err
	}
	return next, WriteMasterKeyFile(path, next)
}

// WriteMasterKeyFile replaces the file at path with m's versions, through
// a private temporary file renamed into place.
func WriteMasterKeyFile(path string, m *MasterKey) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".master-*.tmp")
	if err != nil {
		return fmt.Errorf("write master key: %w", err)
	}
	defer os.Remove(tmp.Name())
	err = tmp.Chmod(0o600)
	if err == nil {
		_, err = tmp.WriteString(FormatMasterKeys(m))
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		return fmt.Errorf("write master key: %w", err)
	}
	return nil
}

// syncDir makes dir's entries durable: a file created or renamed into it
// survives a power cut only once the directory is synced, and what is
// sealed under the key in it may be durable already.
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
	if err == nil {
		err = syncDir(filepath.Dir(path))
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

// NewMasterKeyFrom returns m's current version alone, without the older
// ones: what the key file holds once they are retired.
func NewMasterKeyFrom(m *MasterKey) (*MasterKey, error) {
	return NewMasterKey(m.Version, m.key[:])
}
