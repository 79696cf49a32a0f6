package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/query"
)

// queryConfig is the configuration of stele query.
type queryConfig struct {
	client clientFlags
	query  string
	limit  int
	all    bool
	json   bool
}

func runQuery(ctx context.Context, args []string, out io.Writer) error {
	return bind(parseQuery, queryConfig.run)(ctx, args, out)
}

func parseQuery(args []string) (queryConfig, error) {
	fs := newFlags("query", "query [--url U --key K] [--limit N] [--all] [--json] 'QUERY'\n\n"+
		"Asks a server for the events that match QUERY, newest first.\n\n"+query.Help())
	var c queryConfig
	c.client.register(fs)
	fs.IntVar(&c.limit, "limit", 50, "events per page (at most 1000)")
	fs.BoolVar(&c.all, "all", false, "follow cursors to the last page")
	fs.BoolVar(&c.json, "json", false, "print JSON Lines, one event per line")
	pos, err := parse(fs, args)
	c.query = strings.Join(pos, " ")
	return c, err
}

// run prints one page of the events matching the query, or every page
// with --all, as a table or JSON Lines.
func (c queryConfig) run(ctx context.Context, out io.Writer) error {
	api, err := c.client.client()
	if err != nil {
		return err
	}
	enc := json.NewEncoder(out)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	if !c.json {
		fmt.Fprintln(tw, "TIME\tACTION\tOUTCOME\tACTOR\tTARGET\tIP\tDESCRIPTION")
	}
	show := func(e *stele.Event) error {
		if c.json {
			return enc.Encode(e)
		}
		_, err := fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Time.Local().Format("2006-01-02 15:04:05"), e.Action, e.Outcome,
			refText(e.Actor, true), refText(e.Target, false), e.IP, truncate(e.Description, 80))
		return err
	}
	if c.all {
		for e, err := range api.All(ctx, c.query, c.limit) {
			if err != nil {
				return err
			}
			if err := show(&e); err != nil {
				return err
			}
		}
		return tw.Flush()
	}
	page, err := api.Events(ctx, c.query, c.limit, "")
	if err != nil {
		return err
	}
	if !c.json && page.Query != strings.Join(strings.Fields(c.query), " ") {
		// OR, parentheses and repeats, made explicit: how the server read it.
		fmt.Fprintf(out, "Read as: %s\n", page.Query)
	}
	for i := range page.Events {
		if err := show(&page.Events[i]); err != nil {
			return err
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if !c.json && page.NextCursor != "" {
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
