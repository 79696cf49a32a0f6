// Package search is the read path: it turns a parsed query into a store
// query (clear columns and blind-index tokens), decrypts the rows it gets
// back, re-checks every condition on the plaintext, and pages with opaque
// cursors that only the account and query they were issued for can use.
package search

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/record"
	"github.com/stele-audit/stele/internal/seal"
)

// Page limits.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
	// maxScan bounds the rows one request decrypts when text terms filter
	// after decryption; a page may then come back short, with a cursor to go on.
	maxScan = 50_000
)

// Service answers queries over one account's events. It never shows an
// event past its account's retention, even before the retention job has
// purged it: every store query it makes starts at the account's cutoff.
type Service struct {
	store stele.EventStore
	keys  *seal.Keyring
	// accounts reads an account's retention when a caller passes only its
	// id and name (the API's principals); nil when the store keeps none.
	accounts stele.AccountStore
	types    []stele.AccountType // nil: stele.DefaultAccountTypes
	now      func() time.Time
}

// New returns a search service. A store that keeps accounts too (both
// Stele stores do) is where it reads their retention.
func New(store stele.EventStore, keys *seal.Keyring) *Service {
	s := &Service{store: store, keys: keys, now: time.Now}
	s.accounts, _ = store.(stele.AccountStore)
	return s
}

// SetRetention sets the account types whose retention reads honour (those
// the retention job purges by) and the clock it is measured by; nil keeps
// the default (stele.DefaultAccountTypes, time.Now). Call it before the
// service is used.
func (s *Service) SetRetention(types []stele.AccountType, now func() time.Time) {
	s.types = types
	if now != nil {
		s.now = now
	}
}

// floor returns the time (Unix µs) before which the account's events are
// past their retention and not shown, 0 when none is: an account on legal
// hold keeps, and shows, all of them. An account given by id and name
// only is read first.
func (s *Service) floor(ctx context.Context, account *stele.Account) (int64, error) {
	if account.Type == "" && s.accounts != nil {
		a, err := s.accounts.Account(ctx, account.ID)
		if err != nil {
			return 0, err
		}
		account = a
	}
	if account.LegalHold {
		return 0, nil
	}
	types := s.types
	if types == nil {
		types = stele.DefaultAccountTypes
	}
	cutoff, _, ok := account.RetentionCutoff(types, s.now())
	if !ok {
		return 0, nil
	}
	return record.Micros(cutoff), nil
}

// RetentionFloor returns the time (Unix µs) before which the account's
// events are past their retention, 0 when none is: what every read of
// this service starts at, for readers of rows that do not go through it
// (streams).
func (s *Service) RetentionFloor(ctx context.Context, account *stele.Account) (int64, error) {
	return s.floor(ctx, account)
}

// bound raises rq's lower time bound to the account's retention floor. It
// is a bound of the time index every store query already walks, so it
// costs nothing and lets the store stop at the cutoff.
func (s *Service) bound(ctx context.Context, rq *stele.RowQuery, account *stele.Account) error {
	f, err := s.floor(ctx, account)
	if f > rq.After {
		rq.After = f
	}
	return err
}

// Readable checks that the account's events can be decrypted here: its
// keys load (stele.KeysDestroyed once the account was deleted). Streams
// that cannot change their status once started (exports) ask first, so
// that they fail with the reason instead of an empty download.
func (s *Service) Readable(ctx context.Context, account *stele.Account) error {
	_, err := s.keys.Account(ctx, account.ID)
	return err
}

// Page is one page of results, newest first.
type Page struct {
	Events     []*stele.Event `json:"events"`
	NextCursor string         `json:"next_cursor,omitempty"`
}

