package sqlite

import (
	"context"
	"fmt"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/sqlstore"
)

// AlertRuleGeneration reads the rule generation in the transaction, which
// holds the write lock: no rule can change before it commits.
func (t *appendTx) AlertRuleGeneration(ctx context.Context) (int64, error) {
	if t.err != nil {
		return 0, t.err
	}
	var n int64
	if err := t.stmt(ctx, t.s.ruleGeneration).QueryRowContext(ctx).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: alert rule generation: %w", mapErr(err))
	}
	return n, nil
}

// InsertAlertMatches inserts the commit's rule matches, one row per event,
// chunk rows per statement.
func (t *appendTx) InsertAlertMatches(ctx context.Context, ms []stele.AlertMatch) error {
	if t.err != nil {
		return t.err
	}
	matches := sqlstore.PackMatches(ms)
	for len(matches) > 0 {
		n, st := 1, t.s.match1
		if len(matches) >= chunk {
			n, st = chunk, t.s.matchN
		}
		args := t.args[:0]
		for _, m := range matches[:n] {
			args = append(args, m.AccountID, m.Seq, m.Time, m.Rules)
		}
		t.args = args
		if _, err := t.stmt(ctx, st).ExecContext(ctx, args...); err != nil {
			if isUnique(err) {
				return t.fail(stele.Errorf(stele.ECONFLICT, "an alert match of account %d at seq %d exists", matches[0].AccountID, matches[0].Seq))
			}
			return t.fail(fmt.Errorf("sqlite: insert alert matches: %w", mapErr(err)))
		}
		matches = matches[n:]
	}
	clear(t.args)
	return nil
}
