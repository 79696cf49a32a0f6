package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/sqlstore"
)

var _ stele.AlertStore = (*DB)(nil)

// CreateAlertRule stores r, setting its times.
func (db *DB) CreateAlertRule(ctx context.Context, r *stele.AlertRule) error {
	now := time.Now().UTC().Truncate(stele.TimeUnit)
	rule := *r
	rule.CreatedAt, rule.UpdatedAt = now, now
	err := db.write(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM alert_rules WHERE account_id = ?`, r.AccountID).Scan(&n); err != nil {
			return err
		}
		if n >= stele.MaxAlertRules {
			return stele.Errorf(stele.ECONFLICT, "the account has %d alert rules, the most it may have", n)
		}
		if err := tx.QueryRowContext(ctx, `UPDATE alert_rule_generation SET next_key = next_key + 1 WHERE id = 1
			RETURNING next_key - 1`).Scan(&rule.Key); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO alert_rules (`+sqlstore.AlertRuleColumns+`, key)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, append(sqlstore.AlertRuleArgs(&rule), rule.Key)...)
		return err
	})
	switch {
	case stele.ErrorCode(err) == stele.ECONFLICT && !isUnique(err):
		return err
	case isUnique(err):
		return stele.Errorf(stele.ECONFLICT, "alert rule %q already exists", r.ID)
	case isForeignKey(err):
		return notFound("account %d not found", r.AccountID)
	case err != nil:
		return fmt.Errorf("sqlite: create alert rule: %w", mapErr(err))
	}
	r.CreatedAt, r.UpdatedAt, r.Key = now, now, rule.Key
	return nil
}

// AlertRule returns an account's rule.
func (db *DB) AlertRule(ctx context.Context, accountID int64, id string) (*stele.AlertRule, error) {
	r, err := sqlstore.ScanAlertRule(db.reader.QueryRowContext(ctx,
		`SELECT `+sqlstore.AlertRuleSelect+` FROM alert_rules WHERE account_id = ? AND id = ?`, accountID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("alert rule %q not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: alert rule: %w", mapErr(err))
	}
	return r, nil
}

// AlertRules returns an account's rules, oldest first.
func (db *DB) AlertRules(ctx context.Context, accountID int64) ([]*stele.AlertRule, error) {
	return db.queryRules(ctx, `SELECT `+sqlstore.AlertRuleSelect+` FROM alert_rules WHERE account_id = ? ORDER BY created_at, id`, accountID)
}

func (db *DB) queryRules(ctx context.Context, query string, args ...any) ([]*stele.AlertRule, error) {
	rows, err := db.reader.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: alert rules: %w", mapErr(err))
	}
	defer rows.Close()
	var out []*stele.AlertRule
	for rows.Next() {
		r, err := sqlstore.ScanAlertRule(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: alert rules: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: alert rules: %w", mapErr(err))
	}
	return out, nil
}

// UpdateAlertRule replaces the rule's settings and returns it as it was.
func (db *DB) UpdateAlertRule(ctx context.Context, r *stele.AlertRule) (*stele.AlertRule, error) {
	var before *stele.AlertRule
	now := time.Now().UTC().Truncate(stele.TimeUnit)
	err := db.write(ctx, func(tx *sql.Tx) error {
		var err error
		before, err = sqlstore.ScanAlertRule(tx.QueryRowContext(ctx,
			`SELECT `+sqlstore.AlertRuleSelect+` FROM alert_rules WHERE account_id = ? AND id = ?`, r.AccountID, r.ID))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("alert rule %q not found", r.ID)
		}
		if err != nil {
			return fmt.Errorf("sqlite: update alert rule: %w", mapErr(err))
		}
		after := *r
		after.CreatedAt, after.UpdatedAt = before.CreatedAt, now
		args := sqlstore.AlertRuleArgs(&after)
		_, err = tx.ExecContext(ctx, `UPDATE alert_rules SET name = ?, query = ?, threshold_count = ?, threshold_window = ?,
			group_by = ?, cooldown = ?, enabled = ?, destinations = ?, updated_at = ? WHERE account_id = ? AND id = ?`,
			append(args[2:10:10], args[11], r.AccountID, r.ID)...)
		if err != nil {
			return fmt.Errorf("sqlite: update alert rule: %w", mapErr(err))
		}
		r.CreatedAt, r.UpdatedAt = before.CreatedAt, now
		return nil
	})
	return before, err
}

// DeleteAlertRule removes the rule; its matches wait for the pruning.
func (db *DB) DeleteAlertRule(ctx context.Context, accountID int64, id string) (*stele.AlertRule, error) {
	var before *stele.AlertRule
	err := db.write(ctx, func(tx *sql.Tx) error {
		var err error
		before, err = sqlstore.ScanAlertRule(tx.QueryRowContext(ctx,
			`SELECT `+sqlstore.AlertRuleSelect+` FROM alert_rules WHERE account_id = ? AND id = ?`, accountID, id))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("alert rule %q not found", id)
		}
		if err != nil {
			return fmt.Errorf("sqlite: delete alert rule: %w", mapErr(err))
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM alert_rules WHERE account_id = ? AND id = ?`, accountID, id); err != nil {
			return fmt.Errorf("sqlite: delete alert rule: %w", mapErr(err))
		}
		return nil
	})
	return before, err
}

