package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/stele-audit/stele"
)

// What a View read.
const (
	ViewSearch      = "search"            // a page of a query's events
	ViewEvent       = "event"             // one event, by its id
	ViewInclusion   = "inclusion_proof"   // an event's inclusion proof
	ViewConsistency = "consistency_proof" // a consistency proof between two tree sizes
)

// View is one read of an account's log: a page of a query, one event, or
// a proof.
type View struct {
	// Account is the account whose events were read: the record goes to
	// its log.
	Account string
	// Reader is the reader's own account when it is another (an operator
	// reading a customer's log): the record goes to the reader's log too.
	Reader string
	// Kind is ViewSearch, ViewEvent, ViewInclusion or ViewConsistency.
	Kind string
	// Query is what was asked for: the query as QueryText writes it, the
	// event's id, or the proof's positions ("seq:5 size:10").
	Query string
	// Results is the number of events the read returned (1 for an event
	// or a proof).
	Results int
}

// Viewed records in the log of the account that was read that a read
// what v says, and, when a is an operator reading another account, in
// the operator's own log too.
func (r *Recorder) Viewed(ctx context.Context, a Actor, v View) error {
	return r.record(ctx, a, viewedEvents(a, v)...)
}

// viewedEvents are the audit_log.viewed events of v, their actor, ip and
// user agent set from a (a batch of views of several actors is recorded
// at once).
func viewedEvents(a Actor, v View) []stele.Event {
	// The query is the reader's to choose: clipped, so that no query, however
	// long, makes its own record too long to keep.
	full := v.Query
	if len(v.Query) > maxViewQuery {
		v.Query = clip(v.Query, maxViewQuery) + "…"
	}
	var desc string
	target := &stele.Ref{Type: "audit_log", ID: v.Account}
	switch v.Kind {
	case ViewEvent:
		desc = fmt.Sprintf("%s viewed event %s of the audit log", a.name(), v.Query)
		target = &stele.Ref{Type: "event", ID: v.Query}
	case ViewInclusion, ViewConsistency:
		what := "an inclusion proof"
		if v.Kind == ViewConsistency {
			what = "a consistency proof"
		}
		desc = fmt.Sprintf("%s read %s of the audit log (%s)", a.name(), what, v.Query)
	default:
		q := v.Query
		if q == "" {
			q = "all events"
		}
		desc = fmt.Sprintf("%s searched the audit log for %s: %d events", a.name(), q, v.Results)
	}
	if v.Reader != "" && v.Reader != v.Account {
		desc += " (from account " + v.Reader + ")"
	}
	e := stele.Event{Account: v.Account, Action: "audit_log.viewed", Outcome: stele.OutcomeSuccess,
		Actor: a.Ref, IP: a.IP, UserAgent: a.UserAgent, Target: target, Description: desc,
		Metadata: map[string]any{"query": v.Query, "results": json.Number(strconv.Itoa(v.Results)), "view": v.Kind, "via": a.via}}
	if v.Query != full {
		e.Metadata["query_truncated"] = true
	}
	if v.Reader == "" || v.Reader == v.Account {
		return []stele.Event{e}
	}
	e.Metadata["reader_account"] = v.Reader
	own := e
	own.Account = v.Reader
	own.Metadata = make(map[string]any, len(e.Metadata)+1)
	for k, x := range e.Metadata {
		own.Metadata[k] = x
	}
	own.Metadata["read_account"] = v.Account
	return []stele.Event{e, own}
}

// QueryText is q as a View names it: the query language, with a bound
// written relative to now ("after:24h") kept as written, so that the
// pages of one query, and a dashboard refreshing it, name the same query
// however the clock has moved.
func QueryText(q stele.Query) string {
	after, before := q.AfterAgo, q.BeforeAgo
	if after != "" {
		q.After = time.Time{}
	}
	if before != "" {
		q.Before = time.Time{}
	}
	s := q.String()
	for _, b := range []struct{ name, ago string }{{"after:", after}, {"before:", before}} {
		if b.ago == "" {
			continue
		}
		if s != "" {
			s += " "
		}
		s += b.name + b.ago
	}
	return s
}

// maxViewQuery bounds the query a record of a read quotes, in bytes: far
// below what a description or a metadata value may hold.
const maxViewQuery = 1024
