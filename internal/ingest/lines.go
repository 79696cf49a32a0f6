package ingest

import (
	"bufio"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/stele-audit/stele"
)

// JSON Lines, as `stele ingest` reads them: one event's JSON a line, blank
// lines skipped. A file is checked whole before anything of it is sent, so
// that a bad line is found before its neighbours are stored.

// ReadLines calls fn with each line of r, numbered from 1, without its end
// of line. A line longer than max bytes is passed cut at max+1 bytes with
// its whole size, so that a huge line costs no memory and is still named.
func ReadLines(r io.Reader, max int, fn func(no int, line []byte, size int) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var (
		buf  []byte
		size int
		no   int
		last [2]byte // the line's last two bytes, for its end
	)
	for {
		chunk, err := br.ReadSlice('\n')
		size += len(chunk)
		if room := max + 1 - len(buf); room > 0 {
			buf = append(buf, chunk[:min(room, len(chunk))]...)
		}
		switch n := len(chunk); {
		case n >= 2:
			last = [2]byte{chunk[n-2], chunk[n-1]}
		case n == 1:
			last = [2]byte{last[1], chunk[0]}
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err != nil && !errors.Is(err, io.EOF):
			return fmt.Errorf("line %d: %w", no+1, err)
		}
		if size > 0 {
			no++
			end := 0
			if last[1] == '\n' {
				end = 1
				if size > 1 && last[0] == '\r' {
					end = 2
				}
			}
			line := buf[:min(len(buf), size-end)]
			if ferr := fn(no, line, size-end); ferr != nil {
				return ferr
			}
		}
		if err != nil { // io.EOF
			return nil
		}
		buf, size, last = buf[:0], 0, [2]byte{}
	}
}

// CheckLine checks one line of JSON Lines as the API would check it as one
// event of a batch: its size, its JSON, and every rule of an event, at now.
// It returns the problems (Index 0), or nil for an event Stele accepts. A
// blank line has none: it is skipped.
func CheckLine(line []byte, size int, now time.Time) []stele.FieldError {
	line = trimSpace(line)
	switch {
	case size > stele.MaxEventBytes:
		return []stele.FieldError{tooLarge(0, size)}
	case len(line) == 0:
		return nil
	case line[0] != '{':
		return []stele.FieldError{{Field: "", Rule: "json", Message: "a line holds one event: a JSON object"}}
	}
	inputs, err := Decode(line)
	if err != nil {
		var e *stele.Error
		if errors.As(err, &e) {
			return e.Details
		}
		return []stele.FieldError{{Rule: "json", Message: err.Error()}}
	}
	var envelope struct {
		Events json.RawMessage `json:"events"`
	}
	if len(inputs) != 1 || json.Unmarshal(line, &envelope) == nil && envelope.Events != nil {
		return []stele.FieldError{{Field: "events", Rule: "one_event", Message: "a line holds one event, not a batch"}}
	}
	_, details := Validate(&inputs[0], 0, now)
	return details
}

// LineProblem is a line of JSON Lines that is not an event Stele accepts.
type LineProblem struct {
	Line     int
	Problems []stele.FieldError
}

// LinesReport is what CheckLines found in a file of JSON Lines.
type LinesReport struct {
	Events int           // lines that are events Stele accepts
	Bad    []LineProblem // the others, in order (blank lines are neither)
	// SHA256 is the hash of the whole input, from which the idempotency
	// keys of its events are derived.
	SHA256 [32]byte
	// PrettyPrinted is set when the input looks like one JSON document
	// spread over lines rather than one event per line.
	PrettyPrinted bool
}

// CheckLines checks every line of r (CheckLine at now) and copies r to
// copyTo when it is not nil (standard input, which is read only once).
func CheckLines(r io.Reader, now time.Time, copyTo io.Writer) (LinesReport, error) {
	var rep LinesReport
	h := sha256.New()
	r = io.TeeReader(r, h)
	if copyTo != nil {
		r = io.TeeReader(r, copyTo)
	}
	first := ""
	err := ReadLines(r, stele.MaxEventBytes, func(no int, line []byte, size int) error {
		t := trimSpace(line)
		if first == "" && len(t) > 0 {
			first = string(t)
		}
		d := CheckLine(line, size, now)
		switch {
		case d != nil:
			rep.Bad = append(rep.Bad, LineProblem{Line: no, Problems: d})
		case len(t) > 0:
			rep.Events++
		}
		return nil
	})
	copy(rep.SHA256[:], h.Sum(nil))
	rep.PrettyPrinted = len(rep.Bad) > 0 && (first == "{" || first == "[" || first == "[{")
	return rep, err
}
