package export

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"

	"github.com/stele-audit/stele"
)

// AppendJSONL appends e as one line of JSON Lines: the event as the API
// returns it (times in RFC 3339 UTC), UTF-8 without a byte order mark, HTML
// characters not escaped.
func AppendJSONL(dst []byte, e *stele.Event) ([]byte, error) {
	return appendJSONLine(dst, e)
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
