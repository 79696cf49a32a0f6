package export

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"io"
	"strconv"
	"time"

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

// CSV writes RFC 4180 CSV (CRLF line ends, quoting by encoding/csv), UTF-8
// with a byte order mark, times in ISO 8601 UTC, metadata as one JSON
// object per cell. Cells that a spreadsheet would run as a formula are
// neutralised (see Neutralise).
type CSV struct {
	buf    *bufio.Writer
	csv    *csv.Writer
	dst    io.Writer
	rec    []string
	n      int
	header bool
}

// NewCSV returns a CSV writer on w.
func NewCSV(w io.Writer) *CSV {
	buf := bufio.NewWriterSize(w, 64<<10)
	c := csv.NewWriter(buf)
	c.UseCRLF = true
	return &CSV{buf: buf, csv: c, dst: w, rec: make([]string, len(CSVHeader))}
}

func (c *CSV) writeHeader() error {
	c.header = true
	if _, err := c.buf.WriteString(bom); err != nil {
		return err
	}
	return c.csv.Write(CSVHeader)
}

// Write writes one event as a row, after the header row when it is the first.
func (c *CSV) Write(e *stele.Event) error {
	if !c.header {
		if err := c.writeHeader(); err != nil {
			return err
		}
	}
	r := c.rec
	r[0], r[1], r[2], r[3] = e.ID, strconv.FormatInt(e.Seq, 10), isoTime(e.Time), isoTime(e.ReceivedAt)
	r[4], r[5], r[6], r[7] = e.Account, e.Action, e.Category, e.Outcome
	a, t, s := ref(e.Actor), ref(e.Target), ref(e.Source)
	r[8], r[9], r[10], r[11] = a.Type, a.ID, a.Name, a.Email
	r[12], r[13], r[14] = t.Type, t.ID, t.Name
	r[15], r[16], r[17] = s.Type, s.ID, s.Name
	r[18], r[19], r[20], r[21] = e.IP, e.UserAgent, e.RequestID, e.Description
	r[22] = ""
	if len(e.Metadata) > 0 {
		b, err := json.Marshal(e.Metadata)
		if err != nil {
			return err
		}
		r[22] = string(b)
	}
	r[23] = e.IdempotencyKey
	for i := range r {
		r[i] = Neutralise(r[i])
	}
	if err := c.csv.Write(r); err != nil {
		return err
	}
	c.n++
	if c.n%5000 == 0 {
		return c.flushAll()
	}
	return nil
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
	c.csv.Flush()
	if err := c.csv.Error(); err != nil {
		return err
	}
	if err := c.buf.Flush(); err != nil {
		return err
	}
	flush(c.dst)
	return nil
}

// Neutralise defuses spreadsheet formula injection (CSV injection): a cell
// starting with =, +, -, @, a tab or a carriage return is prefixed with a
// single quote, which spreadsheets show as text and never evaluate. The
// cost is that a value such as "-5" reads "'-5" in the file; the JSON Lines
// export keeps every value exactly.
func Neutralise(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}

func isoTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05.000000Z")
}

var noRef stele.Ref

func ref(r *stele.Ref) *stele.Ref {
	if r == nil {
		return &noRef
	}
	return r
}
