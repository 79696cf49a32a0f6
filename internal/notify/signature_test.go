package notify

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// The expected MAC was computed apart from this code, with
//
//	printf '%s' '1795000000.{"type":"alert.fired"}' | openssl dgst -sha256 -hmac "$SECRET" -hex
//
// as docs/ALERTS.md tells receivers to check it.
func TestSignMatchesOpenSSL(t *testing.T) {
	got := Sign([]string{goodSecret}, time.Unix(1795000000, 0), []byte(`{"type":"alert.fired"}`))
	want := "t=1795000000,v1=0c4e85f94df361b7fb9ea284c12bfc579a8d57d9f387c92cea16af1b6c4f323b"
	if got != want {
		t.Fatalf("Sign = %s\nwant   %s", got, want)
	}
}

func TestVerifyWebhook(t *testing.T) {
	const other = "whsec_ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxw"
	body := []byte(`{"type":"alert.fired","delivery_id":"dlv_1"}`)
	sent := time.Unix(1795000000, 0)
	header := Sign([]string{goodSecret}, sent, body)
	both := Sign([]string{other, goodSecret}, sent, body)
	flipped := append([]byte{}, body...)
	flipped[len(flipped)-3] ^= 1
	tests := []struct {
		name    string
		secrets []string
		header  string
		body    []byte
		now     time.Time
		want    error
	}{
		{"fresh", []string{goodSecret}, header, body, sent.Add(time.Minute), nil},
		{"receiver clock behind", []string{goodSecret}, header, body, sent.Add(-time.Minute), nil},
		{"receiver knows old and new", []string{other, goodSecret}, header, body, sent, nil},
		{"sender signs with old and new", []string{goodSecret}, both, body, sent, nil},
		{"one byte changed", []string{goodSecret}, header, flipped, sent, ErrSignatureMismatch},
		{"wrong secret", []string{other}, header, body, sent, ErrSignatureMismatch},
		{"replayed after the tolerance", []string{goodSecret}, header, body, sent.Add(DefaultTolerance + time.Second), ErrSignatureExpired},
		{"from the future", []string{goodSecret}, header, body, sent.Add(-DefaultTolerance - time.Second), ErrSignatureExpired},
		{"time changed", []string{goodSecret}, strings.Replace(header, "t=1795000000", "t=1795000100", 1), body, sent, ErrSignatureMismatch},
		{"empty header", []string{goodSecret}, "", body, sent, ErrSignatureMissing},
		{"no v1", []string{goodSecret}, "t=1795000000", body, sent, ErrSignatureMissing},
		{"no t", []string{goodSecret}, header[strings.Index(header, "v1="):], body, sent, ErrSignatureMissing},
		{"two t", []string{goodSecret}, "t=1795000000," + header, body, sent, ErrSignatureMissing},
		{"signed t", []string{goodSecret}, strings.Replace(header, "t=", "t=+", 1), body, sent, ErrSignatureMissing},
		{"upper-case hex", []string{goodSecret}, header[:strings.Index(header, "v1=")+3] + strings.ToUpper(header[strings.Index(header, "v1=")+3:]), body, sent, ErrSignatureMissing},
		{"short v1", []string{goodSecret}, "t=1795000000,v1=abcd", body, sent, ErrSignatureMissing},
		{"unknown scheme beside v1", []string{goodSecret}, header + ",v9=zz", body, sent, nil},
		{"huge header", []string{goodSecret}, header + strings.Repeat(",v9=0", 1000), body, sent, ErrSignatureMissing},
		{"no secret", []string{""}, header, body, sent, ErrNoSecret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifyWebhook(tt.secrets, tt.header, tt.body, tt.now, 0)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	if err := VerifyWebhook([]string{goodSecret}, header, body, sent.Add(time.Hour), 2*time.Hour); err != nil {
		t.Errorf("a wider tolerance accepts an hour-old signature: %v", err)
	}
}
