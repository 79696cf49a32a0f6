package postgres

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/sqlstore"
)

var _ stele.AlertStore = (*DB)(nil)

// AlertRuleGeneration reads the rule generation as of this statement: a
// rule change committed after it is concurrent with this append.
func (t *appendTx) AlertRuleGeneration(ctx context.Context) (int64, error) {
	var n int64
	if err := t.tx.QueryRow(ctx, `SELECT n FROM alert_rule_generation WHERE id = 1`).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: alert rule generation: %w", mapErr(err))
	}
	return n, nil
}

// InsertAlertMatches inserts the commit's rule matches, one row per event,
// in one statement.
func (t *appendTx) InsertAlertMatches(ctx context.Context, matches []stele.AlertMatch) error {
	if len(matches) == 0 {
		return nil
	}
	rows := sqlstore.PackMatches(matches)
	n := len(rows)
	acct, seq, tm, rules := make([]int64, n), make([]int64, n), make([]int64, n), make([][]byte, n)
	for i, r := range rows {
		acct[i], seq[i], tm[i], rules[i] = r.AccountID, r.Seq, r.Time, r.Rules
	}
	_, err := t.tx.Exec(ctx, `INSERT INTO alert_matches (account_id, seq, time, rules)
		SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bytea[])`, acct, seq, tm, rules)
	if isUnique(err) {
		return stele.Errorf(stele.ECONFLICT, "an alert match of account %d at seq %d exists", matches[0].AccountID, matches[0].Seq)
	}
	if err != nil {
		return fmt.Errorf("postgres: insert alert matches: %w", mapErr(err))
	}
	return nil
}

// CreateAlertRule stores r, setting its times.
func (db *DB) CreateAlertRule(ctx context.Context, r *stele.AlertRule) error {
	now := time.Now().UTC().Truncate(stele.TimeUnit)
	rule := *r
	rule.CreatedAt, rule.UpdatedAt = now, now
	err := db.tx(ctx, func(tx pgx.Tx) error {
		// The account's row lock makes the count and the insert one step
		// across nodes.
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE`, r.AccountID).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("account %d not found", r.AccountID)
		}
		if err != nil {
			return fmt.Errorf("postgres: create alert rule: %w", mapErr(err))
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM alert_rules WHERE account_id = $1`, r.AccountID).Scan(&n); err != nil {
			return fmt.Errorf("postgres: create alert rule: %w", mapErr(err))
		}
		if n >= stele.MaxAlertRules {
			return stele.Errorf(stele.ECONFLICT, "the account has %d alert rules, the most it may have", n)
		}
		if err := tx.QueryRow(ctx, `UPDATE alert_rule_generation SET next_key = next_key + 1 WHERE id = 1
			RETURNING next_key - 1`).Scan(&rule.Key); err != nil {
			return fmt.Errorf("postgres: create alert rule: %w", mapErr(err))
		}
		_, err = tx.Exec(ctx, `INSERT INTO alert_rules (`+sqlstore.AlertRuleColumns+`, key)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`, append(sqlstore.AlertRuleArgs(&rule), rule.Key)...)
		switch {
		case isUnique(err):
			return stele.Errorf(stele.ECONFLICT, "alert rule %q already exists", r.ID)
		case err != nil:
			return fmt.Errorf("postgres: create alert rule: %w", mapErr(err))
		}
		return nil
	})
	if err != nil {
		return err
	}
	r.CreatedAt, r.UpdatedAt, r.Key = now, now, rule.Key
	return nil
}

// AlertRule returns an account's rule.
func (db *DB) AlertRule(ctx context.Context, accountID int64, id string) (*stele.AlertRule, error) {
	r, err := sqlstore.ScanAlertRule(db.pool.QueryRow(ctx,
		`SELECT `+sqlstore.AlertRuleSelect+` FROM alert_rules WHERE account_id = $1 AND id = $2`, accountID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("alert rule %q not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: alert rule: %w", mapErr(err))
	}
	return r, nil
}

// AlertRules returns an account's rules, oldest first.
func (db *DB) AlertRules(ctx context.Context, accountID int64) ([]*stele.AlertRule, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+sqlstore.AlertRuleSelect+` FROM alert_rules WHERE account_id = $1
		ORDER BY created_at, id COLLATE "C"`, accountID)
	if err != nil {
		return nil, fmt.Errorf("postgres: alert rules: %w", mapErr(err))
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*stele.AlertRule, error) { return sqlstore.ScanAlertRule(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: alert rules: %w", mapErr(err))
	}
	return out, nil
}

// UpdateAlertRule replaces the rule's settings and returns it as it was.
func (db *DB) UpdateAlertRule(ctx context.Context, r *stele.AlertRule) (*stele.AlertRule, error) {
	var before *stele.AlertRule
	now := time.Now().UTC().Truncate(stele.TimeUnit)
	err := db.tx(ctx, func(tx pgx.Tx) error {
		var err error
		before, err = sqlstore.ScanAlertRule(tx.QueryRow(ctx,
			`SELECT `+sqlstore.AlertRuleSelect+` FROM alert_rules WHERE account_id = $1 AND id = $2 FOR UPDATE`, r.AccountID, r.ID))
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("alert rule %q not found", r.ID)
		}
		if err != nil {
			return fmt.Errorf("postgres: update alert rule: %w", mapErr(err))
		}
		after := *r
		after.CreatedAt, after.UpdatedAt = before.CreatedAt, now
		args := sqlstore.AlertRuleArgs(&after)
		_, err = tx.Exec(ctx, `UPDATE alert_rules SET name = $1, query = $2, threshold_count = $3, threshold_window = $4,
			group_by = $5, cooldown = $6, enabled = $7, destinations = $8, updated_at = $9 WHERE account_id = $10 AND id = $11`,
			append(args[2:10:10], args[11], r.AccountID, r.ID)...)
		if err != nil {
			return fmt.Errorf("postgres: update alert rule: %w", mapErr(err))
		}
		r.CreatedAt, r.UpdatedAt = before.CreatedAt, now
		return nil
	})
	return before, err
}

