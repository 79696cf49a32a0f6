package ingest

import (
	"strings"
	"testing"

	"github.com/stele-audit/stele"
)

func TestParseQuotaSetting(t *testing.T) {
	tests := []struct {
		field, text string
		want        int64
		ok          bool
	}{
		{stele.FieldIngestEventsPerSecond, "1000", 1000, true},
		{stele.FieldIngestEventsPerSecond, " unlimited ", 0, true},
		{stele.FieldIngestEventsPerSecond, "0", 0, true},
		{stele.FieldIngestEventsPerSecond, "1k", 0, false},
		{stele.FieldIngestEventsPerSecond, "-5", -5, true}, // parsed; Validate refuses it
		{stele.FieldIngestBytesPerSecond, "4MiB", 4 << 20, true},
		{stele.FieldIngestBytesPerSecond, "256 KiB", 256 << 10, true},
		{stele.FieldIngestBytesPerSecond, "2GiB", 2 << 30, true},
		{stele.FieldIngestBytesPerSecond, "4MB", 0, false},
		{stele.FieldIngestBytesPerSecond, "99999999999999GiB", 0, false},
		{stele.FieldIngestBurstSeconds, "10s", 10, true},
		{stele.FieldIngestBurstSeconds, "30", 30, true},
		{stele.FieldIngestBurstSeconds, "unlimited", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseQuotaSetting(tt.field, tt.text)
		if (err == nil) != tt.ok || tt.ok && got != tt.want {
			t.Errorf("%s %q = %d, %v; want %d, ok %v", tt.field, tt.text, got, err, tt.want, tt.ok)
		}
		if err != nil {
			if e, ok := err.(*stele.Error); !ok || e.Details[0].Field != tt.field || e.Details[0].Rule != "format" {
				t.Errorf("%s %q: error %v does not name the field and the rule", tt.field, tt.text, err)
			}
		}
	}
}

func TestParseTypeQuotasOverridesNamedTypesOnly(t *testing.T) {
	types, err := ParseTypeQuotas(stele.DefaultAccountTypes, "free=10, enterprise=unlimited", "team=8MiB", "business=60")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]stele.IngestQuota{
		"free":       {EventsPerSecond: 10, BytesPerSecond: 256 << 10, BurstSeconds: 10},
		"team":       {EventsPerSecond: 1000, BytesPerSecond: 8 << 20, BurstSeconds: 10},
		"business":   {EventsPerSecond: 5000, BytesPerSecond: 16 << 20, BurstSeconds: 60},
		"enterprise": {EventsPerSecond: 0, BytesPerSecond: 64 << 20, BurstSeconds: 10},
	}
	for _, ty := range types {
		if ty.Ingest != want[ty.Name] {
			t.Errorf("%s: %+v, want %+v", ty.Name, ty.Ingest, want[ty.Name])
		}
	}
	if stele.DefaultAccountTypes[0].Ingest.EventsPerSecond != 100 {
		t.Fatal("ParseTypeQuotas changed the built-in types")
	}
	for _, bad := range [][3]string{{"gold=10", "", ""}, {"free", "", ""}, {"", "", "free=0"}, {"free=-1", "", ""}, {"", "team=lots", ""}} {
		if _, err := ParseTypeQuotas(stele.DefaultAccountTypes, bad[0], bad[1], bad[2]); stele.ErrorCode(err) != stele.EINVALID {
			t.Errorf("%q: %v, want EINVALID", bad, err)
		}
	}
}

func TestParseQuotaChangeSetsClearsOrLeaves(t *testing.T) {
	for _, tc := range []struct {
		field, text string
		want        stele.SettingChange
		ok          bool
	}{
		{stele.FieldIngestEventsPerSecond, "", stele.SettingChange{}, true},
		{stele.FieldIngestEventsPerSecond, "  ", stele.SettingChange{}, true},
		{stele.FieldIngestEventsPerSecond, "default", stele.SettingChange{Clear: true}, true},
		{stele.FieldIngestBurstSeconds, " default ", stele.SettingChange{Clear: true}, true},
		{stele.FieldIngestEventsPerSecond, "unlimited", stele.SettingChange{Set: new(int64(0))}, true},
		{stele.FieldIngestBytesPerSecond, "2MiB", stele.SettingChange{Set: new(int64(2 << 20))}, true},
		{stele.FieldIngestBurstSeconds, "10s", stele.SettingChange{Set: new(int64(10))}, true},
		{stele.FieldIngestBurstSeconds, "Default", stele.SettingChange{}, false},
		{stele.FieldIngestEventsPerSecond, "lots", stele.SettingChange{}, false},
	} {
		got, err := ParseQuotaChange(tc.field, tc.text)
		if !tc.ok {
			if stele.ErrorCode(err) != stele.EINVALID {
				t.Errorf("%s %q: ParseQuotaChange = %+v, %v; want EINVALID", tc.field, tc.text, got, err)
			}
			continue
		}
		if err != nil || got.Clear != tc.want.Clear || (got.Set == nil) != (tc.want.Set == nil) || got.Set != nil && *got.Set != *tc.want.Set {
			t.Errorf("%s %q: ParseQuotaChange = %+v, %v; want %+v", tc.field, tc.text, got, err, tc.want)
		}
	}
}

func TestQuotaTextStarsTheAccountsOwnSettings(t *testing.T) {
	q := stele.IngestQuota{EventsPerSecond: 500, BytesPerSecond: 4 << 20, BurstSeconds: 10}
	for _, tc := range []struct {
		name string
		q    stele.IngestQuota
		own  *stele.IngestOverride
		want string
	}{
		{"type's", q, nil, "500 events/s, 4 MiB/s, burst 10s"},
		{"none own", q, &stele.IngestOverride{}, "500 events/s, 4 MiB/s, burst 10s"},
		{"own events and burst", q, &stele.IngestOverride{EventsPerSecond: new(int64(500)), BurstSeconds: new(int64(10))}, "500* events/s, 4 MiB/s, burst 10s*"},
		{"unlimited", stele.IngestQuota{BurstSeconds: 1}, &stele.IngestOverride{BytesPerSecond: new(int64(0))}, "unlimited events/s, unlimited*/s, burst 1s"},
		{"odd bytes", stele.IngestQuota{EventsPerSecond: 1, BytesPerSecond: 1500}, nil, "1 events/s, 1500 B/s, burst 0s"},
	} {
		if got := QuotaText(tc.q, tc.own); got != tc.want {
			t.Errorf("%s: QuotaText = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestByteSizeReadsBackThroughParseQuotaSetting: what the CLI shows of a
// bytes rate is what an operator may type to set it again.
func TestByteSizeReadsBackThroughParseQuotaSetting(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want string
	}{
		{1, "1 B"}, {1000, "1000 B"}, {1024, "1 KiB"}, {1536, "1536 B"},
		{3 << 19, "1536 KiB"}, {1 << 20, "1 MiB"}, {5 << 30, "5 GiB"}, {1<<30 + 1<<20, "1025 MiB"},
	} {
		got := ByteSize(tc.n)
		if got != tc.want {
			t.Errorf("ByteSize(%d) = %q, want %q", tc.n, got, tc.want)
		}
		text := strings.TrimSuffix(got, " B")
		if back, err := ParseQuotaSetting(stele.FieldIngestBytesPerSecond, text); err != nil || back != tc.n {
			t.Errorf("ParseQuotaSetting(%q) = %d, %v; want %d", text, back, err, tc.n)
		}
	}
}
