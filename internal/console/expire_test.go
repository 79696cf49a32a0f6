package console_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/console"
)

// panickingSessions panics the first time expired sessions are deleted.
type panickingSessions struct {
	stele.SessionStore
	calls atomic.Int64
}

func (p *panickingSessions) DeleteSessionsBefore(context.Context, time.Time, time.Time) (int64, error) {
	if p.calls.Add(1) == 1 {
		panic("secret")
	}
	return 0, nil
}

// TestSessionExpiryCarriesOnAfterAPanic: the round that panics is logged;
// the next one deletes expired sessions as usual.
func TestSessionExpiryCarriesOnAfterAPanic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sessions := &panickingSessions{}
		var logs bytes.Buffer
		s := &console.Server{Sessions: sessions, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { s.ExpireSessions(ctx, 10*time.Minute); close(done) }()
		time.Sleep(20*time.Minute + time.Second)
		synctest.Wait()
		if n := sessions.calls.Load(); n != 2 {
			t.Fatalf("%d rounds after 20 minutes, want 2", n)
		}
		cancel()
		<-done
		if out := logs.String(); !strings.Contains(out, "panic=string") || strings.Contains(out, "secret") {
			t.Fatalf("log: %s", out)
		}
	})
}
