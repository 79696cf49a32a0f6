package stele

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Stream forwards an account's events — all of them, or those matching a
// query — to another security tool (a SIEM, a log pipeline), in seq order,
// at least once. A stream belongs to one account and sees only its events,
// unless it is an operator's AllAccounts stream, which belongs to the
// _system account and walks every account's log.
type Stream struct {
	ID          string
	AccountID   int64
	Account     string // the owner's name
	AllAccounts bool
	Name        string
	Query       string // in the query language; "" forwards every event
	Destination StreamDestination
	// SealedHeaders is the destination's header values (they may hold a
	// token), sealed under the owner's data key by the service; the store
	// keeps it as given, and Destination.Headers holds the names only, each
	// with an empty value.
	SealedHeaders string
	Enabled       bool
	// Version is 1 at creation and grows by one with each update: a
	// forwarder running an older version restarts the stream.
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
	Health    StreamHealth
}

// StreamDestination is where a stream sends its events, as
// internal/forward's Destination (which it converts to) describes it.
type StreamDestination struct {
	Type    string            `json:"type"`
	Address string            `json:"address,omitempty"`
	TLS     bool              `json:"tls,omitempty"`
	Format  string            `json:"format"`
	URL     string            `json:"url,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
}

// StreamHealth is what the forwarder last reported about a stream.
type StreamHealth struct {
	// PausedAt is set when the destination refused the stream's events for
	// good (an answer that no retry can change); the stream then sends
	// nothing until it is updated, which clears it. LastError says why.
	PausedAt    time.Time
	LastError   string // never a secret nor an event
	LastErrorAt time.Time
	LastSentAt  time.Time
	// EventsPerSecond is the forwarding rate over the last reporting period.
	EventsPerSecond float64
	ReportedAt      time.Time
}

// Paused reports whether the stream is paused on a permanent error.
func (h StreamHealth) Paused() bool { return !h.PausedAt.IsZero() }

// StreamCursor is how far a stream has forwarded one account's log.
type StreamCursor struct {
	AccountID int64
	// NextSeq is the first seq not yet forwarded: every event below it was
	// sent (if it matched the query) or purged before it could be.
	NextSeq   int64
	Forwarded int64 // events sent
	Skipped   int64 // events purged by retention before they were sent
}

// StreamPosition is a stream's cursor in one account it reads, beside the
// account's head: Head - NextSeq events are still to be forwarded.
type StreamPosition struct {
	StreamCursor
	Account string
	Head    int64 // the account's tree size: the seq of its next event
}

// StreamProgress is one report of a forwarder for one account: the cursor
// moves to NextSeq (never back), and the counts add to the cursor's.
type StreamProgress struct {
	AccountID int64
	NextSeq   int64
	Forwarded int64
	Skipped   int64
}

// Where a new stream starts.
const (
	StreamStartNow    = "now"    // with the events recorded after its creation
	StreamStartOldest = "oldest" // with the oldest event still kept
)

// StreamReplay is a request to send a stream's events of a time window
// again, beside the live cursor: the events whose time is in [After,
// Before), in seq order, account by account for an AllAccounts stream.
type StreamReplay struct {
	ID        string
	StreamID  string
	AccountID int64 // the stream's owner
	After     time.Time
	Before    time.Time
	State     string
	// Progress: the account being replayed, its next seq to read, and the
	// seq it stops before (its head when the replay reached it).
	CursorAccount int64
	NextSeq       int64
	UntilSeq      int64
	Sent          int64
	Error         string
	CreatedAt     time.Time
	FinishedAt    time.Time
}

// States of a replay.
const (
	ReplayPending = "pending"
	ReplayRunning = "running"
	ReplayDone    = "done"
	ReplayFailed  = "failed"
)

// Limits on a stream.
const (
	MaxStreamNameLen     = 100
	MaxStreamQueryLen    = 2048
	MaxStreamsPerAccount = 20
	MaxPendingReplays    = 5
	MaxStreamErrorLen    = 512
	MaxReplayWindow      = 366 * 24 * time.Hour
)

// Validate checks the stream's own fields — its name and the length of
// its query — and returns an EINVALID *Error with one FieldError per
// broken rule, or nil. The query's syntax and the destination are checked
// by the service, which knows the query language and the senders.
func (s *Stream) Validate() error {
	var out []FieldError
	name := s.Name
	switch {
	case strings.TrimSpace(name) == "":
		out = append(out, FieldError{Field: "name", Rule: "required", Message: "a stream needs a name"})
	case !utf8.ValidString(name):
		out = append(out, FieldError{Field: "name", Rule: "utf8", Message: "the name must be valid UTF-8"})
	case utf8.RuneCountInString(name) > MaxStreamNameLen:
		out = append(out, FieldError{Field: "name", Rule: "max_length", Message: fmt.Sprintf("the name is at most %d characters", MaxStreamNameLen)})
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		out = append(out, FieldError{Field: "name", Rule: "no_control", Message: "the name has no line breaks or other control characters"})
	case name != strings.TrimSpace(name):
		out = append(out, FieldError{Field: "name", Rule: "trimmed", Message: "the name does not start or end with a space"})
	}
	if len(s.Query) > MaxStreamQueryLen {
		out = append(out, FieldError{Field: "query", Rule: "max_length", Message: fmt.Sprintf("the query is at most %d bytes", MaxStreamQueryLen)})
	}
	if s.AllAccounts && s.Account != "" && s.Account != SystemAccount {
		out = append(out, FieldError{Field: "all_accounts", Rule: "operator", Message: "only the operator's account has streams of every account"})
	}
	return invalidSettings(out)
}

// ValidateReplayWindow checks a replay's window: both bounds, After
// before Before, at most MaxReplayWindow long, not starting in the future.
func ValidateReplayWindow(after, before, now time.Time) error {
	var out []FieldError
	if after.IsZero() {
		out = append(out, FieldError{Field: "after", Rule: "required", Message: "the window's start (after) is required"})
	}
	if before.IsZero() {
		out = append(out, FieldError{Field: "before", Rule: "required", Message: "the window's end (before) is required"})
	}
	if len(out) == 0 {
		switch {
		case !after.Before(before):
			out = append(out, FieldError{Field: "before", Rule: "after_start", Message: "the window's end (before) must come after its start (after)"})
		case before.Sub(after) > MaxReplayWindow:
			out = append(out, FieldError{Field: "before", Rule: "max_window", Message: "a replay window is at most 366 days; request several"})
		case after.After(now):
			out = append(out, FieldError{Field: "after", Rule: "not_future", Message: "the window's start (after) is in the future"})
		}
	}
	return invalidSettings(out)
}

// StreamStore keeps streams, their cursors and their replays. A stream's
// cursors, replays and health go with it when it is deleted, and with its
// account when that is deleted.
type StreamStore interface {
	// CreateStream stores s, setting CreatedAt, UpdatedAt and Version (1),
	// with its first cursors: for StreamStartNow at the current head of the
	// owner (every account, for an AllAccounts stream), so that it forwards
	// only what is recorded from then on; for StreamStartOldest none, so that
	// it starts at each account's oldest event. An account that has no
	// cursor yet is read from its oldest event. ECONFLICT if the owner has a
	// stream of that name.
	CreateStream(ctx context.Context, s *Stream, start string) error
	// Stream returns the account's stream id; ENOTFOUND if the account has
	// no such stream.
	Stream(ctx context.Context, accountID int64, id string) (*Stream, error)
	// Streams returns the account's streams by name.
	Streams(ctx context.Context, accountID int64) ([]*Stream, error)
	// AllStreams returns every account's streams, for the forwarder.
	AllStreams(ctx context.Context) ([]*Stream, error)
	// UpdateStream replaces the name, query, destination, sealed headers
	// and enabled switch of the account's stream s.ID, adds one to its
	// version, sets UpdatedAt and clears a pause; it returns the stream as
	// it was just before and fills in s as it is now. ENOTFOUND, ECONFLICT.
	UpdateStream(ctx context.Context, s *Stream) (before *Stream, err error)
	// DeleteStream deletes the account's stream id and returns it; ENOTFOUND.
	DeleteStream(ctx context.Context, accountID int64, id string) (*Stream, error)
	// StreamPositions returns where the stream stands in each account it
	// reads — its owner, or every account for an AllAccounts stream — by
	// account id: the cursor (seq 0 and no counts where none is stored yet)
	// beside the account's head. Empty for an unknown stream.
	StreamPositions(ctx context.Context, streamID string) ([]StreamPosition, error)
	// AdvanceStream records a forwarder's report in one transaction: each
	// cursor moves to its NextSeq unless it is already past it, its counts
	// grow, and, when h is not nil, the stream's health becomes h unless
	// the stream's version is no longer version (it was updated since:
	// the report of the old version must not pause the new one).
	// ENOTFOUND when the stream is gone.
	AdvanceStream(ctx context.Context, streamID string, version int64, progress []StreamProgress, h *StreamHealth) error
	// CreateStreamReplay stores r, pending, setting its CreatedAt.
	CreateStreamReplay(ctx context.Context, r *StreamReplay) error
	// StreamReplays returns the stream's replays, newest first, at most limit.
	StreamReplays(ctx context.Context, streamID string, limit int) ([]*StreamReplay, error)
	// UpdateStreamReplay stores the state, progress, error and end of r.
	UpdateStreamReplay(ctx context.Context, r *StreamReplay) error
}
