package postgres

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stele-audit/stele/internal/postgres/pgtest"
)

// Two nodes want the same job: one leads; when its connection is killed,
// it stops the job and the other takes over within seconds.
func TestLeadershipFailsOverWhenTheLeaderConnectionDies(t *testing.T) {
	url := pgtest.NewDatabase(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	type event struct {
		node    int
		leading bool
	}
	events := make(chan event, 16)
	var wg sync.WaitGroup
	var dbs [2]*DB
	for i := range dbs {
		db, err := Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		dbs[i] = db
		l := &Leadership{DB: db, Retry: 200 * time.Millisecond, Ping: 200 * time.Millisecond}
		wg.Go(func() {
			l.Lead(ctx, "checkpoints", func(jctx context.Context) error {
				events <- event{i, true}
				<-jctx.Done()
				events <- event{i, false}
				return nil
			})
		})
	}
	defer wg.Wait()
	defer cancel()
	next := func(what string) event {
		t.Helper()
		select {
		case e := <-events:
			return e
		case <-time.After(10 * time.Second):
			t.Fatalf("no %s within 10 s", what)
		}
		return event{}
	}
	first := next("leader")
	if !first.leading {
		t.Fatalf("first event %+v", first)
	}
	// Only one leads: nothing else happens while the first holds the lock.
	select {
	case e := <-events:
		t.Fatalf("second event %+v while node %d leads", e, first.node)
	case <-time.After(time.Second):
	}
	// Kill the leader's session, as a crash or a network cut would end it.
	var pid int32
	err := dbs[0].pool.QueryRow(ctx, `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = $1::oid`,
		uint32(leaderLockClass)).Scan(&pid)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := dbs[0].pool.Exec(ctx, `SELECT pg_terminate_backend($1)`, pid); err != nil {
		t.Fatal(err)
	}
	got := map[event]bool{next("failover"): true, next("failover"): true}
	if !got[event{first.node, false}] || !got[event{1 - first.node, true}] {
		t.Fatalf("after killing node %d's connection: %v", first.node, got)
	}
	t.Logf("failover took %v", time.Since(start))
}
