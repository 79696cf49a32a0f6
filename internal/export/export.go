// Package export writes events in the formats people and tools take them
// in: CSV for spreadsheets, JSON Lines for programs. Every writer streams:
// it holds one event at a time, never the whole result.
package export

import (
	"io"
	"net/http"

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
}

// Formats are the formats every export path (console, API, CLI) offers. A
// format that needs more than an event stream (the verifiable bundle) is
// handled by its caller before it looks here.
var Formats = map[string]Format{
	"csv":   {Name: "csv", ContentType: "text/csv; charset=utf-8", Extension: "csv", New: func(w io.Writer) Writer { return NewCSV(w) }},
	"jsonl": {Name: "jsonl", ContentType: "application/x-ndjson", Extension: "jsonl", New: func(w io.Writer) Writer { return NewJSONL(w) }},
}

// Lookup returns the format named name, or EINVALID.
func Lookup(name string) (Format, error) {
	f, ok := Formats[name]
	if !ok {
		return Format{}, &stele.Error{Code: stele.EINVALID, Message: "format must be csv or jsonl",
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
