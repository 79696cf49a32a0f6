package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/stele-audit/stele"
)

// SendLines stores the events of r, JSON Lines (one event's JSON a line;
// blank lines are skipped), in requests of at most batch events (1 to
// 1000) and the API's limit of bytes, and returns how many it stored. Each
// request is all-or-nothing, so on an error the events of earlier
// requests are stored and none of the refused one. SendLinesWith does the
// same with more control.
func (c *Client) SendLines(ctx context.Context, r io.Reader, batch int) (int, error) {
	return c.SendLinesWith(ctx, r, LinesOptions{Batch: batch})
}

// LinesOptions tunes SendLinesWith.
type LinesOptions struct {
	// Batch is the most events a request holds, 1 to 1000.
	Batch int
	// Skip, when set, leaves out the lines (numbered from 1) it reports.
	Skip func(line int) bool
	// KeyPrefix, when set, gives each event that has no idempotency_key
	// the key KeyPrefix + "-" + its line number: a prefix derived from the
	// input's content makes a rerun of the same input store nothing twice.
	KeyPrefix string
	// Stored, when set, is told the lines of each request once stored,
	// and their receipts (Replayed for an event stored before).
	Stored func(lines []int, receipts []stele.Receipt)
	// Retries is how many times a request the server could not take now
	// (429, 503: Retry-After honoured) is sent again; 0 for none.
	Retries int
}

// SendLinesWith stores the events of r as SendLines does, with opts.
//
// An error the server gives about events names their lines: each detail's
// Field starts with "line N" (the line of the event it is about), followed
// by ": " and the field when it is about one field, so that
// "line 4: actor.id" and a whole event's "line 6" read as they should. A
// line over the size of an event is refused before anything is sent of it.
func (c *Client) SendLinesWith(ctx context.Context, r io.Reader, opts LinesOptions) (int, error) {
	if opts.Batch < 1 || opts.Batch > stele.MaxBatchEvents {
		return 0, &stele.Error{Code: stele.EINVALID, Message: fmt.Sprintf("a batch is 1 to %d events", stele.MaxBatchEvents),
			Details: []stele.FieldError{{Field: "batch", Rule: "range"}}}
	}
	sc := bufio.NewScanner(r)
	// The scanner's limit is the larger of its buffer's capacity and the
	// maximum: a buffer smaller than the maximum keeps the limit exact.
	sc.Buffer(make([]byte, 0, 16<<10), stele.MaxEventBytes+1024)
	var (
		body    bytes.Buffer
		lines   []int // the line number of each event in the body
		sent    int
		lineNo  int
		maxBody = stele.MaxBodyBytes - 64
		keyed   []byte
	)
	flush := func() error {
		if len(lines) == 0 {
			return nil
		}
		body.WriteString("]}")
		receipts, err := c.sendRetrying(ctx, body.Bytes(), opts.Retries)
		if err != nil {
			return withLines(err, lines)
		}
		sent += len(receipts)
		if opts.Stored != nil {
			opts.Stored(lines, receipts)
		}
		body.Reset()
		lines = lines[:0]
		return nil
	}
	for sc.Scan() {
		lineNo++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || opts.Skip != nil && opts.Skip(lineNo) {
			continue
		}
		if opts.KeyPrefix != "" {
			keyed = withIdempotencyKey(keyed[:0], line, opts.KeyPrefix+"-"+strconv.Itoa(lineNo))
			line = keyed
		}
		if len(lines) > 0 && (len(lines) == opts.Batch || body.Len()+len(line)+3 > maxBody) {
			if err := flush(); err != nil {
				return sent, err
			}
		}
		if len(lines) == 0 {
			body.WriteString(`{"events":[`)
		} else {
			body.WriteByte(',')
		}
		body.Write(line)
		lines = append(lines, lineNo)
	}
	if err := sc.Err(); err != nil {
		return sent, fmt.Errorf("line %d: %w", lineNo+1, err)
	}
	return sent, flush()
}

// withIdempotencyKey appends line to dst with "idempotency_key": key added
// as its first member, unless the event (a JSON object) has one.
func withIdempotencyKey(dst, line []byte, key string) []byte {
	var has struct {
		Key *string `json:"idempotency_key"`
	}
	if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &has) != nil || has.Key != nil {
		return append(dst, line...)
	}
	dst = append(dst, `{"idempotency_key":`...)
	dst = strconv.AppendQuote(dst, key)
	if rest := bytes.TrimLeft(line[1:], " \t\r\n"); len(rest) > 0 && rest[0] != '}' {
		dst = append(dst, ',')
	}
	return append(dst, line[1:]...)
}

// sendRetrying sends body, and again up to retries times while the server
// answers that it cannot take it now (429, 503), after the wait it asks
// for (Retry-After) or a second.
func (c *Client) sendRetrying(ctx context.Context, body []byte, retries int) ([]stele.Receipt, error) {
	for attempt := 0; ; attempt++ {
		receipts, err := c.SendRaw(ctx, body)
		var se *StatusError
		if err == nil || attempt >= retries || !errors.As(err, &se) ||
			se.StatusCode != http.StatusTooManyRequests && se.StatusCode != http.StatusServiceUnavailable {
			return receipts, err
		}
		wait := max(se.RetryAfter, time.Second)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
	}
}

// withLines rewrites the batch indexes of an API error as the lines of
// the input they came from.
func withLines(err error, lines []int) error {
	var se *StatusError
	if !errors.As(err, &se) {
		return err
	}
	e := *se.Err
	e.Details = make([]stele.FieldError, len(se.Err.Details))
	for i, d := range se.Err.Details {
		if d.Index >= 0 && d.Index < len(lines) {
			at := "line " + strconv.Itoa(lines[d.Index])
			if d.Field != "" {
				at += ": " + d.Field
			}
			d.Field = at
		}
		e.Details[i] = d
	}
	return &StatusError{StatusCode: se.StatusCode, Err: &e}
}
