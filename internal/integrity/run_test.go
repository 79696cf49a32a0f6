package integrity

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stele-audit/stele"
)

// panickyAccounts panics the first time the accounts are listed, as a bug
// on one odd account would, and reports each later listing on listed.
type panickyAccounts struct {
	stele.AccountStore
	calls  int
	listed chan int
}

func (p *panickyAccounts) Accounts(context.Context) ([]*stele.Account, error) {
	if p.calls++; p.calls == 1 {
		var m map[string]int
		m["secret"]++
	}
	p.listed <- p.calls
	return nil, nil
}

// TestRunSignsOnAfterAPanickingRound: a round of signing that panics is
// logged, without the panic's value, and the next tick signs again.
func TestRunSignsOnAfterAPanickingRound(t *testing.T) {
	var logs bytes.Buffer
	accts := &panickyAccounts{listed: make(chan int)}
	c := &Checkpointer{Accounts: accts, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	ctx, cancel := context.WithCancel(t.Context())
	tick := make(chan time.Time)
	done := make(chan struct{})
	go func() { c.Run(ctx, tick); close(done) }()
	tick <- time.Now() // panics
	tick <- time.Now()
	if n := <-accts.listed; n != 2 {
		t.Fatalf("listing %d", n)
	}
	cancel()
	<-done
	if out := logs.String(); !strings.Contains(out, "assignment to entry in nil map") || strings.Contains(out, "secret") {
		t.Fatalf("log: %s", out)
	}
}

// alwaysPanics panics whenever the accounts are listed.
type alwaysPanics struct{ stele.AccountStore }

func (alwaysPanics) Accounts(context.Context) ([]*stele.Account, error) { panic("secret") }

// TestLoopAndTheLastSigningSurvivePanics: the signing job stops when its
// context ends, and the last signing at shutdown logs its panic, without
// the value, instead of crashing the process that is stopping.
func TestLoopAndTheLastSigningSurvivePanics(t *testing.T) {
	var logs bytes.Buffer
	c := &Checkpointer{Accounts: alwaysPanics{}, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { c.Loop(ctx, time.Hour); close(done) }()
	cancel()
	<-done
	c.SignAtShutdown(ctx)
	if out := logs.String(); !strings.Contains(out, "sign checkpoints at shutdown") || !strings.Contains(out, "panic=string") || strings.Contains(out, "secret") {
		t.Fatalf("log: %s", out)
	}
}
