package client

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/stele-audit/stele"
)

// StatusError is the answer of a server that refused or failed a request:
// its HTTP status and the API's error. errors.As finds Err through it, so
// stele.ErrorCode(err) is the API's code.
type StatusError struct {
	StatusCode int
	// Err is the error body the API sent; for an answer that was not the
	// API's (a proxy's page), one with the code of the status and the
	// status in its message.
	Err *stele.Error
	// RetryAfter is the wait the server asked for (Retry-After, on a 429
	// or a 503), 0 when it named none.
	RetryAfter time.Duration
}

func (e *StatusError) Error() string {
	msg := strings.TrimPrefix(e.Err.Error(), string(e.Err.Code)+": ")
	return fmt.Sprintf("%d %s: %s", e.StatusCode, http.StatusText(e.StatusCode), msg)
}

func (e *StatusError) Unwrap() error { return e.Err }

// statusError reads an error answer: {"error": {"code", "message",
// "details"}} as the API writes it, or whatever else a server in between
// sent. Its text is the server's: characters a terminal would act on are
// replaced, so printing an error cannot rewrite the screen.
func statusError(resp *http.Response) *StatusError {
	se := readStatusError(resp)
	se.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), time.Now())
	return se
}

// retryAfter reads a Retry-After header: whole seconds, or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(min(s, 24*3600)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), 24*time.Hour)
	}
	return 0
}

func readStatusError(resp *http.Response) *StatusError {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var body struct {
		Error struct {
			Code    stele.Code         `json:"code"`
			Message string             `json:"message"`
			Details []stele.FieldError `json:"details"`
		} `json:"error"`
	}
	if err := json.Unmarshal(b, &body); err == nil && body.Error.Code != "" {
		e := &stele.Error{Code: stele.Code(printable(string(body.Error.Code))), Message: printable(body.Error.Message)}
		for _, d := range body.Error.Details {
			d.Field, d.Rule, d.Message = printable(d.Field), printable(d.Rule), printable(d.Message)
			e.Details = append(e.Details, d)
		}
		return &StatusError{StatusCode: resp.StatusCode, Err: e}
	}
	msg := "the server answered " + resp.Status
	if loc := resp.Header.Get("Location"); resp.StatusCode/100 == 3 && loc != "" {
		msg += ", to " + truncate(printable(loc), 200) + " (give the client that URL: requests are not redirected)"
	}
	if text := strings.TrimSpace(printable(string(b))); text != "" {
		msg += ": " + truncate(text, 200)
	}
	return &StatusError{StatusCode: resp.StatusCode, Err: &stele.Error{Code: codeOf(resp.StatusCode), Message: msg}}
}

// codeOf is the application code of an HTTP status, the inverse of the
// API's mapping, for answers that carry no code of their own.
func codeOf(status int) stele.Code {
	switch status {
	case http.StatusBadRequest:
		return stele.EINVALID
	case http.StatusUnauthorized:
		return stele.EUNAUTHORIZED
	case http.StatusForbidden:
		return stele.EFORBIDDEN
	case http.StatusNotFound:
		return stele.ENOTFOUND
	case http.StatusConflict:
		return stele.ECONFLICT
	case http.StatusRequestEntityTooLarge:
		return stele.ETOOLARGE
	case http.StatusUnsupportedMediaType:
		return stele.EUNSUPPORTED
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		return stele.EUNAVAILABLE
	default:
		return stele.EINTERNAL
	}
}

// printable replaces control characters (escape sequences, line breaks,
// bidirectional overrides) with a space.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			return ' '
		}
		return r
	}, s)
}

func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
