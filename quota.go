package stele

import "fmt"

// IngestQuota is how fast an account may send events: a token bucket for
// events and one for the bytes of request bodies as sent, each refilling at
// its rate per second and holding BurstSeconds of it. A rate of 0 is
// unlimited. A request takes from both buckets at once or from neither.
type IngestQuota struct {
	EventsPerSecond int64 `json:"events_per_second"`
	BytesPerSecond  int64 `json:"bytes_per_second"`
	BurstSeconds    int64 `json:"burst_seconds"`
}

// DefaultIngestBurstSeconds is the burst of the built-in types.
const DefaultIngestBurstSeconds = 10

// Bounds of the ingest quota settings, past which a number is a typo.
const (
	MaxIngestEventsPerSecond = 100_000_000
	MaxIngestBytesPerSecond  = 1 << 40
	MaxIngestBurstSeconds    = 3600
)

// EventsBurst returns how many events the full bucket holds, 0 when unlimited.
func (q IngestQuota) EventsBurst() int64 { return q.EventsPerSecond * q.burst() }

// BytesBurst returns how many bytes the full bucket holds, 0 when unlimited.
func (q IngestQuota) BytesBurst() int64 { return q.BytesPerSecond * q.burst() }

func (q IngestQuota) burst() int64 { return max(q.BurstSeconds, 1) }

// IngestOverride is an account's own ingest quota settings; a nil field
// takes its type's.
type IngestOverride struct {
	EventsPerSecond *int64 `json:"events_per_second,omitempty"`
	BytesPerSecond  *int64 `json:"bytes_per_second,omitempty"`
	BurstSeconds    *int64 `json:"burst_seconds,omitempty"`
}

// IsZero reports whether o overrides nothing.
func (o IngestOverride) IsZero() bool {
	return o.EventsPerSecond == nil && o.BytesPerSecond == nil && o.BurstSeconds == nil
}

// Over returns q with o's settings in place of q's.
func (o IngestOverride) Over(q IngestQuota) IngestQuota {
	if o.EventsPerSecond != nil {
		q.EventsPerSecond = *o.EventsPerSecond
	}
	if o.BytesPerSecond != nil {
		q.BytesPerSecond = *o.BytesPerSecond
	}
	if o.BurstSeconds != nil {
		q.BurstSeconds = *o.BurstSeconds
	}
	return q
}

func (o IngestOverride) clone() IngestOverride {
	cp := func(p *int64) *int64 {
		if p == nil {
			return nil
		}
		n := *p
		return &n
	}
	return IngestOverride{cp(o.EventsPerSecond), cp(o.BytesPerSecond), cp(o.BurstSeconds)}
}

// SettingChange changes one of an account's own settings: Clear drops it
// for its type's default, Set gives it a value. The zero value changes
// nothing.
type SettingChange struct {
	Set   *int64
	Clear bool
}

// IsZero reports whether c changes nothing.
func (c SettingChange) IsZero() bool { return c.Set == nil && !c.Clear }

func (c SettingChange) apply(p **int64) {
	switch {
	case c.Clear:
		*p = nil
	case c.Set != nil:
		n := *c.Set
		*p = &n
	}
}

// The names of the ingest quota settings, as fields of errors and flags.
const (
	FieldIngestEventsPerSecond = "ingest_events_per_second"
	FieldIngestBytesPerSecond  = "ingest_bytes_per_second"
	FieldIngestBurstSeconds    = "ingest_burst_seconds"
)

func checkIngestRate(field string, n, maxN int64, unit string) *FieldError {
	if n < 0 || n > maxN {
		return &FieldError{Field: field, Rule: "range",
			Message: fmt.Sprintf("%s must be from 1 to %d %s, or 0 for unlimited; not %d", field, maxN, unit, n)}
	}
	return nil
}

func checkIngestBurst(n int64) *FieldError {
	if n < 1 || n > MaxIngestBurstSeconds {
		return &FieldError{Field: FieldIngestBurstSeconds, Rule: "range",
			Message: fmt.Sprintf("%s must be from 1 to %d seconds; not %d", FieldIngestBurstSeconds, MaxIngestBurstSeconds, n)}
	}
	return nil
}

// problems lists what is wrong with the settings that are set.
func ingestProblems(events, bytes, burst *int64) []FieldError {
	var out []FieldError
	add := func(fe *FieldError) {
		if fe != nil {
			out = append(out, *fe)
		}
	}
	if events != nil {
		add(checkIngestRate(FieldIngestEventsPerSecond, *events, MaxIngestEventsPerSecond, "events a second"))
	}
	if bytes != nil {
		add(checkIngestRate(FieldIngestBytesPerSecond, *bytes, MaxIngestBytesPerSecond, "bytes a second"))
	}
	if burst != nil {
		add(checkIngestBurst(*burst))
	}
	return out
}

// Validate checks q's settings.
func (q IngestQuota) Validate() error {
	return invalidSettings(ingestProblems(&q.EventsPerSecond, &q.BytesPerSecond, &q.BurstSeconds))
}
