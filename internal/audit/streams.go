package audit

import (
	"context"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/stele-audit/stele"
)

// Stream changes are configuration events in the stream's account and in
// _system: a stream sends an account's events out of Stele, so an operator
// sees every one in one place. Their metadata names the destination
// without its secrets: header names, never values, and a URL without its
// query string or credentials.

// StreamCreated records that a created stream s.
func (r *Recorder) StreamCreated(ctx context.Context, a Actor, s *stele.Stream, start string) error {
	meta := streamMeta(nil, s)
	meta["start"] = start
	return r.record(ctx, a, both(stele.Event{Account: s.Account, Action: "stream.created", Outcome: stele.OutcomeSuccess,
		Target:      streamRef(s),
		Description: fmt.Sprintf("%s created stream %q to %s", a.name(), s.Name, DestinationText(s.Destination)),
		Metadata:    meta})...)
}

// StreamUpdated records that a changed stream before into after.
func (r *Recorder) StreamUpdated(ctx context.Context, a Actor, before, after *stele.Stream) error {
	return r.record(ctx, a, both(stele.Event{Account: after.Account, Action: "stream.updated", Outcome: stele.OutcomeSuccess,
		Target:      streamRef(after),
		Description: fmt.Sprintf("%s changed stream %q", a.name(), after.Name),
		Metadata:    streamMeta(before, after)})...)
}

// StreamDeleted records that a deleted stream s.
func (r *Recorder) StreamDeleted(ctx context.Context, a Actor, s *stele.Stream) error {
	meta := streamMeta(s, nil)
	return r.record(ctx, a, both(stele.Event{Account: s.Account, Action: "stream.deleted", Outcome: stele.OutcomeSuccess,
		Target:      streamRef(s),
		Description: fmt.Sprintf("%s deleted stream %q", a.name(), s.Name),
		Metadata:    meta})...)
}

// StreamReplayRequested records that a asked stream s to send the events
// of a time window again.
func (r *Recorder) StreamReplayRequested(ctx context.Context, a Actor, s *stele.Stream, rp *stele.StreamReplay) error {
	return r.record(ctx, a, both(stele.Event{Account: s.Account, Action: "stream.replayed", Outcome: stele.OutcomeSuccess,
		Target: streamRef(s),
		Description: fmt.Sprintf("%s asked stream %q to send again the events from %s to %s", a.name(), s.Name,
			rp.After.UTC().Format(time.RFC3339), rp.Before.UTC().Format(time.RFC3339)),
		Metadata: map[string]any{"replay": rp.ID, "after": rp.After.UTC().Format(time.RFC3339Nano),
			"before": rp.Before.UTC().Format(time.RFC3339Nano), "destination": DestinationText(s.Destination)}})...)
}

// StreamPaused records that Stele paused stream s because its destination
// refused it for good (reason says how, without secrets).
func (r *Recorder) StreamPaused(ctx context.Context, s *stele.Stream, reason string) error {
	return r.record(ctx, System(), both(stele.Event{Account: s.Account, Action: "stream.paused", Outcome: stele.OutcomeFailure,
		Target:      streamRef(s),
		Description: fmt.Sprintf("Stele paused stream %q: its destination refused the events (%s); update the stream to resume it", s.Name, clip(reason, 512)),
		Metadata:    map[string]any{"reason": clip(reason, 1024), "destination": DestinationText(s.Destination), "state_before": "running", "state_after": "paused"}})...)
}

func streamRef(s *stele.Stream) *stele.Ref {
	return &stele.Ref{Type: "stream", ID: s.ID, Name: s.Name}
}

// streamMeta is the before and after of a stream's settings; a nil side is
// left out.
func streamMeta(before, after *stele.Stream) map[string]any {
	meta := map[string]any{}
	for suffix, s := range map[string]*stele.Stream{"_before": before, "_after": after} {
		if s == nil {
			continue
		}
		meta["name"+suffix] = s.Name
		meta["query"+suffix] = s.Query
		meta["destination"+suffix] = DestinationText(s.Destination)
		meta["enabled"+suffix] = s.Enabled
	}
	s := after
	if s == nil {
		s = before
	}
	meta["all_accounts"] = s.AllAccounts
	return meta
}

// DestinationText describes a destination for people and logs, without
// its secrets: "syslog+tls siem.example.com:6514 cef", "https
// https://hec.example.com/services/collector/event splunk_hec (headers:
// Authorization)".
func DestinationText(d stele.StreamDestination) string {
	var b strings.Builder
	switch d.Type {
	case "syslog":
		b.WriteString("syslog")
		if d.TLS {
			b.WriteString("+tls")
		}
		b.WriteString(" " + d.Address)
	default:
		b.WriteString(d.Type + " " + SafeURL(d.URL))
	}
	b.WriteString(" " + d.Format)
	if len(d.Headers) > 0 {
		b.WriteString(" (headers: " + strings.Join(slices.Sorted(maps.Keys(d.Headers)), ", ") + ")")
	}
	return clip(b.String(), 2048)
}

// SafeURL is raw without credentials, query string or fragment, which may
// carry secrets: scheme://host/path, and "?…" where a query was.
func SafeURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid URL)"
	}
	safe := (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
	if u.RawQuery != "" {
		safe += "?…"
	}
	return safe
}

// clip cuts s to at most n bytes on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xc0 == 0x80 {
		n--
	}
	return s[:n]
}
