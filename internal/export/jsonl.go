package export

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"time"

	"github.com/stele-audit/stele"
)

// AppendJSONL appends e as one line of JSON Lines: the event as the API
// returns it (times in RFC 3339 UTC), UTF-8 without a byte order mark, HTML
// characters not escaped.
func AppendJSONL(dst []byte, e *stele.Event) ([]byte, error) {
	dst, err := AppendEventJSON(dst, e)
	return append(dst, '\n'), err
}

// AppendEventJSON appends e as the API returns it: the bytes encoding/json
// writes for a stele.Event with HTML characters not escaped (a test and a
// fuzzer hold the two equal), without its reflection and without
// allocating: the list handler spent most of its CPU in encoding/json.
func AppendEventJSON(dst []byte, e *stele.Event) ([]byte, error) {
	start := len(dst)
	dst = append(dst, `{"id":`...)
	dst = appendJSONString(dst, e.ID, false)
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendInt(dst, e.Seq, 10)
	dst = append(dst, `,"account":`...)
	dst = appendJSONString(dst, e.Account, false)
	var err error
	dst = append(dst, `,"time":`...)
	if dst, err = appendJSONTime(dst, e.Time); err != nil {
		return dst[:start], err
	}
	dst = append(dst, `,"received_at":`...)
	if dst, err = appendJSONTime(dst, e.ReceivedAt); err != nil {
		return dst[:start], err
	}
	dst = append(dst, `,"action":`...)
	dst = appendJSONString(dst, e.Action, false)
	dst = append(dst, `,"category":`...)
	dst = appendJSONString(dst, e.Category, false)
	dst = append(dst, `,"outcome":`...)
	dst = appendJSONString(dst, e.Outcome, false)
	dst = appendJSONRef(dst, `,"actor":`, e.Actor)
	dst = appendJSONRef(dst, `,"target":`, e.Target)
	dst = appendJSONRef(dst, `,"source":`, e.Source)
	dst = appendJSONField(dst, `,"ip":`, e.IP)
	dst = appendJSONField(dst, `,"user_agent":`, e.UserAgent)
	dst = appendJSONField(dst, `,"request_id":`, e.RequestID)
	dst = appendJSONField(dst, `,"description":`, e.Description)
	if len(e.Metadata) > 0 {
		dst = append(dst, `,"metadata":`...)
		if dst, err = appendMetadataJSON(dst, e.Metadata, false); err != nil {
			return dst[:start], err
		}
	}
	dst = appendJSONField(dst, `,"idempotency_key":`, e.IdempotencyKey)
	return append(dst, '}'), nil
}

// appendJSONField appends key and s, unless s is empty (omitempty).
func appendJSONField(dst []byte, key, s string) []byte {
	if s == "" {
		return dst
	}
	return appendJSONString(append(dst, key...), s, false)
}

// appendJSONRef appends key and r, unless r is nil (omitempty).
func appendJSONRef(dst []byte, key string, r *stele.Ref) []byte {
	if r == nil {
		return dst
	}
	dst = append(dst, key...)
	n := len(dst)
	dst = append(dst, '{')
	for _, f := range [...]struct{ key, v string }{{`"type":`, r.Type}, {`"id":`, r.ID}, {`"name":`, r.Name}, {`"email":`, r.Email}} {
		if f.v == "" {
			continue
		}
		if len(dst) > n+1 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(append(dst, f.key...), f.v, false)
	}
	return append(dst, '}')
}

// appendJSONTime appends t as time.Time's MarshalJSON does: quoted RFC 3339
// with nanoseconds, refused outside the years 0 to 9999.
func appendJSONTime(dst []byte, t time.Time) ([]byte, error) {
	if y := t.Year(); y < 0 || y >= 10000 {
		return dst, errors.New("Time.MarshalJSON: year outside of range [0,9999]")
	}
	dst = append(dst, '"')
	dst = t.AppendFormat(dst, time.RFC3339Nano)
	return append(dst, '"'), nil
}

// appendJSONLine appends v as JSON and a newline, HTML characters not
// escaped.
func appendJSONLine(dst []byte, v any) ([]byte, error) {
	buf := bytes.NewBuffer(dst)
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return dst, err
	}
	return buf.Bytes(), nil
}

// noHead is the head of the line formats: none, every line stands alone.
func noHead() []byte { return nil }

// lines is the Writer of a line format (jsonl, ocsf): each event is one
// line that encode appends. It flushes every 5,000 lines so that a long
// export shows progress.
type lines struct {
	encode func(dst []byte, e *stele.Event) ([]byte, error)
	buf    *bufio.Writer
	dst    io.Writer
	line   []byte
	n      int
}

func newLines(w io.Writer, encode func(dst []byte, e *stele.Event) ([]byte, error)) *lines {
	return &lines{encode: encode, buf: bufio.NewWriterSize(w, 64<<10), dst: w}
}

// Write writes one event as a line.
func (l *lines) Write(e *stele.Event) error {
	var err error
	if l.line, err = l.encode(l.line[:0], e); err != nil {
		return err
	}
	if _, err := l.buf.Write(l.line); err != nil {
		return err
	}
	if l.n++; l.n%5000 == 0 {
		return l.Close()
	}
	return nil
}

// Close flushes.
func (l *lines) Close() error {
	if err := l.buf.Flush(); err != nil {
		return err
	}
	flush(l.dst)
	return nil
}
