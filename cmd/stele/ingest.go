package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/stele-audit/stele"
)

// ingestConfig is the configuration of stele ingest.
type ingestConfig struct {
	client clientFlags
	batch  int
	file   string // "" or "-": standard input
}

func runIngest(ctx context.Context, args []string, out io.Writer) error {
	return bind(parseIngest, ingestConfig.run)(ctx, args, out)
}

func parseIngest(args []string) (ingestConfig, error) {
	fs := newFlags("ingest", "ingest [--url U --key K] [--batch N] [FILE|-]   (JSON Lines, one event per line)")
	var c ingestConfig
	c.client.register(fs)
	fs.IntVar(&c.batch, "batch", 500, "events per request (at most 1000)")
	pos, err := parse(fs, args)
	if err != nil {
		return c, err
	}
	if c.batch < 1 || c.batch > stele.MaxBatchEvents {
		return c, &stele.Error{Code: stele.EINVALID, Message: "--batch must be from 1 to 1000", Details: []stele.FieldError{{Field: "batch", Rule: "range"}}}
	}
	if len(pos) == 1 {
		c.file = pos[0]
	}
	return c, nil
}

// run sends the file's JSON Lines and prints how many events were stored,
// also when the server refused some.
func (c ingestConfig) run(ctx context.Context, out io.Writer) error {
	api, err := c.client.client()
	if err != nil {
		return err
	}
	in := io.Reader(os.Stdin)
	if c.file != "" && c.file != "-" {
		f, err := os.Open(c.file)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	sent, err := api.SendLines(ctx, in, c.batch)
	fmt.Fprintf(out, "stored %d events\n", sent)
	return err
}
