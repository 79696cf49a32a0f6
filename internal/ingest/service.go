package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/record"
	"github.com/stele-audit/stele/internal/seal"
)

// Service accepts events for storage.
type Service struct {
	accounts stele.AccountStore
	keys     *seal.Keyring
	writer   *Writer
	quotas   *Quotas      // nil for none
	alerts   AlertMatcher // nil for none
	now      func() time.Time
	logger   *slog.Logger
}

// NewService returns a Service that appends through writer.
func NewService(accounts stele.AccountStore, keys *seal.Keyring, writer *Writer, logger *slog.Logger) *Service {
	return &Service{accounts: accounts, keys: keys, writer: writer, now: writer.now, logger: logger}
}

// SetQuotas makes Ingest enforce q; call it before the service takes
// requests.
func (s *Service) SetQuotas(q *Quotas) { s.quotas = q }

// Admit refuses early (ETHROTTLED, nothing read or charged) a request of
// bodyBytes bytes (-1 when unknown) that p's account could not take now
// because its ingest quota is spent. Operator keys write for the accounts
// their events name, known only from the body: their requests are charged
// by Ingest alone.
func (s *Service) Admit(ctx context.Context, p *stele.Principal, bodyBytes int64) error {
	if s.quotas == nil || p.Operator {
		return nil
	}
	return s.quotas.admit(ctx, p.AccountID, bodyBytes)
}

// Ingest decodes, validates and durably stores the events of a request body
// for principal p. A batch is all-or-nothing: one bad event rejects it whole,
// with every problem listed, and so does an account's ingest quota.
func (s *Service) Ingest(ctx context.Context, p *stele.Principal, body []byte) ([]stele.Receipt, error) {
	if !p.Can(stele.ScopeEventsWrite) {
		return nil, stele.Errorf(stele.EFORBIDDEN, "this key lacks the %s scope", stele.ScopeEventsWrite)
	}
	inputs, err := Decode(body)
	if err != nil {
		return nil, err
	}
	now := s.now()
	events := make([]stele.Event, len(inputs))
	var details []stele.FieldError
	for i := range inputs {
		e, d := Validate(&inputs[i], i, now)
		events[i] = e
		details = append(details, d...)
	}
	if details != nil {
		return nil, invalid(details...)
	}
	return s.append(ctx, p, events, int64(len(body)), false)
}

// Record stores events that Stele itself produces (self-audit: exports,
// verifications, purges, logins). Each event names its account; they have
// passed no JSON decoding, so they are validated here all the same, and a
// field that breaks a rule is salvaged into metadata rather than losing
// the record (see salvage.go).
func (s *Service) Record(ctx context.Context, events ...stele.Event) ([]stele.Receipt, error) {
	now := s.now()
	out := make([]stele.Event, len(events))
	var details []stele.FieldError
	for i, e := range events {
		v, d, salvaged := checkSalvaging(&e, i, now)
		if salvaged != nil && s.logger != nil {
			// The fields' names only: their values are what someone typed.
			s.logger.Warn("self-audit event kept with fields moved to metadata", "action", e.Action, "account", e.Account, "fields", salvaged)
		}
		out[i] = v
		details = append(details, d...)
	}
	if details != nil {
		return nil, invalid(details...)
	}
	// Stele's own events are never throttled: no quota may silence the
	// record of what Stele did.
	return s.append(ctx, &stele.Principal{Account: stele.SystemAccount, Operator: true}, out, -1, true)
}

// append stores events for p. bodyBytes is the size of the request they
// came in, charged with them to their accounts' quotas; -1 for none. own
// is set for Stele's own events (Record).
func (s *Service) append(ctx context.Context, p *stele.Principal, events []stele.Event, bodyBytes int64, own bool) (_ []stele.Receipt, err error) {
	b := &batch{events: make([]*pending, len(events)), gen: p.Generation, confirm: p.HasGeneration}
	accounts := map[string]*stele.Account{}
	resolved := make([]*stele.Account, len(events))
	var details []stele.FieldError
	for i := range events {
		acct, err := s.resolveAccount(ctx, p, events[i].Account, accounts)
		if err != nil {
			if stele.ErrorCode(err) == stele.ENOTFOUND {
				details = append(details, stele.FieldError{Index: i, Field: "account", Rule: "unknown", Message: stele.ErrorMessage(err)})
				continue
			}
			if stele.ErrorCode(err) == stele.EFORBIDDEN {
				// The key may write, but not this event: name it, so that a
				// producer tells it from a key that may not write at all.
				return nil, &stele.Error{Code: stele.EFORBIDDEN, Message: stele.ErrorMessage(err),
					Details: []stele.FieldError{{Index: i, Field: "account", Rule: "forbidden", Message: stele.ErrorMessage(err)}}}
			}
			return nil, err
		}
		resolved[i] = acct
	}
	if details != nil {
		return nil, invalid(details...)
	}
	if s.quotas != nil && bodyBytes >= 0 {
		// Before the events are sealed: a refused request costs little.
		charges := chargesOf(resolved, bodyBytes)
		if err := s.quotas.take(ctx, charges); err != nil {
			return nil, err
		}
		defer func() {
			if err != nil {
				// A batch that failed between two of its pieces keeps
				// the charge of the pieces stored.
				s.quotas.give(unstored(charges, b.events[:b.next]))
			}
		}()
	}
	keys := map[int64]*seal.AccountKeys{}
	for i := range events {
		e, acct := &events[i], resolved[i]
		k, ok := keys[acct.ID]
		if !ok {
			if k, err = s.keys.Account(ctx, acct.ID); err != nil {
				return nil, err
			}
			keys[acct.ID] = k
		}
		e.Account = acct.Name
		b.events[i] = &pending{
			accountID: acct.ID, keys: k, event: *e,
			plain:  record.AppendPayload(make([]byte, 0, record.PayloadSize(e)), e),
			tokens: seal.EventTokens(k, e),
			idem:   seal.IdempotencyToken(k, e.IdempotencyKey),
		}
	}
	if len(b.events) > 0 {
		b.account = b.events[0].accountID
	}
	if err := s.submitMatched(ctx, b, own); err != nil {
		return nil, err
	}
	receipts := make([]stele.Receipt, len(b.events))
	for i, pe := range b.events {
		receipts[i] = pe.receipt
	}
	return receipts, nil
}

