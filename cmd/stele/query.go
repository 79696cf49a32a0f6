package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/stele-audit/stele"
)

func runQuery(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlags("query", "query [--url U --key K] [--limit N] [--all] [--json] 'QUERY'")
	var cf clientFlags
	cf.register(fs)
	limit := fs.Int("limit", 50, "events per page (at most 1000)")
	all := fs.Bool("all", false, "follow cursors to the last page")
	asJSON := fs.Bool("json", false, "print JSON Lines, one event per line")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	api, err := cf.client()
	if err != nil {
		return err
	}
	q := strings.Join(pos, " ")
	enc := json.NewEncoder(out)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	if !*asJSON {
		fmt.Fprintln(tw, "TIME\tACTION\tOUTCOME\tACTOR\tTARGET\tIP\tDESCRIPTION")
	}
	show := func(e *stele.Event) error {
		if *asJSON {
			return enc.Encode(e)
		}
		_, err := fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Time.Local().Format("2006-01-02 15:04:05"), e.Action, e.Outcome,
			refText(e.Actor, true), refText(e.Target, false), e.IP, truncate(e.Description, 80))
		return err
	}
	if *all {
		for e, err := range api.All(ctx, q, *limit) {
			if err != nil {
				return err
			}
			if err := show(&e); err != nil {
				return err
			}
		}
		return tw.Flush()
	}
	page, err := api.Events(ctx, q, *limit, "")
	if err != nil {
		return err
	}
	for i := range page.Events {
		if err := show(&page.Events[i]); err != nil {
			return err
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if !*asJSON && page.NextCursor != "" {
		fmt.Fprintln(out, "(more: run with --all)")
	}
	return nil
}

func refText(r *stele.Ref, email bool) string {
	switch {
	case r == nil:
		return "-"
	case email && r.Email != "":
		return r.Email
	case r.Name != "":
		return r.Name
	default:
		return r.ID
	}
}

func truncate(s string, n int) string {
	if len([]rune(s)) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}
