package forward

import (
	"fmt"
	"math"
	"strconv"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/export"
)

// Batch formats events for an HTTPS destination: one line per event, each
// line standing alone, so that a batch may be cut between any two events.
type Batch struct {
	Format string // FormatNDJSON, FormatSplunkHEC or FormatOCSF
	Host   string // Splunk HEC's "host": the Stele node
}

// ContentType is the Content-Type of a request body in b's format.
func (b Batch) ContentType() string {
	if b.Format == FormatSplunkHEC {
		return "application/json"
	}
	return "application/x-ndjson"
}

// Append appends e as one line, newline included:
//   - ndjson: the event as the API returns it (export.AppendEventJSON);
//   - ocsf: the event as an OCSF object, as the ocsf export writes it;
//   - splunk_hec: {"time": seconds.milliseconds, "host", "source": "stele",
//     "sourcetype": "stele:audit", "event": the event as the API returns it}.
//
// A metadata number that JSON cannot hold is sent as a string rather than
// blocking the stream; an event that still cannot be encoded (a time
// beyond year 9999, which ingest never accepts) is an error naming it.
func (b Batch) Append(dst []byte, e *stele.Event) ([]byte, error) {
	out, err := b.append(dst, e)
	if err != nil {
		out, err = b.append(dst, clip(e, clipLevel{text: math.MaxInt, metaKey: math.MaxInt}))
	}
	if err != nil {
		return dst, fmt.Errorf("encode event %.64q as %s: %w", e.ID, b.Format, err)
	}
	return out, nil
}

func (b Batch) append(dst []byte, e *stele.Event) ([]byte, error) {
	switch b.Format {
	case FormatNDJSON:
		return export.AppendJSONL(dst, e)
	case FormatOCSF:
		return export.AppendOCSF(dst, e)
	case FormatSplunkHEC:
		start := len(dst)
		ms := e.Time.UnixMilli()
		dst = append(dst, `{"time":`...)
		if ms < 0 {
			dst = append(dst, '-')
			ms = -ms
		}
		dst = strconv.AppendInt(dst, ms/1000, 10)
		dst = append(dst, '.')
		dst = append(dst, byte('0'+ms%1000/100), byte('0'+ms%100/10), byte('0'+ms%10))
		dst = append(dst, `,"host":`...)
		// Printable ASCII, which Go and JSON quote alike.
		dst = strconv.AppendQuote(dst, syslogHostname(b.Host))
		dst = append(dst, `,"source":"stele","sourcetype":"stele:audit","event":`...)
		var err error
		if dst, err = export.AppendEventJSON(dst, e); err != nil {
			return dst[:start], err
		}
		return append(dst, '}', '\n'), nil
	}
	return dst, fmt.Errorf("unknown batch format %q", b.Format)
}
