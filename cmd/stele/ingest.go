package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/client"
	"github.com/stele-audit/stele/internal/ingest"
)

// ingestConfig is the configuration of stele ingest.
type ingestConfig struct {
	client    clientFlags
	batch     int
	file      string // "" or "-": standard input
	keepGoing bool
}

func runIngest(ctx context.Context, args []string, out io.Writer) error {
	return bind(parseIngest, ingestConfig.run)(ctx, args, out)
}

func parseIngest(args []string) (ingestConfig, error) {
	fs := newFlags("ingest", "ingest [--url U --key K] [--batch N] [--continue] [FILE|-]\n\n"+
		"Sends a server the events of FILE (or standard input): JSON Lines, one event's JSON a line.\n"+
		"Every line is checked first, as the server checks an event; if any is bad, nothing is sent\n"+
		"and every bad line is named, unless --continue sends the good ones. Each event gets an\n"+
		"idempotency key made from the file's content and its line (unless it has one), so running\n"+
		"the same file again stores nothing twice.")
	var c ingestConfig
	c.client.register(fs)
	fs.IntVar(&c.batch, "batch", 500, "events per request (at most 1000)")
	fs.BoolVar(&c.keepGoing, "continue", false, "send the good lines even when some are bad, and say which were stored")
	pos, err := parse(fs, args)
	if err != nil {
		return c, err
	}
	if c.batch < 1 || c.batch > stele.MaxBatchEvents {
		return c, &stele.Error{Code: stele.EINVALID, Message: "--batch must be from 1 to 1000", Details: []stele.FieldError{{Field: "batch", Rule: "range"}}}
	}
	switch len(pos) {
	case 0:
	case 1:
		c.file = pos[0]
	default:
		return c, stele.Errorf(stele.EINVALID, "ingest takes one FILE (or - for standard input), not %d", len(pos))
	}
	return c, nil
}

// maxListed bounds the bad lines named one by one.
const maxListed = 50

// run checks every line, then sends the events, and prints what was
// stored: all of them, or, on a refusal, exactly which lines.
func (c ingestConfig) run(ctx context.Context, out io.Writer) error {
	api, err := c.client.client()
	if err != nil {
		return err
	}
	in, err := c.input()
	if err != nil {
		return err
	}
	defer in.Close()
	rep, err := ingest.CheckLines(in, time.Now(), nil)
	if err != nil {
		return err
	}
	if len(rep.Bad) > 0 && !c.keepGoing {
		return badLines(rep, "nothing was sent")
	}
	if _, err := in.Seek(0, io.SeekStart); err != nil {
		return err
	}
	bad := map[int]bool{}
	for _, b := range rep.Bad {
		bad[b.Line] = true
	}
	var stored, again []int
	_, err = api.SendLinesWith(ctx, in, client.LinesOptions{
		Batch:     c.batch,
		Skip:      func(line int) bool { return bad[line] },
		KeyPrefix: "ingest-" + hex.EncodeToString(rep.SHA256[:12]),
		Stored: func(lines []int, receipts []stele.Receipt) {
			for i, r := range receipts {
				if r.Replayed {
					again = append(again, lines[i])
				} else {
					stored = append(stored, lines[i])
				}
			}
		},
		Retries: 5,
	})
	sent := len(stored)
	fmt.Fprintf(out, "stored %d events%s\n", sent, linesText(stored))
	if len(again) > 0 {
		fmt.Fprintf(out, "%d events were stored before, by an earlier run%s: not stored again\n", len(again), linesText(again))
	}
	if err != nil {
		fmt.Fprintf(out, "the server refused a request: the lines above were stored, no other; "+
			"run the same file again once the problem is fixed: what was stored is not stored twice\n")
		return err
	}
	if len(rep.Bad) > 0 {
		return badLines(rep, fmt.Sprintf("%d events stored", sent))
	}
	return nil
}

// input is the file to read, or standard input copied to a temporary file
// (it is read twice: checked, then sent).
func (c ingestConfig) input() (*os.File, error) {
	if c.file != "" && c.file != "-" {
		f, err := os.Open(c.file)
		if err != nil {
			return nil, stele.Errorf(stele.EINVALID, "%v", err)
		}
		return f, nil
	}
	tmp, err := os.CreateTemp("", "stele-ingest-*.jsonl")
	if err != nil {
		return nil, err
	}
	os.Remove(tmp.Name()) // gone with the last descriptor
	if _, err := io.Copy(tmp, os.Stdin); err != nil {
		tmp.Close()
		return nil, err
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		tmp.Close()
		return nil, err
	}
	return tmp, nil
}

// badLines is the error naming the bad lines of rep, each with its
// problems (field and rule), at most maxListed of them.
func badLines(rep ingest.LinesReport, outcome string) error {
	e := &stele.Error{Code: stele.EINVALID,
		Message: fmt.Sprintf("%d of %d lines are not events Stele accepts; %s", len(rep.Bad), len(rep.Bad)+rep.Events, outcome)}
	if rep.PrettyPrinted {
		e.Message += ". The input looks like one pretty-printed JSON document: stele ingest reads JSON Lines, " +
			"one event per line (jq -c '.[]' events.json | stele ingest -)"
	}
	for i, b := range rep.Bad {
		if i == maxListed {
			e.Details = append(e.Details, stele.FieldError{Field: fmt.Sprintf("and %d more lines", len(rep.Bad)-maxListed), Rule: "not listed"})
			break
		}
		for _, d := range b.Problems {
			at := "line " + strconv.Itoa(b.Line)
			if d.Field != "" {
				at += ": " + d.Field
			}
			e.Details = append(e.Details, stele.FieldError{Field: at, Rule: d.Rule, Message: d.Message})
		}
	}
	return e
}

// linesText is " (lines 1-5, 7, 9-12)" for the sorted lines, or "".
func linesText(lines []int) string {
	if len(lines) == 0 {
		return ""
	}
	var parts []string
	for i := 0; i < len(lines); {
		j := i
		for j+1 < len(lines) && lines[j+1] == lines[j]+1 {
			j++
		}
		if j == i {
			parts = append(parts, strconv.Itoa(lines[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", lines[i], lines[j]))
		}
		i = j + 1
	}
	word := "lines"
	if len(lines) == 1 {
		word = "line"
	}
	return " (" + word + " " + strings.Join(parts, ", ") + ")"
}
