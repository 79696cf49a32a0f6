package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/apikey"
	"github.com/stele-audit/stele/internal/demo"
)

func runDemo(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlags("demo", "demo [--data DIR] [--db URL]")
	var sf storeFlags
	sf.register(fs)
	if _, err := parse(fs, args); err != nil {
		return err
	}
	a, err := openApp(ctx, sf, newLogger("warn"))
	if err != nil {
		return err
	}
	defer a.Close()
	key, err := seedDemo(ctx, a, out)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Demo read/write key for account acme (shown once):\n  %s\n", key)
	return nil
}

// seedDemo fills an empty store with 30 days of demo activity and returns a
// fresh read/write/export key for the demo account acme. On a store that
// already has accounts it adds no events, only the key, if acme exists.
func seedDemo(ctx context.Context, a *app, out io.Writer) (string, error) {
	accts, err := a.db.Accounts(ctx)
	if err != nil {
		return "", err
	}
	end := time.Now()
	gen := demo.New(end.UnixNano(), end.AddDate(0, 0, -30), end)
	if len(accts) <= 1 { // only _system
		fmt.Fprintln(out, "Generating 30 days of demo activity…")
		start := time.Now()
		total := 0
		for _, spec := range gen.Accounts() {
			acct := &stele.Account{Name: spec.Name, Type: spec.Type}
			if spec.Name == "acme" {
				// The demo key writes to acme, and stele loadgen measures
				// the server with it: no quota of acme's may bind first.
				// The other demo accounts keep their types' quotas.
				unlimited := int64(0)
				acct.Ingest = stele.IngestOverride{EventsPerSecond: &unlimited, BytesPerSecond: &unlimited}
			}
			if err := a.db.CreateAccount(ctx, acct); err != nil {
				return "", err
			}
			n, err := seedAccount(ctx, a, gen, spec.Name)
			if err != nil {
				return "", fmt.Errorf("demo account %s: %w", spec.Name, err)
			}
			fmt.Fprintf(out, "  %-10s %-10s %7d events\n", spec.Name, spec.Type, n)
			total += n
		}
		fmt.Fprintf(out, "Stored %d events in %s.\n\n", total, time.Since(start).Round(time.Millisecond))
	}
	acme, err := a.db.AccountByName(ctx, "acme")
	if stele.ErrorCode(err) == stele.ENOTFOUND {
		return "", nil
	} else if err != nil {
		return "", err
	}
	_, secret, err := apikey.Issue(ctx, a.db, acme, []stele.Scope{stele.ScopeEventsWrite, stele.ScopeEventsRead, stele.ScopeEventsExport}, false, "demo", time.Now())
	return secret, err
}

func seedAccount(ctx context.Context, a *app, gen *demo.Generator, account string) (int, error) {
	const batchSize = 1000
	batch := make([]stele.Event, 0, batchSize)
	n := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if _, err := a.ingest.Record(ctx, batch...); err != nil {
			return err
		}
		n += len(batch)
		batch = batch[:0]
		return nil
	}
	err := gen.Events(account, func(e stele.Event) error {
		e.Account = account
		batch = append(batch, e)
		if len(batch) == batchSize {
			return flush()
		}
		return nil
	})
	if err != nil {
		return n, err
	}
	return n, flush()
}
