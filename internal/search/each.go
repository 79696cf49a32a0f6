package search

import (
	"context"

	"github.com/stele-audit/stele"
)

// Each calls fn with every event of account matching q, newest first, a
// page at a time, so that an export of any size holds one page in memory.
// It returns how many events it passed to fn.
func (s *Service) Each(ctx context.Context, account *stele.Account, q stele.Query, fn func(*stele.Event) error) (int64, error) {
	var n int64
	cursor := ""
	for {
		page, err := s.Search(ctx, account, q, cursor, MaxLimit)
		if err != nil {
			return n, err
		}
		for _, e := range page.Events {
			if err := fn(e); err != nil {
				return n, err
			}
			n++
		}
		if page.NextCursor == "" {
			return n, nil
		}
		cursor = page.NextCursor
	}
}

// Plan returns the store query of q for account: the conditions a store
// can check (clear columns and blind-index tokens) and the time bounds.
// Text terms are left to the caller, who cannot check them without
// decrypting; counts built on the plan ignore them.
func (s *Service) Plan(ctx context.Context, account *stele.Account, q stele.Query) (stele.RowQuery, error) {
	keys, err := s.keys.Account(ctx, account.ID)
	if err != nil {
		return stele.RowQuery{}, err
	}
	rq, _ := plan(keys, account.ID, q)
	return rq, nil
}
