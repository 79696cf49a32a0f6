package postgres

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stele-audit/stele/internal/postgres/pgtest"
)

// syncBuffer is a log that the job's goroutine writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestAPanickingJobLetsGoAndIsLedAgain: a job that panics ends its lead
// like one that failed (the lock is released, the panic logged without its
// value) and is led again after Retry, rather than ending the process.
func TestAPanickingJobLetsGoAndIsLedAgain(t *testing.T) {
	url := pgtest.NewDatabase(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	db, err := Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var logs syncBuffer
	l := &Leadership{DB: db, Retry: 50 * time.Millisecond, Ping: time.Second, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	runs := 0
	l.Lead(ctx, "retention", func(jctx context.Context) error {
		if runs++; runs == 1 {
			panic("secret event text")
		}
		cancel()
		return nil
	})
	if runs != 2 {
		t.Fatalf("%d runs, want 2", runs)
	}
	if out := logs.String(); !strings.Contains(out, "panic=string") || strings.Contains(out, "secret") {
		t.Fatalf("log: %s", out)
	}
}
