package search_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/recovery"
	"github.com/stele-audit/stele/internal/search"
)

// panickingRows is a store whose reads panic, as a bug on one odd row would.
type panickingRows struct{ stele.EventStore }

func (panickingRows) Rows(context.Context, stele.RowQuery) ([]stele.EventRow, error) {
	var rows []stele.EventRow
	return rows[:1], nil
}

// TestAPanicInAnExportGoroutineIsTheExportsError: Encode and Each read and
// encode on goroutines of their own, where a panic is beyond the reach of
// the request's recover and used to end the process; it is now the
// export's error.
func TestAPanicInAnExportGoroutineIsTheExportsError(t *testing.T) {
	ctx := t.Context()
	db, c, acct := newSQLiteCore(t)
	var batch []stele.Event
	for i := range 700 { // a few chunks
		batch = append(batch, stele.Event{Account: "acme", Action: "user.login", Time: time.Now().Add(-time.Hour),
			Description: fmt.Sprintf("event %d", i)})
	}
	if _, err := c.Ingest.Record(ctx, batch...); err != nil {
		t.Fatal(err)
	}
	s := search.New(db, c.Keyring)
	var p *recovery.Panic
	n, err := s.Encode(ctx, acct, stele.Query{}, func(dst []byte, e *stele.Event) ([]byte, error) {
		if e.Seq == 300 {
			var m map[string]int
			m[e.Description]++
		}
		return append(dst, '.'), nil
	}, func([]byte) error { return nil })
	if !errors.As(err, &p) || n >= 700 {
		t.Fatalf("Encode: %d events, %v; want a panic error", n, err)
	}
	n, err = search.New(panickingRows{db}, c.Keyring).Each(ctx, acct, stele.Query{}, func(*stele.Event) error { return nil })
	if !errors.As(err, &p) || n != 0 {
		t.Fatalf("Each: %d events, %v; want a panic error", n, err)
	}
}
