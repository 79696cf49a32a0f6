package stream

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/audit"
	"github.com/stele-audit/stele/internal/forward"
	"github.com/stele-audit/stele/internal/query"
)

// Store is what streams need of the store: the streams themselves, and
// the accounts and events they read.
type Store interface {
	stele.StreamStore
	stele.AccountStore
	stele.EventStore
	stele.IntegrityStore
}

// Sealer seals and opens small per-account secrets (seal.Keyring).
type Sealer interface {
	SealSecret(ctx context.Context, accountID int64, purpose, plain string) (string, error)
	OpenSecret(ctx context.Context, accountID int64, purpose, sealed string) (string, error)
}

// Service manages streams for the API, the CLI and the console.
type Service struct {
	Store   Store
	Secrets Sealer
	Audit   *audit.Recorder
	// Changed, when set, is called after every change, so that the local
	// forwarder picks it up at once (Forwarder.Poke); other nodes see it
	// at their next refresh.
	Changed func()
	Now     func() time.Time
}

// Owner is who a stream is managed for: an account, and whether the
// caller is the operator (an operator key, or a user of _system), who
// alone makes streams of every account.
type Owner struct {
	Account  *stele.Account
	Operator bool
}

// Input is a stream as the API and the console send it. On an update, a
// nil Enabled keeps the stream's switch as it is, and a destination
// without headers (nil, not empty) keeps the stored ones when the
// destination still goes to the same host.
type Input struct {
	Name        string                   `json:"name"`
	Query       string                   `json:"query"`
	Destination *stele.StreamDestination `json:"destination"`
	Enabled     *bool                    `json:"enabled,omitempty"`
	AllAccounts *bool                    `json:"all_accounts,omitempty"`
	// Start is where a new stream begins: "now" (the default) or "oldest".
	Start string `json:"start,omitempty"`
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) changed() {
	if s.Changed != nil {
		s.Changed()
	}
}

// Create validates in, stores it as a stream of the owner and records it.
func (s *Service) Create(ctx context.Context, o Owner, in Input, a audit.Actor) (*View, error) {
	st := &stele.Stream{ID: "str_" + strings.ToLower(rand.Text()[:16]), AccountID: o.Account.ID, Account: o.Account.Name,
		Name: in.Name, Query: in.Query, Enabled: in.Enabled == nil || *in.Enabled, AllAccounts: in.AllAccounts != nil && *in.AllAccounts}
	if st.AllAccounts && !(o.Operator && o.Account.Name == stele.SystemAccount) {
		return nil, &stele.Error{Code: stele.EFORBIDDEN, Message: "only an operator key makes a stream of every account",
			Details: []stele.FieldError{{Field: "all_accounts", Rule: "operator"}}}
	}
	start := in.Start
	if start == "" {
		start = stele.StreamStartNow
	}
	var problems []stele.FieldError
	if start != stele.StreamStartNow && start != stele.StreamStartOldest {
		problems = append(problems, stele.FieldError{Field: "start", Rule: "enum", Message: "start is now (the default) or oldest"})
	}
	if in.Destination == nil {
		problems = append(problems, stele.FieldError{Field: "destination", Rule: "required", Message: "a stream needs a destination"})
	} else {
		st.Destination = *in.Destination
	}
	if err := s.check(st, in.Destination != nil, problems); err != nil {
		return nil, err
	}
	existing, err := s.Store.Streams(ctx, o.Account.ID)
	if err != nil {
		return nil, err
	}
	if len(existing) >= stele.MaxStreamsPerAccount {
		return nil, stele.Errorf(stele.ECONFLICT, "the account has %d streams, the most it may have; delete one first", len(existing))
	}
	if err := s.seal(ctx, st); err != nil {
		return nil, err
	}
	if err := s.Store.CreateStream(ctx, st, start); err != nil {
		return nil, err
	}
	s.Audit.Log(s.Audit.StreamCreated(ctx, a, st, start))
	s.changed()
	return s.view(ctx, st)
}