// DeleteAlertRule removes the rule; its matches wait for the pruning.
func (db *DB) DeleteAlertRule(ctx context.Context, accountID int64, id string) (*stele.AlertRule, error) {
	var before *stele.AlertRule
	err := db.tx(ctx, func(tx pgx.Tx) error {
		var err error
		before, err = sqlstore.ScanAlertRule(tx.QueryRow(ctx,
			`DELETE FROM alert_rules WHERE account_id = $1 AND id = $2 RETURNING `+sqlstore.AlertRuleSelect, accountID, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("alert rule %q not found", id)
		}
		if err != nil {
			return fmt.Errorf("postgres: delete alert rule: %w", mapErr(err))
		}
		return nil
	})
	return before, err
}

// EnabledAlertRules returns every enabled rule and the generation, read in
// one snapshot.
func (db *DB) EnabledAlertRules(ctx context.Context) ([]*stele.AlertRule, int64, error) {
	var (
		out []*stele.AlertRule
		gen int64
	)
	err := pgx.BeginTxFunc(ctx, db.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT n FROM alert_rule_generation WHERE id = 1`).Scan(&gen); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+sqlstore.AlertRuleSelect+` FROM alert_rules WHERE enabled
			ORDER BY account_id, created_at, id COLLATE "C"`)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*stele.AlertRule, error) { return sqlstore.ScanAlertRule(r) })
		return err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("postgres: enabled alert rules: %w", mapErr(err))
	}
	return out, gen, nil
}

// AlertRuleGeneration returns the counter the trigger of migration 0007
// bumps on every change to a rule.
func (db *DB) AlertRuleGeneration(ctx context.Context) (int64, error) {
	var n int64
	if err := db.pool.QueryRow(ctx, `SELECT n FROM alert_rule_generation WHERE id = 1`).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: alert rule generation: %w", mapErr(err))
	}
	return n, nil
}

// AlertHeads returns each account's tree size; an account with no events
// has 0.
func (db *DB) AlertHeads(ctx context.Context, accountIDs []int64) (map[int64]int64, error) {
	out := make(map[int64]int64, len(accountIDs))
	for _, id := range accountIDs {
		out[id] = 0
	}
	rows, err := db.pool.Query(ctx, `SELECT account_id, size FROM heads WHERE account_id = ANY($1)`, accountIDs)
	if err != nil {
		return nil, fmt.Errorf("postgres: alert heads: %w", mapErr(err))
	}
	var id, size int64
	if _, err := pgx.ForEachRow(rows, []any{&id, &size}, func() error { out[id] = size; return nil }); err != nil {
		return nil, fmt.Errorf("postgres: alert heads: %w", mapErr(err))
	}
	return out, nil
}

// AlertMatches returns an account's matches with seq in [from, to).
func (db *DB) AlertMatches(ctx context.Context, accountID, from, to int64, limit int) ([]stele.AlertMatch, error) {
	return db.queryMatches(ctx, 0, `SELECT account_id, seq, time, rules FROM alert_matches
		WHERE account_id = $1 AND seq >= $2 AND seq < $3 ORDER BY seq LIMIT $4`, accountID, from, to, limit)
}

// RuleMatches returns a rule's matches below beforeSeq from sinceTime on.
func (db *DB) RuleMatches(ctx context.Context, accountID, ruleKey, beforeSeq, sinceTime int64) ([]stele.AlertMatch, error) {
	return db.queryMatches(ctx, ruleKey, `SELECT account_id, seq, time, rules FROM alert_matches
		WHERE account_id = $1 AND seq < $2 AND time >= $3 ORDER BY seq`, accountID, beforeSeq, sinceTime)
}

// queryMatches reads rows of alert_matches, unpacked, those of rule key
// only when key is not zero.
func (db *DB) queryMatches(ctx context.Context, key int64, query string, args ...any) ([]stele.AlertMatch, error) {
	rows, err := db.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: alert matches: %w", mapErr(err))
	}
	var (
		out           []stele.AlertMatch
		acct, seq, tm int64
		rules         []byte
	)
	if _, err := pgx.ForEachRow(rows, []any{&acct, &seq, &tm, &rules}, func() error {
		out, err = sqlstore.UnpackMatches(out, acct, seq, tm, rules, key)
		return err
	}); err != nil {
		return nil, fmt.Errorf("postgres: alert matches: %w", mapErr(err))
	}
	return out, nil
}

// AlertCursors returns the evaluator's cursors.
func (db *DB) AlertCursors(ctx context.Context) (map[int64]int64, error) {
	rows, err := db.pool.Query(ctx, `SELECT account_id, next_seq FROM alert_cursors`)
	if err != nil {
		return nil, fmt.Errorf("postgres: alert cursors: %w", mapErr(err))
	}
	out := map[int64]int64{}
	var id, next int64
	if _, err := pgx.ForEachRow(rows, []any{&id, &next}, func() error { out[id] = next; return nil }); err != nil {
		return nil, fmt.Errorf("postgres: alert cursors: %w", mapErr(err))
	}
	return out, nil
}

// CommitAlertRound stores a round in one transaction.
func (db *DB) CommitAlertRound(ctx context.Context, r *stele.AlertRound) error {
	err := db.tx(ctx, func(tx pgx.Tx) error {
		for _, f := range r.Firings {
			_, err := tx.Exec(ctx, `INSERT INTO alert_firings (`+sqlstore.AlertFiringColumns+`)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`, sqlstore.AlertFiringArgs(f)...)
			if isUnique(err) {
				return stele.Errorf(stele.ECONFLICT, "alert firing %q already exists", f.ID)
			}
			if err != nil {
				return err
			}
		}
		for _, d := range r.Deliveries {
			_, err := tx.Exec(ctx, `INSERT INTO alert_deliveries (`+sqlstore.AlertDeliveryColumns+`)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`, sqlstore.AlertDeliveryArgs(d)...)
			if isUnique(err) {
				return stele.Errorf(stele.ECONFLICT, "alert delivery %q already exists", d.ID)
			}
			if err != nil {
				return err
			}
		}
		for _, id := range slices.Sorted(maps.Keys(r.Cursors)) {
			if _, err := tx.Exec(ctx, `INSERT INTO alert_cursors (account_id, next_seq) VALUES ($1, $2)
				ON CONFLICT (account_id) DO UPDATE SET next_seq = excluded.next_seq`, id, r.Cursors[id]); err != nil {
				return err
			}
		}
		for _, p := range r.Prune {
			if _, err := tx.Exec(ctx, `DELETE FROM alert_matches WHERE account_id = $1 AND seq < $2 AND time < $3`,
				p.AccountID, p.BeforeSeq, p.BeforeTime); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil && stele.ErrorCode(err) == stele.EINTERNAL {
		return fmt.Errorf("postgres: commit alert round: %w", mapErr(err))
	}
	return err
}

// AlertFiring returns one of an account's firings.
func (db *DB) AlertFiring(ctx context.Context, accountID int64, id string) (*stele.AlertFiring, error) {
	f, err := sqlstore.ScanAlertFiring(db.pool.QueryRow(ctx,
		`SELECT `+sqlstore.AlertFiringColumns+` FROM alert_firings WHERE account_id = $1 AND id = $2`, accountID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("alert firing %q not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: alert firing: %w", mapErr(err))
	}
	return f, nil
}

// AlertFirings returns a rule's firings since a time, newest first.
func (db *DB) AlertFirings(ctx context.Context, accountID int64, ruleID string, since time.Time, limit int) ([]*stele.AlertFiring, error) {
	return db.queryFirings(ctx, `SELECT `+sqlstore.AlertFiringColumns+` FROM alert_firings
		WHERE account_id = $1 AND rule_id = $2 AND fired_at >= $3 ORDER BY fired_at DESC, id COLLATE "C" DESC LIMIT $4`,
		accountID, ruleID, since.UnixMicro(), limit)
}

// UnrecordedAlertFirings returns firings whose alert.fired is not recorded.
func (db *DB) UnrecordedAlertFirings(ctx context.Context, limit int) ([]*stele.AlertFiring, error) {
	return db.queryFirings(ctx, `SELECT `+sqlstore.AlertFiringColumns+` FROM alert_firings
		WHERE NOT recorded ORDER BY fired_at, id COLLATE "C" LIMIT $1`, limit)
}

func (db *DB) queryFirings(ctx context.Context, query string, args ...any) ([]*stele.AlertFiring, error) {
	rows, err := db.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: alert firings: %w", mapErr(err))
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*stele.AlertFiring, error) { return sqlstore.ScanAlertFiring(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: alert firings: %w", mapErr(err))
	}
	return out, nil
}

// MarkAlertFiringRecorded sets a firing's Recorded.
func (db *DB) MarkAlertFiringRecorded(ctx context.Context, accountID int64, id string) error {
	tag, err := db.pool.Exec(ctx, `UPDATE alert_firings SET recorded = true WHERE account_id = $1 AND id = $2`, accountID, id)
	if err != nil {
		return fmt.Errorf("postgres: mark alert firing recorded: %w", mapErr(err))
	}
	if tag.RowsAffected() == 0 {
		return notFound("alert firing %q not found", id)
	}
	return nil
}

// PruneAlertHistory deletes the account's recorded firings fired before
// before that no pending delivery needs, with their deliveries.
func (db *DB) PruneAlertHistory(ctx context.Context, accountID int64, before time.Time) (int64, error) {
	var n int64
	err := db.tx(ctx, func(tx pgx.Tx) error {
		old := `SELECT id FROM alert_firings f WHERE f.account_id = $1 AND f.fired_at < $2 AND f.recorded
			AND NOT EXISTS (SELECT 1 FROM alert_deliveries d WHERE d.account_id = f.account_id AND d.firing_id = f.id AND d.state = 'pending')`
		if _, err := tx.Exec(ctx, `DELETE FROM alert_deliveries WHERE account_id = $1 AND firing_id IN (`+old+`)`,
			accountID, before.UnixMicro()); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM alert_firings WHERE account_id = $1 AND id IN (`+old+`)`, accountID, before.UnixMicro())
		if err != nil {
			return err
		}
		n = tag.RowsAffected()
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("postgres: prune alert history: %w", mapErr(err))
	}
	return n, nil
}

