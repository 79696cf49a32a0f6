package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/stele-audit/stele"
)

var (
	// errGaveUp: a delivery failed and the caller asked not to retry it
	// (it has a spool to put the events in).
	errGaveUp = errors.New("stele client: delivery failed")
	// errAborted: Close stopped waiting while the events were on their way.
	errAborted = errors.New("stele client: closed before the events were delivered")
)

// DeliveryError is a failed attempt at delivering a batch, which will be
// retried (or spooled): the server could not be reached, or answered 5xx,
// 429 or 408.
type DeliveryError struct {
	Events  int           // in the batch
	Attempt int           // 1 for the first failure
	Wait    time.Duration // until the next attempt
	Err     error
}

func (e *DeliveryError) Error() string {
	return fmt.Sprintf("stele client: delivering %d events, attempt %d: %v (next in %s)", e.Events, e.Attempt, e.Err, e.Wait.Round(time.Millisecond))
}

func (e *DeliveryError) Unwrap() error { return e.Err }

// RejectedError is an event the server refused (4xx): it is not retried.
// Err is the *StatusError with the server's details of this event.
type RejectedError struct {
	Event stele.Event
	Err   error
}

func (e *RejectedError) Error() string {
	return fmt.Sprintf("stele client: event %s (idempotency key %s) refused: %v", e.Event.Action, e.Event.IdempotencyKey, e.Err)
}

func (e *RejectedError) Unwrap() error { return e.Err }

// encodeEntries turns recorded events into the JSON the API takes, each
// with its idempotency key, all in one buffer. An event that cannot be
// JSON is refused here.
func (r *recorder) encodeEntries(batch []entry) [][]byte {
	buf := make([]byte, 0, 384*len(batch))
	ends := make([]int, 0, len(batch))
	for i := range batch {
		e := &batch[i].ev
		if e.IdempotencyKey == "" {
			e.IdempotencyKey = r.keyPrefix + "." + strconv.FormatUint(batch[i].n, 36)
		}
		start := len(buf)
		b, err := appendEvent(buf, e)
		if err != nil {
			buf = buf[:start]
			r.report(&RejectedError{Event: *e, Err: &stele.Error{Code: stele.EINVALID, Message: "the event cannot be encoded as JSON: " + err.Error(),
				Details: []stele.FieldError{{Field: "metadata", Rule: "json"}}}})
			continue
		}
		buf = b
		ends = append(ends, len(buf))
	}
	out := make([][]byte, len(ends))
	start := 0
	for i, end := range ends {
		out[i] = buf[start:end:end]
		start = end
	}
	return out
}

// send delivers events in as few requests as the API's limits allow,
// retrying with backoff until delivered or Close gives up (errAborted); with
// once, the first failed attempt returns errGaveUp instead. Events the
// server refuses are reported and left out.
func (r *recorder) send(events [][]byte, once bool) error {
	for len(events) > 0 {
		n := fit(events)
		if err := r.sendChunk(events[:n], once); err != nil {
			return err
		}
		events = events[n:]
	}
	return nil
}

// fit is how many of events, at least one, make a body within the API's limits.
func fit(events [][]byte) int {
	size := len(`{"events":[]}`)
	for i, e := range events {
		size += len(e) + 1
		if i > 0 && (size > stele.MaxBodyBytes || i == stele.MaxBatchEvents) {
			return i
		}
	}
	return len(events)
}

func batchBody(events [][]byte) []byte {
	n := len(`{"events":[]}`)
	for _, e := range events {
		n += len(e) + 1
	}
	b := make([]byte, 0, n)
	b = append(b, `{"events":[`...)
	for i, e := range events {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, e...)
	}
	return append(b, "]}"...)
}

