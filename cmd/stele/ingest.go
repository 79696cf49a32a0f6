package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/stele-audit/stele"
)

func runIngest(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlags("ingest", "ingest [--url U --key K] [--batch N] [FILE|-]   (JSON Lines, one event per line)")
	var cf clientFlags
	cf.register(fs)
	batchSize := fs.Int("batch", 500, "events per request (at most 1000)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if *batchSize < 1 || *batchSize > stele.MaxBatchEvents {
		return &stele.Error{Code: stele.EINVALID, Message: "--batch must be from 1 to 1000", Details: []stele.FieldError{{Field: "batch", Rule: "range"}}}
	}
	api, err := cf.client()
	if err != nil {
		return err
	}
	in := io.Reader(os.Stdin)
	if len(pos) == 1 && pos[0] != "-" {
		f, err := os.Open(pos[0])
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	sent, err := api.SendLines(ctx, in, *batchSize)
	fmt.Fprintf(out, "stored %d events\n", sent)
	return err
}
