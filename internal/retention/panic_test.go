package retention_test

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
	"github.com/stele-audit/stele/internal/retention"
)

// trippingAccounts panics when one account is read again before its purge,
// as a bug on that account's data would.
type trippingAccounts struct {
	stele.AccountStore
	trip int64
}

func (a trippingAccounts) Account(ctx context.Context, id int64) (*stele.Account, error) {
	if id == a.trip {
		var m map[string]int
		m["secret"]++
	}
	return a.AccountStore.Account(ctx, id)
}

// TestAPanicInOnePurgeSparesTheOtherAccounts: the account whose purge
// panics fails alone, named in the error; the others are purged.
func TestAPanicInOnePurgeSparesTheOtherAccounts(t *testing.T) {
	e := newEnv(t)
	e.ingestAt(t, t0.Add(-days(40)), t0.Add(-days(35)), t0.Add(-days(1)))
	sys, _ := e.db.AccountByName(t.Context(), stele.SystemAccount)
	e.job.Accounts = trippingAccounts{AccountStore: e.db, trip: sys.ID}
	var logs bytes.Buffer
	e.job.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	res, err := e.job.Run(t.Context(), "", false)
	if err == nil || !strings.Contains(err.Error(), "account "+stele.SystemAccount) || strings.Contains(err.Error(), "secret") {
		t.Fatalf("Run error %v, want the panic of %s", err, stele.SystemAccount)
	}
	if len(res) != 1 || res[0].Account != "acme" || res[0].Deleted != 2 {
		t.Fatalf("results %+v, want acme's two expired events purged", res)
	}
	if out := logs.String(); !strings.Contains(out, "assignment to entry in nil map") || strings.Contains(out, "secret") {
		t.Fatalf("log: %s", out)
	}
}

// panickingList panics on its first listing of the accounts.
type panickingList struct {
	stele.AccountStore
	runs atomic.Int64
}

func (p *panickingList) Accounts(context.Context) ([]*stele.Account, error) {
	if p.runs.Add(1) == 1 {
		panic("secret")
	}
	return nil, nil
}

// TestLoopCarriesOnAfterAPanickingRun: the hourly loop outlives a run that
// panics, and runs again the next hour.
func TestLoopCarriesOnAfterAPanickingRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		accts := &panickingList{}
		job := &retention.Job{Accounts: accts}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { job.Loop(ctx, time.Hour); close(done) }()
		time.Sleep(2*time.Hour + time.Second)
		synctest.Wait()
		if n := accts.runs.Load(); n != 2 {
			t.Fatalf("%d runs after two hours, want 2", n)
		}
		cancel()
		<-done
	})
}
