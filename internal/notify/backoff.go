package notify

import "time"

// Backoff is the retry policy of one delivery: exponential waits with full
// jitter (each wait is drawn uniformly from zero to a ceiling that doubles
// from First up to Max), a destination's Retry-After honoured, and no
// attempt later than GiveUpAfter after the first. Many deliveries failing
// at once (a receiver down) so spread their retries instead of returning
// together.
type Backoff struct {
	First       time.Duration // ceiling of the first wait
	Max         time.Duration // ceiling of any wait
	GiveUpAfter time.Duration // age of the delivery after which no attempt starts
}

// DefaultBackoff retries for a day: after 30 s at most, then 1, 2, 4 … min,
// then at most hourly.
var DefaultBackoff = Backoff{First: 30 * time.Second, Max: time.Hour, GiveUpAfter: 24 * time.Hour}

// Rand is the random source of the jitter; *math/rand/v2.Rand is one.
type Rand interface {
	Int64N(n int64) int64
}

// Next returns how long to wait before the next attempt of a delivery, or
// retry false when the delivery should give up (and record
// alert.delivery_failed). failures counts the failed attempts so far (1
// after the first), err is the last one's error, first is when the first
// attempt started and now the clock.
func (b Backoff) Next(err error, failures int, first, now time.Time, r Rand) (wait time.Duration, retry bool) {
	if !IsRetryable(err) {
		return 0, false
	}
	wait = b.jitter(failures, r)
	wait = max(wait, RetryAfter(err))
	if now.Add(wait).Sub(first) > b.GiveUpAfter {
		return 0, false
	}
	return wait, true
}

// ceiling returns min(Max, First·2^(failures-1)) without overflowing.
func (b Backoff) ceiling(failures int) time.Duration {
	c := b.First
	for i := 1; i < failures && c < b.Max; i++ {
		if c > b.Max/2 {
			return b.Max
		}
		c *= 2
	}
	return max(min(c, b.Max), 0)
}

func (b Backoff) jitter(failures int, r Rand) time.Duration {
	c := b.ceiling(failures)
	if c <= 0 {
		return 0
	}
	return time.Duration(r.Int64N(int64(c) + 1))
}
