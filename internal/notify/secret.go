package notify

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"

	"github.com/stele-audit/stele"
)

// Limits on a webhook signing secret. A secret a user brings must be as
// hard to guess as one Stele makes: long, and not a repeated pattern.
const (
	MinSecretLen      = 32
	MaxSecretLen      = 256
	minSecretDistinct = 10
	secretPrefix      = "whsec_"
)

// NewSecret returns a new webhook signing secret: "whsec_" and 256 random
// bits in unpadded base64url. It is shown to the user once; receivers use
// the whole string, prefix included, as the HMAC key.
func NewSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (it crashes the program instead)
	return secretPrefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// CheckSecret returns the field error of a secret too weak or malformed to
// sign with (Field is left empty for the caller), or nil.
func CheckSecret(s string) *stele.FieldError {
	bad := func(rule, format string, args ...any) *stele.FieldError {
		return &stele.FieldError{Rule: rule, Message: fmt.Sprintf(format, args...)}
	}
	switch {
	case s == "":
		return bad("required", "the signing secret is required (Stele makes one when asked)")
	case len(s) < MinSecretLen:
		return bad("min_length", "the signing secret is %d characters long; it needs at least %d", len(s), MinSecretLen)
	case len(s) > MaxSecretLen:
		return bad("max_length", "the signing secret is %d characters long; the limit is %d", len(s), MaxSecretLen)
	}
	distinct := map[byte]bool{}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return bad("charset", "the signing secret may hold only printable ASCII characters without spaces")
		}
		distinct[s[i]] = true
	}
	if len(distinct) < minSecretDistinct {
		return bad("weak", "the signing secret repeats too few characters (%d distinct); use a random one", len(distinct))
	}
	return nil
}
