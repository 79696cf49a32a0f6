package export

import (
	"bufio"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/stele-audit/stele"
)

// CSVHeader is the header row of a CSV export, one column per event field.
var CSVHeader = []string{
	"id", "seq", "time", "received_at", "account", "action", "category", "outcome",
	"actor_type", "actor_id", "actor_name", "actor_email",
	"target_type", "target_id", "target_name",
	"source_type", "source_id", "source_name",
	"ip", "user_agent", "request_id", "description", "metadata", "idempotency_key",
}

// bom is the UTF-8 byte order mark. RFC 4180 does not need it, but Excel
// reads a CSV file without it in the machine's legacy code page and garbles
// every non-ASCII name; with it, Excel, LibreOffice, Numbers, Python's
// csv module (encoding="utf-8-sig") and pandas all read UTF-8.
const bom = "\ufeff"

// CSV writes RFC 4180 CSV (CRLF line ends, quoted exactly as encoding/csv
// quotes), UTF-8 with a byte order mark, times in ISO 8601 UTC, metadata as
// one JSON object per cell (as encoding/json writes it). Cells that a
// spreadsheet would run as a formula are neutralised (see Neutralise).
type CSV struct {
	buf    *bufio.Writer
	dst    io.Writer
	row    []byte
	n      int
	header bool
}

// NewCSV returns a CSV writer on w.
func NewCSV(w io.Writer) *CSV {
	return &CSV{buf: bufio.NewWriterSize(w, 64<<10), dst: w}
}

// CSVHead is what a CSV export starts with: the byte order mark and the
// header row.
func CSVHead() []byte {
	dst := append([]byte(nil), bom...)
	for i, h := range CSVHeader {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendField(dst, h)
	}
	return append(dst, "\r\n"...)
}

func (c *CSV) writeHeader() error {
	c.header = true
	_, err := c.buf.Write(CSVHead())
	return err
}

// Write writes one event as a row, after the header row when it is the first.
func (c *CSV) Write(e *stele.Event) error {
	if !c.header {
		if err := c.writeHeader(); err != nil {
			return err
		}
	}
	var err error
	if c.row, err = AppendCSV(c.row[:0], e); err != nil {
		return err
	}
	if _, err := c.buf.Write(c.row); err != nil {
		return err
	}
	c.n++
	if c.n%5000 == 0 {
		return c.flushAll()
	}
	return nil
}

// AppendCSV appends e as one CSV row, line end included, to dst. It holds
// no state: several goroutines may encode rows at once.
func AppendCSV(dst []byte, e *stele.Event) ([]byte, error) {
	dst = appendCell(dst, e.ID)
	dst = append(dst, ',')
	dst = strconv.AppendInt(dst, e.Seq, 10) // digits: never quoted or neutralised
	dst = append(dst, ',')
	dst = appendTime(dst, e.Time)
	dst = append(dst, ',')
	dst = appendTime(dst, e.ReceivedAt)
	for _, v := range [...]string{e.Account, e.Action, e.Category, e.Outcome} {
		dst = append(dst, ',')
		dst = appendCell(dst, v)
	}
	a, t, s := ref(e.Actor), ref(e.Target), ref(e.Source)
	for _, v := range [...]string{a.Type, a.ID, a.Name, a.Email, t.Type, t.ID, t.Name, s.Type, s.ID, s.Name,
		e.IP, e.UserAgent, e.RequestID, e.Description} {
		dst = append(dst, ',')
		dst = appendCell(dst, v)
	}
	dst = append(dst, ',')
	if len(e.Metadata) > 0 {
		// The JSON is written after the row so far, then moved into place
		// as a cell: it always starts with '{', so it is never neutralised.
		mark := len(dst)
		var err error
		if dst, err = appendMetadataJSON(dst, e.Metadata, true); err != nil {
			return dst[:mark], err
		}
		if fieldNeedsQuotes(dst[mark:]) {
			json := string(dst[mark:])
			dst = appendQuoted(dst[:mark], json)
		}
	}
	dst = append(dst, ',')
	dst = appendCell(dst, e.IdempotencyKey)
	return append(dst, "\r\n"...), nil
}

// Close writes the header when no event was written, and flushes.
func (c *CSV) Close() error {
	if !c.header {
		if err := c.writeHeader(); err != nil {
			return err
		}
	}
	return c.flushAll()
}

func (c *CSV) flushAll() error {
	if err := c.buf.Flush(); err != nil {
		return err
	}
	flush(c.dst)
	return nil
}

// appendCell appends s neutralised (see Neutralise) as a CSV field.
func appendCell(dst []byte, s string) []byte {
	if s != "" && formulaStart(s[0]) {
		// "'" + s: never `\.`, never starts with a space.
		if fieldNeedsQuotes(s) {
			return appendQuoted(dst, "'"+s)
		}
		dst = append(dst, '\'')
		return append(dst, s...)
	}
	return appendField(dst, s)
}

// appendField appends s as a CSV field, quoted when encoding/csv quotes it.
func appendField(dst []byte, s string) []byte {
	if s == `\.` || fieldNeedsQuotes(s) || s != "" && startsWithSpace(s) {
		return appendQuoted(dst, s)
	}
	return append(dst, s...)
}

// fieldNeedsQuotes reports whether s holds a character that encoding/csv
// quotes a field for (the leading space and `\.` cases aside).
func fieldNeedsQuotes[T string | []byte](s T) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\n', '\r', '"', ',':
			return true
		}
	}
	return false
}

func startsWithSpace(s string) bool {
	if s[0] < utf8.RuneSelf {
		return unicode.IsSpace(rune(s[0]))
	}
	r, _ := utf8.DecodeRuneInString(s)
	return unicode.IsSpace(r)
}

// appendQuoted appends s quoted as encoding/csv with UseCRLF quotes it:
// quotes doubled, a lone \n written \r\n, a \r dropped.
func appendQuoted(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for len(s) > 0 {
		i := strings.IndexAny(s, "\"\r\n")
		if i < 0 {
			i = len(s)
		}
		dst = append(dst, s[:i]...)
		s = s[i:]
		if len(s) > 0 {
			switch s[0] {
			case '"':
				dst = append(dst, `""`...)
			case '\n':
				dst = append(dst, "\r\n"...)
			}
			s = s[1:]
		}
	}
	return append(dst, '"')
}

func formulaStart(c byte) bool {
	switch c {
	case '=', '+', '-', '@', '\t', '\r':
		return true
	}
	return false
}

// Neutralise defuses spreadsheet formula injection (CSV injection): a cell
// starting with =, +, -, @, a tab or a carriage return is prefixed with a
// single quote, which spreadsheets show as text and never evaluate. The
// cost is that a value such as "-5" reads "'-5" in the file; the JSON Lines
// export keeps every value exactly.
func Neutralise(s string) string {
	if s != "" && formulaStart(s[0]) {
		return "'" + s
	}
	return s
}

// appendTime appends t in ISO 8601 UTC with microseconds; nothing for the
// zero time. Digits and the letters T and Z: never quoted or neutralised.
func appendTime(dst []byte, t time.Time) []byte {
	if t.IsZero() {
		return dst
	}
	return t.UTC().AppendFormat(dst, "2006-01-02T15:04:05.000000Z")
}

var noRef stele.Ref

func ref(r *stele.Ref) *stele.Ref {
	if r == nil {
		return &noRef
	}
	return r
}
