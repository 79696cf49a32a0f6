package search_test

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/datapath"
	"github.com/stele-audit/stele/internal/ingest"
	"github.com/stele-audit/stele/internal/postgres"
	"github.com/stele-audit/stele/internal/postgres/pgtest"
	"github.com/stele-audit/stele/internal/query"
	"github.com/stele-audit/stele/internal/seal"
	"github.com/stele-audit/stele/internal/search"
	"github.com/stele-audit/stele/internal/sqlite/sqlitetest"
)

// refusedCursor fails t unless err is the 400 a cursor not issued for this
// account and query gets: field cursor, and a message that says what to do.
func refusedCursor(t *testing.T, what string, err error) {
	t.Helper()
	e, ok := err.(*stele.Error)
	if !ok || e.Code != stele.EINVALID || len(e.Details) != 1 || e.Details[0].Field != "cursor" ||
		!strings.Contains(e.Message, "first page") {
		t.Fatalf("%s: error %v, want an EINVALID on field cursor that says to start from the first page", what, err)
	}
}

// TestCursorIsBoundToAccountAndQuery: a cursor continues only the query
// and account it was issued for, unedited; any other use is a 400 on the
// cursor field. It is compact and URL-safe, and every node that holds the
// account's keys accepts it, after a restart and a key rotation too.
func TestCursorIsBoundToAccountAndQuery(t *testing.T) {
	ctx := t.Context()
	db, c, acme := newSQLiteCore(t)
	globex := &stele.Account{Name: "globex", Type: "business"}
	if err := db.CreateAccount(ctx, globex); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	var events []stele.Event
	for i := range 30 {
		for _, a := range []string{"acme", "globex"} {
			events = append(events, stele.Event{Account: a, Action: "user.login", Outcome: stele.OutcomeSuccess,
				Actor: &stele.Ref{ID: fmt.Sprintf("u_%d", i%3)}, Time: now.Add(-time.Duration(i) * time.Minute)})
		}
	}
	if _, err := c.Ingest.Record(ctx, events...); err != nil {
		t.Fatal(err)
	}
	parse := func(s string) stele.Query {
		q, err := query.Parse(s, now)
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	q := parse("action:user.login -actor:u_2 after:2000-01-01")
	first, err := c.Search.Search(ctx, acme, q, "", 5)
	if err != nil || first.NextCursor == "" {
		t.Fatalf("first page: %v %+v", err, first)
	}
	cursor := first.NextCursor
	if len(cursor) > 48 || url.QueryEscape(cursor) != cursor {
		t.Errorf("cursor %q is not compact and URL-safe", cursor)
	}
	second, err := c.Search.Search(ctx, acme, q, cursor, 5)
	if err != nil || len(second.Events) != 5 || !second.Events[0].Time.Before(first.Events[4].Time) {
		t.Fatalf("second page: %v %+v", err, second)
	}

	_, err = c.Search.Search(ctx, globex, q, cursor, 5)
	refusedCursor(t, "another account", err)
	for _, other := range []string{
		"action:user.login -actor:u_1 after:2000-01-01", "action:user.login actor:u_2 after:2000-01-01",
		"action:user.login -actor:u_2 after:2000-01-02", "action:user.login -actor:u_2", "-actor:u_2 after:2000-01-01 action:user.login",
		"action:user.login -actor:u_2 after:2000-01-01 before:2100-01-01", "action:user.login,user.logout -actor:u_2 after:2000-01-01",
	} {
		_, err := c.Search.Search(ctx, acme, parse(other), cursor, 5)
		refusedCursor(t, other, err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		t.Fatal(err)
	}
	for bit := range 8 * len(raw) {
		edited := append([]byte(nil), raw...)
		edited[bit/8] ^= 1 << (bit % 8)
		_, err := c.Search.Search(ctx, acme, q, base64.RawURLEncoding.EncodeToString(edited), 5)
		refusedCursor(t, fmt.Sprintf("bit %d flipped", bit), err)
	}
	for _, bad := range []string{"nonsense", cursor + "A", cursor[:len(cursor)-2], "AQ", "Ag"} {
		_, err := c.Search.Search(ctx, acme, q, bad, 5)
		refusedCursor(t, bad, err)
	}
	// A cursor of the unauthenticated format cursors had before.
	old := binary.AppendUvarint(binary.AppendVarint([]byte{1}, first.Events[4].Time.UnixMicro()), uint64(first.Events[4].Seq))
	_, err = c.Search.Search(ctx, acme, q, base64.RawURLEncoding.EncodeToString(old), 5)
	refusedCursor(t, "an unauthenticated cursor", err)

	// Another node, or this one restarted: the same store, the same master key.
	master, _ := seal.NewMasterKey(1, []byte(strings.Repeat("\x07", 32)))
	node := search.New(db, seal.NewKeyring(master, sqlitetest.KeysAt(t, keysOf(db))))
	if p, err := node.Search(ctx, acme, q, cursor, 5); err != nil || p.Events[0].ID != second.Events[0].ID {
		t.Fatalf("another node: %v", err)
	}
	// A rotation keeps the cursors issued before it; a cursor issued
	// under the new key is taken by a node that had not seen the rotation.
	if _, err := c.Keyring.Rotate(ctx, acme.ID); err != nil {
		t.Fatal(err)
	}
	if p, err := c.Search.Search(ctx, acme, q, cursor, 5); err != nil || p.Events[0].ID != second.Events[0].ID {
		t.Fatalf("after a rotation: %v", err)
	}
	rotated, err := c.Search.Search(ctx, acme, q, second.NextCursor, 5)
	if err != nil || rotated.NextCursor == "" {
		t.Fatalf("after a rotation: %v", err)
	}
	if p, err := node.Search(ctx, acme, q, rotated.NextCursor, 5); err != nil || len(p.Events) == 0 {
		t.Fatalf("a node that had not seen the rotation: %v", err)
	}
}

// TestCursorIsBoundToTheQueryAsRead: a cursor of a query with OR and
// parentheses continues that query however it is written, and no other:
// not one grouped otherwise, negated otherwise, or with another value.
func TestCursorIsBoundToTheQueryAsRead(t *testing.T) {
	ctx := t.Context()
	_, c, acme := newSQLiteCore(t)
	now := time.Now().UTC().Truncate(time.Second)
	var events []stele.Event
	for i := range 40 {
		events = append(events, stele.Event{Account: "acme", Action: []string{"user.login", "user.logout"}[i%2], Outcome: stele.OutcomeSuccess,
			Actor: &stele.Ref{ID: fmt.Sprintf("u_%d", i%3)}, Time: now.Add(-time.Duration(i) * time.Minute)})
	}
	if _, err := c.Ingest.Record(ctx, events...); err != nil {
		t.Fatal(err)
	}
	parse := func(s string) stele.Query {
		q, err := query.Parse(s, now)
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	q := parse("action:user.login OR (actor:u_1 -action:user.logout) OR actor:u_2")
	first, err := c.Search.Search(ctx, acme, q, "", 5)
	if err != nil || first.NextCursor == "" {
		t.Fatalf("first page: %v %+v", err, first)
	}
	for _, same := range []string{"action:user.login OR (actor:u_1 -action:user.logout) OR actor:u_2",
		"(action:user.login OR (actor:u_1 AND -action:user.logout)) OR actor:u_2", "action:user.login OR actor:u_1 -action:user.logout OR actor:u_2"} {
		if p, err := c.Search.Search(ctx, acme, parse(same), first.NextCursor, 5); err != nil || len(p.Events) == 0 {
			t.Errorf("%q, the same query written otherwise: %v", same, err)
		}
	}
	for _, other := range []string{
		"action:user.login OR (actor:u_1 -action:user.logout) OR actor:u_1",
		"action:user.login OR -(actor:u_1 -action:user.logout) OR actor:u_2",
		"action:user.login OR (actor:u_1 action:user.logout) OR actor:u_2",
		"(action:user.login OR actor:u_1) -action:user.logout OR actor:u_2",
		"action:user.login actor:u_1 -action:user.logout actor:u_2",
		"action:user.login (actor:u_1 -action:user.logout) actor:u_2",
	} {
		_, err := c.Search.Search(ctx, acme, parse(other), first.NextCursor, 5)
		refusedCursor(t, other, err)
	}
	// Repeats joined are the list they join into.
	rq := parse("actor:u_1 actor:u_2")
	p, err := c.Search.Search(ctx, acme, rq, "", 5)
	if err != nil || p.NextCursor == "" {
		t.Fatalf("repeats: %v", err)
	}
	if _, err := c.Search.Search(ctx, acme, parse("actor:u_1,u_2"), p.NextCursor, 5); err != nil {
		t.Errorf("actor:u_1,u_2 refused the cursor of actor:u_1 actor:u_2: %v", err)
	}
}

// TestPagingWithRelativeTimesReachesTheEnd: after:24h and before:1h move
// with the clock, so each page parses to other instants; paging still
// goes on to the end, each event once.
func TestPagingWithRelativeTimesReachesTheEnd(t *testing.T) {
	ctx := t.Context()
	_, c, acme := newSQLiteCore(t)
	now := time.Now().UTC().Truncate(time.Second)
	var events []stele.Event
	want := map[int64]bool{}
	for i := range 120 {
		// Every 20 minutes over 40 hours, none near the bounds' edges.
		at := now.Add(-time.Duration(i)*20*time.Minute - 10*time.Minute)
		events = append(events, stele.Event{Account: "acme", Action: "user.login", Outcome: stele.OutcomeSuccess, Time: at})
	}
	rs, err := c.Ingest.Record(ctx, events...)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rs {
		if age := now.Sub(events[i].Time); age > time.Hour && age < 24*time.Hour {
			want[r.Seq] = true
		}
	}
	seen := map[int64]bool{}
	cursor := ""
	for page := 0; ; page++ {
		// Each page is asked for a little later.
		q, err := query.Parse("after:24h before:1h", now.Add(time.Duration(page)*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		p, err := c.Search.Search(ctx, acme, q, cursor, 7)
		if err != nil {
			t.Fatalf("page %d: %v", page, err)
		}
		for _, e := range p.Events {
			if seen[e.Seq] || !want[e.Seq] {
				t.Fatalf("page %d: event %d again or outside the bounds", page, e.Seq)
			}
			seen[e.Seq] = true
		}
		if cursor = p.NextCursor; cursor == "" {
			break
		}
	}
	if len(seen) != len(want) {
		t.Fatalf("paged through %d events, want %d", len(seen), len(want))
	}
	// The bound as written is part of the query: after:1d is another one.
	q, _ := query.Parse("after:24h before:1h", now)
	p, err := c.Search.Search(ctx, acme, q, "", 7)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := query.Parse("after:2d before:1h", now)
	_, err = c.Search.Search(ctx, acme, other, p.NextCursor, 7)
	refusedCursor(t, "another relative bound", err)
}

// TestCursorOfOneNodeIsTakenByAnotherOnPostgreSQL: two nodes of a cluster,
// each with its own keyring, on one PostgreSQL database: a page begun on
// one goes on on the other, and an edited cursor is refused by both.
func TestCursorOfOneNodeIsTakenByAnotherOnPostgreSQL(t *testing.T) {
	server := os.Getenv("STELE_TEST_POSTGRES_URL")
	if server == "" {
		t.Skip("STELE_TEST_POSTGRES_URL is not set")
	}
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("stele_cursor_%d", time.Now().UnixNano())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	t.Cleanup(func() {
		if c, err := pgx.Connect(context.Background(), server); err == nil {
			c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(context.Background())
		}
	})
	u, _ := url.Parse(server)
	u.Path = "/" + name
	master, _ := seal.NewMasterKey(1, []byte(strings.Repeat("\x05", 32)))
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	var nodes []*datapath.Path
	keys, err := postgres.OpenKeys(ctx, pgtest.NewSchema(t)) // the nodes share it, as they share the database
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { keys.Close() })
	for range 2 {
		db, err := postgres.Open(ctx, u.String())
		if err != nil {
			t.Fatal(err)
		}
		c := datapath.Start(db, keys, master, logger, ingest.WriterConfig{})
		t.Cleanup(func() { c.Stop(); db.Close() })
		nodes = append(nodes, c)
		if len(nodes) == 1 {
			if err := db.CreateAccount(ctx, &stele.Account{Name: "acme", Type: "business"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	acme := &stele.Account{Name: "acme"}
	now := time.Now().UTC().Truncate(time.Second)
	var events []stele.Event
	for i := range 12 {
		events = append(events, stele.Event{Account: "acme", Action: "user.login", Time: now.Add(-time.Duration(i) * time.Minute)})
	}
	rs, err := nodes[0].Ingest.Record(ctx, events...)
	if err != nil {
		t.Fatal(err)
	}
	acme.ID, _, _ = stele.ParseEventID(rs[0].ID)
	q, _ := query.Parse("after:24h", now)
	first, err := nodes[0].Search.Search(ctx, acme, q, "", 5)
	if err != nil || first.NextCursor == "" {
		t.Fatalf("first page: %v", err)
	}
	later, _ := query.Parse("after:24h", now.Add(time.Minute))
	second, err := nodes[1].Search.Search(ctx, acme, later, first.NextCursor, 5)
	if err != nil || len(second.Events) != 5 || second.Events[0].Seq != 5 {
		t.Fatalf("the other node: %v %+v", err, second)
	}
	edited := []byte(first.NextCursor)
	edited[len(edited)/2] ^= 'A' ^ 'B'
	for i, c := range nodes {
		_, err := c.Search.Search(ctx, acme, q, string(edited), 5)
		refusedCursor(t, fmt.Sprintf("node %d, an edited cursor", i), err)
	}
}