// Update replaces the settings of the owner's stream id with in.
func (s *Service) Update(ctx context.Context, o Owner, id string, in Input, a audit.Actor) (*View, error) {
	old, err := s.Store.Stream(ctx, o.Account.ID, id)
	if err != nil {
		return nil, err
	}
	st := *old
	st.Name, st.Query = in.Name, in.Query
	if in.Enabled != nil {
		st.Enabled = *in.Enabled
	}
	var problems []stele.FieldError
	if in.AllAccounts != nil && *in.AllAccounts != old.AllAccounts {
		problems = append(problems, stele.FieldError{Field: "all_accounts", Rule: "immutable",
			Message: "whether a stream reads every account is set when it is created; make a new stream instead"})
	}
	if in.Start != "" {
		problems = append(problems, stele.FieldError{Field: "start", Rule: "not_allowed",
			Message: "start is for a new stream; to send past events again, request a replay"})
	}
	keep := false
	if in.Destination == nil {
		problems = append(problems, stele.FieldError{Field: "destination", Rule: "required", Message: "a stream needs a destination"})
	} else {
		st.Destination = *in.Destination
		if st.Destination.Headers == nil && len(old.Destination.Headers) > 0 && st.Destination.Type == forward.TypeHTTPS {
			if sameHost(old.Destination.URL, st.Destination.URL) {
				keep = true
				st.Destination.Headers = maps.Clone(old.Destination.Headers)
			} else {
				problems = append(problems, stele.FieldError{Field: "destination.headers", Rule: "required_for_new_host",
					Message: "the url goes to another host: give the headers again (Stele does not send a stream's secrets to a host they were not given for)"})
			}
		}
	}
	// Kept headers are names only here, with empty values, which pass
	// the destination's checks; the values stay sealed as they were.
	if err := s.check(&st, in.Destination != nil, problems); err != nil {
		return nil, err
	}
	if !keep {
		if err := s.seal(ctx, &st); err != nil {
			return nil, err
		}
	}
	before, err := s.Store.UpdateStream(ctx, &st)
	if err != nil {
		return nil, err
	}
	s.Audit.Log(s.Audit.StreamUpdated(ctx, a, before, &st))
	s.changed()
	return s.view(ctx, &st)
}

// Delete deletes the owner's stream id and records it.
func (s *Service) Delete(ctx context.Context, o Owner, id string, a audit.Actor) error {
	gone, err := s.Store.DeleteStream(ctx, o.Account.ID, id)
	if err != nil {
		return err
	}
	s.Audit.Log(s.Audit.StreamDeleted(ctx, a, gone))
	s.changed()
	return nil
}

// Get returns the owner's stream id with its status.
func (s *Service) Get(ctx context.Context, o Owner, id string) (*View, error) {
	st, err := s.Store.Stream(ctx, o.Account.ID, id)
	if err != nil {
		return nil, err
	}
	return s.view(ctx, st)
}

