package export

import (
	"bufio"
	"encoding/json"
	"io"

	"github.com/stele-audit/stele"
)

// JSONL writes JSON Lines: one event per line, as the API returns it (times
// in RFC 3339 UTC), UTF-8 without a byte order mark, HTML characters not
// escaped.
type JSONL struct {
	buf *bufio.Writer
	enc *json.Encoder
	dst io.Writer
	n   int
}

// NewJSONL returns a JSON Lines writer on w.
func NewJSONL(w io.Writer) *JSONL {
	buf := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	return &JSONL{buf: buf, enc: enc, dst: w}
}

// Write writes one event as a line.
func (j *JSONL) Write(e *stele.Event) error {
	if err := j.enc.Encode(e); err != nil {
		return err
	}
	j.n++
	if j.n%5000 == 0 {
		return j.Close()
	}
	return nil
}

// Close flushes.
func (j *JSONL) Close() error {
	if err := j.buf.Flush(); err != nil {
		return err
	}
	flush(j.dst)
	return nil
}
