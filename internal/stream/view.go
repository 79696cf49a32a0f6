package stream

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/stele-audit/stele"
)

// View is a stream as the API returns it: its settings, with the header
// names of its destination but never their values, and its status.
type View struct {
	ID          string          `json:"id"`
	Account     string          `json:"account"`
	AllAccounts bool            `json:"all_accounts"`
	Name        string          `json:"name"`
	Query       string          `json:"query"`
	Destination DestinationView `json:"destination"`
	Enabled     bool            `json:"enabled"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
	Status      Status          `json:"status"`
}

// DestinationView is a destination without its secrets.
type DestinationView struct {
	Type        string   `json:"type"`
	Address     string   `json:"address,omitempty"`
	TLS         bool     `json:"tls,omitempty"`
	Format      string   `json:"format"`
	URL         string   `json:"url,omitempty"`
	HeaderNames []string `json:"header_names,omitempty"`
}

// States of a stream.
const (
	StateRunning  = "running"  // forwarding, or caught up
	StateFailing  = "failing"  // its last attempt failed; it retries
	StatePaused   = "paused"   // the destination refused it for good; an update resumes it
	StateDisabled = "disabled" // switched off
)

// Status is how far a stream has got and how it fares. LagEvents counts
// the events recorded and not yet forwarded (or passed over, when they do
// not match the query); LagSeconds is the age of the oldest of them, by
// its received_at.
type Status struct {
	State           string          `json:"state"`
	LagEvents       int64           `json:"lag_events"`
	LagSeconds      float64         `json:"lag_seconds"`
	Forwarded       int64           `json:"forwarded"`
	SkippedPurged   int64           `json:"skipped_purged"`
	EventsPerSecond float64         `json:"events_per_second"`
	LastSentAt      *time.Time      `json:"last_sent_at,omitempty"`
	LastError       string          `json:"last_error,omitempty"`
	LastErrorAt     *time.Time      `json:"last_error_at,omitempty"`
	PausedAt        *time.Time      `json:"paused_at,omitempty"`
	Accounts        []AccountStatus `json:"accounts,omitempty"`
	Replays         []ReplayView    `json:"replays"`
}

// AccountStatus is where an all-accounts stream stands in one account.
type AccountStatus struct {
	Account       string `json:"account"`
	NextSeq       int64  `json:"next_seq"`
	Head          int64  `json:"head"`
	LagEvents     int64  `json:"lag_events"`
	Forwarded     int64  `json:"forwarded"`
	SkippedPurged int64  `json:"skipped_purged"`
}

// ReplayView is a replay request and how far it has gone.
type ReplayView struct {
	ID         string     `json:"id"`
	After      time.Time  `json:"after"`
	Before     time.Time  `json:"before"`
	State      string     `json:"state"`
	Sent       int64      `json:"sent"`
	Error      string     `json:"error,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

// maxReplaysShown bounds the replays a status lists, newest first.
const maxReplaysShown = 10

func replayView(r *stele.StreamReplay) ReplayView {
	return ReplayView{ID: r.ID, After: r.After, Before: r.Before, State: r.State, Sent: r.Sent, Error: r.Error,
		CreatedAt: r.CreatedAt, FinishedAt: timeOrNil(r.FinishedAt)}
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// view builds the stream's view, reading its positions and replays.
func (s *Service) view(ctx context.Context, st *stele.Stream) (*View, error) {
	v := &View{ID: st.ID, Account: st.Account, AllAccounts: st.AllAccounts, Name: st.Name, Query: st.Query, Enabled: st.Enabled,
		CreatedAt: st.CreatedAt, UpdatedAt: st.UpdatedAt,
		Destination: DestinationView{Type: st.Destination.Type, Address: st.Destination.Address, TLS: st.Destination.TLS,
			Format: st.Destination.Format, URL: st.Destination.URL, HeaderNames: slices.Sorted(maps.Keys(st.Destination.Headers))}}
	status, err := s.status(ctx, st)
	if err != nil {
		return nil, err
	}
	v.Status = status
	return v, nil
}

func (s *Service) status(ctx context.Context, st *stele.Stream) (Status, error) {
	h := st.Health
	out := Status{State: StateOf(st), EventsPerSecond: h.EventsPerSecond, LastSentAt: timeOrNil(h.LastSentAt),
		LastError: h.LastError, LastErrorAt: timeOrNil(h.LastErrorAt), PausedAt: timeOrNil(h.PausedAt), Replays: []ReplayView{}}
	positions, err := s.Store.StreamPositions(ctx, st.ID)
	if err != nil {
		return out, err
	}
	now := s.now()
	for _, p := range positions {
		lag := max(0, p.Head-p.NextSeq)
		out.LagEvents += lag
		out.Forwarded += p.Forwarded
		out.SkippedPurged += p.Skipped
		if st.AllAccounts {
			out.Accounts = append(out.Accounts, AccountStatus{Account: p.Account, NextSeq: p.NextSeq, Head: p.Head, LagEvents: lag,
				Forwarded: p.Forwarded, SkippedPurged: p.Skipped})
		}
		if lag == 0 {
			continue
		}
		// The oldest event not yet forwarded (or the first kept, if
		// retention took it) gives the lag in time.
		rows, err := s.Store.RowsBySeq(ctx, p.AccountID, p.NextSeq, 1)
		if err != nil {
			return out, err
		}
		if len(rows) == 1 {
			out.LagSeconds = max(out.LagSeconds, now.Sub(time.UnixMicro(rows[0].ReceivedAt)).Seconds())
		}
	}
	replays, err := s.Store.StreamReplays(ctx, st.ID, maxReplaysShown)
	if err != nil {
		return out, err
	}
	for _, r := range replays {
		out.Replays = append(out.Replays, replayView(r))
	}
	return out, nil
}

// StateOf is the state a stream's settings and last health report give.
func StateOf(st *stele.Stream) string {
	h := st.Health
	switch {
	case !st.Enabled:
		return StateDisabled
	case h.Paused():
		return StatePaused
	case !h.LastErrorAt.IsZero() && h.LastErrorAt.After(h.LastSentAt) && h.LastErrorAt.After(st.UpdatedAt):
		return StateFailing
	default:
		return StateRunning
	}
}
