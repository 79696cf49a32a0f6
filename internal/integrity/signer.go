package integrity

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/ledger"
	"golang.org/x/mod/sumdb/note"
)

// Signer is who signed the latest checkpoint of an account's log, as the
// store records it: what verifiers have seen and pinned.
type Signer struct {
	Size   int64  // the checkpoint's tree size
	Prefix string // the origin prefix of its origin line (PREFIX/ACCOUNT)
	Name   string // the name of the key that signed it
	// Matches reports whether the key asked about signed it.
	Matches bool
}

// RecordedSigner returns the signer of the account's latest checkpoint,
// checked against key; ok is false when the account has none yet. A
// signing key that did not sign it would make checkpoints the verifiers of
// this log reject: the caller refuses it unless the operator changes keys
// on purpose.
func RecordedSigner(ctx context.Context, store stele.IntegrityStore, account *stele.Account, key *ledger.SigningKey) (s Signer, ok bool, err error) {
	cp, err := store.LatestCheckpoint(ctx, account.ID)
	if stele.ErrorCode(err) == stele.ENOTFOUND {
		return Signer{}, false, nil
	}
	if err != nil {
		return Signer{}, false, err
	}
	s.Size = cp.Size
	n, err := note.Open(cp.Note, note.VerifierList(key.Verifier))
	var unverified *note.UnverifiedNoteError
	switch {
	case err == nil:
		s.Matches, s.Name = true, key.Name()
	case errors.As(err, &unverified) && len(unverified.Note.UnverifiedSigs) > 0:
		n, s.Name = unverified.Note, unverified.Note.UnverifiedSigs[0].Name
	default:
		return Signer{}, false, fmt.Errorf("the latest checkpoint of %s: %w", account.Name, err)
	}
	origin, _, _ := strings.Cut(n.Text, "\n")
	s.Prefix = strings.TrimSuffix(origin, "/"+account.Name)
	return s, true, nil
}
