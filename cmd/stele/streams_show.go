package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/client"
	"github.com/stele-audit/stele/internal/audit"
)

// streamsList prints the streams of the key's account with how far each has got.
func streamsList(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlags("streams list", "streams list [--json]")
	var cf clientFlags
	cf.register(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	api, err := cf.client()
	if err != nil {
		return err
	}
	list, err := api.Streams(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSONList(out, list)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSTATE\tLAG\tLAG (S)\tFORWARDED\tDESTINATION\tLAST ERROR")
	for _, s := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%.1f\t%d\t%s\t%s\n", s.ID, truncate(s.Name, 40), s.Status.State, s.Status.LagEvents,
			s.Status.LagSeconds, s.Status.Forwarded, truncate(destinationText(s.Destination), 60), truncate(s.Status.LastError, 60))
	}
	return tw.Flush()
}

// streamsShow prints one stream: its settings, status and replays.
func streamsShow(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlags("streams show", "streams show ID [--json]")
	var cf clientFlags
	cf.register(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return stele.Errorf(stele.EINVALID, "streams show needs exactly one stream ID")
	}
	api, err := cf.client()
	if err != nil {
		return err
	}
	s, err := api.Stream(ctx, pos[0])
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(out, s)
	}
	st := s.Status
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	row := func(k string, v any) { fmt.Fprintf(tw, "%s\t%v\n", k, v) }
	row("id", s.ID)
	row("name", s.Name)
	row("query", orDash(s.Query))
	row("destination", destinationText(s.Destination))
	row("state", st.State)
	row("lag", fmt.Sprintf("%d events, %.1f s", st.LagEvents, st.LagSeconds))
	row("forwarded", st.Forwarded)
	row("rate", fmt.Sprintf("%.0f events/s", st.EventsPerSecond))
	if st.SkippedPurged > 0 {
		row("skipped", fmt.Sprintf("%d events purged by retention before they were sent", st.SkippedPurged))
	}
	if st.LastError != "" {
		row("last error", fmt.Sprintf("%s (%s)", st.LastError, st.LastErrorAt.Format(time.RFC3339)))
	}
	for _, r := range st.Replays {
		row("replay "+r.ID, fmt.Sprintf("%s, %s to %s, %d sent %s", r.State, r.After.Format(time.RFC3339), r.Before.Format(time.RFC3339), r.Sent, r.Error))
	}
	return tw.Flush()
}

// destinationText describes a destination for a table: a URL without
// its query string, which may hold a token.
func destinationText(d client.StreamDestinationView) string {
	var b strings.Builder
	if d.Type == "syslog" {
		b.WriteString("syslog")
		if d.TLS {
			b.WriteString("+tls")
		}
		b.WriteString(" " + d.Address)
	} else {
		b.WriteString(audit.SafeURL(d.URL))
	}
	b.WriteString(" " + d.Format)
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
