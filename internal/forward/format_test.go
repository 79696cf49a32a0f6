package forward_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"

	syslog "github.com/leodido/go-syslog/v4"
	"github.com/leodido/go-syslog/v4/octetcounting"
	"github.com/leodido/go-syslog/v4/rfc5424"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/export"
	"github.com/stele-audit/stele/internal/forward"
)

func syslogFormat(msg string) *forward.Syslog {
	f := forward.NewSyslog(msg)
	f.Hostname = "stele-1.example"
	f.CEF.Version = "1.2.3"
	return f
}

// lines writes each event's output on a line of its own (no output holds
// a line break).
func lines(evs []*stele.Event, appendOne func([]byte, *stele.Event) []byte) []byte {
	var out []byte
	for _, e := range evs {
		out = append(appendOne(out, e), '\n')
	}
	return out
}

func TestSyslogMatchesGoldenFile(t *testing.T) {
	for _, msg := range []string{"cef", "json"} {
		f := syslogFormat(msg)
		golden(t, "syslog-"+msg+".golden", lines(append(fixtures(), huge()), f.Append))
	}
}

func TestCEFMatchesGoldenFile(t *testing.T) {
	c := forward.CEF{Version: "1.2.3"}
	golden(t, "events.cef", lines(fixtures(), func(dst []byte, e *stele.Event) []byte {
		out, err := c.Append(dst, e)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}))
}

func TestBatchMatchesGoldenFile(t *testing.T) {
	for _, format := range []string{"ndjson", "splunk_hec", "ocsf"} {
		b := forward.Batch{Format: format, Host: "stele-1.example"}
		var out []byte
		for _, e := range fixtures() {
			var err error
			if out, err = b.Append(out, e); err != nil {
				t.Fatal(err)
			}
		}
		golden(t, "events."+format, out)
	}
}

// parseSyslog parses a framed stream with go-syslog's octet-counting and
// RFC 5424 parsers, holding MSG to RFC 5424 (UTF-8 after a BOM).
func parseSyslog(t testing.TB, stream []byte, max int) []*rfc5424.SyslogMessage {
	t.Helper()
	var out []*rfc5424.SyslogMessage
	p := octetcounting.NewParser(syslog.WithMaxMessageLength(max), syslog.WithMachineOptions(rfc5424.WithCompliantMsg()),
		syslog.WithListener(func(r *syslog.Result) {
			if r.Error != nil {
				t.Fatalf("go-syslog: %v in %q", r.Error, stream)
			}
			out = append(out, r.Message.(*rfc5424.SyslogMessage))
		}))
	p.Parse(bytes.NewReader(stream))
	return out
}

func frame(dst, msg []byte) []byte {
	dst = strconv.AppendInt(dst, int64(len(msg)), 10)
	return append(append(dst, ' '), msg...)
}

func TestSyslogParsesBackWithEveryField(t *testing.T) {
	for _, msg := range []string{"cef", "json"} {
		f := syslogFormat(msg)
		evs := fixtures()
		var stream []byte
		for _, e := range evs {
			stream = frame(stream, f.Append(nil, e))
		}
		got := parseSyslog(t, stream, f.MaxSize)
		if len(got) != len(evs) {
			t.Fatalf("%s: %d messages parsed, want %d", msg, len(got), len(evs))
		}
		for i, m := range got {
			e := evs[i]
			if *m.Facility != 13 || m.Version != 1 || *m.Hostname != "stele-1.example" || *m.Appname != "stele" || m.ProcID != nil || *m.MsgID != e.Action {
				t.Errorf("%s %d: header %d %d %s %s %v %s", msg, i, *m.Facility, m.Version, *m.Hostname, *m.Appname, m.ProcID, *m.MsgID)
			}
			if !m.Timestamp.Equal(e.Time) {
				t.Errorf("%s %d: timestamp %v, want %v", msg, i, m.Timestamp, e.Time)
			}
			sd := (*m.StructuredData)["stele@32473"]
			want := map[string]string{"id": e.ID, "seq": strconv.FormatInt(e.Seq, 10), "account": e.Account,
				"action": e.Action, "category": e.Category, "outcome": e.Outcome}
			if fmt.Sprint(sd) != fmt.Sprint(want) {
				t.Errorf("%s %d: structured data %v, want %v", msg, i, sd, want)
			}
			body, ok := strings.CutPrefix(*m.Message, "\uFEFF")
			if !ok {
				t.Errorf("%s %d: MSG has no BOM", msg, i)
			}
			if msg == "json" {
				want, _ := export.AppendEventJSON(nil, e)
				if body != string(want) {
					t.Errorf("%d: MSG is not the event as the API writes it:\n got %s\nwant %s", i, body, want)
				}
			} else if _, err := parseCEF(body); err != nil {
				t.Errorf("%d: MSG is not CEF: %v", i, err)
			}
		}
	}
}

