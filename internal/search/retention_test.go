package search_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/record"
	"github.com/stele-audit/stele/internal/search"
)

// TestReadsHideEventsPastRetentionBeforeThePurge: an event past its
// account's retention is left out of pages, streams, exports, counts and
// the event get from the moment it expires, before any purge; legal hold
// shows it again, and so does a longer retention.
func TestReadsHideEventsPastRetentionBeforeThePurge(t *testing.T) {
	ctx := t.Context()
	db, c, acct := newSQLiteCore(t) // business: 365 days
	now := time.Now().UTC().Truncate(time.Second)
	var events []stele.Event
	for i := range 30 {
		tm := now.Add(-time.Duration(i) * time.Hour)
		if i%3 == 1 { // back-filled among the current ones, past retention
			tm = now.Add(-400*24*time.Hour - time.Duration(i)*time.Minute)
		}
		events = append(events, stele.Event{Account: "acme", Action: "user.login", Outcome: stele.OutcomeSuccess, Time: tm,
			Actor: &stele.Ref{ID: fmt.Sprintf("u_%d", i%4)}, Description: fmt.Sprintf("event %d", i)})
	}
	if _, err := c.Ingest.Record(ctx, events...); err != nil {
		t.Fatal(err)
	}
	clock := now
	svc := search.New(db, c.Keyring)
	svc.SetRetention(nil, func() time.Time { return clock })
	cutoff := record.Micros(now.Add(-365 * 24 * time.Hour))

	check := func(t *testing.T, acct *stele.Account, want int) {
		t.Helper()
		for _, q := range []stele.Query{{}, {Terms: []stele.Term{{Field: stele.FieldActor, Values: []string{"u_1"}}}},
			{Terms: []stele.Term{{Field: stele.FieldText, Values: []string{"event"}}}}} {
			wantQ := want
			if len(q.Terms) > 0 && q.Terms[0].Field == stele.FieldActor {
				wantQ = 0
				for i := 1; i < 30; i += 4 {
					if i%3 != 1 || want == 30 {
						wantQ++
					}
				}
			}
			// Pages of 4 with cursors, the stream, the export.
			var paged int
			for cursor := ""; ; {
				p, err := svc.Search(ctx, acct, q, cursor, 4)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range p.Events {
					if want < 30 && record.Micros(e.Time) < cutoff {
						t.Fatalf("page shows expired event %d", e.Seq)
					}
				}
				paged += len(p.Events)
				if cursor = p.NextCursor; cursor == "" {
					break
				}
			}
			each, err := svc.Each(ctx, acct, q, func(*stele.Event) error { return nil })
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			enc, err := svc.Encode(ctx, acct, q, func(dst []byte, e *stele.Event) ([]byte, error) { return fmt.Appendf(dst, "%d\n", e.Seq), nil },
				func(b []byte) error { out.Write(b); return nil })
			if err != nil {
				t.Fatal(err)
			}
			if paged != wantQ || each != int64(wantQ) || enc != int64(wantQ) {
				t.Fatalf("query %+v: paged %d, each %d, encoded %d; want %d", q, paged, each, enc, wantQ)
			}
		}
		rq, err := svc.Plan(ctx, acct, stele.Query{})
		if err != nil {
			t.Fatal(err)
		}
		counts, err := db.CountByBucket(ctx, rq, (24 * time.Hour).Microseconds())
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		for _, b := range counts {
			n += b.Count
		}
		if n != int64(want) {
			t.Fatalf("counted %d, want %d", n, want)
		}
		_, err = svc.Event(ctx, acct, 1) // back-filled, past retention
		if want < 30 && stele.ErrorCode(err) != stele.ENOTFOUND || want == 30 && err != nil {
			t.Fatalf("event get of an expired event: %v", err)
		}
		if _, err := svc.Event(ctx, acct, 0); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("past retention", func(t *testing.T) { check(t, acct, 20) })
	// As the API passes it: the service reads the account's retention.
	t.Run("given by id and name", func(t *testing.T) { check(t, &stele.Account{ID: acct.ID, Name: acct.Name}, 20) })
	held := *acct
	held.LegalHold = true
	t.Run("legal hold", func(t *testing.T) { check(t, &held, 30) })
	longer := *acct
	days := 1000
	longer.RetentionDays = &days
	t.Run("a longer retention", func(t *testing.T) { check(t, &longer, 30) })
}
