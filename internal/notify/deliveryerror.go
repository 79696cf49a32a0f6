package notify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DeliveryError is why one attempt to deliver failed, and whether trying
// again may help. Its text is safe to record (in alert.delivery_failed) and
// to show: no secret, no URL path or query, no event data.
type DeliveryError struct {
	Type string // the destination's type
	// Retryable is true for failures that may pass: network errors,
	// timeouts, HTTP 5xx, 408 and 429, SMTP 4xx. It is false for those that
	// need someone to change something first: other HTTP 4xx, redirects, an
	// untrusted certificate, a refused address, SMTP 5xx.
	Retryable bool
	// RetryAfter is the wait the destination asked for (HTTP Retry-After),
	// or zero.
	RetryAfter time.Duration
	// Status is the HTTP status or SMTP reply code, or zero.
	Status int
	// Reason says what happened, briefly.
	Reason string
	// Pending and Refused are set by email deliveries: the recipients to try
	// again (the failure was temporary for them), and those refused for
	// good. Recipients in neither received the alert; a retry sends to
	// Pending only, so that nobody gets it twice.
	Pending, Refused []string

	err error
}

func (e *DeliveryError) Error() string {
	class := "permanent"
	if e.Retryable {
		class = "retryable"
	}
	return fmt.Sprintf("%s delivery failed (%s): %s", e.Type, class, e.Reason)
}

func (e *DeliveryError) Unwrap() error { return e.err }

// IsRetryable reports whether err is a *DeliveryError that may pass if
// tried again.
func IsRetryable(err error) bool {
	var e *DeliveryError
	return errors.As(err, &e) && e.Retryable
}

// RetryAfter returns the wait a destination asked for, or zero.
func RetryAfter(err error) time.Duration {
	var e *DeliveryError
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// maxRetryAfter bounds a Retry-After a destination may ask for; Backoff
// gives up anyway when the wait would pass its age limit.
const maxRetryAfter = 48 * time.Hour

// httpStatusError classifies an HTTP answer that is not a 2xx.
func httpStatusError(typ string, resp *http.Response, now time.Time) *DeliveryError {
	e := &DeliveryError{Type: typ, Status: resp.StatusCode, Reason: "HTTP " + strconv.Itoa(resp.StatusCode)}
	switch code := resp.StatusCode; {
	case code >= 300 && code < 400:
		e.Reason += ": redirects are not followed; configure the final URL"
	case code == http.StatusRequestTimeout, code == http.StatusTooEarly, code == http.StatusTooManyRequests, code >= 500:
		e.Retryable = true
		e.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), now)
	}
	return e
}

// parseRetryAfter reads delay-seconds or an HTTP date; anything else, a
// date in the past or a negative delay is no request at all.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		if n > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), maxRetryAfter)
}

// errAddressNotAllowed is returned by the dialer for an address the
// URLPolicy keeps Stele from.
var errAddressNotAllowed = errors.New("the destination's address is not public")

// transportError classifies an error of an HTTP request that got no
// answer. url.Error's text holds the URL, so only the cause is kept.
func transportError(typ string, err error) *DeliveryError {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	e := &DeliveryError{Type: typ, err: err, Reason: clip(err.Error(), 300)}
	switch {
	case errors.Is(err, errAddressNotAllowed):
		e.Reason = errAddressNotAllowed.Error() + " (private, loopback or link-local addresses are refused)"
	case isCertificateError(err):
		e.Reason = "TLS: " + clip(err.Error(), 300)
	case errors.Is(err, context.Canceled):
		e.Retryable, e.Reason = true, "canceled before it completed"
	case isTimeout(err):
		e.Retryable, e.Reason = true, "timed out"
	default:
		// Connection refused or reset, a name that did not resolve, a
		// TLS handshake cut short: the network's trouble, which passes.
		e.Retryable = true
	}
	return e
}

// isCertificateError reports whether err is the server's certificate
// failing verification: a misconfiguration to fix, not a failure to wait out.
func isCertificateError(err error) bool {
	var (
		verr *tls.CertificateVerificationError
		uerr x509.UnknownAuthorityError
		herr x509.HostnameError
		cerr x509.CertificateInvalidError
	)
	return errors.As(err, &verr) || errors.As(err, &uerr) || errors.As(err, &herr) || errors.As(err, &cerr)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}
