package integrity

import (
	"strings"

	"github.com/stele-audit/stele"
	"golang.org/x/mod/sumdb/note"
)

// ParseVerifierKey reads a checkpoint verifier key as an operator gives it
// (--public-key): a note verifier key, as stele checkpoint public-key
// prints it.
func ParseVerifierKey(text string) (note.Verifier, error) {
	v, err := note.NewVerifier(strings.TrimSpace(text))
	if err != nil {
		return nil, &stele.Error{Code: stele.EINVALID, Message: "--public-key is not a note verifier key (stele checkpoint public-key prints one)",
			Details: []stele.FieldError{{Field: "public-key", Rule: "format"}}}
	}
	return v, nil
}

// TrustKeys sets the verifier keys a store verification trusts from the
// keys an operator gave: the first, unless "", in place of v.Verifier (the
// local signing key's), and the others besides it, the keys that signed
// before a change of signing key. It reports whether any key is trusted.
func (v *StoreVerifier) TrustKeys(keys []string) (bool, error) {
	for i, k := range keys {
		if k == "" {
			continue
		}
		verifier, err := ParseVerifierKey(k)
		if err != nil {
			return false, err
		}
		if i == 0 {
			v.Verifier = verifier
		} else {
			v.Also = append(v.Also, verifier)
		}
	}
	return v.Verifier != nil, nil
}
