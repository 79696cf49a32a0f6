package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/stele-audit/stele/internal/demo"
)

// demoConfig is the configuration of stele demo.
type demoConfig struct{ store storeFlags }

func runDemo(ctx context.Context, args []string, out io.Writer) error {
	return bind(parseDemo, demoConfig.run)(ctx, args, out)
}

func parseDemo(args []string) (demoConfig, error) {
	fs := newFlags("demo", "demo [--data DIR] [--db URL]")
	var c demoConfig
	c.store.register(fs)
	_, err := parse(fs, args)
	return c, err
}

func (c demoConfig) run(ctx context.Context, out io.Writer) error {
	a, err := openApp(ctx, c.store, newLogger("warn"))
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

// seedDemo fills an empty store with 30 days of demo activity, printing
// its progress, and returns a fresh read/write/export key for the demo
// account acme. On a store that already has accounts it adds no events,
// only the key, if acme exists.
func seedDemo(ctx context.Context, a *app, out io.Writer) (string, error) {
	empty, err := demo.Empty(ctx, a.db)
	if err != nil {
		return "", err
	}
	if empty {
		fmt.Fprintln(out, "Generating 30 days of demo activity…")
		start := time.Now()
		gen := demo.New(start.UnixNano(), start.AddDate(0, 0, -30), start)
		total, err := demo.Seed(ctx, a.db, a.ingest, gen, func(s demo.Seeded) {
			fmt.Fprintf(out, "  %-10s %-10s %7d events\n", s.Name, s.Type, s.Events)
		})
		if err != nil {
			return "", err
		}
		fmt.Fprintf(out, "Stored %d events in %s.\n\n", total, time.Since(start).Round(time.Millisecond))
	}
	return demo.Key(ctx, a.db, a.db, time.Now())
}
