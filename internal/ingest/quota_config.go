package ingest

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/stele-audit/stele"
)

// ParseQuotaSetting reads one ingest quota setting as an operator writes
// it: a whole number, or "unlimited" for a rate; bytes may end in KiB, MiB
// or GiB, and the burst in s. field is the setting's name
// (stele.FieldIngest…); the value's range is Account.Validate's to check.
func ParseQuotaSetting(field, text string) (int64, error) {
	s := strings.TrimSpace(text)
	if field != stele.FieldIngestBurstSeconds && strings.EqualFold(s, "unlimited") {
		return 0, nil
	}
	mult := int64(1)
	switch field {
	case stele.FieldIngestBytesPerSecond:
		for _, u := range []struct {
			suffix string
			mult   int64
		}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
			if n, ok := strings.CutSuffix(s, u.suffix); ok {
				s, mult = strings.TrimSpace(n), u.mult
				break
			}
		}
	case stele.FieldIngestBurstSeconds:
		s = strings.TrimSuffix(s, "s")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n > (1<<62)/mult || n < -(1<<62)/mult {
		return 0, &stele.Error{Code: stele.EINVALID, Message: fmt.Sprintf("%s: %q is not %s", field, text, quotaSyntax(field)),
			Details: []stele.FieldError{{Field: field, Rule: "format"}}}
	}
	return n * mult, nil
}

// ParseQuotaChange reads a change of one of an account's own ingest quota
// settings: nothing when text is empty, back to its type's for "default",
// else the value ParseQuotaSetting reads.
func ParseQuotaChange(field, text string) (stele.SettingChange, error) {
	switch strings.TrimSpace(text) {
	case "":
		return stele.SettingChange{}, nil
	case "default":
		return stele.SettingChange{Clear: true}, nil
	}
	n, err := ParseQuotaSetting(field, text)
	return stele.SettingChange{Set: &n}, err
}

// QuotaText is a quota for the terminal, in the units ParseQuotaSetting
// reads; with own, a star marks each setting that is the account's own.
func QuotaText(q stele.IngestQuota, own *stele.IngestOverride) string {
	star := func(p *int64) string {
		if own != nil && p != nil {
			return "*"
		}
		return ""
	}
	var o stele.IngestOverride
	if own != nil {
		o = *own
	}
	bytes := "unlimited"
	if q.BytesPerSecond > 0 {
		bytes = ByteSize(q.BytesPerSecond)
	}
	events := "unlimited"
	if q.EventsPerSecond > 0 {
		events = strconv.FormatInt(q.EventsPerSecond, 10)
	}
	return fmt.Sprintf("%s%s events/s, %s%s/s, burst %ds%s", events, star(o.EventsPerSecond), bytes, star(o.BytesPerSecond), q.BurstSeconds, star(o.BurstSeconds))
}

// ByteSize writes n in the largest binary unit that divides it.
func ByteSize(n int64) string {
	for _, u := range []struct {
		name string
		size int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + " " + u.name
		}
	}
	return strconv.FormatInt(n, 10) + " B"
}

func quotaSyntax(field string) string {
	switch field {
	case stele.FieldIngestBytesPerSecond:
		return "a whole number of bytes (or KiB, MiB, GiB) or unlimited"
	case stele.FieldIngestBurstSeconds:
		return "a whole number of seconds"
	}
	return "a whole number or unlimited"
}

// ParseTypeQuotas returns types with the ingest quota settings that the
// specs override: each spec is "TYPE=VALUE,…" (empty for none) for events a
// second, bytes a second and burst seconds, values as ParseQuotaSetting
// reads them. Each type named must be one of types; each type changed must
// pass AccountType.Validate.
func ParseTypeQuotas(types []stele.AccountType, events, bytes, burst string) ([]stele.AccountType, error) {
	types = slices.Clone(types)
	for _, spec := range []struct {
		field, text string
		set         func(q *stele.IngestQuota, n int64)
	}{
		{stele.FieldIngestEventsPerSecond, events, func(q *stele.IngestQuota, n int64) { q.EventsPerSecond = n }},
		{stele.FieldIngestBytesPerSecond, bytes, func(q *stele.IngestQuota, n int64) { q.BytesPerSecond = n }},
		{stele.FieldIngestBurstSeconds, burst, func(q *stele.IngestQuota, n int64) { q.BurstSeconds = n }},
	} {
		for part := range strings.SplitSeq(spec.text, ",") {
			if part = strings.TrimSpace(part); part == "" {
				continue
			}
			name, value, ok := strings.Cut(part, "=")
			name = strings.TrimSpace(name)
			i := slices.IndexFunc(types, func(t stele.AccountType) bool { return t.Name == name })
			if !ok || i < 0 {
				return nil, &stele.Error{Code: stele.EINVALID,
					Message: fmt.Sprintf("default %s: give TYPE=VALUE pairs separated by commas, for known account types; not %q", spec.field, part),
					Details: []stele.FieldError{{Field: "default_" + spec.field, Rule: "format"}}}
			}
			n, err := ParseQuotaSetting(spec.field, value)
			if err != nil {
				return nil, err
			}
			spec.set(&types[i].Ingest, n)
			if err := types[i].Validate(); err != nil {
				return nil, err
			}
		}
	}
	return types, nil
}
