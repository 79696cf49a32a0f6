package search_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/query"
	"github.com/stele-audit/stele/internal/search"
	"github.com/stele-audit/stele/internal/sqlstore"
)

// pagedStore scans by paging with Rows, as the PostgreSQL store does,
// rather than with SQLite's own reader.
type pagedStore struct{ stele.EventStore }

func (p pagedStore) ScanQuery(ctx context.Context, q stele.RowQuery, fn func(*stele.EventRow) error) error {
	return sqlstore.ScanPages(ctx, p.Rows, q, 1000, fn)
}

// TestEncodeMatchesEach checks that Encode hands over exactly the events
// Each passes, in the same order, with SQLite's scanner and paging with Rows.
func TestEncodeMatchesEach(t *testing.T) {
	ctx := t.Context()
	db, c, acct := newSQLiteCore(t)
	keyring, ing := c.Keyring, c.Ingest
	now := time.Now().UTC().Truncate(time.Second)
	const n = 12_000 // several pages of the scanner and many chunks
	var batch []stele.Event
	for i := range n {
		// Mostly in seq order, some late (with old times, out of seq
		// order), ties on time.
		tm := now.Add(-time.Duration(n-i) * time.Second / 2)
		if i%20 == 7 { // a little late: pages stay dense in seqs
			tm = tm.Add(-time.Duration((i*7919)%1000) * time.Second)
		}
		if i%997 == 5 { // very late: older than the rest
			tm = now.Add(-time.Duration(n+i) * time.Second)
		}
		u := i % 13
		batch = append(batch, stele.Event{Account: "acme", Action: []string{"user.login", "user.logout", "settings.updated"}[i%3],
			Outcome: []string{stele.OutcomeSuccess, stele.OutcomeFailure}[i%5/4], Time: tm,
			Actor:       &stele.Ref{Type: "user", ID: fmt.Sprintf("u_%d", u), Email: fmt.Sprintf("user%d@acme.example", u)},
			Description: fmt.Sprintf("event %d %s", i, []string{"alpha", "beta"}[i%2]),
			Metadata:    map[string]any{"i": strconv.Itoa(i)}})
		if len(batch) == 1000 {
			if _, err := ing.Record(ctx, batch...); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	enc := func(dst []byte, e *stele.Event) ([]byte, error) {
		return fmt.Appendf(dst, "%d %s %s %v\n", e.Seq, e.Time.Format(time.RFC3339Nano), e.Description, e.Metadata["i"]), nil
	}
	for _, qs := range []string{"", "actor:user3@acme.example", "beta", "action:user.login outcome:failure", "-alpha actor:u_5,u_6",
		"after:" + now.Add(-time.Hour).Format(time.RFC3339) + " before:" + now.Add(-30*time.Minute).Format(time.RFC3339)} {
		q, err := query.Parse(qs, now)
		if err != nil {
			t.Fatal(err)
		}
		for _, store := range []stele.EventStore{db, pagedStore{db}} {
			s := search.New(store, keyring)
			var want []byte
			wn, err := s.Each(ctx, acct, q, func(e *stele.Event) error {
				want, err = enc(want, e)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			var got []byte
			gn, err := s.Encode(ctx, acct, q, enc, func(b []byte) error {
				got = append(got, b...)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if gn != wn || !bytes.Equal(got, want) {
				t.Fatalf("%q (%T): Encode gave %d events, Each %d; equal bytes %v", qs, store, gn, wn, bytes.Equal(got, want))
			}
			if qs == "" && gn != n {
				t.Fatalf("all: %d events, want %d", gn, n)
			}
		}
	}

	// A failing writer or encoder stops the export with its error.
	s := search.New(db, keyring)
	stop := errors.New("stop")
	calls := 0
	if _, err := s.Encode(ctx, acct, stele.Query{}, enc, func([]byte) error {
		if calls++; calls == 3 {
			return stop
		}
		return nil
	}); !errors.Is(err, stop) {
		t.Fatalf("writer error: %v", err)
	}
	var k atomic.Int64 // encoders run on several goroutines
	if _, err := s.Encode(ctx, acct, stele.Query{}, func(dst []byte, e *stele.Event) ([]byte, error) {
		if k.Add(1) == 5000 {
			return dst, stop
		}
		return enc(dst, e)
	}, func([]byte) error { return nil }); !errors.Is(err, stop) {
		t.Fatalf("encoder error: %v", err)
	}
	cctx, ccancel := context.WithCancel(ctx)
	ccancel()
	if _, err := s.Encode(cctx, acct, stele.Query{}, enc, func([]byte) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled: %v", err)
	}
}
