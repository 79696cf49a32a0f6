package sqlstore

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/stele-audit/stele"
)

// AlertRuleColumns are the columns AlertRuleArgs gives, in its order.
// Durations are stored in microseconds; a rule without a threshold has
// NULL threshold columns.
const AlertRuleColumns = `id, account_id, name, query, threshold_count, threshold_window, group_by, cooldown, enabled,
	destinations, created_at, updated_at`

// AlertRuleSelect are the columns ScanAlertRule reads: AlertRuleColumns
// and the key.
const AlertRuleSelect = AlertRuleColumns + `, key`

// AlertRuleArgs returns r's values in AlertRuleColumns order.
func AlertRuleArgs(r *stele.AlertRule) []any {
	count, window, groupBy := thresholdArgs(r.Threshold)
	return []any{r.ID, r.AccountID, r.Name, r.Query, count, window, groupBy, r.Cooldown.Microseconds(), r.Enabled,
		r.Destinations, r.CreatedAt.UnixMicro(), r.UpdatedAt.UnixMicro()}
}

func thresholdArgs(t *stele.AlertThreshold) (count, window *int64, groupBy string) {
	if t == nil {
		return nil, nil, ""
	}
	c, w := int64(t.Count), t.Window.Microseconds()
	return &c, &w, t.GroupBy
}

func threshold(count, window *int64, groupBy string) *stele.AlertThreshold {
	if count == nil || window == nil {
		return nil
	}
	return &stele.AlertThreshold{Count: int(*count), Window: time.Duration(*window) * time.Microsecond, GroupBy: groupBy}
}

// ScanAlertRule reads a row of AlertRuleSelect.
func ScanAlertRule(row Scanner) (*stele.AlertRule, error) {
	var (
		r                  stele.AlertRule
		count, window      *int64
		groupBy            string
		cooldown, cre, upd int64
	)
	if err := row.Scan(&r.ID, &r.AccountID, &r.Name, &r.Query, &count, &window, &groupBy, &cooldown, &r.Enabled,
		&r.Destinations, &cre, &upd, &r.Key); err != nil {
		return nil, err
	}
	r.Threshold = threshold(count, window, groupBy)
	r.Cooldown = time.Duration(cooldown) * time.Microsecond
	r.CreatedAt, r.UpdatedAt = Time(cre), Time(upd)
	return &r, nil
}

// AlertFiringColumns are the columns ScanAlertFiring reads, in its order.
const AlertFiringColumns = `id, account_id, rule_id, rule_name, query, threshold_count, threshold_window, group_by,
	destinations, count, grp, seqs, last_seq, window_start, window_end, fired_at, recorded`

// AlertFiringArgs returns f's values in AlertFiringColumns order.
func AlertFiringArgs(f *stele.AlertFiring) []any {
	count, window, groupBy := thresholdArgs(f.Threshold)
	return []any{f.ID, f.AccountID, f.RuleID, f.RuleName, f.Query, count, window, groupBy,
		f.Destinations, int64(f.Count), f.Group, JoinSeqs(f.Seqs), f.LastSeq, f.WindowStart, f.WindowEnd, f.FiredAt.UnixMicro(), f.Recorded}
}

// ScanAlertFiring reads a row of AlertFiringColumns.
func ScanAlertFiring(row Scanner) (*stele.AlertFiring, error) {
	var (
		f             stele.AlertFiring
		count, window *int64
		groupBy, seqs string
		n, fired      int64
	)
	if err := row.Scan(&f.ID, &f.AccountID, &f.RuleID, &f.RuleName, &f.Query, &count, &window, &groupBy,
		&f.Destinations, &n, &f.Group, &seqs, &f.LastSeq, &f.WindowStart, &f.WindowEnd, &fired, &f.Recorded); err != nil {
		return nil, err
	}
	var err error
	if f.Seqs, err = SplitSeqs(seqs); err != nil {
		return nil, err
	}
	f.Threshold = threshold(count, window, groupBy)
	f.Count, f.FiredAt = int(n), Time(fired)
	return &f, nil
}

