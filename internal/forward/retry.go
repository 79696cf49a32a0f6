package forward

import (
	"errors"
	"net/http"
	"net/netip"
	"time"

	"github.com/stele-audit/stele"
)

// Permanent reports whether err is an answer that sending the same batch
// again cannot change, so that a stream should stop and say why rather
// than retry: an HTTPS destination's 4xx other than 408 (it timed out) and
// 429 (slow down), or an address the dial guard refuses. Everything else
// (networks, timeouts, 5xx, a receiver that went away) is worth a retry.
func Permanent(err error) bool {
	var se *StatusError
	if errors.As(err, &se) {
		return se.StatusCode >= 400 && se.StatusCode < 500 &&
			se.StatusCode != http.StatusRequestTimeout && se.StatusCode != http.StatusTooManyRequests
	}
	return stele.ErrorCode(err) == stele.EFORBIDDEN
}

// Backoff is the wait before attempt n+1 after n failures in a row: lo
// doubled n-1 times, at most hi, less up to a fifth at random. The syslog
// sender waits the same way between connection attempts.
func Backoff(n int, lo, hi time.Duration) time.Duration { return backoff(n, lo, hi) }

// CheckAddr is the default dial guard: it refuses the addresses no
// receiver lives at and a metadata service may (link-local, multicast,
// unspecified), with an EFORBIDDEN error. A destination whose host is such
// an address literally can be refused when it is saved.
func CheckAddr(a netip.Addr) error { return allowPublicAndPrivate(a.Unmap()) }