func TestSyslogSeverityFollowsOutcomeAndCategory(t *testing.T) {
	cases := []struct {
		category, outcome string
		pri               int
	}{
		{"authentication", "failure", 13*8 + 4},
		{"audit", "failure", 13*8 + 4},
		{"user_management", "failure", 13*8 + 4},
		{"configuration", "failure", 13*8 + 4},
		{"system", "failure", 13*8 + 5},
		{"source_activity", "failure", 13*8 + 5},
		{"user_management", "success", 13*8 + 5},
		{"configuration", "unknown", 13*8 + 5},
		{"authentication", "success", 13*8 + 6},
		{"source_activity", "success", 13*8 + 6},
		{"audit", "unknown", 13*8 + 6},
	}
	f := syslogFormat("cef")
	for _, c := range cases {
		e := fixtures()[0]
		e.Category, e.Outcome = c.category, c.outcome
		out := string(f.Append(nil, e))
		if want := "<" + strconv.Itoa(c.pri) + ">1 "; !strings.HasPrefix(out, want) {
			t.Errorf("%s %s: %.8s…, want %s", c.category, c.outcome, out, want)
		}
		rec, err := parseCEF(out[strings.Index(out, "\uFEFF")+3:])
		if err != nil {
			t.Fatal(err)
		}
		if want := map[int]string{4: "7", 5: "5", 6: "3"}[c.pri%8]; rec.header[6] != want {
			t.Errorf("%s %s: CEF severity %s, want %s", c.category, c.outcome, rec.header[6], want)
		}
	}
}

// An event too large for a message is cut down, field by field: the
// message stays within the limit, parses, and says it was truncated.
func TestSyslogCutsFieldsToFitNeverTheFraming(t *testing.T) {
	for _, msg := range []string{"cef", "json"} {
		for _, max := range []int{forward.MinMessageSize, forward.DefaultMaxMessageSize} {
			f := syslogFormat(msg)
			f.MaxSize = max
			e := huge()
			out := f.Append(nil, e)
			if len(out) > max {
				t.Fatalf("%s: %d bytes, over the limit of %d", msg, len(out), max)
			}
			m := parseSyslog(t, frame(nil, out), max)[0]
			sd := (*m.StructuredData)["stele@32473"]
			if sd["truncated"] != "fields" || sd["id"] != e.ID {
				t.Errorf("%s %d: structured data %v", msg, max, sd)
			}
			body := strings.TrimPrefix(*m.Message, "\uFEFF")
			if msg == "json" {
				var got stele.Event
				if err := json.Unmarshal([]byte(body), &got); err != nil || got.ID != e.ID || got.Seq != e.Seq || got.Action != e.Action {
					t.Errorf("%d: MSG is not the event, cut: %v %+v", max, err, got)
				}
			} else if rec, err := parseCEF(body); err != nil {
				t.Errorf("%d: %v", max, err)
			} else if id, _ := rec.get("externalId"); id != e.ID {
				t.Errorf("%d: externalId %q", max, id)
			}
		}
	}
}

