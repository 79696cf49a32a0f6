package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/client"
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
	sent, err := ingestLines(ctx, api, in, *batchSize)
	fmt.Fprintf(out, "stored %d events\n", sent)
	return err
}

// ingestLines sends JSON Lines in batches bounded by count and bytes. An
// error names the line of the event the server rejected.
func ingestLines(ctx context.Context, api *client.Client, in io.Reader, batchSize int) (int, error) {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), stele.MaxEventBytes+1024)
	var (
		body    bytes.Buffer
		lines   []int // line number of each event in the batch
		sent    int
		lineNo  int
		maxBody = stele.MaxBodyBytes - 64
	)
	flush := func() error {
		if len(lines) == 0 {
			return nil
		}
		body.WriteString("]}")
		receipts, err := api.SendRaw(ctx, body.Bytes())
		if err != nil {
			return withLines(err, lines)
		}
		sent += len(receipts)
		body.Reset()
		lines = lines[:0]
		return nil
	}
	for sc.Scan() {
		lineNo++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if len(lines) > 0 && (len(lines) == batchSize || body.Len()+len(line)+3 > maxBody) {
			if err := flush(); err != nil {
				return sent, err
			}
		}
		if len(lines) == 0 {
			body.WriteString(`{"events":[`)
		} else {
			body.WriteByte(',')
		}
		body.Write(line)
		lines = append(lines, lineNo)
	}
	if err := sc.Err(); err != nil {
		return sent, fmt.Errorf("line %d: %w", lineNo+1, err)
	}
	return sent, flush()
}

// withLines rewrites batch indexes in an API error as input line numbers.
func withLines(err error, lines []int) error {
	var e *stele.Error
	if !errors.As(err, &e) {
		return err
	}
	out := *e
	out.Details = make([]stele.FieldError, len(e.Details))
	for i, d := range e.Details {
		if d.Index >= 0 && d.Index < len(lines) {
			d.Field = "line " + strconv.Itoa(lines[d.Index]) + ": " + d.Field
		}
		out.Details[i] = d
	}
	return &out
}
