package api_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
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

	// OCSF for a SIEM: one Authentication event per line, the account's only.
	r = e.do("GET", "/v1/export?format=ocsf&q=actor:u_1", e.keys["acme"], "", nil)
	if r.Status != http.StatusOK || r.Header.Get("Content-Type") != "application/x-ndjson" ||
		!strings.Contains(r.Header.Get("Content-Disposition"), ".ocsf.jsonl") {
		t.Fatalf("ocsf: %d %v", r.Status, r.Header)
	}
	lines := bytes.Split(bytes.TrimSuffix(r.Body, []byte("\n")), []byte("\n"))
	if len(lines) != 15 {
		t.Fatalf("ocsf: %d lines, want 15", len(lines))
	}
	for _, line := range lines {
		var o struct {
			ClassUID int `json:"class_uid"`
			TypeUID  int `json:"type_uid"`
			User     struct {
				UID string `json:"uid"`
			} `json:"user"`
			Metadata struct {
				TenantUID string `json:"tenant_uid"`
				Version   string `json:"version"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal(line, &o); err != nil {
			t.Fatalf("ocsf line %s: %v", line, err)
		}
		if o.ClassUID != 3002 || (o.TypeUID != 300201 && o.TypeUID != 300202) || o.User.UID != "u_1" ||
			o.Metadata.TenantUID != "acme" || o.Metadata.Version == "" {
			t.Fatalf("ocsf line %s", line)
		}
	}

	got := e.list("acme", "action:audit_log.exported", 10, "")
	if len(got.Events) != 3 {
		t.Fatalf("%d export events recorded, want 3", len(got.Events))
	}
	if got.Events[0].Metadata["format"] != "ocsf" || fmt.Sprint(got.Events[0].Metadata["rows"]) != "15" {
		t.Fatalf("recorded OCSF export: %+v", got.Events[0].Metadata)
	}
	last := got.Events[2]
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
	} else if _, msg, details := r.errorBody(t); msg != "format must be one of csv, jsonl, ocsf, bundle" || len(details) != 1 || details[0].Field != "format" {
		t.Fatalf("unknown format: %q %+v", msg, details)
	}
	if r := e.do("GET", "/v1/export?format=csv", "", "", nil); r.Status != http.StatusUnauthorized {
		t.Fatalf("no key: %d", r.Status)
	}
}
