// Package export writes events in the formats people and tools take them
// in: CSV for spreadsheets, JSON Lines for programs, OCSF (JSON Lines of
// Open Cybersecurity Schema Framework events) for SIEMs. Every writer streams:
// it holds one event at a time, never the whole result.
package export

import (
	"bufio"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/stele-audit/stele"
)

// Writer writes events one by one to an underlying io.Writer. Close
// flushes what is buffered; it does not close the io.Writer.
type Writer interface {
	Write(e *stele.Event) error
	Close() error
}

// Format is an export format: its name in `format=`, the HTTP content type
// and file extension of its output, and how to start a writer.
type Format struct {
	Name        string
	ContentType string
	Extension   string
	New         func(w io.Writer) Writer
	// Head and Append, when set, encode the format without a Writer: what
	// the output starts with, and one event, independently of the others,
	// so that several goroutines can encode at once (see Stream).
	Head   func() []byte
	Append func(dst []byte, e *stele.Event) ([]byte, error)
}

// Formats are the formats every export path (console, API, CLI) offers. A
// format that needs more than an event stream (the verifiable bundle) is
// handled by its caller before it looks here.
var Formats = map[string]Format{
	"csv": {Name: "csv", ContentType: "text/csv; charset=utf-8", Extension: "csv", New: func(w io.Writer) Writer { return NewCSV(w) },
		Head: CSVHead, Append: AppendCSV},
	"jsonl": {Name: "jsonl", ContentType: "application/x-ndjson", Extension: "jsonl", New: func(w io.Writer) Writer { return newLines(w, AppendJSONL) },
		Head: noHead, Append: AppendJSONL},
	"ocsf": {Name: "ocsf", ContentType: "application/x-ndjson", Extension: "ocsf.jsonl", New: func(w io.Writer) Writer { return newLines(w, AppendOCSF) },
		Head: noHead, Append: AppendOCSF},
}

// Names returns the names of Formats in order, followed by more: the
// formats a caller offers beside them (the bundle).
func Names(more ...string) []string {
	return append(slices.Sorted(maps.Keys(Formats)), more...)
}

// Lookup returns the format named name, or EINVALID naming the formats of
// Formats and more, those the caller offers beside them.
func Lookup(name string, more ...string) (Format, error) {
	f, ok := Formats[name]
	if !ok {
		return Format{}, &stele.Error{Code: stele.EINVALID, Message: "format must be one of " + strings.Join(Names(more...), ", "),
			Details: []stele.FieldError{{Field: "format", Rule: "enum"}}}
	}
	return f, nil
}

// flusher pushes a streamed response to the client now and then, so that a
// long export shows progress in the browser instead of arriving at the end.
func flush(w io.Writer) {
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
}

// Stream writes f's head and then, through encode, the encoded events to
// w, flushing now and then so that a long export shows progress. encode is
// a search that hands over encoded rows in order (search.Service.Encode).
// It returns encode's count and error, or the first write error.
func Stream(w io.Writer, f Format, encode func(out func([]byte) error) (int64, error)) (int64, error) {
	buf := bufio.NewWriterSize(w, 64<<10)
	if _, err := buf.Write(f.Head()); err != nil {
		return 0, err
	}
	pending := 0
	n, err := encode(func(b []byte) error {
		if _, err := buf.Write(b); err != nil {
			return err
		}
		if pending += len(b); pending >= 2<<20 {
			pending = 0
			if err := buf.Flush(); err != nil {
				return err
			}
			flush(w)
		}
		return nil
	})
	if ferr := buf.Flush(); err == nil {
		err = ferr
	}
	flush(w)
	return n, err
}
