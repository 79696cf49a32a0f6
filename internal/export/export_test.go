package export_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/export"
	"github.com/stele-audit/stele/internal/goldentest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func events() []*stele.Event {
	first := goldentest.RoleChange()
	first.Description = "Ada changed Bob's role\nfrom viewer to admin" // a line break for CSV to quote
	t0 := first.Time
	return []*stele.Event{
		first,
		{ID: "evt_0000000000000002", Seq: 2, Account: "acme", Time: t0.Add(time.Second), ReceivedAt: t0.Add(time.Second),
			Action: "finding.generated", Category: "source_activity", Outcome: "failure",
			Actor:       &stele.Ref{Type: "service", ID: "=HYPERLINK(\"http://evil\")", Name: "+cmd|' /C calc'!A0"},
			Source:      &stele.Ref{Type: "aws", ID: "-2+3", Name: "@SUM(A1)"},
			Description: "\tTabbed", IdempotencyKey: "\rcr"},
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	goldentest.Check(t, name, got, *update)
}

func write(t *testing.T, format string, evs []*stele.Event) []byte {
	t.Helper()
	f, err := export.Lookup(format)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w := f.New(&buf)
	for _, e := range evs {
		if err := w.Write(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestCSVMatchesGoldenFile(t *testing.T) { golden(t, "events.csv", write(t, "csv", events())) }

func TestJSONLMatchesGoldenFile(t *testing.T) { golden(t, "events.jsonl", write(t, "jsonl", events())) }

func TestCSVOfNoEventsIsTheHeader(t *testing.T) {
	golden(t, "empty.csv", write(t, "csv", nil))
}

func TestCSVIsRFC4180WithBOMAndNeutralisedFormulas(t *testing.T) {
	out := write(t, "csv", events())
	body, ok := bytes.CutPrefix(out, []byte("\xef\xbb\xbf"))
	if !ok {
		t.Fatal("no UTF-8 byte order mark")
	}
	r := csv.NewReader(bytes.NewReader(body))
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 || strings.Join(recs[0], ",") != strings.Join(export.CSVHeader, ",") {
		t.Fatalf("records: %q", recs)
	}
	col := func(row int, name string) string {
		for i, h := range recs[0] {
			if h == name {
				return recs[row][i]
			}
		}
		t.Fatalf("no column %s", name)
		return ""
	}
	if got := col(1, "target_name"); got != "Björn \"Bob\" Ødegård, Jr." {
		t.Errorf("quoted name round trip: %q", got)
	}
	if got := col(1, "time"); got != "2026-11-24T10:00:00.123456Z" {
		t.Errorf("time %q", got)
	}
	for name, want := range map[string]string{"actor_id": "'=HYPERLINK(\"http://evil\")", "actor_name": "'+cmd|' /C calc'!A0",
		"source_id": "'-2+3", "source_name": "'@SUM(A1)", "description": "'\tTabbed"} {
		if got := col(2, name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	// With CRLF line ends, encoding/csv writes a lone carriage return in a
	// field as nothing; the cell is still neutralised first.
	if !bytes.Contains(body, []byte(",\"'cr\"\r\n")) {
		t.Error("a cell starting with a carriage return is not neutralised")
	}
	if !bytes.Contains(body, []byte("\r\n")) {
		t.Error("records do not end in CRLF")
	}
}

func TestJSONLRoundTrips(t *testing.T) {
	out := write(t, "jsonl", events())
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines", len(lines))
	}
	var e stele.Event
	if err := json.Unmarshal([]byte(lines[1]), &e); err != nil {
		t.Fatal(err)
	}
	if e.Actor.ID != "=HYPERLINK(\"http://evil\")" {
		t.Errorf("JSON Lines must keep values exactly, got %q", e.Actor.ID)
	}
}

func TestLookupRejectsUnknownFormat(t *testing.T) {
	_, err := export.Lookup("xlsx", "bundle")
	if stele.ErrorCode(err) != stele.EINVALID || stele.ErrorMessage(err) != "format must be one of csv, jsonl, ocsf, bundle" {
		t.Fatalf("err %v", err)
	}
}