// List returns the owner's streams with their status, by name.
func (s *Service) List(ctx context.Context, o Owner) ([]*View, error) {
	list, err := s.Store.Streams(ctx, o.Account.ID)
	if err != nil {
		return nil, err
	}
	out := make([]*View, 0, len(list))
	for _, st := range list {
		v, err := s.view(ctx, st)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// Replay asks the owner's stream id to send the events whose time is in
// [after, before) again, and records the request.
func (s *Service) Replay(ctx context.Context, o Owner, id string, after, before time.Time, a audit.Actor) (*ReplayView, error) {
	st, err := s.Store.Stream(ctx, o.Account.ID, id)
	if err != nil {
		return nil, err
	}
	if err := stele.ValidateReplayWindow(after, before, s.now()); err != nil {
		return nil, err
	}
	replays, err := s.Store.StreamReplays(ctx, st.ID, 50)
	if err != nil {
		return nil, err
	}
	open := 0
	for _, r := range replays {
		if r.State == stele.ReplayPending || r.State == stele.ReplayRunning {
			open++
		}
	}
	if open >= stele.MaxPendingReplays {
		return nil, stele.Errorf(stele.ECONFLICT, "the stream has %d replays waiting or running, the most it may have; wait for one to finish", open)
	}
	r := &stele.StreamReplay{ID: "rpl_" + strings.ToLower(rand.Text()[:16]), StreamID: st.ID, AccountID: st.AccountID,
		After: after.UTC().Truncate(stele.TimeUnit), Before: before.UTC().Truncate(stele.TimeUnit), State: stele.ReplayPending}
	if err := s.Store.CreateStreamReplay(ctx, r); err != nil {
		return nil, err
	}
	s.Audit.Log(s.Audit.StreamReplayRequested(ctx, a, st, r))
	s.changed()
	v := replayView(r)
	return &v, nil
}

// check validates st: its own fields, its query, and, when checkDest, its
// destination; problems found by the caller come first. Every broken rule
// is one detail of one EINVALID error.
func (s *Service) check(st *stele.Stream, checkDest bool, problems []stele.FieldError) error {
	if err := st.Validate(); err != nil {
		problems = append(problems, details(err)...)
	}
	if len(st.Query) <= stele.MaxStreamQueryLen {
		if _, err := ParseQuery(st.Query); err != nil {
			problems = append(problems, details(err)...)
		}
	}
	if checkDest {
		if err := CheckDestination(st.Destination); err != nil {
			problems = append(problems, details(err)...)
		}
	}
	if len(problems) == 0 {
		return nil
	}
	msgs := make([]string, 0, len(problems))
	for _, p := range problems {
		if p.Message != "" {
			msgs = append(msgs, p.Message)
		}
	}
	return &stele.Error{Code: stele.EINVALID, Message: "invalid stream: " + strings.Join(msgs, "; "), Details: problems}
}

func details(err error) []stele.FieldError {
	if e, ok := err.(*stele.Error); ok && len(e.Details) > 0 {
		return e.Details
	}
	return []stele.FieldError{{Rule: "invalid", Message: stele.ErrorMessage(err)}}
}

// ParseQuery parses a stream's query. Its errors name the field "query".
// A time bound relative to now (after:24h) is refused: it would move
// while the stream runs, and events would fall out of the stream as they
// age rather than for what they are.
func ParseQuery(text string) (stele.Query, error) {
	q, err := query.Parse(text, time.Now())
	if err != nil {
		if e, ok := err.(*stele.Error); ok {
			for i := range e.Details {
				e.Details[i].Field = "query"
			}
		}
		return stele.Query{}, err
	}
	if q.AfterAgo != "" || q.BeforeAgo != "" {
		msg := "a stream's query takes dates (after:2026-11-01), not times relative to now, which would move while it runs"
		return stele.Query{}, &stele.Error{Code: stele.EINVALID, Message: "query: " + msg,
			Details: []stele.FieldError{{Field: "query", Rule: "relative_time", Message: msg}}}
	}
	return q, nil
}

// CheckDestination validates d as internal/forward does, and refuses a
// host that is literally an address the dial guard would refuse, so that
// the mistake shows when the stream is saved rather than when it runs.
func CheckDestination(d stele.StreamDestination) error {
	fd := forward.Destination(d)
	if err := fd.Validate(); err != nil {
		return err
	}
	host := d.URL
	field := "destination.url"
	if d.Type == forward.TypeSyslog {
		host, _, _ = net.SplitHostPort(d.Address)
		field = "destination.address"
	} else if u, err := url.Parse(d.URL); err == nil {
		host = u.Hostname()
	}
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		if err := forward.CheckAddr(a); err != nil {
			return &stele.Error{Code: stele.EINVALID, Message: "invalid stream destination",
				Details: []stele.FieldError{{Field: field, Rule: "forbidden_address", Message: stele.ErrorMessage(err)}}}
		}
	}
	return nil
}

// sameHost reports whether two URLs go to one host and port.
func sameHost(a, b string) bool {
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	return err1 == nil && err2 == nil && ua.Scheme == ub.Scheme && strings.EqualFold(ua.Host, ub.Host)
}

// headerPurpose binds a stream's sealed headers to the stream.
func headerPurpose(id string) string { return "stream headers " + id }

// seal moves the destination's header values into st.SealedHeaders.
func (s *Service) seal(ctx context.Context, st *stele.Stream) error {
	st.SealedHeaders = ""
	if len(st.Destination.Headers) == 0 {
		st.Destination.Headers = nil
		return nil
	}
	plain, err := json.Marshal(st.Destination.Headers)
	if err != nil {
		return err
	}
	sealed, err := s.Secrets.SealSecret(ctx, st.AccountID, headerPurpose(st.ID), string(plain))
	if err != nil {
		return fmt.Errorf("seal the headers of stream %s: %w", st.ID, err)
	}
	st.SealedHeaders = sealed
	names := make(map[string]string, len(st.Destination.Headers))
	for _, k := range slices.Sorted(maps.Keys(st.Destination.Headers)) {
		names[k] = ""
	}
	st.Destination.Headers = names
	return nil
}

// Destination returns st's destination with its header values opened,
// for a sender.
func Destination(ctx context.Context, secrets Sealer, st *stele.Stream) (forward.Destination, error) {
	d := forward.Destination(st.Destination)
	d.Headers = nil
	if st.SealedHeaders == "" {
		return d, nil
	}
	plain, err := secrets.OpenSecret(ctx, st.AccountID, headerPurpose(st.ID), st.SealedHeaders)
	if err != nil {
		return d, fmt.Errorf("open the headers of stream %s: %w", st.ID, err)
	}
	if err := json.Unmarshal([]byte(plain), &d.Headers); err != nil {
		return d, fmt.Errorf("open the headers of stream %s: %w", st.ID, err)
	}
	return d, nil
}
