package client

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/stele-audit/stele"
)

// The types of this file mirror internal/stream's Input and View (with
// their parts) deliberately, as the client imports nothing internal;
// internal/api/client_mirror_test.go holds their JSON equal.

// StreamInput is a stream as POST and PUT /v1/streams take it. On an
// update, a nil Enabled keeps the stream's switch, and a destination
// without Headers (nil) keeps the stored ones for the same host.
type StreamInput struct {
	Name        string                   `json:"name"`
	Query       string                   `json:"query"`
	Destination *stele.StreamDestination `json:"destination"`
	Enabled     *bool                    `json:"enabled,omitempty"`
	AllAccounts *bool                    `json:"all_accounts,omitempty"`
	Start       string                   `json:"start,omitempty"` // creation only: "now" or "oldest"
}

// Stream is a stream as the API returns it: its destination's header
// names, never their values, and its status.
type Stream struct {
	ID          string                `json:"id"`
	Account     string                `json:"account"`
	AllAccounts bool                  `json:"all_accounts"`
	Name        string                `json:"name"`
	Query       string                `json:"query"`
	Destination StreamDestinationView `json:"destination"`
	Enabled     bool                  `json:"enabled"`
	CreatedAt   time.Time             `json:"created_at"`
	UpdatedAt   time.Time             `json:"updated_at"`
	Status      StreamStatus          `json:"status"`
}

// StreamDestinationView is a destination without its secrets.
type StreamDestinationView struct {
	Type        string   `json:"type"`
	Address     string   `json:"address,omitempty"`
	TLS         bool     `json:"tls,omitempty"`
	Format      string   `json:"format"`
	URL         string   `json:"url,omitempty"`
	HeaderNames []string `json:"header_names,omitempty"`
}

// StreamStatus is how far a stream has got: see GET /v1/streams/{id}.
type StreamStatus struct {
	State           string                `json:"state"`
	LagEvents       int64                 `json:"lag_events"`
	LagSeconds      float64               `json:"lag_seconds"`
	Forwarded       int64                 `json:"forwarded"`
	SkippedPurged   int64                 `json:"skipped_purged"`
	EventsPerSecond float64               `json:"events_per_second"`
	LastSentAt      *time.Time            `json:"last_sent_at,omitempty"`
	LastError       string                `json:"last_error,omitempty"`
	LastErrorAt     *time.Time            `json:"last_error_at,omitempty"`
	PausedAt        *time.Time            `json:"paused_at,omitempty"`
	Accounts        []StreamAccountStatus `json:"accounts,omitempty"`
	Replays         []StreamReplay        `json:"replays"`
}

// StreamAccountStatus is where a stream of every account stands in one.
type StreamAccountStatus struct {
	Account       string `json:"account"`
	NextSeq       int64  `json:"next_seq"`
	Head          int64  `json:"head"`
	LagEvents     int64  `json:"lag_events"`
	Forwarded     int64  `json:"forwarded"`
	SkippedPurged int64  `json:"skipped_purged"`
}

// StreamReplay is a request to send a time window again, and its progress.
type StreamReplay struct {
	ID         string     `json:"id"`
	After      time.Time  `json:"after"`
	Before     time.Time  `json:"before"`
	State      string     `json:"state"`
	Sent       int64      `json:"sent"`
	Error      string     `json:"error,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

// CreateStream creates a stream of the key's account (scope streams:manage).
func (c *Client) CreateStream(ctx context.Context, in StreamInput) (*Stream, error) {
	var s Stream
	return &s, c.sendJSON(ctx, http.MethodPost, "/v1/streams", in, &s)
}

// Streams lists the key's account's streams, by name.
func (c *Client) Streams(ctx context.Context) ([]Stream, error) {
	var out struct {
		Streams []Stream `json:"streams"`
	}
	if err := c.getJSON(ctx, "/v1/streams", &out); err != nil {
		return nil, err
	}
	return out.Streams, nil
}

// Stream returns one stream with its status.
func (c *Client) Stream(ctx context.Context, id string) (*Stream, error) {
	var s Stream
	return &s, c.getJSON(ctx, "/v1/streams/"+url.PathEscape(id), &s)
}

// UpdateStream replaces a stream's settings.
func (c *Client) UpdateStream(ctx context.Context, id string, in StreamInput) (*Stream, error) {
	var s Stream
	return &s, c.sendJSON(ctx, http.MethodPut, "/v1/streams/"+url.PathEscape(id), in, &s)
}

// DeleteStream deletes a stream.
func (c *Client) DeleteStream(ctx context.Context, id string) error {
	resp, err := c.send(ctx, http.MethodDelete, "/v1/streams/"+url.PathEscape(id), nil)
	if err != nil {
		return err
	}
	discard(resp)
	return nil
}

// ReplayStream asks a stream to send again the events whose time is in
// [after, before).
func (c *Client) ReplayStream(ctx context.Context, id string, after, before time.Time) (*StreamReplay, error) {
	var r StreamReplay
	body := map[string]time.Time{"after": after.UTC(), "before": before.UTC()}
	return &r, c.sendJSON(ctx, http.MethodPost, "/v1/streams/"+url.PathEscape(id)+"/replay", body, &r)
}
