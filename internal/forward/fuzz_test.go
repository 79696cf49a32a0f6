package forward_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/forward"
)

// fuzzEvent builds an event whose every string is the fuzzer's.
func fuzzEvent(id, account, action, text, name, metaKey, metaValue string, seq int64) *stele.Event {
	t0 := time.Date(2026, 11, 24, 10, 0, 0, 123456000, time.UTC)
	return &stele.Event{ID: id, Seq: seq, Account: account, Time: t0, ReceivedAt: t0,
		Action: action, Category: text, Outcome: name, Actor: &stele.Ref{Type: text, ID: name, Name: text, Email: name},
		Target: &stele.Ref{ID: metaValue, Name: name}, Source: &stele.Ref{ID: metaKey, Name: metaValue},
		IP: text, UserAgent: metaValue, RequestID: name, Description: text, IdempotencyKey: text,
		Metadata: map[string]any{metaKey: metaValue, "n": json.Number(metaValue), "b": true}}
}

// FuzzSyslog holds every message to the size limit and to RFC 5424 and
// RFC 6587 as go-syslog reads them, with no control character in it, and
// its structured data naming the event.
func FuzzSyslog(f *testing.F) {
	f.Fuzz(func(t *testing.T, id, account, action, text, name, metaKey, metaValue string, seq int64, size uint16) {
		e := fuzzEvent(id, account, action, text, name, metaKey, metaValue, seq)
		for _, msg := range []string{"cef", "json"} {
			fm := syslogFormat(msg)
			fm.MaxSize = forward.MinMessageSize + int(size)%8192
			out := fm.Append(nil, e)
			if len(out) > fm.MaxSize {
				t.Fatalf("%s: %d bytes, over %d", msg, len(out), fm.MaxSize)
			}
			for i, c := range out {
				if c < 0x20 {
					t.Fatalf("%s: control character %#x at %d of %q", msg, c, i, out)
				}
			}
			m := parseSyslog(t, append(frame(nil, out), frame(nil, out)...), fm.MaxSize)
			if len(m) != 2 {
				t.Fatalf("%s: %d messages parsed back, want 2", msg, len(m))
			}
			sd := (*m[0].StructuredData)["stele@32473"]
			if clean(id) && len(id) <= 128 && sd["id"] != id {
				t.Fatalf("%s: structured data id %q, want %q", msg, sd["id"], id)
			}
			if m[0].Message == nil {
				if sd["truncated"] != "message" {
					t.Fatalf("%s: no MSG and not marked truncated: %v", msg, sd)
				}
				continue
			}
			body, ok := strings.CutPrefix(*m[0].Message, "\uFEFF")
			if !ok {
				t.Fatalf("%s: MSG without BOM", msg)
			}
			if msg == "json" {
				var got map[string]any
				dec := json.NewDecoder(strings.NewReader(body))
				dec.UseNumber()
				if err := dec.Decode(&got); err != nil || dec.More() {
					t.Fatalf("json MSG: %v in %q", err, body)
				}
				if clean(id) && len(id) <= 64 && got["id"] != id {
					t.Fatalf("json MSG id %q, want %q", got["id"], id)
				}
			} else if rec, err := parseCEF(body); err != nil {
				t.Fatalf("cef MSG: %v in %q", err, body)
			} else if got, _ := rec.get("externalId"); clean(id) && len(id) <= 64 && got != id {
				t.Fatalf("cef externalId %q, want %q", got, id)
			}
		}
	})
}

// FuzzCEF splits every record back into exactly its seven header fields
// and its extension pairs, each value what the event held (control
// characters but line breaks and invalid UTF-8 made U+FFFD).
func FuzzCEF(f *testing.F) {
	f.Fuzz(func(t *testing.T, id, account, action, text, name, metaKey, metaValue string, seq int64, size uint16) {
		e := fuzzEvent(id, account, action, text, name, metaKey, metaValue, seq)
		e.Metadata = map[string]any{metaKey: metaValue}
		out, err := forward.CEF{Version: name}.Append(nil, e)
		if err != nil {
			t.Fatal(err)
		}
		if strings.ContainsAny(string(out), "\n\r\x00") {
			t.Fatalf("line break or NUL in %q", out)
		}
		rec, err := parseCEF(string(out))
		if err != nil {
			t.Fatalf("%v in %q", err, out)
		}
		if len(rec.header) != 7 {
			t.Fatalf("%d header fields", len(rec.header))
		}
		if rec.header[4] != cefHeaderLike(cutLike(action, stele.MaxActionLen)) {
			t.Fatalf("signature id %q, want %q", rec.header[4], action)
		}
		want := map[string]string{"externalId": id, "cs1": account, "act": action, "msg": text,
			"suid": name, "duid": metaValue, "cs3": metaValue, "requestClientApplication": metaValue}
		for k, v := range want {
			got, ok := rec.get(k)
			if v == "" {
				if ok {
					t.Fatalf("%s present for an empty value", k)
				}
				continue
			}
			if got != cefValueLike(v) {
				t.Fatalf("%s = %q, want %q", k, got, cefValueLike(v))
			}
		}
		if v, ok := rec.get("cs6"); ok {
			var meta map[string]string
			// JSON escapes control characters but DEL, which CEF then replaces.
			del := strings.NewReplacer("\x7f", "\uFFFD")
			if err := json.Unmarshal([]byte(v), &meta); err != nil || meta[del.Replace(utf8Like(metaKey))] != del.Replace(utf8Like(metaValue)) {
				t.Fatalf("cs6 %q is not the metadata (%v)", v, err)
			}
		}
	})
}

// clean reports whether s is valid UTF-8 without control characters: what
// every format carries as it is.
func clean(s string) bool {
	return s == utf8Like(s) && !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// cutLike is forward's cut: at most n bytes, an ellipsis when cut.
func cutLike(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n - len("…")
	for i > 0 && (s[i]&0xc0) == 0x80 {
		i--
	}
	return s[:i] + "…"
}
