package ingest

import (
	"strings"
	"testing"
	"time"

	"github.com/stele-audit/stele"
)

// TestReadLinesNamesEveryLineWhateverItsLength: lines are numbered from 1,
// CRLF and a last line without an end are read, and a line far over the
// limit is passed cut, with its whole size, without stopping the reading.
func TestReadLinesNamesEveryLineWhateverItsLength(t *testing.T) {
	huge := strings.Repeat("x", 300<<10)
	in := "a\r\n\n" + huge + "\nlast"
	type got struct {
		no, size int
		line     string
	}
	var lines []got
	err := ReadLines(strings.NewReader(in), 10, func(no int, line []byte, size int) error {
		lines = append(lines, got{no, size, string(line)})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []got{{1, 1, "a"}, {2, 0, ""}, {3, len(huge), huge[:11]}, {4, 4, "last"}}
	if len(lines) != len(want) {
		t.Fatalf("lines %v", len(lines))
	}
	for i := range want {
		if lines[i] != want[i] {
			t.Errorf("line %d: %d %d %.20q, want %d %d %.20q", i, lines[i].no, lines[i].size, lines[i].line, want[i].no, want[i].size, want[i].line)
		}
	}
}

// TestCheckLineAsTheAPIWould: a line is one event, checked by the API's
// rules; a batch, a non-object, a line over the event size, a bad field are
// named; a good line has no problems.
func TestCheckLineAsTheAPIWould(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		line, rule, field string
	}{
		{`{"action":"user.login","actor":{"id":"u_1"}}`, "", ""},
		{`  `, "", ""},
		{`{"action":"User Login"}`, "pattern", "action"},
		{`{"action":"user.login","action":"user.logout"}`, "duplicate_key", "action"},
		{`{"events":[{"action":"user.login"}]}`, "one_event", "events"},
		{`[{"action":"user.login"}]`, "json", ""},
		{`{"action":"user.login"`, "json", ""},
		{`{"action":"user.login","metadata":{"n":1e19}}`, "range", "metadata.n"},
	} {
		d := CheckLine([]byte(tc.line), len(tc.line), now)
		switch {
		case tc.rule == "" && d != nil:
			t.Errorf("%s: %+v, want none", tc.line, d)
		case tc.rule != "" && (len(d) == 0 || d[0].Rule != tc.rule || d[0].Field != tc.field):
			t.Errorf("%s: %+v, want %s %s", tc.line, d, tc.field, tc.rule)
		}
	}
	if d := CheckLine([]byte(`{"action":"user.login"}`), stele.MaxEventBytes+1, now); len(d) != 1 || d[0].Rule != "max_size" {
		t.Errorf("a line over the limit: %+v", d)
	}
}
