package stores

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/ledger"
	"github.com/stele-audit/stele/internal/seal"
)

// Mode is whether a command may make the store it opens.
type Mode int

const (
	// Existing: every local command but serve and init works on a store
	// that exists, and refuses, creating nothing, where there is none.
	Existing Mode = iota
	// IfMissing: serve makes a store (and on SQLite its keys) on an empty
	// directory, so that the two-command start stays two commands.
	IfMissing
	// New: init makes a store, and refuses a place that holds one.
	New
)

// Keys are the master and checkpoint signing keys a store is opened with.
type Keys struct {
	Master  *seal.MasterKey
	Signing *ledger.SigningKey
	// NoSigning is why Signing is nil: the signing key of an existing
	// SQLite store is not here (an auditor's copy of the data directory,
	// a key kept in a secret store). Commands that sign or print it refuse
	// with it; the others need no signing key.
	NoSigning error
}

// Prepare is the one place that decides, before anything is opened or
// written, whether a command may go on at the place, and finds the keys:
// an existing store's keys are read, never made; on SQLite a store being
// made gets them generated into the data directory (unless given, by
// init), its checkpoints' origins under originPrefix; on PostgreSQL they
// come from the environment (or init).
func Prepare(ctx context.Context, p Place, mode Mode, given *Keys, originPrefix string, logger *slog.Logger) (Keys, error) {
	if err := p.checkDB(); err != nil {
		return Keys{}, err
	}
	if _, _, err := p.Keys(p.Events()); err != nil {
		return Keys{}, err
	}
	exists, err := Exists(ctx, p)
	if err != nil {
		return Keys{}, err
	}
	switch {
	case !exists && mode == Existing:
		return Keys{}, noStoreError(p)
	case exists && mode == New:
		return Keys{}, stele.Errorf(stele.ECONFLICT, "%s already holds a Stele store: stele init makes new stores only, and overwrites nothing", p)
	}
	if given != nil {
		return *given, nil
	}
	if p.Shared() {
		return sharedKeys(exists)
	}
	if !exists { // serve on an empty directory: the store and its keys are made together
		return makeKeys(p, originPrefix, logger)
	}
	return readKeys(p)
}

// makeKeys generates the keys of a SQLite store being made into its data
// directory (or takes those the environment gives).
func makeKeys(p Place, originPrefix string, logger *slog.Logger) (Keys, error) {
	if err := os.MkdirAll(p.Data, 0o700); err != nil {
		return Keys{}, fmt.Errorf("create data directory: %w", err)
	}
	master, err := seal.LoadMasterKey(p.Data, os.Getenv, logger)
	if err != nil {
		return Keys{}, keyError(err)
	}
	signing, err := ledger.LoadSigningKey(p.Data, os.Getenv, originPrefix, logger)
	return Keys{Master: master, Signing: signing}, keyError(err)
}

// readKeys reads the keys of an existing SQLite store.
func readKeys(p Place) (Keys, error) {
	master, err := seal.ReadMasterKey(p.Data, os.Getenv)
	if errors.Is(err, fs.ErrNotExist) {
		path, _ := seal.MasterKeyPath(p.Data, os.Getenv)
		return Keys{}, stele.Errorf(stele.ENOTFOUND, "the store in %s has no master key: STELE_MASTER_KEY is unset and %s does not exist. Set STELE_MASTER_KEY or STELE_MASTER_KEY_FILE to the key this store was made with (its account keys are wrapped under it; a new key would unwrap none). A new store and its keys are made by 'stele init --data DIR'", p, path)
	}
	if err != nil {
		return Keys{}, keyError(err)
	}
	signing, err := ledger.ReadSigningKey(p.Data, os.Getenv)
	if errors.Is(err, fs.ErrNotExist) {
		return Keys{Master: master, NoSigning: noSigningKey(p)}, nil
	}
	return Keys{Master: master, Signing: signing}, keyError(err)
}

// noSigningKey is the refusal of a command that signs with, or prints, the
// signing key of a store whose key is not found.
func noSigningKey(p Place) error {
	return stele.Errorf(stele.ENOTFOUND, "the store in %s has no checkpoint signing key: STELE_SIGNING_KEY is unset and %s does not exist. Set STELE_SIGNING_KEY or STELE_SIGNING_KEY_FILE to the key whose verifier key your auditors pinned. A new store and its keys are made by 'stele init --data DIR'", p, ledger.SigningKeyPath(p.Data, os.Getenv))
}

// sharedKeys reads the keys every node of a PostgreSQL store shares from
// the environment: a key generated into one node's data directory would be
// unknown to the others, so none is ever made here.
func sharedKeys(exists bool) (Keys, error) {
	how := "'stele init --db \"$STELE_DATABASE_URL\" --origin NAME --print-env' makes a new store and prints its keys as STELE_…= lines for your secret manager"
	if exists {
		how = "use the keys this store was made with ('stele init' printed them or wrote them to its --keys-dir); " + how
	}
	if os.Getenv("STELE_MASTER_KEY") == "" && os.Getenv("STELE_MASTER_KEY_FILE") == "" {
		return Keys{}, stele.Errorf(stele.EINVALID, "a PostgreSQL store needs the master key shared by every node: set STELE_MASTER_KEY or STELE_MASTER_KEY_FILE; %s", how)
	}
	if os.Getenv("STELE_SIGNING_KEY") == "" && os.Getenv("STELE_SIGNING_KEY_FILE") == "" {
		return Keys{}, stele.Errorf(stele.EINVALID, "a PostgreSQL store needs the checkpoint signing key shared by every node: set STELE_SIGNING_KEY or STELE_SIGNING_KEY_FILE; %s", how)
	}
	master, err := seal.ReadMasterKey("", os.Getenv)
	if err != nil {
		return Keys{}, keyError(err)
	}
	signing, err := ledger.ReadSigningKey("", os.Getenv)
	return Keys{Master: master, Signing: signing}, keyError(err)
}

// keyError is a key that could not be read or made, with how keys are
// made and what they look like.
func keyError(err error) error {
	if err == nil {
		return nil
	}
	code, msg := stele.EINVALID, err.Error()
	var e *stele.Error
	if errors.As(err, &e) {
		code, msg = e.Code, strings.Replace(msg, e.Error(), e.Message, 1)
	}
	return stele.Errorf(code, "%s (keys are made with their store by 'stele init'; 'stele init --print-env' prints them in the form STELE_MASTER_KEY and STELE_SIGNING_KEY take)", msg)
}
