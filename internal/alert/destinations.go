package alert

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/notify"
)

// Sealer seals small secrets under an account's data key (seal.Keyring).
type Sealer interface {
	SealSecret(ctx context.Context, accountID int64, purpose, plain string) (string, error)
	OpenSecret(ctx context.Context, accountID int64, purpose, sealed string) (string, error)
}

// sealPurpose binds sealed destinations to what they are.
const sealPurpose = "alert destinations"

// RotationGrace is how long a webhook's previous secret still signs its
// deliveries after a new one is set, so its receiver can move at leisure.
const RotationGrace = 24 * time.Hour

// stored is a destination as sealed: with its secrets, and a rotated-out
// secret until its grace period ends.
type stored struct {
	Type           string    `json:"type"`
	URL            string    `json:"url,omitempty"`
	Secret         string    `json:"secret,omitempty"`
	To             []string  `json:"to,omitempty"`
	PreviousSecret string    `json:"previous_secret,omitempty"`
	PreviousUntil  time.Time `json:"previous_until,omitzero"`
}

func (s stored) destination(now time.Time) notify.Destination {
	d := notify.Destination{Type: s.Type, URL: s.URL, Secret: s.Secret, To: s.To}
	if s.PreviousSecret != "" && now.Before(s.PreviousUntil) {
		d.PreviousSecret = s.PreviousSecret
	}
	return d
}

func sealDestinations(ctx context.Context, sealer Sealer, accountID int64, ds []stored) (string, error) {
	b, err := json.Marshal(ds)
	if err != nil {
		return "", fmt.Errorf("alert: encode destinations: %w", err)
	}
	return sealer.SealSecret(ctx, accountID, sealPurpose, string(b))
}

func openDestinations(ctx context.Context, sealer Sealer, accountID int64, sealed string) ([]stored, error) {
	plain, err := sealer.OpenSecret(ctx, accountID, sealPurpose, sealed)
	if err != nil {
		return nil, fmt.Errorf("alert: open destinations: %w", err)
	}
	var ds []stored
	if err := json.Unmarshal([]byte(plain), &ds); err != nil {
		return nil, fmt.Errorf("alert: decode destinations: %w", err)
	}
	return ds, nil
}

// OpenDestinations returns a rule's or a firing's sealed destinations as
// notify delivers to them at now.
func OpenDestinations(ctx context.Context, sealer Sealer, accountID int64, sealed string, now time.Time) ([]notify.Destination, error) {
	ds, err := openDestinations(ctx, sealer, accountID, sealed)
	if err != nil {
		return nil, err
	}
	out := make([]notify.Destination, len(ds))
	for i, d := range ds {
		out[i] = d.destination(now)
	}
	return out, nil
}

// merge returns the destinations to store for in, given those stored
// before (nil on create), and which secrets Stele generated (shown once).
//
// What an update may leave out, because an API never returns it: a
// webhook's secret, and a URL sent back as the API showed it, redacted.
// Each destination sent is paired with a stored one of its type: the one
// whose URL it is (as stored or as shown), else the one at its index; what
// it leaves out is kept from that one. A webhook given a new secret keeps
// its old one for RotationGrace. A webhook created without a secret gets
// a new one.
func merge(in []notify.Destination, before []stored, now time.Time) (out []stored, generated map[int]string) {
	out = make([]stored, len(in))
	used := make([]bool, len(before))
	pair := func(i int, d notify.Destination) *stored {
		if d.URL != "" {
			for j := range before {
				b := &before[j]
				if !used[j] && b.Type == d.Type && (b.URL == d.URL || shown(b) == d.URL) {
					used[j] = true
					return b
				}
			}
		}
		if i < len(before) && !used[i] && before[i].Type == d.Type {
			used[i] = true
			return &before[i]
		}
		return nil
	}
	for i, d := range in {
		s := stored{Type: d.Type, URL: d.URL, Secret: d.Secret, To: d.To}
		old := pair(i, d)
		if old != nil && d.URL != "" && d.URL == shown(old) {
			s.URL = old.URL
		}
		if d.Type == notify.TypeWebhook {
			switch {
			case d.Secret == "" && old != nil:
				s.Secret, s.PreviousSecret, s.PreviousUntil = old.Secret, old.PreviousSecret, old.PreviousUntil
			case d.Secret == "":
				s.Secret = notify.NewSecret()
				if generated == nil {
					generated = map[int]string{}
				}
				generated[i] = s.Secret
			case old != nil && d.Secret != old.Secret:
				s.PreviousSecret, s.PreviousUntil = old.Secret, now.Add(RotationGrace)
			case old != nil:
				s.PreviousSecret, s.PreviousUntil = old.PreviousSecret, old.PreviousUntil
			}
		}
		out[i] = s
	}
	return out, generated
}

// shown is a stored destination's URL as the API shows it.
func shown(s *stored) string {
	return notify.Destination{Type: s.Type, URL: s.URL}.Redacted().URL
}

// destinationsOf returns the notify form of ds, for validation and views.
func destinationsOf(ds []stored) []notify.Destination {
	out := make([]notify.Destination, len(ds))
	for i, d := range ds {
		out[i] = notify.Destination{Type: d.Type, URL: d.URL, Secret: d.Secret, To: d.To}
	}
	return out
}

// summary names destinations for the account's log: types and hosts, no
// secret, no path, no recipient.
func summary(ds []notify.Destination) string {
	var b []byte
	for i, d := range ds {
		if i > 0 {
			b = append(b, ", "...)
		}
		if d.Type == notify.TypeEmail {
			b = fmt.Appendf(b, "email to %d recipient(s)", len(d.To))
			continue
		}
		b = append(b, d.Type+" "+hostOf(d.URL)...)
	}
	return string(b)
}

// hostOf returns only the scheme and host of a URL.
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(invalid URL)"
	}
	return u.Scheme + "://" + u.Host
}

// errDestinations wraps notify's validation so its details keep their
// field names and the message names the first.
func errDestinations(err error) []stele.FieldError {
	if e, ok := err.(*stele.Error); ok {
		return e.Details
	}
	return []stele.FieldError{{Field: "destinations", Rule: "invalid", Message: stele.ErrorMessage(err)}}
}