// When even the event's identity does not fit (every byte of it a control
// character, escaped six-fold in JSON), MSG goes and the structured data
// still names the event.
func TestSyslogLastResortKeepsTheEventsIdentity(t *testing.T) {
	e := huge()
	e.Account = strings.Repeat("\x01", 5000)
	e.Action = strings.Repeat("\x02", 5000)
	e.Category = strings.Repeat("\x03", 5000)
	f := syslogFormat("json")
	f.MaxSize = forward.MinMessageSize
	out := f.Append(nil, e)
	if len(out) > f.MaxSize {
		t.Fatalf("%d bytes, over %d", len(out), f.MaxSize)
	}
	m := parseSyslog(t, frame(nil, out), f.MaxSize)[0]
	sd := (*m.StructuredData)["stele@32473"]
	if sd["truncated"] != "message" || sd["id"] != e.ID || sd["seq"] != "1" || m.Message != nil {
		t.Errorf("structured data %v, message %v", sd, m.Message)
	}
}

func TestCEFSplitsBackIntoItsFields(t *testing.T) {
	c := forward.CEF{Version: "1|2\\3"}
	for _, e := range fixtures() {
		out, err := c.Append(nil, e)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := parseCEF(string(out))
		if err != nil {
			t.Fatalf("%s: %v", out, err)
		}
		wantHeader := []string{"CEF:0", "Stele", "Stele", "1|2\\3", e.Action, cefHeaderLike(e.Description), rec.header[6]}
		if fmt.Sprint(rec.header) != fmt.Sprint(wantHeader) {
			t.Errorf("header %q, want %q", rec.header, wantHeader)
		}
		want := map[string]string{"externalId": e.ID, "act": e.Action, "cat": e.Category, "outcome": e.Outcome,
			"cs1Label": "account", "cs1": e.Account, "cn1Label": "seq", "cn1": strconv.FormatInt(e.Seq, 10),
			"rt": strconv.FormatInt(e.Time.UnixMilli(), 10), "msg": cefValueLike(e.Description),
			"suid": cefValueLike(e.Actor.ID), "requestClientApplication": e.UserAgent}
		if e.Actor.Email != "" {
			want["suser"], want["flexString1"] = e.Actor.Email, cefValueLike(e.Actor.Name)
		} else {
			want["suser"] = cefValueLike(e.Actor.Name)
		}
		if e.Target != nil {
			want["duid"], want["duser"] = e.Target.ID, cefValueLike(e.Target.Name)
		}
		if e.Source != nil {
			want["cs2"], want["cs3"] = e.Source.ID, e.Source.Name
		}
		if e.IP != "not an ip" {
			want["src"] = e.IP
		}
		for k, v := range want {
			if got, ok := rec.get(k); v != "" && (!ok || got != v) {
				t.Errorf("%s: %s = %q, want %q", e.ID, k, got, v)
			}
		}
		if e.Metadata != nil {
			var meta map[string]any
			v, _ := rec.get("cs6")
			if err := json.Unmarshal([]byte(v), &meta); err != nil || len(meta) != len(e.Metadata) {
				t.Errorf("%s: cs6 %q is not the metadata: %v", e.ID, v, err)
			}
		}
		seen := map[string]bool{}
		for _, p := range rec.ext {
			if seen[p.key] {
				t.Errorf("%s: key %s twice", e.ID, p.key)
			}
			seen[p.key] = true
		}
	}
}

// cefValueLike is what an extension value reads as once split back:
// control characters but line breaks replaced, invalid UTF-8 too.
func cefValueLike(s string) string {
	return strings.Map(func(r rune) rune {
		if (r < 0x20 && r != '\n' && r != '\r') || r == 0x7f {
			return '\uFFFD'
		}
		return r
	}, utf8Like(s))
}

// cefHeaderLike is what a header field reads as: line breaks as spaces.
func cefHeaderLike(s string) string {
	return strings.NewReplacer("\n", " ", "\r", " ").Replace(cefValueLike(s))
}

// A host name of any bytes still makes valid JSON lines.
func TestSplunkHECHostIsAlwaysJSON(t *testing.T) {
	b := forward.Batch{Format: "splunk_hec", Host: "höst\x00\xff\"name"}
	out, err := b.Append(nil, fixtures()[0])
	if err != nil {
		t.Fatal(err)
	}
	var v struct{ Host string }
	if err := json.Unmarshal(out, &v); err != nil || v.Host != "h__st__\"name" {
		t.Fatalf("%v, host %q in %s", err, v.Host, out)
	}
}
