package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/stream"
)

// streamsReplay asks the server to send a stream's events of a time window
// again.
func streamsReplay(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlags("streams replay", "streams replay ID --after TIME [--before TIME] [--json]")
	var cf clientFlags
	cf.register(fs)
	afterText := fs.String("after", "", "the window's start: RFC 3339, a date (2026-11-01), or a duration before now (24h, 7d)")
	beforeText := fs.String("before", "", "the window's end, excluded, in the same forms (default: now)")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return stele.Errorf(stele.EINVALID, "streams replay needs exactly one stream ID")
	}
	now := time.Now()
	after, err := stream.ParseReplayTime("after", *afterText, now)
	if err != nil {
		return err
	}
	before := now
	if *beforeText != "" {
		if before, err = stream.ParseReplayTime("before", *beforeText, now); err != nil {
			return err
		}
	}
	api, err := cf.client()
	if err != nil {
		return err
	}
	r, err := api.ReplayStream(ctx, pos[0], after, before)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(out, r)
	}
	fmt.Fprintf(out, "replay %s of stream %s requested: events from %s to %s are sent again (stele streams show %s)\n",
		r.ID, pos[0], r.After.Format(time.RFC3339), r.Before.Format(time.RFC3339), pos[0])
	return nil
}
