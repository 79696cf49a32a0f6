package stele

import (
	"errors"
	"fmt"
	"time"
)

// Code classifies an application error. The HTTP layer maps codes to status
// codes in one place; everything below it only picks a code.
type Code string

const (
	EINVALID      Code = "invalid"
	EUNAUTHORIZED Code = "unauthorized"
	EFORBIDDEN    Code = "forbidden"
	ENOTFOUND     Code = "not_found"
	ECONFLICT     Code = "conflict"
	ETOOLARGE     Code = "too_large"
	EUNSUPPORTED  Code = "unsupported_media_type"
	EUNAVAILABLE  Code = "unavailable"
	// ETHROTTLED: the account is over a quota; the same request succeeds
	// later (Error.RetryAfter says when).
	ETHROTTLED Code = "throttled"
	// EGONE: the thing existed and was destroyed for good (an account's
	// keys, after the account was deleted); asking again never helps.
	EGONE     Code = "gone"
	EINTERNAL Code = "internal"
)

// FieldError names one bad field of one event: the event's index in the
// request (0 for a single event), the field's JSON path and the rule it broke.
type FieldError struct {
	Index   int    `json:"index"`
	Field   string `json:"field"`
	Rule    string `json:"rule"`
	Message string `json:"message,omitempty"`
}

// Error is the application error. Message is safe to show to the caller; it
// never contains secrets or event payloads.
type Error struct {
	Code    Code
	Message string
	Details []FieldError
	// RetryAfter, when not zero, is how long the caller should wait before
	// sending the request again.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if len(e.Details) == 0 {
		return fmt.Sprintf("%s: %s", e.Code, e.Message)
	}
	return fmt.Sprintf("%s: %s (%d field errors, first: %s %s)", e.Code, e.Message, len(e.Details), e.Details[0].Field, e.Details[0].Rule)
}

// Errorf returns an *Error with the code and a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for
// any other non-nil error, and "" for nil.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the human message of the first *Error in err's chain,
// or a generic text for internal errors, whose detail must not leak.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// KeysDestroyed is the error of any use of a deleted account's keys: they
// were destroyed in the key store, so none of its events decrypts again,
// whatever copy of the event store they are read from.
func KeysDestroyed(accountID int64) *Error {
	return Errorf(EGONE, "account keys destroyed: account %d was deleted, and none of its events can be decrypted", accountID)
}
