package console

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"image/png"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/stele-audit/stele"
)

const totpPeriod = 30

var totpOpts = totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// checkTOTP accepts a code for the current time step or one step either
// side (clock drift), once: the step is recorded, and a code of that step
// or an earlier one is refused from then on, so a code seen over a
// shoulder cannot be replayed.
func (s *Server) checkTOTP(r *http.Request, u *stele.User, code string, now time.Time) (bool, error) {
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	if len(code) != 6 || u.TOTPSecret == "" {
		return false, nil
	}
	secret, err := s.openTOTP(r.Context(), u)
	if err != nil {
		return false, err
	}
	step := now.Unix() / totpPeriod
	for _, d := range []int64{0, -1, 1} {
		st := step + d
		want, err := totp.GenerateCodeCustom(secret, time.Unix(st*totpPeriod, 0), totpOpts)
		if err != nil {
			return false, err
		}
		if want == code {
			return s.Users.UseTOTPStep(r.Context(), u.ID, st)
		}
	}
	return false, nil
}

const totpPurpose = "totp"

// sealTOTP returns the form of a user's TOTP seed that is stored.
func (s *Server) sealTOTP(ctx context.Context, u *stele.User, secret string) (string, error) {
	if s.Secrets == nil {
		return "", errors.New("console: no secret sealer configured")
	}
	return s.Secrets.SealSecret(ctx, u.AccountID, totpPurpose, secret)
}

// openTOTP returns a user's TOTP seed from its stored, sealed form.
func (s *Server) openTOTP(ctx context.Context, u *stele.User) (string, error) {
	if !strings.HasPrefix(u.TOTPSecret, "sealed1.") || s.Secrets == nil {
		return u.TOTPSecret, nil // enrolled in this request, not yet reloaded
	}
	return s.Secrets.OpenSecret(ctx, u.AccountID, totpPurpose, u.TOTPSecret)
}

// newTOTPKey returns a new secret for u, its otpauth URL, and a QR code of
// the URL as a data: URL (allowed by the CSP's img-src).
func newTOTPKey(u *stele.User) (secret, otpURL, qr string, err error) {
	key, err := totp.Generate(totp.GenerateOpts{Issuer: "Stele", AccountName: u.Email, Period: totpPeriod})
	if err != nil {
		return "", "", "", err
	}
	return key.Secret(), key.URL(), qrOf(key), nil
}

func qrOf(key *otp.Key) string {
	img, err := key.Image(200, 200)
	if err != nil {
		return ""
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return ""
	}
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes())
}

// keyFromSecret rebuilds the enrolment key of a secret the form carried back.
func keyFromSecret(u *stele.User, secret string) (*otp.Key, error) {
	v := url.Values{"secret": {secret}, "issuer": {"Stele"}, "period": {"30"}, "digits": {"6"}, "algorithm": {"SHA1"}}
	return otp.NewKeyFromURL("otpauth://totp/Stele:" + url.PathEscape(u.Email) + "?" + v.Encode())
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

// checkTOTPTrial checks a code against a secret not yet stored (enrolment).
func (s *Server) checkTOTPTrial(u *stele.User, code string) (bool, error) {
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	if len(code) != 6 {
		return false, nil
	}
	now := s.now()
	for _, d := range []time.Duration{0, -totpPeriod * time.Second, totpPeriod * time.Second} {
		want, err := totp.GenerateCodeCustom(u.TOTPSecret, now.Add(d), totpOpts)
		if err != nil {
			return false, err
		}
		if want == code {
			return true, nil
		}
	}
	return false, nil
}
