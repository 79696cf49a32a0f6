package export_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/demo"
	"github.com/stele-audit/stele/internal/export"
)

// marshalled is e as encoding/json writes it with HTML characters kept:
// what the API wrote before AppendEventJSON, and what it must still write.
func marshalled(e *stele.Event) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	err := enc.Encode(e)
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), err
}

func sameAsEncodingJSON(t *testing.T, e *stele.Event) {
	t.Helper()
	want, werr := marshalled(e)
	got, gerr := export.AppendEventJSON([]byte("prefix"), e)
	if (werr != nil) != (gerr != nil) {
		t.Fatalf("errors differ: encoding/json %v, AppendEventJSON %v", werr, gerr)
	}
	if werr != nil {
		if string(got) != "prefix" {
			t.Fatalf("failed append left %q", got)
		}
		return
	}
	if !bytes.Equal(got[len("prefix"):], want) {
		t.Fatalf("AppendEventJSON:\n%s\nencoding/json:\n%s", got[len("prefix"):], want)
	}
}

func TestAppendEventJSONMatchesEncodingJSON(t *testing.T) {
	for _, e := range events() {
		sameAsEncodingJSON(t, e)
	}
	end := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	gen := demo.New(7, end.Add(-24*time.Hour), end)
	for i := range 5000 {
		e := gen.Next("acme", end.Add(-time.Duration(i)*time.Second))
		e.ID, e.Seq, e.Account, e.ReceivedAt = stele.EventID(1, int64(i)), int64(i), "acme", e.Time.Add(time.Millisecond)
		sameAsEncodingJSON(t, &e)
	}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC)
	for _, e := range []*stele.Event{
		{},
		{Time: t0, ReceivedAt: t0.In(time.FixedZone("x", 5*3600+1800)), Actor: &stele.Ref{}, Target: &stele.Ref{Email: "e"}},
		{Description: "<b>&</b> \u2028\u2029 \x00\x01\x1f\b\f\n\r\t \"\\ \xff\xfe é 😀 \xed\xa0\x80", Action: "a\x7f"},
		{Metadata: map[string]any{}, IdempotencyKey: "k"},
		{Metadata: map[string]any{"z": nil, "a": false, "m": json.Number(""), "<": "&", "n": json.Number("-1.5e+3")}},
		{Metadata: map[string]any{"bad": json.Number("1x")}},
		{Metadata: map[string]any{"other": []any{1, "<"}}},
		{Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
		{Time: t0, ReceivedAt: time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		sameAsEncodingJSON(t, e)
	}
}

func FuzzAppendEventJSON(f *testing.F) {
	f.Add("Ada <ada@acme.io>", "role\nchanged \u2028", "key", "value & more", "3.50", int64(1700000000123456))
	f.Add("\xff", "\x00", "", "", "", int64(-62135596800000000))
	f.Add("é", "😀", "a", "\"", "1e", int64(0))
	f.Fuzz(func(t *testing.T, name, desc, key, value, number string, micros int64) {
		tm := time.UnixMicro(micros).UTC()
		e := &stele.Event{ID: name, Account: value, Time: tm, ReceivedAt: tm, Action: key, Category: desc, Outcome: number,
			Actor: &stele.Ref{Name: name, Email: value}, Source: &stele.Ref{ID: desc},
			IP: key, UserAgent: value, RequestID: number, Description: desc, IdempotencyKey: name,
			Metadata: map[string]any{key: value, name: json.Number(number), desc: nil, "b": true}}
		sameAsEncodingJSON(t, e)
	})
}

func BenchmarkAppendEventJSON(b *testing.B) {
	end := time.Now()
	gen := demo.New(1, end.Add(-time.Hour), end)
	page := make([]stele.Event, 50)
	for i := range page {
		page[i] = gen.Next("acme", end.Add(-time.Duration(i)*time.Second))
	}
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			for i := range page {
				marshalled(&page[i])
			}
		}
	})
	b.Run("append", func(b *testing.B) {
		var dst []byte
		for b.Loop() {
			dst = dst[:0]
			for i := range page {
				dst, _ = export.AppendEventJSON(dst, &page[i])
			}
		}
	})
}
