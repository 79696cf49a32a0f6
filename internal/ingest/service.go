package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
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
	now      func() time.Time
	logger   *slog.Logger
}

// NewService returns a Service that appends through writer.
func NewService(accounts stele.AccountStore, keys *seal.Keyring, writer *Writer, logger *slog.Logger) *Service {
	return &Service{accounts: accounts, keys: keys, writer: writer, now: writer.now, logger: logger}
}

// Ingest decodes, validates and durably stores the events of a request body
// for principal p. A batch is all-or-nothing: one bad event rejects it whole,
// with every problem listed.
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
	return s.append(ctx, p, events)
}

// Record stores events that Stele itself produces (self-audit: exports,
// verifications, purges, logins). Each event names its account; they have
// passed no JSON decoding, so they are validated here all the same.
func (s *Service) Record(ctx context.Context, events ...stele.Event) ([]stele.Receipt, error) {
	now := s.now()
	out := make([]stele.Event, len(events))
	var details []stele.FieldError
	for i, e := range events {
		in, err := inputOf(&e)
		if err != nil {
			details = append(details, stele.FieldError{Index: i, Field: "metadata", Rule: "type", Message: err.Error()})
			continue
		}
		v, d := Validate(&in, i, now)
		out[i] = v
		details = append(details, d...)
	}
	if details != nil {
		return nil, invalid(details...)
	}
	return s.append(ctx, &stele.Principal{Account: stele.SystemAccount, Operator: true}, out)
}

func (s *Service) append(ctx context.Context, p *stele.Principal, events []stele.Event) ([]stele.Receipt, error) {
	b := &batch{events: make([]*pending, len(events)), gen: p.Generation, confirm: p.HasGeneration}
	accounts := map[string]*stele.Account{}
	keys := map[int64]*seal.AccountKeys{}
	var details []stele.FieldError
	for i := range events {
		e := &events[i]
		acct, err := s.resolveAccount(ctx, p, e.Account, accounts)
		if err != nil {
			if stele.ErrorCode(err) == stele.ENOTFOUND {
				details = append(details, stele.FieldError{Index: i, Field: "account", Rule: "unknown", Message: stele.ErrorMessage(err)})
				continue
			}
			return nil, err
		}
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
	if details != nil {
		return nil, invalid(details...)
	}
	if len(b.events) > 0 {
		b.account = b.events[0].accountID
	}
	if err := s.writer.submit(ctx, b); err != nil {
		return nil, err
	}
	receipts := make([]stele.Receipt, len(b.events))
	for i, pe := range b.events {
		receipts[i] = pe.receipt
	}
	return receipts, nil
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
