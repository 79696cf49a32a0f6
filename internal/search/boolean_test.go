package search_test

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/datapath"
	"github.com/stele-audit/stele/internal/ingest"
	"github.com/stele-audit/stele/internal/postgres"
	"github.com/stele-audit/stele/internal/postgres/pgtest"
	"github.com/stele-audit/stele/internal/query"
	"github.com/stele-audit/stele/internal/seal"
	"github.com/stele-audit/stele/internal/search"
	"github.com/stele-audit/stele/internal/sqlite"
	"github.com/stele-audit/stele/internal/sqlite/sqlitetest"
)

// booleanQueries are the shapes of repeats, OR and parentheses, each
// with other terms around it.
var booleanQueries = []string{
	"action:user.login action:user.logout",
	"-action:user.login -action:user.logout",
	"action:user.login OR action:settings.updated",
	"action:user.login OR actor:bob@acme.io",
	"(actor:ada@acme.io OR actor:u_bob) category:authentication",
	"category:authentication (action:user.login_failed OR outcome:failure)",
	"-(actor:ada@acme.io OR source:gh-1)",
	"-(action:user.login outcome:success) category:authentication",
	"action:user.* OR target:t_2 -outcome:unknown",
	"(action:user.login ip:10.0.0.1) OR (action:finding.* -source:gh-1) OR actor:nobody",
	"action:user.login (action:user.login OR action:user.logout)",
	"alpha OR action:settings.updated",
	"-(alpha OR actor:u_bob) outcome:success",
	"action:user.login or",
	"(target:t_1 OR (ip:10.0.0.2 -(actor:ada@acme.io))) action:user.login_failed,finding.generated",
}

// Every read path gives a query with OR and parentheses the events that
// match it: a page at a time with cursors, the exports' two streams, and
// the chart's counts; on SQLite and on PostgreSQL.
func TestBooleanQueriesReadTheSameEventsOnEveryPath(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "stele.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		testBooleanQueries(t, db)
	})
	t.Run("postgres", func(t *testing.T) {
		db, err := postgres.Open(t.Context(), pgtest.NewSchema(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		testBooleanQueries(t, db)
	})
}

func testBooleanQueries(t *testing.T, db stele.Store) {
	ctx := t.Context()
	master, _ := seal.NewMasterKey(1, bytes.Repeat([]byte{7}, 32))
	c := datapath.Start(db, sqlitetest.Keys(t), master, slog.New(slog.NewTextHandler(io.Discard, nil)), ingest.WriterConfig{})
	t.Cleanup(c.Stop)
	acct := &stele.Account{Name: "acme", Type: "business"}
	if err := db.CreateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	actions := []string{"user.login", "user.logout", "user.login_failed", "settings.updated", "finding.generated"}
	actors := []*stele.Ref{{Type: "user", ID: "u_ada", Email: "ada@acme.io"}, {Type: "user", ID: "u_bob", Email: "bob@acme.io"}, nil}
	var batch []stele.Event
	for i := range 300 {
		e := stele.Event{Account: "acme", Action: actions[i%5], Outcome: stele.Outcomes[i%3], Actor: actors[i%7%3],
			Time: now.Add(-time.Duration(i*37%300) * time.Minute), Description: []string{"alpha run", "beta run or walk"}[i%2]}
		e.Category = stele.Catalog[e.Action]
		if i%4 != 0 {
			e.Target = &stele.Ref{Type: "user", ID: fmt.Sprintf("t_%d", i%3)}
		}
		if i%5 == 1 {
			e.Source = &stele.Ref{Type: "github", ID: "gh-1"}
		}
		if i%6 != 0 {
			e.IP = fmt.Sprintf("10.0.0.%d", i%3)
		}
		batch = append(batch, e)
	}
	if _, err := c.Ingest.Record(ctx, batch...); err != nil {
		t.Fatal(err)
	}
	var every []*stele.Event
	if _, err := c.Search.Each(ctx, acct, stele.Query{}, func(e *stele.Event) error { every = append(every, e); return nil }); err != nil {
		t.Fatal(err)
	}
	for _, text := range booleanQueries {
		t.Run(text, func(t *testing.T) {
			q, err := query.Parse(text, now)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, e := range every {
				if search.Matches(e, q) {
					want = append(want, e.ID)
				}
			}
			if len(want) == 0 || len(want) == len(every) {
				t.Fatalf("%d of %d events match: a weak case", len(want), len(every))
			}
			var paged []string
			for cursor := ""; ; {
				p, err := c.Search.Search(ctx, acct, q, cursor, 7)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range p.Events {
					paged = append(paged, e.ID)
				}
				if cursor = p.NextCursor; cursor == "" {
					break
				}
			}
			if !slices.Equal(paged, want) {
				t.Fatalf("Search pages: %d events\nwant %d: %v\n got %v", len(paged), len(want), want, paged)
			}
			var each []string
			if _, err := c.Search.Each(ctx, acct, q, func(e *stele.Event) error { each = append(each, e.ID); return nil }); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(each, want) {
				t.Fatalf("Each: %v\nwant %v", each, want)
			}
			var encoded []byte
			if _, err := c.Search.Encode(ctx, acct, q, func(dst []byte, e *stele.Event) ([]byte, error) {
				return append(append(dst, e.ID...), ' '), nil
			}, func(b []byte) error { encoded = append(encoded, b...); return nil }); err != nil {
				t.Fatal(err)
			}
			if got := string(bytes.TrimSpace(encoded)); got != fmt.Sprint(want)[1:len(fmt.Sprint(want))-1] {
				t.Fatalf("Encode: %s\nwant %v", got, want)
			}
			if q.HasText() {
				return // the chart cannot count text
			}
			rq, err := c.Search.Plan(ctx, acct, q)
			if err != nil {
				t.Fatal(err)
			}
			counts, err := db.CountByBucket(ctx, rq, time.Hour.Microseconds())
			if err != nil {
				t.Fatal(err)
			}
			var n int64
			for _, b := range counts {
				n += b.Count
			}
			if n != int64(len(want)) {
				t.Fatalf("CountByBucket counts %d events, want %d", n, len(want))
			}
		})
	}
}