// EnabledAlertRules returns every enabled rule and the generation, read in
// one transaction.
func (db *DB) EnabledAlertRules(ctx context.Context) ([]*stele.AlertRule, int64, error) {
	tx, err := db.reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: enabled alert rules: %w", mapErr(err))
	}
	defer tx.Rollback()
	var gen int64
	if err := tx.QueryRowContext(ctx, `SELECT n FROM alert_rule_generation WHERE id = 1`).Scan(&gen); err != nil {
		return nil, 0, fmt.Errorf("sqlite: alert rule generation: %w", mapErr(err))
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+sqlstore.AlertRuleSelect+` FROM alert_rules WHERE enabled ORDER BY account_id, created_at, id`)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: enabled alert rules: %w", mapErr(err))
	}
	defer rows.Close()
	var out []*stele.AlertRule
	for rows.Next() {
		r, err := sqlstore.ScanAlertRule(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("sqlite: enabled alert rules: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("sqlite: enabled alert rules: %w", mapErr(err))
	}
	return out, gen, nil
}

// AlertRuleGeneration returns the counter the triggers of migration 0009
// bump on every change to a rule.
func (db *DB) AlertRuleGeneration(ctx context.Context) (int64, error) {
	var n int64
	if err := db.reader.QueryRowContext(ctx, `SELECT n FROM alert_rule_generation WHERE id = 1`).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: alert rule generation: %w", mapErr(err))
	}
	return n, nil
}

// AlertHeads returns each account's tree size; an account with no events
// has 0.
func (db *DB) AlertHeads(ctx context.Context, accountIDs []int64) (map[int64]int64, error) {
	out := make(map[int64]int64, len(accountIDs))
	for part := range slices.Chunk(accountIDs, 500) {
		args := make([]any, len(part))
		for i, id := range part {
			args[i] = id
			out[id] = 0
		}
		rows, err := db.reader.DB.QueryContext(ctx, `SELECT account_id, size FROM heads WHERE account_id IN (`+
			strings.TrimSuffix(strings.Repeat("?,", len(part)), ",")+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("sqlite: alert heads: %w", mapErr(err))
		}
		for rows.Next() {
			var id, size int64
			if err := rows.Scan(&id, &size); err != nil {
				rows.Close()
				return nil, fmt.Errorf("sqlite: alert heads: %w", err)
			}
			out[id] = size
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("sqlite: alert heads: %w", mapErr(err))
		}
	}
	return out, nil
}

// AlertMatches returns an account's matches with seq in [from, to).
func (db *DB) AlertMatches(ctx context.Context, accountID, from, to int64, limit int) ([]stele.AlertMatch, error) {
	return db.queryMatches(ctx, 0, `SELECT account_id, seq, time, rules FROM alert_matches
		WHERE account_id = ? AND seq >= ? AND seq < ? ORDER BY seq LIMIT ?`, accountID, from, to, limit)
}

// RuleMatches returns a rule's matches below beforeSeq from sinceTime on.
func (db *DB) RuleMatches(ctx context.Context, accountID, ruleKey, beforeSeq, sinceTime int64) ([]stele.AlertMatch, error) {
	return db.queryMatches(ctx, ruleKey, `SELECT account_id, seq, time, rules FROM alert_matches
		WHERE account_id = ? AND seq < ? AND time >= ? ORDER BY seq`, accountID, beforeSeq, sinceTime)
}

