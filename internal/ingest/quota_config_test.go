package ingest

import (
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
