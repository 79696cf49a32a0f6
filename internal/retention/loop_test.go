package retention_test

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/retention"
)

// countingAccounts is an AccountStore with no accounts that counts the runs.
type countingAccounts struct {
	stele.AccountStore
	runs atomic.Int64
}

func (c *countingAccounts) Accounts(context.Context) ([]*stele.Account, error) {
	c.runs.Add(1)
	return nil, nil
}

func TestLoopRunsEveryInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		accts := &countingAccounts{}
		job := &retention.Job{Accounts: accts}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { job.Loop(ctx, time.Hour); close(done) }()
		time.Sleep(time.Hour - time.Second)
		synctest.Wait()
		if n := accts.runs.Load(); n != 0 {
			t.Fatalf("%d runs before the first hour", n)
		}
		time.Sleep(2 * time.Hour)
		synctest.Wait()
		if n := accts.runs.Load(); n != 2 {
			t.Fatalf("%d runs after three hours less a second, want 2", n)
		}
		cancel()
		<-done
	})
}
