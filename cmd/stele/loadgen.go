package main

import (
	"context"
	"io"
	"strings"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/loadgen"
)

func runLoadgen(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlags("loadgen", "loadgen --url U --key K [--concurrency N] [--batch N] [--duration D] [--accounts a,b]")
	var cf clientFlags
	cf.register(fs)
	concurrency := fs.Int("concurrency", 32, "requests in flight")
	batch := fs.Int("batch", 500, "events per request (1 sends single-event requests)")
	duration := fs.Duration("duration", 30*time.Second, "how long to run")
	accounts := fs.String("accounts", "", "with an operator key: spread events over these accounts")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if cf.key == "" {
		return &stele.Error{Code: stele.EINVALID, Message: "an API key is required: --key or STELE_KEY", Details: []stele.FieldError{{Field: "key", Rule: "required"}}}
	}
	if *batch < 1 || *batch > stele.MaxBatchEvents || *concurrency < 1 || *duration <= 0 {
		return stele.Errorf(stele.EINVALID, "--batch must be 1-1000, --concurrency and --duration positive")
	}
	cfg := loadgen.Config{URL: strings.TrimRight(cf.url, "/"), Key: cf.key, Concurrency: *concurrency, Batch: *batch, Duration: *duration, Out: out}
	if *accounts != "" {
		cfg.Accounts = strings.Split(*accounts, ",")
	}
	_, err := loadgen.Run(ctx, cfg)
	return err
}
