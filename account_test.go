package stele

import (
	"errors"
	"slices"
	"testing"
)

func i64(n int64) *int64 { return &n }
func iptr(n int) *int    { return &n }

// problems returns "field rule" for each detail of err, which must be an
// EINVALID *Error when not nil.
func problems(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var e *Error
	if !errors.As(err, &e) || e.Code != EINVALID || e.Message == "" {
		t.Fatalf("error %v is not an EINVALID *Error with a message", err)
	}
	var out []string
	for _, d := range e.Details {
		if d.Message == "" {
			t.Errorf("detail %s %s has no message", d.Field, d.Rule)
		}
		out = append(out, d.Field+" "+d.Rule)
	}
	return out
}

func TestAccountValidateNamesEveryBadField(t *testing.T) {
	tests := []struct {
		name string
		a    Account
		want []string
	}{
		{"good", Account{Name: "acme", Type: "team"}, nil},
		{"reserved name", Account{Name: SystemAccount, Type: "enterprise"}, nil},
		{"good overrides", Account{Name: "acme", Type: "team", RetentionDays: iptr(MaxRetentionDays),
			Ingest: IngestOverride{EventsPerSecond: i64(0), BytesPerSecond: i64(1), BurstSeconds: i64(MaxIngestBurstSeconds)}}, nil},
		{"bad name", Account{Name: "Acme!", Type: "team"}, []string{"name pattern"}},
		{"other reserved name", Account{Name: "_other", Type: "team"}, []string{"name pattern"}},
		{"unknown type", Account{Name: "acme", Type: "gold"}, []string{"type enum"}},
		{"no retention", Account{Name: "acme", Type: "team", RetentionDays: iptr(0)}, []string{"retention_days range"}},
		{"long retention", Account{Name: "acme", Type: "team", RetentionDays: iptr(MaxRetentionDays + 1)}, []string{"retention_days range"}},
		{"negative rates", Account{Name: "acme", Type: "team", Ingest: IngestOverride{EventsPerSecond: i64(-1), BytesPerSecond: i64(-1)}},
			[]string{"ingest_events_per_second range", "ingest_bytes_per_second range"}},
		{"huge rates", Account{Name: "acme", Type: "team", Ingest: IngestOverride{EventsPerSecond: i64(MaxIngestEventsPerSecond + 1),
			BytesPerSecond: i64(MaxIngestBytesPerSecond + 1)}}, []string{"ingest_events_per_second range", "ingest_bytes_per_second range"}},
		{"no burst", Account{Name: "acme", Type: "team", Ingest: IngestOverride{BurstSeconds: i64(0)}}, []string{"ingest_burst_seconds range"}},
		{"everything", Account{Name: "", Type: "", RetentionDays: iptr(-3), Ingest: IngestOverride{BurstSeconds: i64(MaxIngestBurstSeconds + 1)}},
			[]string{"name pattern", "type enum", "retention_days range", "ingest_burst_seconds range"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := problems(t, tt.a.Validate(DefaultAccountTypes)); !slices.Equal(got, tt.want) {
				t.Fatalf("problems %v, want %v", got, tt.want)
			}
		})
	}
}