// AlertDeliveryColumns are the columns ScanAlertDelivery reads, in its order.
const AlertDeliveryColumns = `id, account_id, firing_id, destination, state, attempts, next_attempt, last_error, pending_to, created_at, updated_at`

// AlertDeliveryArgs returns d's values in AlertDeliveryColumns order.
func AlertDeliveryArgs(d *stele.AlertDelivery) []any {
	return []any{d.ID, d.AccountID, d.FiringID, int64(d.Destination), d.State, int64(d.Attempts), d.NextAttempt.UnixMicro(),
		d.LastError, JoinInts(d.Pending), d.CreatedAt.UnixMicro(), d.UpdatedAt.UnixMicro()}
}

// ScanAlertDelivery reads a row of AlertDeliveryColumns.
func ScanAlertDelivery(row Scanner) (*stele.AlertDelivery, error) {
	var (
		d                      stele.AlertDelivery
		dest, attempts         int64
		next, created, updated int64
		pending                string
	)
	if err := row.Scan(&d.ID, &d.AccountID, &d.FiringID, &dest, &d.State, &attempts, &next, &d.LastError, &pending, &created, &updated); err != nil {
		return nil, err
	}
	ps, err := SplitSeqs(pending)
	if err != nil {
		return nil, err
	}
	for _, p := range ps {
		d.Pending = append(d.Pending, int(p))
	}
	d.Destination, d.Attempts = int(dest), int(attempts)
	d.NextAttempt, d.CreatedAt, d.UpdatedAt = Time(next), Time(created), Time(updated)
	return &d, nil
}

// MatchRow is one row of alert_matches: an event's matches packed.
type MatchRow struct {
	AccountID, Seq, Time int64
	Rules                []byte
}

// PackMatches groups matches by event, in the order given: one row per
// run of matches of one (account, seq), their rules packed as varints of
// (key, group token).
func PackMatches(ms []stele.AlertMatch) []MatchRow {
	var out []MatchRow
	for _, m := range ms {
		if n := len(out); n == 0 || out[n-1].AccountID != m.AccountID || out[n-1].Seq != m.Seq {
			out = append(out, MatchRow{AccountID: m.AccountID, Seq: m.Seq, Time: m.Time})
		}
		r := &out[len(out)-1]
		r.Rules = binary.AppendUvarint(r.Rules, uint64(m.Rule))
		r.Rules = binary.AppendVarint(r.Rules, m.Group)
	}
	return out
}

// UnpackMatches appends the matches of one row to dst, keeping those of
// rule key only when key is not zero.
func UnpackMatches(dst []stele.AlertMatch, accountID, seq, t int64, rules []byte, key int64) ([]stele.AlertMatch, error) {
	for len(rules) > 0 {
		k, n := binary.Uvarint(rules)
		if n <= 0 {
			return dst, fmt.Errorf("alert matches of seq %d: bad rule key", seq)
		}
		rules = rules[n:]
		g, n := binary.Varint(rules)
		if n <= 0 {
			return dst, fmt.Errorf("alert matches of seq %d: bad group", seq)
		}
		rules = rules[n:]
		if key == 0 || int64(k) == key {
			dst = append(dst, stele.AlertMatch{AccountID: accountID, Rule: int64(k), Seq: seq, Time: t, Group: g})
		}
	}
	return dst, nil
}

// JoinInts is ns as stored: decimal, comma-separated.
func JoinInts(ns []int) string {
	s := make([]int64, len(ns))
	for i, n := range ns {
		s[i] = int64(n)
	}
	return JoinSeqs(s)
}

// JoinSeqs is seqs as stored: decimal, comma-separated.
func JoinSeqs(seqs []int64) string {
	parts := make([]string, len(seqs))
	for i, s := range seqs {
		parts[i] = strconv.FormatInt(s, 10)
	}
	return strings.Join(parts, ",")
}

// SplitSeqs is the inverse of JoinSeqs.
func SplitSeqs(s string) ([]int64, error) {
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	out := make([]int64, len(parts))
	for i, p := range parts {
		n, err := strconv.ParseInt(p, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("stored seqs %q: %w", s, err)
		}
		out[i] = n
	}
	return out, nil
}
