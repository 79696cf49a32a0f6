package export_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/export"
)

// ocsfEvent is an event with every party, as the catalog test sends it.
func ocsfEvent(action, category string) *stele.Event {
	at := time.Date(2026, 11, 24, 10, 0, 0, 123_000_000, time.UTC)
	return &stele.Event{
		ID: "evt_1", Seq: 41, Account: "acme", Time: at, ReceivedAt: at.Add(1500 * time.Millisecond),
		Action: action, Category: category, Outcome: stele.OutcomeSuccess,
		Actor:  &stele.Ref{Type: "user", ID: "u_1", Name: "Ada Lovelace", Email: "ada@acme.io"},
		Target: &stele.Ref{Type: "user", ID: "u_2", Name: "Grace Hopper"},
		Source: &stele.Ref{Type: "aws", ID: "aws-prod-123", Name: "AWS production"},
		IP:     "203.0.113.7", UserAgent: "Mozilla/5.0", RequestID: "req_9",
		Description: "something happened", Metadata: map[string]any{"role_after": "admin", "n": json.Number("3")},
	}
}

func ocsfOf(t *testing.T, e *stele.Event) map[string]any {
	t.Helper()
	line, err := export.AppendOCSF(nil, e)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Count(line, []byte("\n")) != 1 || line[len(line)-1] != '\n' {
		t.Fatalf("not one line: %q", line)
	}
	if bytes.Contains(line, []byte(`\u0026`)) {
		t.Fatalf("HTML-escaped: %s", line)
	}
	var m map[string]any
	if err := json.Unmarshal(line, &m); err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	return m
}

// get walks a path of keys through nested objects.
func get(m map[string]any, path string) any {
	var v any = m
	for _, k := range strings.Split(path, ".") {
		o, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = o[k]
	}
	return v
}

// TestOCSFEveryCatalogActionIsAValidEventOfItsClass holds every built-in
// action to the attributes OCSF 1.3 requires of every event and of the
// class it maps to, and keeps Base Event for the system metrics alone.
func TestOCSFEveryCatalogActionIsAValidEventOfItsClass(t *testing.T) {
	required := map[float64][]string{
		3002: {"user"},
		3001: {"user"},
		3005: {"user", "privileges"},
		6003: {"actor", "api.operation", "src_endpoint"},
		6002: {"app.name"},
		2004: {"finding_info.uid", "finding_info.title"},
		0:    {},
	}
	for _, action := range slices.Sorted(maps.Keys(stele.Catalog)) {
		m := ocsfOf(t, ocsfEvent(action, stele.Catalog[action]))
		class, _ := m["class_uid"].(float64)
		activity, _ := m["activity_id"].(float64)
		for _, k := range []string{"activity_id", "activity_name", "category_uid", "category_name", "class_uid", "class_name",
			"type_uid", "type_name", "severity_id", "time", "status_id", "metadata.version", "metadata.product.name", "metadata.uid"} {
			if get(m, k) == nil {
				t.Errorf("%s: no %s", action, k)
			}
		}
		if m["type_uid"] != class*100+activity || m["category_uid"] != float64(int(class)/1000) {
			t.Errorf("%s: type_uid %v, category_uid %v for class %v activity %v", action, m["type_uid"], m["category_uid"], class, activity)
		}
		if get(m, "metadata.version") != export.OCSFVersion {
			t.Errorf("%s: version %v", action, get(m, "metadata.version"))
		}
		reqs, ok := required[class]
		if !ok {
			t.Errorf("%s: unexpected class %v", action, class)
		}
		for _, k := range reqs {
			if get(m, k) == nil {
				t.Errorf("%s (class %v): no %s", action, class, k)
			}
		}
		if class == 0 && !strings.HasPrefix(action, "system.api_") && !strings.HasPrefix(action, "system.resource_") {
			t.Errorf("%s maps to Base Event", action)
		}
		if get(m, "unmapped.action") != action {
			t.Errorf("%s: unmapped.action %v", action, get(m, "unmapped.action"))
		}
	}
}