// chargesOf returns what a request of bodyBytes bytes whose events go to
// accounts takes from each account's quota: its events, and its share of
// the bytes in proportion to them.
func chargesOf(accounts []*stele.Account, bodyBytes int64) []charge {
	var out []charge
	for _, a := range accounts {
		i := slices.IndexFunc(out, func(c charge) bool { return c.accountID == a.ID })
		if i < 0 {
			i = len(out)
			out = append(out, charge{accountID: a.ID})
		}
		out[i].events++
	}
	left := bodyBytes
	for i := range out {
		out[i].bytes = bodyBytes * out[i].events / int64(len(accounts))
		left -= out[i].bytes
	}
	if len(out) > 0 {
		out[0].bytes += left
	}
	return out
}

// unstored returns charges less what the stored events of them took: their
// count, and bytes in proportion, from their accounts' charges.
func unstored(charges []charge, stored []*pending) []charge {
	if len(stored) == 0 {
		return charges
	}
	out := slices.Clone(charges)
	for i := range out {
		c := &out[i]
		n := int64(0)
		for _, p := range stored {
			if p.accountID == c.accountID {
				n++
			}
		}
		if c.events > 0 {
			c.bytes -= c.bytes * n / c.events
		}
		c.events -= n
	}
	return out
}

// resolveAccount returns the account an event is for. Account keys write
// only to their own account; operator keys to the one the event names, or
// to _system when it names none.
func (s *Service) resolveAccount(ctx context.Context, p *stele.Principal, name string, cache map[string]*stele.Account) (*stele.Account, error) {
	if !p.Operator {
		if name != "" && name != p.Account {
			return nil, stele.Errorf(stele.EFORBIDDEN, "this key writes only to account %q", p.Account)
		}
		if a, ok := cache[""]; ok {
			return a, nil
		}
		a := &stele.Account{ID: p.AccountID, Name: p.Account}
		cache[""] = a
		return a, nil
	}
	if name == "" {
		name = stele.SystemAccount
	}
	if a, ok := cache[name]; ok {
		return a, nil
	}
	a, err := s.accounts.AccountByName(ctx, name)
	if err != nil {
		return nil, err
	}
	cache[name] = a
	return a, nil
}

// inputOf turns an event built in Go back into producer input, so that it
// passes exactly the checks and normalisation a producer's event does.
func inputOf(e *stele.Event) (Input, error) {
	in := Input{
		Account: e.Account, Action: e.Action, Category: e.Category, Outcome: e.Outcome, Actor: e.Actor,
		IP: e.IP, UserAgent: e.UserAgent, RequestID: e.RequestID, Description: e.Description,
		IdempotencyKey: e.IdempotencyKey,
	}
	if !e.Time.IsZero() {
		in.Time = e.Time.UTC().Format(time.RFC3339Nano)
	}
	if e.Target != nil {
		in.Target = &InputRef{Type: e.Target.Type, ID: e.Target.ID, Name: e.Target.Name}
	}
	if e.Source != nil {
		in.Source = &InputRef{Type: e.Source.Type, ID: e.Source.ID, Name: e.Source.Name}
	}
	if m, ok := scalarMetadata(e.Metadata); ok {
		// What json.Marshal and decoding would give, without the round trip.
		in.meta = m
	} else if e.Metadata != nil {
		m, err := json.Marshal(e.Metadata)
		if err != nil {
			return in, fmt.Errorf("metadata: %w", err)
		}
		in.Metadata = m
	}
	return in, nil
}

// scalarMetadata returns a copy of m when encoding it to JSON and decoding
// it back (with UseNumber) would give it unchanged: keys and strings in valid
// UTF-8, and values that are strings, booleans, nil or well-formed
// json.Numbers. Anything else takes the round trip, which converts or
// rejects it as a producer's JSON would be.
func scalarMetadata(m map[string]any) (map[string]any, bool) {
	if len(m) == 0 {
		return nil, false
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		if !utf8.ValidString(k) {
			return nil, false
		}
		switch v := v.(type) {
		case string:
			if !utf8.ValidString(v) {
				return nil, false
			}
		case json.Number:
			s := scan{b: []byte(v)}
			if v == "" || v[0] != '-' && (v[0] < '0' || v[0] > '9') {
				return nil, false
			}
			if _, ok := s.number(); !ok || s.i != len(v) {
				return nil, false
			}
		case bool, nil:
		default:
			return nil, false
		}
		out[k] = v
	}
	return out, true
}
