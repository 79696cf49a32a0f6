package search_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/datapath"
	"github.com/stele-audit/stele/internal/ingest"
	"github.com/stele-audit/stele/internal/query"
	"github.com/stele-audit/stele/internal/seal"
	"github.com/stele-audit/stele/internal/search"
	"github.com/stele-audit/stele/internal/sqlite"
	"github.com/stele-audit/stele/internal/sqlite/sqlitetest"
)

// queriedStore keeps the row queries a search sends.
type queriedStore struct {
	stele.EventStore
	mu      sync.Mutex
	queries []stele.RowQuery
}

func (s *queriedStore) Rows(ctx context.Context, q stele.RowQuery) ([]stele.EventRow, error) {
	s.mu.Lock()
	s.queries = append(s.queries, q)
	s.mu.Unlock()
	return s.EventStore.Rows(ctx, q)
}

// A positive action prefix is searched as the actions the account has
// under it, when they are few, and as a prefix otherwise; either way every
// page holds what the prefix matches, newest first.
func TestPrefixSearchesReadTheActionsUnderThePrefix(t *testing.T) {
	ctx := t.Context()
	db, c, acct := newSQLiteCore(t)
	now := time.Now().UTC().Truncate(time.Second)
	const n = 3000
	actions := make([]string, n)
	var batch []stele.Event
	for i := range n {
		// 40 actions under bulk. (more than a union takes), a few rare
		// ones, and one that shares rare's letters but not its dot.
		actions[i] = fmt.Sprintf("bulk.a%02d", i%40)
		switch {
		case i%500 == 3:
			actions[i] = "rare.one"
		case i%700 == 5:
			actions[i] = "rare.two"
		case i%900 == 7:
			actions[i] = "rarely.x"
		}
		// Times out of seq order, with ties.
		tm := now.Add(-time.Duration((i*7919)%n/2) * time.Second)
		batch = append(batch, stele.Event{Account: "acme", Action: actions[i], Category: stele.CategorySystem, Outcome: stele.OutcomeSuccess, Time: tm})
		if len(batch) == 500 {
			if _, err := c.Ingest.Record(ctx, batch...); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	store := &queriedStore{EventStore: db}
	svc := search.New(store, c.Keyring)
	for _, tc := range []struct {
		q        string
		match    func(action string) bool
		expanded []string // the actions the store is asked for; nil: the prefix itself
	}{
		{"action:rare.*", func(a string) bool { return strings.HasPrefix(a, "rare.") }, []string{"rare.one", "rare.two"}},
		{"action:rare*", func(a string) bool { return strings.HasPrefix(a, "rare") }, []string{"rare.one", "rare.two", "rarely.x"}},
		{"action:rare.*,bulk.a07", func(a string) bool { return strings.HasPrefix(a, "rare.") || a == "bulk.a07" },
			[]string{"bulk.a07", "rare.one", "rare.two"}},
		{"action:none.*", func(a string) bool { return false }, []string{}},
		{"action:bulk.*", func(a string) bool { return strings.HasPrefix(a, "bulk.") }, nil},
		{"-action:rare.*", func(a string) bool { return !strings.HasPrefix(a, "rare.") }, nil},
	} {
		t.Run(tc.q, func(t *testing.T) {
			q, err := query.Parse(tc.q, now)
			if err != nil {
				t.Fatal(err)
			}
			store.queries = nil
			var got []int64
			cursor := ""
			for {
				p, err := svc.Search(ctx, acct, q, cursor, 50)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range p.Events {
					got = append(got, e.Seq)
				}
				if cursor = p.NextCursor; cursor == "" {
					break
				}
			}
			var want []int64
			for seq := range int64(n) {
				if tc.match(actions[seq]) {
					want = append(want, seq)
				}
			}
			// Newest first: by time, then seq, descending.
			times := map[int64]time.Time{}
			for seq := range int64(n) {
				times[seq] = now.Add(-time.Duration((int(seq)*7919)%n/2) * time.Second)
			}
			slices.SortFunc(want, func(a, b int64) int {
				if c := times[b].Compare(times[a]); c != 0 {
					return c
				}
				return int(b - a)
			})
			if !slices.Equal(got, want) {
				t.Fatalf("%d events, want %d", len(got), len(want))
			}
			f := store.queries[0].Filters[0]
			switch {
			case tc.expanded == nil && len(f.Prefixes) == 0:
				t.Fatalf("prefix not kept: %+v", f)
			case tc.expanded != nil && (len(f.Prefixes) != 0 || !slices.Equal(f.Values, tc.expanded)):
				t.Fatalf("the store was asked for %+v, want the actions %q", f, tc.expanded)
			}
		})
	}
}

// newSQLiteCore opens a SQLite store in a temporary directory, starts the
// core services on it, and creates the account acme; all are closed when
// the test ends.
// keysOf is the key store of a store newSQLiteCore made.
func keysOf(db *sqlite.DB) string { return db.Path() + ".keys" }

func newSQLiteCore(t *testing.T) (*sqlite.DB, *datapath.Path, *stele.Account) {
	t.Helper()
	dir := t.TempDir()
	db, err := sqlite.Open(t.Context(), filepath.Join(dir, "stele.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	master, _ := seal.NewMasterKey(1, bytes.Repeat([]byte{7}, 32))
	c := datapath.Start(db, sqlitetest.KeysAt(t, keysOf(db)), master, slog.New(slog.NewTextHandler(io.Discard, nil)), ingest.WriterConfig{})
	t.Cleanup(c.Stop)
	acct := &stele.Account{Name: "acme", Type: "business"}
	if err := db.CreateAccount(t.Context(), acct); err != nil {
		t.Fatal(err)
	}
	return db, c, acct
}