// Search returns the page of account's events matching q that follows cursor.
func (s *Service) Search(ctx context.Context, account *stele.Account, q stele.Query, cursor string, limit int) (*Page, error) {
	if limit <= 0 {
		limit = DefaultLimit
	}
	if limit > MaxLimit {
		return nil, &stele.Error{Code: stele.EINVALID, Message: fmt.Sprintf("limit must be a whole number from 1 to %d", MaxLimit),
			Details: []stele.FieldError{{Field: "limit", Rule: "range"}}}
	}
	keys, err := s.keys.Account(ctx, account.ID)
	if err != nil {
		return nil, err
	}
	rq, post, err := s.pagedPlan(ctx, keys, account.ID, q)
	if err != nil {
		return nil, err
	}
	if err := s.bound(ctx, &rq, account); err != nil {
		return nil, err
	}
	if cursor != "" {
		if rq.BelowTime, rq.BelowSeq, err = s.position(ctx, account, keys, q, cursor); err != nil {
			return nil, err
		}
		rq.HasBelow = true
	}
	next := func(t, seq int64) string { return encodeCursor(keys, account.ID, q, t, seq) }
	chunk := limit + 1
	if post {
		chunk = min(MaxLimit, max(200, 2*limit))
	}
	page := &Page{Events: []*stele.Event{}}
	scanned := 0
	// Where the store's filters are the whole query, nearly every row it
	// returns is on the page: its events are allocated together. Otherwise
	// most rows are decrypted only to be passed over, into one scratch
	// event, and a match is copied out of it.
	var scratch stele.Event
	for {
		rq.Limit = chunk
		rows, err := s.store.Rows(ctx, rq)
		if err != nil {
			return nil, err
		}
		var block []stele.Event
		if !post {
			block = make([]stele.Event, len(rows))
		}
		for i := range rows {
			r := &rows[i]
			scanned++
			if !post && len(page.Events) == limit {
				// The store matched one more row, and its filters are the
				// whole query: the page is full and goes on, without
				// decrypting a row this page does not return.
				last := page.Events[limit-1]
				page.NextCursor = next(record.Micros(last.Time), last.Seq)
				return page, nil
			}
			e := &scratch
			if !post {
				e = &block[i]
			}
			if err := decryptTo(e, keys, account.Name, r); err != nil {
				return nil, err
			}
			if !Matches(e, q) {
				continue
			}
			if len(page.Events) == limit {
				// A further match exists: the page ends at the one before.
				last := page.Events[limit-1]
				page.NextCursor = next(record.Micros(last.Time), last.Seq)
				return page, nil
			}
			if post {
				kept := *e
				e = &kept
			}
			page.Events = append(page.Events, e)
		}
		if len(rows) < chunk {
			return page, nil
		}
		last := rows[len(rows)-1]
		rq.HasBelow, rq.BelowTime, rq.BelowSeq = true, last.Time, last.Seq
		if scanned >= maxScan {
			page.NextCursor = next(last.Time, last.Seq)
			return page, nil
		}
	}
}

// Event returns one event of account by seq; ENOTFOUND once it is past
// its retention, as after the purge.
func (s *Service) Event(ctx context.Context, account *stele.Account, seq int64) (*stele.Event, error) {
	r, err := s.store.Row(ctx, account.ID, seq)
	if err != nil {
		return nil, err
	}
	floor, err := s.floor(ctx, account)
	if err != nil {
		return nil, err
	}
	if r.Time < floor {
		return nil, stele.Errorf(stele.ENOTFOUND, "event %s not found", stele.EventID(account.ID, seq))
	}
	keys, err := s.keys.Account(ctx, account.ID)
	if err != nil {
		return nil, err
	}
	return Decrypt(keys, account.Name, r)
}

// Decrypt opens a row's payload and returns the whole event.
func Decrypt(keys *seal.AccountKeys, account string, r *stele.EventRow) (*stele.Event, error) {
	e := new(stele.Event)
	if err := decryptTo(e, keys, account, r); err != nil {
		return nil, err
	}
	return e, nil
}

// opening holds the buffers one decryption uses and gives back: the
// additional data and the plaintext, which the event copies what it keeps
// out of. Reusing them spares a page two allocations per event.
type opening struct{ ad, plain []byte }

var openings = sync.Pool{New: func() any { return new(opening) }}

