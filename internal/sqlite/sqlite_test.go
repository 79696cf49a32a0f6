package sqlite

import (
	"context"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/storetest"
)

func openTest(t *testing.T, path string) *DB {
	t.Helper()
	db, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	return db
}

func TestStoreContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) stele.Store {
		return openTest(t, filepath.Join(t.TempDir(), "stele.db"))
	})
}

func TestKeyStoreContract(t *testing.T) {
	storetest.RunKeyStore(t, func(t *testing.T) stele.KeyStore {
		k, err := OpenKeys(t.Context(), filepath.Join(t.TempDir(), "keys.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { k.Close() })
		return k
	})
}

func TestOpenCreatesDirectoryAndPings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "stele.db")
	db := openTest(t, path)
	if err := db.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	n, err := db.Size(t.Context())
	if err != nil || n <= 0 {
		t.Fatalf("Size = %d, %v", n, err)
	}
}

func TestMigrationsAreIdempotentAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stele.db")
	db, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	a := &stele.Account{Name: "acme", Type: "team"}
	if err := db.CreateAccount(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openTest(t, path)
	if _, err := db.AccountByName(t.Context(), "acme"); err != nil {
		t.Fatalf("account lost across reopen: %v", err)
	}
	var n int
	if err := db.reader.QueryRowContext(t.Context(), `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("migration/*.sql")
	if n != len(files) {
		t.Fatalf("%d migrations recorded, want %d", n, len(files))
	}
}

func TestOpenRefusesChangedMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stele.db")
	db, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.writer.ExecContext(t.Context(), `UPDATE schema_migrations SET checksum = 'tampered'`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = Open(t.Context(), path)
	if err == nil {
		db.Close()
		t.Fatal("Open accepted a migration whose checksum changed")
	}
	if !strings.Contains(err.Error(), "changed") {
		t.Fatalf("Open: %v, want a changed-migration error", err)
	}
}

// TestSecondHandleWritesWhileFirstIsOpen simulates an admin command run
// while the server holds the file open with a read transaction in flight.
func TestSecondHandleWritesWhileFirstIsOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stele.db")
	serve := openTest(t, path)
	if err := serve.CreateAccount(t.Context(), &stele.Account{Name: "acme", Type: "team"}); err != nil {
		t.Fatal(err)
	}
	// The server keeps a read open and has just written: its connections are held.
	rows, err := serve.reader.QueryContext(t.Context(), `SELECT id FROM accounts`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	if !rows.Next() {
		t.Fatal("no account")
	}

	cli := openTest(t, path)
	a := &stele.Account{Name: "beta", Type: "free"}
	if err := cli.CreateAccount(t.Context(), a); err != nil {
		t.Fatalf("second handle cannot write: %v", err)
	}
	err = cli.Append(t.Context(), func(tx stele.AppendTx) error {
		return tx.SetHead(t.Context(), stele.Head{AccountID: a.ID, Size: 0})
	})
	if err != nil {
		t.Fatal(err)
	}
	rows.Close()
	got, err := serve.AccountByName(t.Context(), "beta")
	if err != nil || got.ID != a.ID {
		t.Fatalf("first handle does not see the second's write: %v, %v", got, err)
	}
	if err := serve.CreateAccount(t.Context(), &stele.Account{Name: "gamma", Type: "free"}); err != nil {
		t.Fatalf("first handle cannot write after the second: %v", err)
	}
}

// TestAppendFailsAfterIgnoredInsertError checks that an insert error, which
// rolls the whole transaction back, cannot be ignored into a partial commit.
func TestAppendFailsAfterIgnoredInsertError(t *testing.T) {
	db := openTest(t, filepath.Join(t.TempDir(), "stele.db"))
	ctx := t.Context()
	a := &stele.Account{Name: "acme", Type: "team"}
	if err := db.CreateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	row := benchRow(rand.New(rand.NewPCG(1, 1)), a.ID, 0, 100)
	err := db.Append(ctx, func(tx stele.AppendTx) error {
		if err := tx.InsertEvents(ctx, []stele.EventRow{row, row}); err == nil {
			return errors.New("duplicate seq accepted")
		}
		// Carry on as if nothing happened.
		return tx.SetHead(ctx, stele.Head{AccountID: a.ID, Size: 1})
	})
	if stele.ErrorCode(err) != stele.ECONFLICT {
		t.Fatalf("Append = %v, want ECONFLICT", err)
	}
	if h, err := db.CurrentHead(ctx, a.ID); err != nil || h.Size != 0 {
		t.Fatalf("head = %+v, %v; want nothing committed", h, err)
	}
	if n, err := db.CountRows(ctx, a.ID); err != nil || n != 0 {
		t.Fatalf("CountRows = %d, %v; want 0", n, err)
	}
	// The writer connection is usable afterwards.
	if err := db.CreateAccount(ctx, &stele.Account{Name: "beta", Type: "team"}); err != nil {
		t.Fatal(err)
	}
}

func TestQueryPlansUseIndexesInOrder(t *testing.T) {
	db := openTest(t, filepath.Join(t.TempDir(), "stele.db"))
	// Give the planner statistics like a real log's, so that the plan
	// is the one production sees.
	ctx := t.Context()
	if _, err := db.writer.ExecContext(ctx, `ANALYZE`); err != nil {
		t.Fatal(err)
	}
	one := []int64{42}
	cases := []struct {
		name  string
		q     stele.RowQuery
		index string
	}{
		{"newest page", stele.RowQuery{AccountID: 1, Limit: 100}, "events_time"},
		{"next page", stele.RowQuery{AccountID: 1, Limit: 100, HasBelow: true, BelowTime: 5, BelowSeq: 7}, "events_time"},
		{"time range", stele.RowQuery{AccountID: 1, Limit: 100, After: 1, Before: 9}, "events_time"},
		{"action", stele.RowQuery{AccountID: 1, Limit: 100, Filters: []stele.RowFilter{{Field: stele.FieldAction, Values: []string{"user.login"}}}}, "events_action"},
		{"action next page", stele.RowQuery{AccountID: 1, Limit: 100, HasBelow: true, BelowTime: 5, BelowSeq: 7,
			Filters: []stele.RowFilter{{Field: stele.FieldAction, Values: []string{"user.login"}}}}, "events_action"},
		{"action prefix", stele.RowQuery{AccountID: 1, Limit: 100, Filters: []stele.RowFilter{{Field: stele.FieldAction, Prefixes: []string{"user."}}}}, "events_time"},
		{"category", stele.RowQuery{AccountID: 1, Limit: 100, Filters: []stele.RowFilter{{Field: stele.FieldCategory, Values: []string{stele.CategoryAudit}}}}, "events_time"},
		{"target", stele.RowQuery{AccountID: 1, Limit: 100, Filters: []stele.RowFilter{{Field: stele.FieldTarget, Tokens: one}}}, "events_target"},
		{"ip", stele.RowQuery{AccountID: 1, Limit: 100, Filters: []stele.RowFilter{{Field: stele.FieldIP, Tokens: one}}}, "events_ip"},
		{"actor", stele.RowQuery{AccountID: 1, Limit: 100, Filters: []stele.RowFilter{{Field: stele.FieldActor, Tokens: one}}}, "events_actor_email"},
		{"actor next page", stele.RowQuery{AccountID: 1, Limit: 100, HasBelow: true, BelowTime: 5, BelowSeq: 7,
			Filters: []stele.RowFilter{{Field: stele.FieldActor, Tokens: []int64{1, 2}}, {Field: stele.FieldOutcome, Values: []string{"failure"}}}}, "events_actor ("},
		{"actions", stele.RowQuery{AccountID: 1, Limit: 100, Filters: []stele.RowFilter{{Field: stele.FieldAction, Values: []string{"user.login", "user.logout"}}}}, "events_action"},
		{"targets", stele.RowQuery{AccountID: 1, Limit: 100, Filters: []stele.RowFilter{{Field: stele.FieldTarget, Tokens: []int64{1, 2, 3}}}}, "events_target"},
		// action:user.login OR target:t: a union of the two indexes.
		{"action or target", stele.RowQuery{AccountID: 1, Limit: 100, Filters: []stele.RowFilter{{Field: stele.FieldGroup, Any: [][]stele.RowFilter{
			{{Field: stele.FieldAction, Values: []string{"user.login"}}}, {{Field: stele.FieldTarget, Tokens: one}}}}}}, "events_target"},
		{"action or target, the action's branch", stele.RowQuery{AccountID: 1, Limit: 100, Filters: []stele.RowFilter{{Field: stele.FieldGroup, Any: [][]stele.RowFilter{
			{{Field: stele.FieldAction, Values: []string{"user.login"}}}, {{Field: stele.FieldTarget, Tokens: one}}}}}}, "events_action"},
		// category:audit (actor:a OR ip:i outcome:failure)
		{"category and a group", stele.RowQuery{AccountID: 1, Limit: 100, Filters: []stele.RowFilter{
			{Field: stele.FieldCategory, Values: []string{stele.CategoryAudit}},
			{Field: stele.FieldGroup, Any: [][]stele.RowFilter{{{Field: stele.FieldActor, Tokens: one}},
				{{Field: stele.FieldIP, Tokens: one}, {Field: stele.FieldOutcome, Values: []string{"failure"}}}}}}}, "events_ip"},
	}
	for _, tc := range cases {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			plan := explain(t, ctx, db, tc.q)
			if !strings.Contains(plan, tc.index) {
				t.Errorf("plan does not use %s:\n%s", tc.index, plan)
			}
			// A union of branches sorts only rows tied on (time, seq), to
			// drop duplicates ("LAST n TERMS"); a sort of all of time's
			// order would read every matching row for one page.
			if strings.Contains(plan, "TEMP B-TREE FOR ORDER BY") || strings.Contains(plan, "TERMS OF ORDER BY") && !strings.Contains(plan, "MERGE (UNION)") {
				t.Errorf("plan sorts in a temp b-tree:\n%s", plan)
			}
			if strings.Contains(plan, "SCAN events") {
				t.Errorf("plan scans the table:\n%s", plan)
			}
		})
	}
}

func explain(t *testing.T, ctx context.Context, db *DB, q stele.RowQuery) string {
	t.Helper()
	query, args, err := buildRowQuery(q)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := db.reader.QueryContext(ctx, `EXPLAIN QUERY PLAN `+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		b.WriteString(detail + "\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}