func TestOCSFMapsTheFieldsSIEMsFilterOn(t *testing.T) {
	e := ocsfEvent("user.login_failed", stele.CategoryAuthentication)
	e.Outcome, e.Target = stele.OutcomeFailure, nil
	m := ocsfOf(t, e)
	for path, want := range map[string]any{
		"class_uid": 3002.0, "activity_id": 1.0, "type_uid": 300201.0, "type_name": "Authentication: Logon",
		"status_id": 2.0, "status": "Failure", "severity_id": 2.0,
		"time": float64(e.Time.UnixMilli()), "metadata.logged_time": float64(e.ReceivedAt.UnixMilli()),
		"metadata.uid": "evt_1", "metadata.tenant_uid": "acme", "metadata.sequence": 41.0,
		"metadata.event_code": "user.login_failed", "metadata.correlation_uid": "req_9",
		"user.uid": "u_1", "user.email_addr": "ada@acme.io", "actor.user.name": "Ada Lovelace", "actor.user.type_id": 1.0,
		"src_endpoint.ip": "203.0.113.7", "http_request.user_agent": "Mozilla/5.0", "message": "something happened",
		"unmapped.source.id": "aws-prod-123", "unmapped.metadata.n": 3.0,
	} {
		if got := get(m, path); got != want {
			t.Errorf("%s = %v (%T), want %v", path, got, got, want)
		}
	}

	// A role change: the changed user is the target, the privilege what the metadata says.
	m = ocsfOf(t, ocsfEvent("user.role_changed", stele.CategoryUserManagement))
	if m["class_uid"] != 3005.0 || get(m, "user.uid") != "u_2" || get(m, "actor.user.uid") != "u_1" ||
		fmt.Sprint(m["privileges"]) != "[admin]" || get(m, "unmapped.target") != nil {
		t.Errorf("role change: %v", m)
	}
	// A finding: the target is the finding, the source the product that raised it.
	f := ocsfEvent("finding.generated", stele.CategorySourceActivity)
	f.Target = &stele.Ref{Type: "finding", ID: "fnd_7", Name: "S3 bucket is public"}
	m = ocsfOf(t, f)
	if m["class_uid"] != 2004.0 || m["activity_id"] != 1.0 || get(m, "finding_info.uid") != "fnd_7" ||
		get(m, "finding_info.title") != "S3 bucket is public" || get(m, "unmapped.source.id") != "aws-prod-123" {
		t.Errorf("finding: %v", m)
	}
	// A source's lifecycle: the source is the app.
	m = ocsfOf(t, ocsfEvent("source.disconnected", stele.CategorySourceActivity))
	if m["class_uid"] != 6002.0 || m["activity_id"] != 7.0 || get(m, "app.uid") != "aws-prod-123" || get(m, "unmapped.source") != nil {
		t.Errorf("source lifecycle: %v", m)
	}
	// Producers' own actions map by category and verb.
	for _, tc := range []struct {
		action, category string
		class, activity  float64
	}{
		{"billing.invoice_created", stele.CategoryConfiguration, 6003, 1},
		{"report.downloaded", stele.CategoryAudit, 6003, 2},
		{"webhook.secret_rotated", stele.CategoryConfiguration, 6003, 3},
		{"project.archived", stele.CategoryConfiguration, 6003, 99},
		{"sso.assertion_checked", stele.CategoryAuthentication, 3002, 99},
		{"finding.suppressed", stele.CategorySourceActivity, 2004, 99},
		{"finding.modified", stele.CategorySourceActivity, 2004, 2},
		{"finding.purged", stele.CategorySourceActivity, 2004, 3},
		{"finding.exported", stele.CategorySourceActivity, 2004, 99},
		{"disk.usage", stele.CategorySystem, 0, 99},
	} {
		m := ocsfOf(t, ocsfEvent(tc.action, tc.category))
		if m["class_uid"] != tc.class || m["activity_id"] != tc.activity {
			t.Errorf("%s (%s): class %v activity %v, want %v %v", tc.action, tc.category, m["class_uid"], m["activity_id"], tc.class, tc.activity)
		}
	}
}

// TestLineFormatsWriteWhatAppendEncodes: the writer (one goroutine) and
// the parallel encoder (Head, then Append per event) give the same bytes.
func TestLineFormatsWriteWhatAppendEncodes(t *testing.T) {
	for _, name := range []string{"jsonl", "ocsf"} {
		f := export.Formats[name]
		var buf bytes.Buffer
		w := f.New(&buf)
		want := f.Head()
		for _, action := range []string{"user.login", "settings.updated", "finding.deleted"} {
			e := ocsfEvent(action, stele.Catalog[action])
			e.Description = "<b>&</b>"
			if err := w.Write(e); err != nil {
				t.Fatal(err)
			}
			want, _ = f.Append(want, e)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), want) || bytes.Count(want, []byte("\n")) != 3 || !bytes.Contains(want, []byte("<b>&</b>")) {
			t.Fatalf("%s writer:\n%s\nappend:\n%s", name, buf.Bytes(), want)
		}
	}
}

// BenchmarkAppendOCSF is one event of the catalog test as an OCSF line,
// beside BenchmarkAppendCSV.
func BenchmarkAppendOCSF(b *testing.B) {
	e := ocsfEvent("user.login", stele.CategoryAuthentication)
	var dst []byte
	for b.Loop() {
		dst, _ = export.AppendOCSF(dst[:0], e)
	}
}
