package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/loadgen"
)

// loadgenConfig is the configuration of stele loadgen: the load
// generator's own.
type loadgenConfig struct{ loadgen.Config }

func runLoadgen(ctx context.Context, args []string, out io.Writer) error {
	return bind(parseLoadgen, loadgenConfig.run)(ctx, args, out)
}

func parseLoadgen(args []string) (loadgenConfig, error) {
	fs := newFlags("loadgen", "loadgen --url U --key K [--concurrency N] [--batch N] [--duration D] [--rate R] [--accounts a,b]")
	var cf clientFlags
	cf.register(fs)
	var c loadgenConfig
	fs.IntVar(&c.Concurrency, "concurrency", 32, "requests in flight")
	fs.IntVar(&c.Batch, "batch", 500, "events per request (1 sends single-event requests)")
	fs.DurationVar(&c.Duration, "duration", 30*time.Second, "how long to run")
	fs.Float64Var(&c.Rate, "rate", 0, "requests a second on a fixed schedule (an open loop, as producers send): a request that waits for a free worker is timed from its slot, so that a server falling behind shows in the latency; 0 sends as fast as answers come")
	accounts := fs.String("accounts", "", "with an operator key: spread events over these accounts")
	if _, err := parse(fs, args); err != nil {
		return c, err
	}
	if cf.key == "" {
		return c, &stele.Error{Code: stele.EINVALID, Message: "an API key is required: --key or STELE_KEY", Details: []stele.FieldError{{Field: "key", Rule: "required"}}}
	}
	if c.Batch < 1 || c.Batch > stele.MaxBatchEvents || c.Concurrency < 1 || c.Duration <= 0 {
		return c, stele.Errorf(stele.EINVALID, "--batch must be 1-1000, --concurrency and --duration positive")
	}
	if !(c.Rate >= 0 && c.Rate <= loadgen.MaxRate) { // NaN too
		return c, &stele.Error{Code: stele.EINVALID, Message: fmt.Sprintf("--rate must be a number of requests a second from 0 (as fast as answers come) to %d", loadgen.MaxRate),
			Details: []stele.FieldError{{Field: "rate", Rule: "range"}}}
	}
	c.URL, c.Key = strings.TrimRight(cf.url, "/"), cf.key
	if *accounts != "" {
		c.Accounts = strings.Split(*accounts, ",")
	}
	return c, nil
}

// run drives the server and prints its report.
func (c loadgenConfig) run(ctx context.Context, out io.Writer) error {
	c.Out = out
	_, err := loadgen.Run(ctx, c.Config)
	return err
}
