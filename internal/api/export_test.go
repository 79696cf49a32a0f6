package api_test

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestExportStreamsTheQueriedSetAndIsRecorded(t *testing.T) {
	e := newEnv(t)
	var b strings.Builder
	b.WriteString(`{"events":[`)
	for i := range 30 {
		if i > 0 {
			b.WriteString(",")
		}
		action := "user.login"
		if i%3 == 0 {
			action = "user.logout"
		}
		fmt.Fprintf(&b, `{"action":%q,"actor":{"id":"u_%d","email":"u%d@acme.io"},"description":"=cmd %d"}`, action, i%2, i%2, i)
	}
	b.WriteString("]}")
	e.mustPost("acme", b.String())
	e.mustPost("globex", `{"action":"user.login","actor":{"id":"u_0"}}`)

	r := e.do("GET", "/v1/export?"+url.Values{"q": {"action:user.login"}, "format": {"csv"}}.Encode(), e.keys["acme"], "", nil)
	if r.Status != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("export: %d %s %s", r.Status, r.Header.Get("Content-Type"), r.Body)
	}
	recs, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(r.Body, []byte("\xef\xbb\xbf")))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1+20 {
		t.Fatalf("%d records, want header + 20", len(recs))
	}
	for _, rec := range recs[1:] {
		if rec[5] != "user.login" || !strings.HasPrefix(rec[21], "'=cmd") {
			t.Fatalf("row %q", rec)
		}
	}

	r = e.do("GET", "/v1/export?format=jsonl&q=actor:u_1", e.keys["acme"], "", nil)
	if r.Status != http.StatusOK || bytes.Count(r.Body, []byte("\n")) != 15 {
		t.Fatalf("jsonl: %d, %d lines", r.Status, bytes.Count(r.Body, []byte("\n")))
	}

	got := e.list("acme", "action:audit_log.exported", 10, "")
	if len(got.Events) != 2 {
		t.Fatalf("%d export events recorded, want 2", len(got.Events))
	}
	last := got.Events[1]
	if last.Metadata["query"] != "action:user.login" || fmt.Sprint(last.Metadata["rows"]) != "20" || last.Actor.ID != e.ids["acme"] {
		t.Fatalf("recorded export: %+v %+v", last.Metadata, last.Actor)
	}
}

func TestExportNeedsTheExportScopeAndAKnownFormat(t *testing.T) {
	e := newEnv(t)
	if r := e.do("GET", "/v1/export?format=csv", e.keys["acme-read"], "", nil); r.Status != http.StatusForbidden {
		t.Fatalf("read-only key: %d", r.Status)
	}
	if got := e.list("acme", "action:audit_log.denied", 10, ""); len(got.Events) != 1 || got.Events[0].Actor.ID != e.ids["acme-read"] {
		t.Fatalf("the refused export was not recorded: %+v", got.Events)
	}
	if r := e.do("GET", "/v1/export?format=xlsx", e.keys["acme"], "", nil); r.Status != http.StatusBadRequest {
		t.Fatalf("unknown format: %d", r.Status)
	}
	if r := e.do("GET", "/v1/export?format=csv", "", "", nil); r.Status != http.StatusUnauthorized {
		t.Fatalf("no key: %d", r.Status)
	}
}