// queryMatches reads rows of alert_matches, unpacked, those of rule key
// only when key is not zero.
func (db *DB) queryMatches(ctx context.Context, key int64, query string, args ...any) ([]stele.AlertMatch, error) {
	rows, err := db.reader.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: alert matches: %w", mapErr(err))
	}
	defer rows.Close()
	var out []stele.AlertMatch
	for rows.Next() {
		var (
			acct, seq, tm int64
			rules         []byte
		)
		if err := rows.Scan(&acct, &seq, &tm, &rules); err != nil {
			return nil, fmt.Errorf("sqlite: alert matches: %w", err)
		}
		var err error
		if out, err = sqlstore.UnpackMatches(out, acct, seq, tm, rules, key); err != nil {
			return nil, fmt.Errorf("sqlite: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: alert matches: %w", mapErr(err))
	}
	return out, nil
}

// AlertCursors returns the evaluator's cursors.
func (db *DB) AlertCursors(ctx context.Context) (map[int64]int64, error) {
	rows, err := db.reader.QueryContext(ctx, `SELECT account_id, next_seq FROM alert_cursors`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: alert cursors: %w", mapErr(err))
	}
	defer rows.Close()
	out := map[int64]int64{}
	for rows.Next() {
		var id, next int64
		if err := rows.Scan(&id, &next); err != nil {
			return nil, fmt.Errorf("sqlite: alert cursors: %w", err)
		}
		out[id] = next
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: alert cursors: %w", mapErr(err))
	}
	return out, nil
}

// CommitAlertRound stores a round in one transaction.
func (db *DB) CommitAlertRound(ctx context.Context, r *stele.AlertRound) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		for _, f := range r.Firings {
			if _, err := tx.ExecContext(ctx, `INSERT INTO alert_firings (`+sqlstore.AlertFiringColumns+`)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, sqlstore.AlertFiringArgs(f)...); err != nil {
				if isUnique(err) {
					return stele.Errorf(stele.ECONFLICT, "alert firing %q already exists", f.ID)
				}
				return err
			}
		}
		for _, d := range r.Deliveries {
			if _, err := tx.ExecContext(ctx, `INSERT INTO alert_deliveries (`+sqlstore.AlertDeliveryColumns+`)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, sqlstore.AlertDeliveryArgs(d)...); err != nil {
				if isUnique(err) {
					return stele.Errorf(stele.ECONFLICT, "alert delivery %q already exists", d.ID)
				}
				return err
			}
		}
		for _, id := range slices.Sorted(maps.Keys(r.Cursors)) {
			if _, err := tx.ExecContext(ctx, `INSERT INTO alert_cursors (account_id, next_seq) VALUES (?, ?)
				ON CONFLICT (account_id) DO UPDATE SET next_seq = excluded.next_seq`, id, r.Cursors[id]); err != nil {
				return err
			}
		}
		for _, p := range r.Prune {
			if _, err := tx.ExecContext(ctx, `DELETE FROM alert_matches WHERE account_id = ? AND seq < ? AND time < ?`,
				p.AccountID, p.BeforeSeq, p.BeforeTime); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil && stele.ErrorCode(err) == stele.EINTERNAL {
		return fmt.Errorf("sqlite: commit alert round: %w", mapErr(err))
	}
	return err
}