func (r *recorder) sendChunk(events [][]byte, once bool) error {
	attempt := 0
	defer func() {
		if attempt > 0 && r.spool == nil {
			r.mu.Lock()
			r.retrying--
			r.mu.Unlock()
			r.poke(r.cfg.concurrency)
		}
	}()
	for len(events) > 0 {
		receipts, err := r.c.SendRaw(r.ctx, batchBody(events))
		if err == nil {
			r.mu.Lock()
			r.lastErr = nil
			r.mu.Unlock()
			if r.cfg.onReceipts != nil {
				r.cfg.onReceipts(receipts)
			}
			return nil
		}
		if r.ctx.Err() != nil {
			return errAborted
		}
		var se *StatusError
		isStatus := errors.As(err, &se)
		if isStatus && !retryable(se.StatusCode) && !keyRefused(se) {
			rest, err := r.refuse(events, se, once)
			if err != nil {
				return err
			}
			events = rest
			continue
		}
		attempt++
		wait := r.backoff(attempt, se)
		r.report(&DeliveryError{Events: len(events), Attempt: attempt, Wait: wait, Err: err})
		if once {
			return errGaveUp
		}
		if attempt == 1 && r.spool == nil { // with a spool, the ring keeps draining into it
			r.mu.Lock()
			r.retrying++
			r.mu.Unlock()
		}
		t := time.NewTimer(wait)
		select {
		case <-r.ctx.Done():
			t.Stop()
			return errAborted
		case <-t.C:
		}
	}
	return nil
}

// retryable reports whether a status may succeed later: the server is
// busy, failing or asks to be asked again. Other 4xx answers will not change.
func retryable(status int) bool {
	return status >= 500 || status == http.StatusTooManyRequests || status == http.StatusRequestTimeout || status == http.StatusTooEarly
}

// keyRefused reports an answer about the key, not the events: 401 (the key
// is unknown, revoked or expired) or a 403 that names no event (the key
// lacks events:write). The events are as good as they were, so they wait,
// in the buffer or the spool, as through an outage, until an operator
// fixes the key (a producer restarted with a new key sends the spool):
// an audit trail is not thrown away over a rotated key. A 403 that names
// events (one names an account the key may not write to) refuses those.
func keyRefused(se *StatusError) bool {
	switch se.StatusCode {
	case http.StatusUnauthorized:
		return true
	case http.StatusForbidden:
		return se.Err == nil || len(se.Err.Details) == 0
	}
	return false
}

// backoff is the wait before attempt+1: exponential from backoffMin to
// backoffMax with jitter (half of it random), or the server's Retry-After
// when that is longer.
func (r *recorder) backoff(attempt int, se *StatusError) time.Duration {
	d := r.cfg.backoffMax
	if attempt < 30 {
		d = min(r.cfg.backoffMin<<(attempt-1), r.cfg.backoffMax)
	}
	if d > 1 {
		d = d/2 + rand.N(d/2)
	}
	if se != nil && se.RetryAfter > d {
		d = se.RetryAfter
	}
	return d
}

// refuse deals with a 4xx answer to a batch: the events the server named
// are reported and the rest returned to be sent again; when it named none
// it could be pinned on, the events are sent one at a time so that only
// the bad ones are refused.
func (r *recorder) refuse(events [][]byte, se *StatusError, once bool) ([][]byte, error) {
	bad := map[int][]stele.FieldError{}
	if se.StatusCode == http.StatusBadRequest || se.StatusCode == http.StatusForbidden {
		// Details index the events of the batch; each event's are reported
		// as its own, at index 0.
		for _, d := range se.Err.Details {
			if d.Index >= 0 && d.Index < len(events) && d.Field != "events" {
				i := d.Index
				d.Index = 0
				bad[i] = append(bad[i], d)
			}
		}
	}
	if len(bad) == 0 && len(events) > 1 {
		for _, e := range events {
			if err := r.sendChunk([][]byte{e}, once); err != nil {
				return nil, err
			}
		}
		return nil, nil
	}
	if len(bad) == 0 {
		for _, e := range events {
			r.reportRejected(e, se)
		}
		return nil, nil
	}
	rest := make([][]byte, 0, len(events)-len(bad))
	for i, e := range events {
		if details, ok := bad[i]; ok {
			one := *se
			one.Err = &stele.Error{Code: se.Err.Code, Message: se.Err.Message, Details: details}
			r.reportRejected(e, &one)
			continue
		}
		rest = append(rest, e)
	}
	return rest, nil
}

func (r *recorder) reportRejected(raw []byte, se *StatusError) {
	var e stele.Event
	json.Unmarshal(raw, &e) // best effort: the event is ours, encoded above
	r.report(&RejectedError{Event: e, Err: se})
}
