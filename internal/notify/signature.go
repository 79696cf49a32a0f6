package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Headers of a webhook delivery.
const (
	// SignatureHeader carries "t=UNIX,v1=HEX[,v1=HEX]": the time of signing
	// in Unix seconds and HMAC-SHA-256(secret, t + "." + body) in lower-case
	// hex, once per secret while a rotation keeps two.
	SignatureHeader = "Stele-Signature"
	// DeliveryIDHeader repeats the body's delivery_id, which stays the same
	// across retries of one delivery. The body's copy is the one the
	// signature covers: dedupe on that one.
	DeliveryIDHeader = "Stele-Delivery-Id"
)

// DefaultTolerance is how far a signature's time may be from the
// receiver's clock, either way, before VerifyWebhook refuses it.
const DefaultTolerance = 5 * time.Minute

const (
	maxSignatureHeader = 4096
	maxSignatures      = 8
)

// Errors VerifyWebhook returns; a receiver should answer all of them with
// 400 or 401 and process nothing.
var (
	ErrSignatureMissing  = errors.New("webhook: no well-formed " + SignatureHeader + " header")
	ErrSignatureMismatch = errors.New("webhook: no signature matches the body under the given secrets")
	ErrSignatureExpired  = errors.New("webhook: the signature's time is outside the tolerance (a replay, or a clock far off)")
	ErrNoSecret          = errors.New("webhook: no secret to verify with")
)

// Sign returns the SignatureHeader value for body sent at t, with one v1
// signature per non-empty secret, in the order given.
func Sign(secrets []string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	var b strings.Builder
	b.WriteString("t=")
	b.WriteString(ts)
	for _, s := range secrets {
		if s == "" {
			continue
		}
		b.WriteString(",v1=")
		b.WriteString(hex.EncodeToString(mac(s, ts, body)))
	}
	return b.String()
}

func mac(secret, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// VerifyWebhook checks a delivery as its receiver got it: header is the
// SignatureHeader value, body the raw request body, now the receiver's
// clock. It accepts the delivery when one of its v1 signatures matches the
// body under one of secrets (pass the old and the new secret during a
// rotation) and its time is within tolerance of now (DefaultTolerance when
// tolerance is not positive). Comparisons take constant time.
//
// The tolerance bounds how long a captured delivery can be replayed. Within
// it, a receiver refuses replays by remembering the body's delivery_id for
// at least the tolerance and acknowledging (2xx) without acting on an id it
// has seen: Stele delivers at least once and sends a delivery again when it
// could not tell whether the first attempt arrived.
func VerifyWebhook(secrets []string, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	if !hasSecret(secrets) {
		return ErrNoSecret
	}
	ts, sigs, ok := parseSignature(header)
	if !ok {
		return ErrSignatureMissing
	}
	matched := false
	for _, s := range secrets {
		if s == "" {
			continue
		}
		want := mac(s, ts, body)
		for _, sig := range sigs {
			if hmac.Equal(want, sig) {
				matched = true
			}
		}
	}
	if !matched {
		return ErrSignatureMismatch
	}
	sec, _ := strconv.ParseInt(ts, 10, 64)
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrSignatureExpired
	}
	return nil
}

func hasSecret(secrets []string) bool {
	for _, s := range secrets {
		if s != "" {
			return true
		}
	}
	return false
}

// parseSignature splits a SignatureHeader value into its one timestamp (as
// written, since the MAC covers it as written) and its v1 signatures.
// Unknown schemes are skipped so that a later scheme can be added beside v1.
func parseSignature(h string) (ts string, sigs [][]byte, ok bool) {
	if len(h) > maxSignatureHeader {
		return "", nil, false
	}
	for part := range strings.SplitSeq(h, ",") {
		k, v, found := strings.Cut(strings.TrimSpace(part), "=")
		if !found {
			return "", nil, false
		}
		switch k {
		case "t":
			if ts != "" || !isUnixSeconds(v) {
				return "", nil, false
			}
			ts = v
		case "v1":
			// Only the lower-case hex Sign writes: one MAC, one spelling.
			if strings.ToLower(v) != v {
				return "", nil, false
			}
			sig, err := hex.DecodeString(v)
			if err != nil || len(sig) != sha256.Size || len(sigs) == maxSignatures {
				return "", nil, false
			}
			sigs = append(sigs, sig)
		}
	}
	return ts, sigs, ts != "" && len(sigs) > 0
}

// isUnixSeconds accepts only the form Sign writes: decimal digits, no sign,
// no leading zero, short enough to fit an int64.
func isUnixSeconds(s string) bool {
	if s == "" || len(s) > 18 || (s[0] == '0' && len(s) > 1) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