// AlertFiring returns one of an account's firings.
func (db *DB) AlertFiring(ctx context.Context, accountID int64, id string) (*stele.AlertFiring, error) {
	f, err := sqlstore.ScanAlertFiring(db.reader.QueryRowContext(ctx,
		`SELECT `+sqlstore.AlertFiringColumns+` FROM alert_firings WHERE account_id = ? AND id = ?`, accountID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("alert firing %q not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: alert firing: %w", mapErr(err))
	}
	return f, nil
}

// AlertFirings returns a rule's firings since a time, newest first.
func (db *DB) AlertFirings(ctx context.Context, accountID int64, ruleID string, since time.Time, limit int) ([]*stele.AlertFiring, error) {
	return db.queryFirings(ctx, `SELECT `+sqlstore.AlertFiringColumns+` FROM alert_firings
		WHERE account_id = ? AND rule_id = ? AND fired_at >= ? ORDER BY fired_at DESC, id DESC LIMIT ?`,
		accountID, ruleID, since.UnixMicro(), limit)
}

// UnrecordedAlertFirings returns firings whose alert.fired is not recorded.
func (db *DB) UnrecordedAlertFirings(ctx context.Context, limit int) ([]*stele.AlertFiring, error) {
	return db.queryFirings(ctx, `SELECT `+sqlstore.AlertFiringColumns+` FROM alert_firings
		WHERE recorded = 0 ORDER BY fired_at, id LIMIT ?`, limit)
}

func (db *DB) queryFirings(ctx context.Context, query string, args ...any) ([]*stele.AlertFiring, error) {
	rows, err := db.reader.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: alert firings: %w", mapErr(err))
	}
	defer rows.Close()
	var out []*stele.AlertFiring
	for rows.Next() {
		f, err := sqlstore.ScanAlertFiring(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: alert firings: %w", err)
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: alert firings: %w", mapErr(err))
	}
	return out, nil
}

// MarkAlertFiringRecorded sets a firing's Recorded.
func (db *DB) MarkAlertFiringRecorded(ctx context.Context, accountID int64, id string) error {
	return db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE alert_firings SET recorded = 1 WHERE account_id = ? AND id = ?`, accountID, id)
		if err != nil {
			return fmt.Errorf("sqlite: mark alert firing recorded: %w", mapErr(err))
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("alert firing %q not found", id)
		}
		return nil
	})
}

// PruneAlertHistory deletes the account's recorded firings fired before
// before that no pending delivery needs, with their deliveries.
func (db *DB) PruneAlertHistory(ctx context.Context, accountID int64, before time.Time) (int64, error) {
	var n int64
	err := db.write(ctx, func(tx *sql.Tx) error {
		old := `SELECT id FROM alert_firings f WHERE f.account_id = ? AND f.fired_at < ? AND f.recorded = 1
			AND NOT EXISTS (SELECT 1 FROM alert_deliveries d WHERE d.account_id = f.account_id AND d.firing_id = f.id AND d.state = 'pending')`
		if _, err := tx.ExecContext(ctx, `DELETE FROM alert_deliveries WHERE account_id = ? AND firing_id IN (`+old+`)`,
			accountID, accountID, before.UnixMicro()); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM alert_firings WHERE id IN (`+old+`)`, accountID, before.UnixMicro())
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: prune alert history: %w", mapErr(err))
	}
	return n, nil
}

// DueAlertDeliveries returns pending deliveries due at now.
func (db *DB) DueAlertDeliveries(ctx context.Context, now time.Time, limit int) ([]*stele.AlertDelivery, error) {
	return db.queryDeliveries(ctx, `SELECT `+sqlstore.AlertDeliveryColumns+` FROM alert_deliveries
		WHERE state = 'pending' AND next_attempt <= ? ORDER BY next_attempt, id LIMIT ?`, now.UnixMicro(), limit)
}

// NextAlertDelivery returns when the soonest pending delivery is due.
func (db *DB) NextAlertDelivery(ctx context.Context) (time.Time, bool, error) {
	var next sql.NullInt64
	err := db.reader.QueryRowContext(ctx, `SELECT min(next_attempt) FROM alert_deliveries WHERE state = 'pending'`).Scan(&next)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("sqlite: next alert delivery: %w", mapErr(err))
	}
	return sqlstore.Time(next.Int64), next.Valid, nil
}

// UpdateAlertDelivery stores d's progress.
func (db *DB) UpdateAlertDelivery(ctx context.Context, d *stele.AlertDelivery) error {
	now := time.Now().UTC().Truncate(stele.TimeUnit)
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE alert_deliveries SET state = ?, attempts = ?, next_attempt = ?, last_error = ?, pending_to = ?, updated_at = ?
			WHERE account_id = ? AND id = ?`, d.State, int64(d.Attempts), d.NextAttempt.UnixMicro(), d.LastError, sqlstore.JoinInts(d.Pending), now.UnixMicro(), d.AccountID, d.ID)
		if err != nil {
			return fmt.Errorf("sqlite: update alert delivery: %w", mapErr(err))
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("alert delivery %q not found", d.ID)
		}
		return nil
	})
	if err == nil {
		d.UpdatedAt = now
	}
	return err
}

// AlertDeliveries returns a firing's deliveries.
func (db *DB) AlertDeliveries(ctx context.Context, accountID int64, firingID string) ([]*stele.AlertDelivery, error) {
	return db.queryDeliveries(ctx, `SELECT `+sqlstore.AlertDeliveryColumns+` FROM alert_deliveries
		WHERE account_id = ? AND firing_id = ? ORDER BY destination, id`, accountID, firingID)
}

func (db *DB) queryDeliveries(ctx context.Context, query string, args ...any) ([]*stele.AlertDelivery, error) {
	rows, err := db.reader.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: alert deliveries: %w", mapErr(err))
	}
	defer rows.Close()
	var out []*stele.AlertDelivery
	for rows.Next() {
		d, err := sqlstore.ScanAlertDelivery(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: alert deliveries: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: alert deliveries: %w", mapErr(err))
	}
	return out, nil
}
