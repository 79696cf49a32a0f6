package postgres

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/postgres/pgtest"
	"github.com/stele-audit/stele/internal/storetest"
)

// openTest opens a store on a new, empty schema.
func openTest(t *testing.T) *DB {
	t.Helper()
	db, err := Open(t.Context(), pgtest.NewSchema(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestStoreContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) stele.Store { return openTest(t) })
}

func TestKeyStoreContract(t *testing.T) {
	storetest.RunKeyStore(t, func(t *testing.T) stele.KeyStore {
		k, err := OpenKeys(t.Context(), pgtest.NewSchema(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { k.Close() })
		return k
	})
}

// The contract suite again with every batch of events sent by COPY, so
// that both insert paths are held to it.
func TestStoreContractWithCopy(t *testing.T) {
	storetest.Run(t, func(t *testing.T) stele.Store {
		db := openTest(t)
		db.copyMin = 1
		return db
	})
}

func TestOpenPingsAndSizes(t *testing.T) {
	db := openTest(t)
	if err := db.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n, err := db.Size(t.Context()); err != nil || n <= 0 {
		t.Fatalf("Size = %d, %v", n, err)
	}
	if _, err := db.EventsSize(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestNodesStartingTogetherMigrateOnce(t *testing.T) {
	url := pgtest.NewDatabase(t)
	const nodes = 4
	var wg sync.WaitGroup
	errs := make([]error, nodes)
	for i := range nodes {
		wg.Go(func() {
			db, err := Open(t.Context(), url)
			if err == nil {
				db.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	db, err := Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.pool.QueryRow(t.Context(), `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	files, _ := migrationNames()
	if n != len(files) {
		t.Fatalf("%d migrations recorded, want %d", n, len(files))
	}
}

func TestChangedMigrationIsRefused(t *testing.T) {
	db := openTest(t)
	changed := fstest.MapFS{"0001_initial.sql": {Data: []byte("SELECT 1")}}
	err := db.migrate(t.Context(), changed)
	if err == nil {
		t.Fatal("a changed migration was accepted")
	}
}

func TestPartitionsAreCreatedAndRowsRouted(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	parts, err := db.Partitions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) < 4 {
		t.Fatalf("%d partitions after Open, want at least 4 around now", len(parts))
	}
	a := &stele.Account{Name: "acme", Type: "team"}
	if err := db.CreateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	// An event of 2020 lands in the default partition, then moves into the
	// month's partition when that is created.
	old := time.Date(2020, 3, 14, 0, 0, 0, 0, time.UTC)
	row := stele.EventRow{AccountID: a.ID, Seq: 0, Time: old.UnixMicro(), ReceivedAt: old.UnixMicro(), Action: "user.login",
		Category: stele.CategoryAuthentication, Outcome: stele.OutcomeSuccess, KeyVersion: 1, Payload: []byte("p")}
	err = db.Append(ctx, func(tx stele.AppendTx) error {
		if _, err := tx.Head(ctx, a.ID); err != nil {
			return err
		}
		return tx.InsertEvents(ctx, []stele.EventRow{row})
	})
	if err != nil {
		t.Fatal(err)
	}
	if where := partitionOf(t, db, a.ID, 0); where != "events_default" {
		t.Fatalf("old event stored in %s, want events_default", where)
	}
	if err := db.EnsurePartitions(ctx, old, old); err != nil {
		t.Fatal(err)
	}
	if where := partitionOf(t, db, a.ID, 0); where != "events_p202003" {
		t.Fatalf("old event in %s after its month got a partition, want events_p202003", where)
	}
	// A partition purged empty is dropped; one with rows is kept.
	if err := db.EnsurePartitions(ctx, old.AddDate(0, 1, 0), old.AddDate(0, 1, 0)); err != nil {
		t.Fatal(err)
	}
	dropped, err := db.DropEmptyPartitions(ctx, old.AddDate(0, 2, 0))
	if err != nil {
		t.Fatal(err)
	}
	if len(dropped) != 1 || dropped[0] != "events_p202004" {
		t.Fatalf("dropped %v, want [events_p202004]", dropped)
	}
	if _, err := db.Row(ctx, a.ID, 0); err != nil {
		t.Fatal(err)
	}
}

func partitionOf(t *testing.T, db *DB, account, seq int64) string {
	t.Helper()
	var name string
	err := db.pool.QueryRow(t.Context(), `SELECT tableoid::regclass::text FROM events WHERE account_id = $1 AND seq = $2`, account, seq).Scan(&name)
	if err != nil {
		t.Fatal(err)
	}
	return name
}

// Two nodes' appends to one account take turns on the head row: every
// append reads the head the previous one committed.
func TestAppendsFromTwoPoolsStayGapFree(t *testing.T) {
	url := pgtest.NewDatabase(t)
	ctx := t.Context()
	var nodes [2]*DB
	for i := range nodes {
		db, err := Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		nodes[i] = db
	}
	a := &stele.Account{Name: "acme", Type: "team"}
	if err := nodes[0].CreateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	const each = 40
	var wg sync.WaitGroup
	errs := make(chan error, 4*each)
	for w := range 4 {
		db := nodes[w%2]
		wg.Go(func() {
			for range each {
				errs <- db.Append(ctx, func(tx stele.AppendTx) error { return appendOne(ctx, tx, a.ID) })
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var n, distinct, maxSeq int64
	err := nodes[1].pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT seq), max(seq) FROM events WHERE account_id = $1`, a.ID).Scan(&n, &distinct, &maxSeq)
	if err != nil {
		t.Fatal(err)
	}
	if n != 4*each || distinct != n || maxSeq != n-1 {
		t.Fatalf("%d rows, %d distinct seqs, max %d; want %d gap-free", n, distinct, maxSeq, 4*each)
	}
}

func appendOne(ctx context.Context, tx stele.AppendTx, account int64) error {
	h, err := tx.Head(ctx, account)
	if err != nil {
		return err
	}
	now := time.Now().UnixMicro()
	r := stele.EventRow{AccountID: account, Seq: h.Size, Time: now, ReceivedAt: now, Action: "user.login",
		Category: stele.CategoryAuthentication, Outcome: stele.OutcomeSuccess, KeyVersion: 1, Payload: []byte("p")}
	if err := tx.InsertEvents(ctx, []stele.EventRow{r}); err != nil {
		return err
	}
	h.Size++
	return tx.SetHead(ctx, h)
}
