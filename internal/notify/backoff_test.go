package notify

import (
	"errors"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"
)

// fixedRand always draws the lowest or the highest value allowed.
type fixedRand struct{ high bool }

func (f fixedRand) Int64N(n int64) int64 {
	if f.high {
		return n - 1
	}
	return 0
}

func TestBackoffDoublesUpToTheCap(t *testing.T) {
	b := Backoff{First: 30 * time.Second, Max: 10 * time.Minute, GiveUpAfter: 24 * time.Hour}
	retryable := &DeliveryError{Type: TypeWebhook, Retryable: true}
	first := fired
	for failures, want := range map[int]time.Duration{
		1: 30 * time.Second, 2: time.Minute, 3: 2 * time.Minute, 5: 8 * time.Minute, 6: 10 * time.Minute, 1000: 10 * time.Minute,
	} {
		wait, ok := b.Next(retryable, failures, first, first, fixedRand{high: true})
		if !ok || wait != want {
			t.Errorf("after %d failures: wait %v (retry %v), want the ceiling %v", failures, wait, ok, want)
		}
		if wait, _ := b.Next(retryable, failures, first, first, fixedRand{}); wait != 0 {
			t.Errorf("after %d failures: the lowest draw waits %v, want 0 (full jitter)", failures, wait)
		}
	}
}

func TestBackoffJitterSpreadsWithinTheCeiling(t *testing.T) {
	b := DefaultBackoff
	r := rand.New(rand.NewPCG(1, 2))
	retryable := &DeliveryError{Type: TypeSlack, Retryable: true}
	seen := map[time.Duration]bool{}
	for range 200 {
		wait, ok := b.Next(retryable, 3, fired, fired, r)
		if !ok || wait < 0 || wait > 2*time.Minute {
			t.Fatalf("wait %v (retry %v) outside [0, 2m]", wait, ok)
		}
		seen[wait] = true
	}
	if len(seen) < 150 {
		t.Errorf("only %d distinct waits in 200 draws: not jittered", len(seen))
	}
}

func TestBackoffGivesUp(t *testing.T) {
	b := Backoff{First: time.Minute, Max: time.Hour, GiveUpAfter: 6 * time.Hour}
	retryable := &DeliveryError{Type: TypeEmail, Retryable: true}
	if _, ok := b.Next(&DeliveryError{Type: TypeWebhook, Status: 400}, 1, fired, fired, fixedRand{}); ok {
		t.Error("a permanent error is retried")
	}
	if _, ok := b.Next(errors.New("not a delivery error"), 1, fired, fired, fixedRand{}); ok {
		t.Error("an unclassified error is retried")
	}
	if _, ok := b.Next(retryable, 10, fired, fired.Add(5*time.Hour+30*time.Minute), fixedRand{high: true}); ok {
		t.Error("a retry past the age limit is planned")
	}
	if wait, ok := b.Next(retryable, 10, fired, fired.Add(5*time.Hour+30*time.Minute), fixedRand{}); !ok || wait != 0 {
		t.Errorf("a retry within the age limit: wait %v, retry %v", wait, ok)
	}
}

func TestBackoffHonoursRetryAfter(t *testing.T) {
	b := Backoff{First: time.Second, Max: time.Minute, GiveUpAfter: time.Hour}
	limited := &DeliveryError{Type: TypeWebhook, Retryable: true, Status: 429, RetryAfter: 20 * time.Minute}
	if wait, ok := b.Next(limited, 1, fired, fired, fixedRand{high: true}); !ok || wait != 20*time.Minute {
		t.Errorf("wait %v (retry %v), want the 20m asked for, past the cap", wait, ok)
	}
	limited.RetryAfter = 2 * time.Hour
	if _, ok := b.Next(limited, 1, fired, fired, fixedRand{}); ok {
		t.Error("a Retry-After past the age limit is planned instead of giving up")
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	tests := map[string]time.Duration{
		"120":                           2 * time.Minute,
		" 5 ":                           5 * time.Second,
		"0":                             0,
		"-3":                            0,
		"soon":                          0,
		"":                              0,
		"99999999999999999999":          0,
		"999999999":                     maxRetryAfter,
		"Tue, 24 Nov 2026 10:01:30 GMT": 90 * time.Second,
		"Tue, 24 Nov 2026 09:00:00 GMT": 0,
	}
	for in, want := range tests {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("Retry-After %q: %v, want %v", in, got, want)
		}
	}
}

func TestHTTPStatusClasses(t *testing.T) {
	for code, retryable := range map[int]bool{
		301: false, 307: false, 400: false, 401: false, 403: false, 404: false, 410: false, 413: false, 422: false,
		408: true, 425: true, 429: true, 500: true, 502: true, 503: true, 504: true,
	} {
		e := httpStatusError(TypeWebhook, &http.Response{StatusCode: code, Header: http.Header{}}, fired)
		if e.Retryable != retryable || e.Status != code {
			t.Errorf("HTTP %d: retryable %v, want %v", code, e.Retryable, retryable)
		}
	}
}