func TestAccountUpdateValidateChecksWhatItSets(t *testing.T) {
	gold, team := "gold", "team"
	tests := []struct {
		name string
		u    AccountUpdate
		want []string
	}{
		{"nothing", AccountUpdate{}, nil},
		{"known type", AccountUpdate{Type: &team}, nil},
		{"unknown type", AccountUpdate{Type: &gold}, []string{"type enum"}},
		{"days", AccountUpdate{RetentionDays: iptr(45)}, nil},
		{"zero days", AccountUpdate{RetentionDays: iptr(0)}, []string{"retention_days range"}},
		{"clear days", AccountUpdate{ClearRetention: true}, nil},
		{"unlimited", AccountUpdate{IngestEventsPerSecond: SettingChange{Set: i64(0)}, IngestBytesPerSecond: SettingChange{Set: i64(0)}}, nil},
		{"bad rates", AccountUpdate{IngestEventsPerSecond: SettingChange{Set: i64(-5)}, IngestBytesPerSecond: SettingChange{Set: i64(-5)},
			IngestBurstSeconds: SettingChange{Set: i64(0)}},
			[]string{"ingest_events_per_second range", "ingest_bytes_per_second range", "ingest_burst_seconds range"}},
		{"clears", AccountUpdate{IngestEventsPerSecond: SettingChange{Clear: true}, IngestBurstSeconds: SettingChange{Clear: true}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := problems(t, tt.u.Validate(DefaultAccountTypes)); !slices.Equal(got, tt.want) {
				t.Fatalf("problems %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDefaultAccountTypesAreValidAndHoldTheLargestRequest(t *testing.T) {
	for _, ty := range DefaultAccountTypes {
		if err := ty.Validate(); err != nil {
			t.Errorf("%s: %v", ty.Name, err)
		}
		if q := ty.Ingest; q.EventsBurst() < MaxBatchEvents || q.BytesBurst() < MaxBodyBytes {
			t.Errorf("%s: a burst of %d events and %d bytes cannot take the largest request", ty.Name, q.EventsBurst(), q.BytesBurst())
		}
	}
	bad := AccountType{Name: "Gold", RetentionDays: 0, Ingest: IngestQuota{EventsPerSecond: -1, BurstSeconds: 0}}
	want := []string{"name pattern", "retention_days range", "ingest_events_per_second range", "ingest_burst_seconds range"}
	if got := problems(t, bad.Validate()); !slices.Equal(got, want) {
		t.Fatalf("problems %v, want %v", got, want)
	}
}

func TestAccountIngestQuotaIsTheTypesWithTheAccountsOwnOver(t *testing.T) {
	types := []AccountType{{Name: "team", RetentionDays: 90, Ingest: IngestQuota{EventsPerSecond: 10, BytesPerSecond: 1000, BurstSeconds: 5}}}
	a := &Account{Name: "acme", Type: "team"}
	if got := a.IngestQuota(types); got != types[0].Ingest {
		t.Fatalf("without overrides: %+v", got)
	}
	u := AccountUpdate{IngestEventsPerSecond: SettingChange{Set: i64(0)}, IngestBurstSeconds: SettingChange{Set: i64(60)}}
	u.Apply(a)
	if got, want := a.IngestQuota(types), (IngestQuota{EventsPerSecond: 0, BytesPerSecond: 1000, BurstSeconds: 60}); got != want {
		t.Fatalf("with overrides: %+v, want %+v", got, want)
	}
	c := a.Clone()
	*c.Ingest.BurstSeconds = 1
	if *a.Ingest.BurstSeconds != 60 {
		t.Fatal("Clone shares the ingest overrides")
	}
	AccountUpdate{IngestBurstSeconds: SettingChange{Clear: true}}.Apply(a)
	if a.Ingest.BurstSeconds != nil || a.Ingest.EventsPerSecond == nil {
		t.Fatalf("clearing the burst left %+v", a.Ingest)
	}
	if got := (&Account{Name: "x", Type: "gone"}).IngestQuota(types); got != (IngestQuota{}) {
		t.Fatalf("an unknown type's quota is %+v, want none", got)
	}
}

func TestAccountSettingsAreThoseInForce(t *testing.T) {
	types := []AccountType{{Name: "team", RetentionDays: 90, Ingest: IngestQuota{EventsPerSecond: 100, BytesPerSecond: 1 << 20, BurstSeconds: 5}}}
	for _, tc := range []struct {
		name string
		a    Account
		want AccountSettings
	}{
		{"the type's", Account{Name: "acme", Type: "team"},
			AccountSettings{Name: "acme", Type: "team", RetentionDays: 90, Ingest: types[0].Ingest}},
		{"its own", Account{Name: "acme", Type: "team", RetentionDays: iptr(30), LegalHold: true, Ingest: IngestOverride{EventsPerSecond: i64(0)}},
			AccountSettings{Name: "acme", Type: "team", RetentionDays: 30, Override: true, LegalHold: true,
				Ingest: IngestQuota{BytesPerSecond: 1 << 20, BurstSeconds: 5}, IngestOverride: IngestOverride{EventsPerSecond: i64(0)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.a.Settings(types)
			if got.Name != tc.want.Name || got.Type != tc.want.Type || got.RetentionDays != tc.want.RetentionDays || got.Override != tc.want.Override ||
				got.LegalHold != tc.want.LegalHold || got.Ingest != tc.want.Ingest || got.IngestOverride.IsZero() != tc.want.IngestOverride.IsZero() {
				t.Fatalf("Settings = %+v, want %+v", got, tc.want)
			}
		})
	}
}