// decryptTo opens a row's payload into e, overwriting all of e.
func decryptTo(e *stele.Event, keys *seal.AccountKeys, account string, r *stele.EventRow) error {
	o := openings.Get().(*opening)
	defer openings.Put(o)
	o.ad = record.AppendAD(o.ad[:0], r)
	var err error
	if o.plain, err = keys.OpenAppend(o.plain[:0], r.KeyVersion, r.Seq, r.Payload, o.ad); err != nil {
		return fmt.Errorf("event %d of account %s: %w", r.Seq, account, err)
	}
	*e = stele.Event{
		ID: stele.EventID(r.AccountID, r.Seq), Seq: r.Seq, Account: account,
		Time: record.Time(r.Time), ReceivedAt: record.Time(r.ReceivedAt),
		Action: r.Action, Category: r.Category, Outcome: r.Outcome,
	}
	if err := record.DecodePayload(o.plain, e); err != nil {
		return fmt.Errorf("event %d of account %s: %w", r.Seq, account, err)
	}
	return nil
}

// plan builds the store query for q and reports whether some condition can
// only be checked after decryption: a text term, or a group holding one,
// which is left to that check whole (a store cannot tell which rows a
// negated group would keep).
func plan(keys seal.Tokenizer, accountID int64, q stele.Query) (stele.RowQuery, bool) {
	rq := stele.RowQuery{AccountID: accountID, After: record.Micros(q.After), Before: record.Micros(q.Before)}
	post := false
	for _, t := range q.Terms {
		if t.HasText() {
			post = true
			continue
		}
		rq.Filters = append(rq.Filters, filterOf(keys, t))
	}
	return rq, post
}

// filterOf is the store's filter of t, which holds no text term.
func filterOf(keys seal.Tokenizer, t stele.Term) stele.RowFilter {
	f := stele.RowFilter{Field: t.Field, Negate: t.Negate}
	switch {
	case t.Field == stele.FieldGroup:
		f.Any = make([][]stele.RowFilter, len(t.Any))
		for i, c := range t.Any {
			for _, u := range c {
				f.Any[i] = append(f.Any[i], filterOf(keys, u))
			}
		}
	case t.Field.Blind():
		for _, v := range t.Values {
			f.Tokens = append(f.Tokens, seal.QueryTokens(keys, t.Field, v)...)
		}
	case t.Field == stele.FieldAction:
		for _, v := range t.Values {
			if p, ok := strings.CutSuffix(v, "*"); ok {
				f.Prefixes = append(f.Prefixes, p)
			} else {
				f.Values = append(f.Values, v)
			}
		}
	default:
		f.Values = t.Values
	}
	return f
}

// pagedPlan is plan for reads that go page by page, with its action
// prefixes expanded (expandPrefixes). Encode, which streams the whole
// result in time order, keeps the prefixes.
func (s *Service) pagedPlan(ctx context.Context, keys *seal.AccountKeys, accountID int64, q stele.Query) (stele.RowQuery, bool, error) {
	rq, post := plan(keys, accountID, q)
	err := s.expandPrefixes(ctx, &rq)
	return rq, post, err
}

// expandPrefixes replaces the action prefixes of rq's positive filters by
// the account's actions that have them, when they are few (a union of up
// to stele.MaxIndexedValues index scans). A prefix can only be checked
// row by row along the time index, which reads the whole account for a
// page of a rare prefix (action:retention.*); each action
// is read newest first from the action index and stops at the limit. An
// action first stored after the expansion is left out of this page, as an
// event stored after a page was read is.
func (s *Service) expandPrefixes(ctx context.Context, rq *stele.RowQuery) error {
	for i := range rq.Filters {
		f := &rq.Filters[i]
		if f.Field != stele.FieldAction || f.Negate || len(f.Prefixes) == 0 || slices.Contains(f.Prefixes, "") {
			continue
		}
		values := slices.Clone(f.Values)
		for _, p := range f.Prefixes {
			actions, err := s.store.Actions(ctx, rq.AccountID, p, stele.MaxIndexedValues+1)
			if err != nil {
				return err
			}
			if values = append(values, actions...); len(values) > stele.MaxIndexedValues {
				break // too many for a union: the prefixes stay
			}
		}
		slices.Sort(values)
		if values = slices.Compact(values); len(values) <= stele.MaxIndexedValues {
			f.Values, f.Prefixes = values, nil
		}
	}
	return nil
}
