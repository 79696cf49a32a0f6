package client

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/stele-audit/stele"
)

// SendLines stores the events of r, JSON Lines (one event's JSON a line;
// blank lines are skipped), in requests of at most batch events (1 to
// 1000) and the API's limit of bytes, and returns how many it stored. Each
// request is all-or-nothing, so on an error the events of earlier
// requests are stored and none of the refused one.
//
// An error the server gives about events names their lines: each detail's
// Field starts with "line N" (the line of the event it is about), followed
// by ": " and the field when it is about one field, so that
// "line 4: actor.id" and a whole event's "line 6" read as they should. A
// line over the size of an event is refused before anything is sent of it.
func (c *Client) SendLines(ctx context.Context, r io.Reader, batch int) (int, error) {
	if batch < 1 || batch > stele.MaxBatchEvents {
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
	)
	flush := func() error {
		if len(lines) == 0 {
			return nil
		}
		body.WriteString("]}")
		receipts, err := c.SendRaw(ctx, body.Bytes())
		if err != nil {
			return withLines(err, lines)
		}
		sent += len(receipts)
		body.Reset()
		lines = lines[:0]
		return nil
	}
	for sc.Scan() {
		lineNo++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if len(lines) > 0 && (len(lines) == batch || body.Len()+len(line)+3 > maxBody) {
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
