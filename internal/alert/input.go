package alert

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/notify"
)

// Input is a rule as the API, the CLI and the console send it: the JSON
// shape of DESIGN.md. Threshold and Cooldown are optional; Enabled is true
// when a rule is created without it and unchanged when an update omits it.
type Input struct {
	Name         string               `json:"name"`
	Query        string               `json:"query"`
	Threshold    *ThresholdInput      `json:"threshold,omitempty"`
	Cooldown     string               `json:"cooldown,omitempty"`
	Enabled      *bool                `json:"enabled,omitempty"`
	Destinations []notify.Destination `json:"destinations"`
}

// ThresholdInput is "at least Count events within Window", counted per
// GroupBy (actor, ip or source) when set.
type ThresholdInput struct {
	Count   int    `json:"count"`
	Window  string `json:"window"`
	GroupBy string `json:"group_by,omitempty"`
}

// Rule is a rule as the API returns it: its destinations without their
// secrets, except a secret Stele generated for this very answer, shown once.
type Rule struct {
	ID           string               `json:"id"`
	Name         string               `json:"name"`
	Query        string               `json:"query"`
	Threshold    *ThresholdInput      `json:"threshold,omitempty"`
	Cooldown     string               `json:"cooldown,omitempty"`
	Enabled      bool                 `json:"enabled"`
	Destinations []notify.Destination `json:"destinations"`
	CreatedAt    time.Time            `json:"created_at"`
	UpdatedAt    time.Time            `json:"updated_at"`
}

// ParseDuration reads a window or cooldown as the query language writes
// durations: 90s, 10m, 1h30m, 2d, 1w.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n, unit, ok := cutUnit(s); ok {
		v, err := strconv.Atoi(n)
		if err != nil || v < 0 || v > 10_000 {
			return 0, fmt.Errorf("%q is not a duration", s)
		}
		return time.Duration(v) * unit, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (like 90s, 10m, 1h30m or 2d)", clip(s, 32))
	}
	return d, nil
}

func cutUnit(s string) (string, time.Duration, bool) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		return n, 24 * time.Hour, true
	}
	if n, ok := strings.CutSuffix(s, "w"); ok {
		return n, 7 * 24 * time.Hour, true
	}
	return "", 0, false
}

// FormatDuration writes d back the way ParseDuration reads it: 10m, 1h30m,
// 2d; "" for zero.
func FormatDuration(d time.Duration) string {
	switch {
	case d == 0:
		return ""
	case d%(7*24*time.Hour) == 0:
		return strconv.FormatInt(int64(d/(7*24*time.Hour)), 10) + "w"
	case d%(24*time.Hour) == 0:
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// settings turns in's name, query, threshold and cooldown into a rule's,
// listing every problem with the field it is in.
func (in *Input) settings(r *stele.AlertRule) []stele.FieldError {
	var out []stele.FieldError
	r.Name, r.Query = strings.TrimSpace(in.Name), strings.TrimSpace(in.Query)
	r.Threshold, r.Cooldown = nil, 0
	if t := in.Threshold; t != nil {
		w, err := ParseDuration(t.Window)
		if err != nil || t.Window == "" {
			out = append(out, stele.FieldError{Field: "threshold.window", Rule: "format",
				Message: "threshold.window: the window is required, as a duration like 10m or 1h"})
		}
		r.Threshold = &stele.AlertThreshold{Count: t.Count, Window: w, GroupBy: t.GroupBy}
		if err != nil {
			r.Threshold.Window = stele.MinAlertWindow // reported above; keep Validate to the other fields
		}
	}
	if in.Cooldown != "" {
		d, err := ParseDuration(in.Cooldown)
		if err != nil {
			out = append(out, stele.FieldError{Field: "cooldown", Rule: "format",
				Message: "cooldown: " + err.Error()})
		}
		r.Cooldown = d
	}
	return out
}

// view returns what the API shows of r with its destinations ds.
func view(r *stele.AlertRule, ds []notify.Destination) *Rule {
	v := &Rule{ID: r.ID, Name: r.Name, Query: r.Query, Cooldown: FormatDuration(r.Cooldown), Enabled: r.Enabled,
		Destinations: make([]notify.Destination, len(ds)), CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
	if t := r.Threshold; t != nil {
		v.Threshold = &ThresholdInput{Count: t.Count, Window: FormatDuration(t.Window), GroupBy: t.GroupBy}
	}
	for i, d := range ds {
		v.Destinations[i] = d.Redacted()
	}
	return v
}

// clip cuts s to at most n bytes without splitting a rune.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
