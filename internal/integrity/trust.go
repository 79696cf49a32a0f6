package integrity

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// TrustState is what remote verification remembers between runs (stele
// verify --url keeps it in a file): per log origin, the checkpoint verifier
// key it trusts and the last checkpoint it verified, which every later
// checkpoint must extend.
type TrustState struct {
	Logs map[string]TrustedLog `json:"logs"`
}

// TrustedLog is the trust kept for one log.
type TrustedLog struct {
	PublicKey string `json:"public_key"`
	Size      int64  `json:"size"`
	Root      string `json:"root"` // standard base64
	Note      string `json:"note"` // the signed checkpoint, as evidence
}

// LoadTrustState reads the state file at path. A file that does not exist
// is the state of a verifier that trusts nothing yet.
func LoadTrustState(path string) (*TrustState, error) {
	s := &TrustState{}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("read state file: %w", err)
	default:
		if err := json.Unmarshal(b, s); err != nil {
			return nil, fmt.Errorf("state file %s: %w", path, err)
		}
	}
	if s.Logs == nil {
		s.Logs = map[string]TrustedLog{}
	}
	return s, nil
}

// Save writes the state to path (mode 0600, its directory made 0700 if
// missing) through a temporary file renamed into place, so that a crash
// leaves the old state or the new one, never half of either.
func (s *TrustState) Save(path string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("write state file: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".verify-state-*.tmp")
	if err != nil {
		return fmt.Errorf("write state file: %w", err)
	}
	defer os.Remove(tmp.Name())
	err = tmp.Chmod(0o600)
	if err == nil {
		_, err = tmp.Write(append(b, '\n'))
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
	if err != nil {
		return fmt.Errorf("write state file: %w", err)
	}
	return nil
}

// DefaultTrustStatePath is where stele verify --url keeps its trust unless
// told: verify-state.json in the user's configuration directory (stele/),
// or in the working directory when there is none.
func DefaultTrustStatePath() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "verify-state.json"
	}
	return filepath.Join(dir, "stele", "verify-state.json")
}
