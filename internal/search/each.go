package search

import (
	"context"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/recovery"
)

// Each calls fn with every event of account matching q, newest first, so
// that an export of any size holds about two pages in memory. Reading the
// store and decrypting overlap: one goroutine reads the next page of rows
// while the caller's goroutine decrypts, re-checks and writes the last one.
// It returns how many events it passed to fn.
func (s *Service) Each(ctx context.Context, account *stele.Account, q stele.Query, fn func(*stele.Event) error) (int64, error) {
	keys, err := s.keys.Account(ctx, account.ID)
	if err != nil {
		return 0, err
	}
	rq, _, err := s.pagedPlan(ctx, keys, account.ID, q)
	if err != nil {
		return 0, err
	}
	if err := s.bound(ctx, &rq, account); err != nil {
		return 0, err
	}
	rq.Limit = MaxLimit
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type page struct {
		rows []stele.EventRow
		err  error
	}
	pages := make(chan page, 1)
	go func() {
		defer close(pages)
		for {
			var rows []stele.EventRow
			// On this goroutine a panic is beyond the request's recover.
			err := recovery.Call(func() (err error) {
				rows, err = s.store.Rows(ctx, rq)
				return err
			})
			select {
			case pages <- page{rows, err}:
			case <-ctx.Done():
				return
			}
			if err != nil || len(rows) < rq.Limit {
				return
			}
			last := rows[len(rows)-1]
			rq.HasBelow, rq.BelowTime, rq.BelowSeq = true, last.Time, last.Seq
		}
	}()
	var n int64
	for p := range pages {
		if p.err != nil {
			return n, p.err
		}
		for i := range p.rows {
			e, err := Decrypt(keys, account.Name, &p.rows[i])
			if err != nil {
				return n, err
			}
			if !Matches(e, q) {
				continue
			}
			if err := fn(e); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, ctx.Err()
}

// Plan returns the store query of q for account: the conditions a store
// can check (clear columns and blind-index tokens) and the time bounds.
// Text terms are left to the caller, who cannot check them without
// decrypting; counts built on the plan ignore them. Action prefixes are
// expanded into actions as Search expands them, and the lower time bound
// is at least the account's retention cutoff, so counts leave out expired
// events as every read does.
func (s *Service) Plan(ctx context.Context, account *stele.Account, q stele.Query) (stele.RowQuery, error) {
	keys, err := s.keys.Account(ctx, account.ID)
	if err != nil {
		return stele.RowQuery{}, err
	}
	rq, _, err := s.pagedPlan(ctx, keys, account.ID, q)
	if err != nil {
		return rq, err
	}
	return rq, s.bound(ctx, &rq, account)
}
