package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// partitionLock is the advisory lock under which partitions are changed,
// so that nodes doing it at once do not trip over each other.
const partitionLock = int64(0x5374656c65507274) // "StelePrt"

// partitionWindow is the span of months whose partitions Open makes sure
// of: the previous month (events arrive late), this one and the next two.
func partitionWindow() (from, to time.Time) {
	now := time.Now().UTC()
	return now.AddDate(0, -1, 0), now.AddDate(0, 2, 0)
}

// monthStart returns the first instant of t's month, in UTC.
func monthStart(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// partitionExists reports whether a table is named $1. It reads pg_class
// with the statement's snapshot, which sees another node's partition made
// while this one waited for partitionLock; to_regclass might not.
const partitionExists = `SELECT EXISTS (SELECT 1 FROM pg_class WHERE relname = $1 AND relnamespace = current_schema()::regnamespace)`

// partitionName is the name of the partition of the month starting at m.
func partitionName(m time.Time) string {
	return fmt.Sprintf("events_p%04d%02d", m.Year(), int(m.Month()))
}

// EnsurePartitions creates the monthly partitions of events for every
// month from from's to to's that has none. A new partition is made as a
// plain table and then attached, which locks the events table only in SHARE
// UPDATE EXCLUSIVE mode: appends and queries go on meanwhile. Rows of the
// month that had landed in the default partition move into the new one.
func (db *DB) EnsurePartitions(ctx context.Context, from, to time.Time) error {
	for m := monthStart(from); !m.After(to); m = m.AddDate(0, 1, 0) {
		if err := db.ensurePartition(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

func (db *DB) ensurePartition(ctx context.Context, m time.Time) error {
	name := partitionName(m)
	lo, hi := m.UnixMicro(), m.AddDate(0, 1, 0).UnixMicro()
	var exists bool
	if err := db.pool.QueryRow(ctx, partitionExists, name).Scan(&exists); err != nil {
		return fmt.Errorf("postgres: partition %s: %w", name, mapErr(err))
	}
	if exists {
		return nil
	}
	return db.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, partitionLock); err != nil {
			return fmt.Errorf("postgres: partition %s: %w", name, mapErr(err))
		}
		if err := tx.QueryRow(ctx, partitionExists, name).Scan(&exists); err != nil {
			return fmt.Errorf("postgres: partition %s: %w", name, mapErr(err))
		}
		if exists { // another node made it while we waited
			return nil
		}
		// Attaching scans the default partition under a lock; waiting
		// long for it would stall every append behind us.
		stmts := []string{
			`SET LOCAL lock_timeout = '5s'`,
			fmt.Sprintf(`CREATE TABLE %s (LIKE events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)`, name),
			// The CHECK lets ATTACH skip scanning the new table.
			fmt.Sprintf(`ALTER TABLE %s ADD CONSTRAINT %s_range CHECK (time >= %d AND time < %d)`, name, name, lo, hi),
			fmt.Sprintf(`INSERT INTO %s SELECT * FROM events_default WHERE time >= %d AND time < %d`, name, lo, hi),
			fmt.Sprintf(`DELETE FROM events_default WHERE time >= %d AND time < %d`, lo, hi),
			fmt.Sprintf(`ALTER TABLE events ATTACH PARTITION %s FOR VALUES FROM (%d) TO (%d)`, name, lo, hi),
			fmt.Sprintf(`ALTER TABLE %s DROP CONSTRAINT %s_range`, name, name),
		}
		for _, s := range stmts {
			if _, err := tx.Exec(ctx, s); err != nil {
				return fmt.Errorf("postgres: create partition %s: %w", name, mapErr(err))
			}
		}
		return nil
	})
}

// Partition is one monthly partition of the events table.
type Partition struct {
	Name     string
	From, To int64 // Unix µs, [From, To)
	Rows     int64 // estimated, from the statistics
}

// Partitions lists the monthly partitions (not the default one), oldest first.
func (db *DB) Partitions(ctx context.Context) ([]Partition, error) {
	rows, err := db.pool.Query(ctx, `SELECT c.relname, c.reltuples::bigint FROM pg_inherits i
		JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'events'::regclass AND c.relname ~ '^events_p[0-9]{6}$'
		ORDER BY c.relname`)
	if err != nil {
		return nil, fmt.Errorf("postgres: partitions: %w", mapErr(err))
	}
	var out []Partition
	var name string
	var n int64
	_, err = pgx.ForEachRow(rows, []any{&name, &n}, func() error {
		var y, mo int
		if _, err := fmt.Sscanf(name, "events_p%04d%02d", &y, &mo); err != nil {
			return err
		}
		m := time.Date(y, time.Month(mo), 1, 0, 0, 0, 0, time.UTC)
		out = append(out, Partition{Name: name, From: m.UnixMicro(), To: m.AddDate(0, 1, 0).UnixMicro(), Rows: max(n, 0)})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: partitions: %w", mapErr(err))
	}
	return out, nil
}

// DropEmptyPartitions detaches and drops the monthly partitions that end
// before cutoff and hold no rows any more (retention purged them), and
// returns their names. Dropping a table frees its space at once, where
// deleted rows would leave dead tuples for VACUUM.
func (db *DB) DropEmptyPartitions(ctx context.Context, cutoff time.Time) ([]string, error) {
	parts, err := db.Partitions(ctx)
	if err != nil {
		return nil, err
	}
	var dropped []string
	for _, p := range parts {
		if p.To > cutoff.UnixMicro() {
			continue
		}
		err := db.tx(ctx, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, partitionLock); err != nil {
				return mapErr(err)
			}
			if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '5s'`); err != nil {
				return mapErr(err)
			}
			// Lock the partition before looking, so no append slips a row in.
			if _, err := tx.Exec(ctx, fmt.Sprintf(`LOCK TABLE %s IN ACCESS EXCLUSIVE MODE`, p.Name)); err != nil {
				return mapErr(err)
			}
			var any bool
			if err := tx.QueryRow(ctx, fmt.Sprintf(`SELECT EXISTS (SELECT 1 FROM %s)`, p.Name)).Scan(&any); err != nil {
				return mapErr(err)
			}
			if any {
				return nil
			}
			if _, err := tx.Exec(ctx, fmt.Sprintf(`ALTER TABLE events DETACH PARTITION %s`, p.Name)); err != nil {
				return mapErr(err)
			}
			if _, err := tx.Exec(ctx, fmt.Sprintf(`DROP TABLE %s`, p.Name)); err != nil {
				return mapErr(err)
			}
			dropped = append(dropped, p.Name)
			return nil
		})
		if err != nil {
			return dropped, fmt.Errorf("postgres: drop partition %s: %w", p.Name, err)
		}
	}
	return dropped, nil
}

// MaintainPartitions is the daily partition job: it creates the partitions
// of the months ahead, so that appends never wait for one, and drops the
// old ones that retention emptied.
func (db *DB) MaintainPartitions(ctx context.Context) error {
	from, to := partitionWindow()
	if err := db.EnsurePartitions(ctx, from, to); err != nil {
		return err
	}
	_, err := db.DropEmptyPartitions(ctx, from)
	return err
}
