package sqlstore

import (
	"encoding/json"
	"fmt"
	"maps"
	"time"

	"github.com/stele-audit/stele"
)

// StreamColumns are the columns ScanStream reads, of streams s joined with
// the owner's accounts a.
const StreamColumns = `s.id, s.account_id, a.name, s.all_accounts, s.name, s.query, s.destination, s.sealed_headers,
	s.enabled, s.version, s.created_at, s.updated_at, s.paused_at, s.last_error, s.last_error_at, s.last_sent_at,
	s.events_per_second, s.reported_at`

// StreamFrom is the FROM clause of StreamColumns.
const StreamFrom = ` FROM streams s JOIN accounts a ON a.id = s.account_id`

// ScanStream reads a row of StreamColumns.
func ScanStream(row Scanner) (*stele.Stream, error) {
	var (
		s                                            stele.Stream
		dest                                         string
		created, updated, paused, errAt, sent, repAt int64
	)
	if err := row.Scan(&s.ID, &s.AccountID, &s.Account, &s.AllAccounts, &s.Name, &s.Query, &dest, &s.SealedHeaders,
		&s.Enabled, &s.Version, &created, &updated, &paused, &s.Health.LastError, &errAt, &sent,
		&s.Health.EventsPerSecond, &repAt); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(dest), &s.Destination); err != nil {
		return nil, fmt.Errorf("stream %s: destination: %w", s.ID, err)
	}
	s.CreatedAt, s.UpdatedAt = Time(created), Time(updated)
	s.Health.PausedAt, s.Health.LastErrorAt = TimeOrZero(paused), TimeOrZero(errAt)
	s.Health.LastSentAt, s.Health.ReportedAt = TimeOrZero(sent), TimeOrZero(repAt)
	return &s, nil
}

// StreamDestination is the stored form of a stream's destination: its
// JSON with every header value blanked, whatever the caller left in it
// (the values are in the sealed headers).
func StreamDestination(d stele.StreamDestination) (string, error) {
	if d.Headers != nil {
		d.Headers = maps.Clone(d.Headers)
		for k := range d.Headers {
			d.Headers[k] = ""
		}
	}
	b, err := json.Marshal(d)
	return string(b), err
}

// StreamHealthValues are the stored health columns, in StreamColumns' order
// (paused_at, last_error, last_error_at, last_sent_at, events_per_second,
// reported_at).
func StreamHealthValues(h *stele.StreamHealth) []any {
	return []any{MicrosOrZero(h.PausedAt), Clip(h.LastError, stele.MaxStreamErrorLen), MicrosOrZero(h.LastErrorAt),
		MicrosOrZero(h.LastSentAt), h.EventsPerSecond, MicrosOrZero(h.ReportedAt)}
}

// ScanStreamPosition reads a row of a stream's position in one account:
// the account's id and name, the cursor's next seq, the events forwarded
// and skipped, and the account's head.
func ScanStreamPosition(row Scanner) (stele.StreamPosition, error) {
	var p stele.StreamPosition
	err := row.Scan(&p.AccountID, &p.Account, &p.NextSeq, &p.Forwarded, &p.Skipped, &p.Head)
	return p, err
}

// ReplayColumns are the columns ScanReplay reads.
const ReplayColumns = `id, stream_id, account_id, window_after, window_before, state, cursor_account, next_seq, until_seq,
	sent, error, created_at, finished_at`

// ScanReplay reads a row of ReplayColumns.
func ScanReplay(row Scanner) (*stele.StreamReplay, error) {
	var (
		r                                stele.StreamReplay
		after, before, created, finished int64
	)
	if err := row.Scan(&r.ID, &r.StreamID, &r.AccountID, &after, &before, &r.State, &r.CursorAccount, &r.NextSeq, &r.UntilSeq,
		&r.Sent, &r.Error, &created, &finished); err != nil {
		return nil, err
	}
	r.After, r.Before, r.CreatedAt, r.FinishedAt = Time(after), Time(before), Time(created), TimeOrZero(finished)
	return &r, nil
}

// TimeOrZero is a stored time where 0 means none.
func TimeOrZero(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return Time(us)
}

// MicrosOrZero is the stored form of a time where none is 0.
func MicrosOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// Clip cuts s to at most n bytes, on a rune boundary.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xc0 == 0x80 {
		n--
	}
	return s[:n]
}
