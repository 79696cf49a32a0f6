package sqlite

import (
	"cmp"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stele-audit/stele"
)

// TestCountByActorMatchesScan checks the index-only counts of a blind
// filter against one GROUP BY over the events, with events matching in
// the actor id column, the email column, both, and other filters beside.
func TestCountByActorMatchesScan(t *testing.T) {
	db := openTest(t, filepath.Join(t.TempDir(), "stele.db"))
	ctx := t.Context()
	const hour = int64(3600_000_000)
	for i := range int64(300) {
		var actor, email any
		switch i % 5 {
		case 0:
			actor = int64(7)
		case 1:
			email = int64(8)
		case 2:
			actor, email = int64(7), int64(8) // matches in both: counted once
		case 3:
			actor, email = int64(9), int64(10)
		}
		tm := -30*hour + i*hour/3 + i%7 // some before 1970
		if _, err := db.writer.ExecContext(ctx, `INSERT INTO events (account_id, seq, time, received_at, action, category, outcome,
			actor_tok, actor_email_tok, key_version, payload, leaf_hash) VALUES (1, ?, ?, 0, 'user.login', ?, ?, ?, ?, 1, x'00', zeroblob(32))`,
			i, tm, i%3, i%2, actor, email); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name   string
		q      stele.RowQuery
		bucket int64
	}{
		{"id and email", stele.RowQuery{AccountID: 1, Filters: []stele.RowFilter{{Field: stele.FieldActor, Tokens: []int64{7, 8}}}}, hour},
		{"id only", stele.RowQuery{AccountID: 1, Filters: []stele.RowFilter{{Field: stele.FieldActor, Tokens: []int64{7}}}}, 24 * hour},
		{"email only", stele.RowQuery{AccountID: 1, Filters: []stele.RowFilter{{Field: stele.FieldActor, Tokens: []int64{8, 10}}}}, hour},
		{"range and outcome", stele.RowQuery{AccountID: 1, After: -5 * hour, Before: 40 * hour, Filters: []stele.RowFilter{
			{Field: stele.FieldOutcome, Values: []string{stele.Outcomes[1]}}, {Field: stele.FieldActor, Tokens: []int64{7, 8, 9}}}}, 3 * hour},
		{"none", stele.RowQuery{AccountID: 1, Filters: []stele.RowFilter{{Field: stele.FieldActor, Tokens: []int64{99}}}}, hour},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			got, err := db.CountByBucket(ctx, tc.q, tc.bucket)
			if err != nil {
				t.Fatal(err)
			}
			// The reference: every event read, its tokens compared.
			b := &rowQuery{}
			if err := b.where(tc.q, len(tc.q.Filters)-1); err != nil {
				t.Fatal(err)
			}
			tok := tc.q.Filters[len(tc.q.Filters)-1].Tokens
			b.sql.WriteString(` AND (actor_tok IN (` + marks(len(tok)) + `) OR actor_email_tok IN (` + marks(len(tok)) + `))`)
			for range 2 {
				for _, t := range tok {
					b.args = append(b.args, t)
				}
			}
			sums := map[[2]int64]int64{}
			if _, err := db.groupCounts(ctx, `FROM events NOT INDEXED WHERE `+b.sql.String(), b.args, tc.bucket, sums, 1); err != nil {
				t.Fatal(err)
			}
			want := sortedCounts(sums)
			if !slices.Equal(got, want) {
				t.Fatalf("got  %v\nwant %v", got, want)
			}
			for _, c := range got {
				if c.Start%tc.bucket != 0 {
					t.Fatalf("bucket start %d is not a multiple of %d", c.Start, tc.bucket)
				}
			}
		})
	}
}

// TestCountByActorIsIndexOnly checks that an actor's counts read the
// actor indexes only.
func TestCountByActorIsIndexOnly(t *testing.T) {
	db := openTest(t, filepath.Join(t.TempDir(), "stele.db"))
	for _, index := range []string{"events_actor", "events_actor_email"} {
		col := map[string]string{"events_actor": "actor_tok", "events_actor_email": "actor_email_tok"}[index]
		query := `EXPLAIN QUERY PLAN ` + countSelect + `FROM events INDEXED BY ` + index +
			` WHERE account_id = ? AND time >= ? AND time < ? AND ` + col + ` IN (?, ?) GROUP BY 1, 2`
		rows, err := db.reader.QueryContext(t.Context(), query, 3600, 3600, 3600, 1, 0, 100, 7, 8)
		if err != nil {
			t.Fatal(err)
		}
		var plan strings.Builder
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintln(&plan, detail)
		}
		rows.Close()
		if !strings.Contains(plan.String(), "USING COVERING INDEX "+index) {
			t.Errorf("%s: plan is not index-only:\n%s", index, plan.String())
		}
	}
}

// TestPurgeTakesEventsOutOfTheCounts checks that a retention purge leaves
// the chart's hourly rollup counting exactly the events that remain.
func TestPurgeTakesEventsOutOfTheCounts(t *testing.T) {
	db := openTest(t, filepath.Join(t.TempDir(), "stele.db"))
	ctx := t.Context()
	const hour = int64(3600_000_000)
	if err := db.CreateAccount(ctx, &stele.Account{Name: "acme", Type: "team"}); err != nil {
		t.Fatal(err)
	}
	for i := range int64(200) {
		if _, err := db.writer.ExecContext(ctx, `INSERT INTO events (account_id, seq, time, received_at, action, category, outcome,
			key_version, payload, leaf_hash) VALUES (1, ?, ?, 0, ?, 0, 1, 1, x'00', zeroblob(32))`,
			i, i*hour/10, fmt.Sprintf("user.a%d", i%3)); err != nil {
			t.Fatal(err)
		}
	}
	all := stele.RowQuery{AccountID: 1}
	total := func() int64 {
		t.Helper()
		got, err := db.CountByBucket(ctx, all, hour)
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		for _, c := range got {
			n += c.Count
		}
		var rolled int64
		db.reader.QueryRowContext(ctx, `SELECT coalesce(sum(n), 0) FROM event_counts WHERE account_id = 1`).Scan(&rolled)
		if rolled != n {
			t.Fatalf("the rollup holds %d events, the chart counts %d", rolled, n)
		}
		return n
	}
	if n := total(); n != 200 {
		t.Fatalf("before the purge: %d", n)
	}
	// Purge the events of the first 7 hours (70 events).
	expired, err := db.ExpiredEvents(ctx, 1, 7*hour, nil, 1000)
	if err != nil || len(expired) != 70 {
		t.Fatalf("expired: %d %v", len(expired), err)
	}
	slices.SortFunc(expired, func(a, b stele.PurgedEvent) int { return cmp.Compare(a.Seq, b.Seq) })
	if err := db.PurgeEvents(ctx, 1, 7*hour, expired, nil); err != nil {
		t.Fatalf("purge: %v", err)
	}
	if n := total(); n != 130 {
		t.Fatalf("after the purge the chart counts %d events, want 130", n)
	}
	var early int64
	db.reader.QueryRowContext(ctx, `SELECT count(*) FROM event_counts WHERE account_id = 1 AND hour < ?`, 7*hour).Scan(&early)
	if early != 0 {
		t.Fatalf("%d rollup rows left for purged hours", early)
	}
}