// DueAlertDeliveries returns pending deliveries due at now.
func (db *DB) DueAlertDeliveries(ctx context.Context, now time.Time, limit int) ([]*stele.AlertDelivery, error) {
	return db.queryDeliveries(ctx, `SELECT `+sqlstore.AlertDeliveryColumns+` FROM alert_deliveries
		WHERE state = 'pending' AND next_attempt <= $1 ORDER BY next_attempt, id COLLATE "C" LIMIT $2`, now.UnixMicro(), limit)
}

// NextAlertDelivery returns when the soonest pending delivery is due.
func (db *DB) NextAlertDelivery(ctx context.Context) (time.Time, bool, error) {
	var next *int64
	err := db.pool.QueryRow(ctx, `SELECT min(next_attempt) FROM alert_deliveries WHERE state = 'pending'`).Scan(&next)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("postgres: next alert delivery: %w", mapErr(err))
	}
	if next == nil {
		return time.Time{}, false, nil
	}
	return sqlstore.Time(*next), true, nil
}

// UpdateAlertDelivery stores d's progress.
func (db *DB) UpdateAlertDelivery(ctx context.Context, d *stele.AlertDelivery) error {
	now := time.Now().UTC().Truncate(stele.TimeUnit)
	tag, err := db.pool.Exec(ctx, `UPDATE alert_deliveries SET state = $1, attempts = $2, next_attempt = $3, last_error = $4, pending_to = $5, updated_at = $6
		WHERE account_id = $7 AND id = $8`, d.State, int64(d.Attempts), d.NextAttempt.UnixMicro(), d.LastError, sqlstore.JoinInts(d.Pending), now.UnixMicro(), d.AccountID, d.ID)
	if err != nil {
		return fmt.Errorf("postgres: update alert delivery: %w", mapErr(err))
	}
	if tag.RowsAffected() == 0 {
		return notFound("alert delivery %q not found", d.ID)
	}
	d.UpdatedAt = now
	return nil
}

// AlertDeliveries returns a firing's deliveries.
func (db *DB) AlertDeliveries(ctx context.Context, accountID int64, firingID string) ([]*stele.AlertDelivery, error) {
	return db.queryDeliveries(ctx, `SELECT `+sqlstore.AlertDeliveryColumns+` FROM alert_deliveries
		WHERE account_id = $1 AND firing_id = $2 ORDER BY destination, id COLLATE "C"`, accountID, firingID)
}

func (db *DB) queryDeliveries(ctx context.Context, query string, args ...any) ([]*stele.AlertDelivery, error) {
	rows, err := db.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: alert deliveries: %w", mapErr(err))
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*stele.AlertDelivery, error) { return sqlstore.ScanAlertDelivery(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: alert deliveries: %w", mapErr(err))
	}
	return out, nil
}
