package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/client"
	"github.com/stele-audit/stele/internal/audit"
)

const streamsUsage = `Usage: stele streams create NAME (--syslog HOST:PORT [--tls] | --https URL) --format F [--query Q] [--header 'Name: value'] [--header-file FILE] [--start now|oldest] [--all-accounts] [--disabled]
       stele streams list [--json]
       stele streams show ID [--json]
       stele streams update ID [--name N] [--query Q] [--syslog … | --https …] [--format F] [--header …] [--enabled true|false]
       stele streams delete ID
       stele streams replay ID --after TIME [--before TIME]

Each talks to a server (--url, --key or STELE_URL, STELE_KEY) with a key that has the streams:manage scope.
Formats: syslog cef|json; https ndjson|splunk_hec|ocsf. Put tokens in --header-file, not on the command line.`

func runStreams(ctx context.Context, args []string, out io.Writer) error {
	return dispatch(ctx, "streams", streamsUsage, []subcommand{
		{"create", streamsCreate},
		{"list", streamsList},
		{"show", streamsShow},
		{"update", streamsUpdate},
		{"delete", streamsDelete},
		{"replay", streamsReplay},
	}, args, out)
}

// streamConfig is what the flags of streams create and update say about
// a stream; a flag left out says nothing.
type streamConfig struct {
	name, query        string
	syslog, https      string
	tls                bool
	format             string
	headers            headerList
	headerFile         string
	start              string
	allAccounts        bool
	enabled            string // "", "true" or "false"
	set                map[string]bool
	client             clientFlags
	asJSON             bool
	disabledAtCreation bool
}

// headerList is a repeatable --header 'Name: value'.
type headerList []string

func (h *headerList) String() string     { return strings.Join(*h, ", ") }
func (h *headerList) Set(v string) error { *h = append(*h, v); return nil }

func (c *streamConfig) register(fs *flag.FlagSet, create bool) {
	c.client.register(fs)
	fs.StringVar(&c.query, "query", "", "which events to forward, in the query language (empty: every event)")
	fs.StringVar(&c.syslog, "syslog", "", "send syslog (RFC 5424) to this HOST:PORT")
	fs.BoolVar(&c.tls, "tls", false, "with --syslog: over TLS")
	fs.StringVar(&c.https, "https", "", "send batches over HTTPS to this URL")
	fs.StringVar(&c.format, "format", "", "syslog: cef or json; https: ndjson, splunk_hec or ocsf")
	fs.Var(&c.headers, "header", "with --https: a header 'Name: value' sent with every request (repeatable)")
	fs.StringVar(&c.headerFile, "header-file", "", "with --https: a file of headers, one 'Name: value' a line (keeps tokens off the command line)")
	fs.BoolVar(&c.asJSON, "json", false, "print the stream as JSON")
	if create {
		fs.StringVar(&c.start, "start", "now", "now: forward the events recorded from now on; oldest: from the oldest event kept")
		fs.BoolVar(&c.allAccounts, "all-accounts", false, "forward every account's events (an operator key only)")
		fs.BoolVar(&c.disabledAtCreation, "disabled", false, "create it switched off")
	} else {
		fs.StringVar(&c.name, "name", "", "a new name")
		fs.StringVar(&c.enabled, "enabled", "", "true or false: switch the stream on or off")
	}
}

// parseFlags parses args and notes which flags were given.
func (c *streamConfig) parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	pos, err := parse(fs, args)
	if err != nil {
		return nil, err
	}
	c.set = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { c.set[f.Name] = true })
	return pos, nil
}

// headerMap reads --header and --header-file; nil when neither was given.
func (c *streamConfig) headerMap() (map[string]string, error) {
	if len(c.headers) == 0 && c.headerFile == "" {
		return nil, nil
	}
	lines := append([]string(nil), c.headers...)
	if c.headerFile != "" {
		f, err := os.Open(c.headerFile)
		if err != nil {
			return nil, fmt.Errorf("--header-file: %w", err)
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
				lines = append(lines, line)
			}
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("--header-file: %w", err)
		}
	}
	out := map[string]string{}
	for i, l := range lines {
		name, value, ok := strings.Cut(l, ":")
		if !ok || strings.TrimSpace(name) == "" {
			// The line may hold a token: say which, not what.
			return nil, &stele.Error{Code: stele.EINVALID, Message: fmt.Sprintf("header %d is not 'Name: value'", i+1),
				Details: []stele.FieldError{{Field: "header", Rule: "format"}}}
		}
		out[strings.TrimSpace(name)] = strings.TrimSpace(value)
	}
	return out, nil
}

// destination builds the destination the flags name, over cur (the
// stream's current one on an update, nil on a create).
func (c *streamConfig) destination(cur *client.StreamDestinationView) (*stele.StreamDestination, error) {
	if c.syslog != "" && c.https != "" {
		return nil, &stele.Error{Code: stele.EINVALID, Message: "--syslog and --https exclude each other",
			Details: []stele.FieldError{{Field: "destination", Rule: "exclusive"}}}
	}
	d := &stele.StreamDestination{}
	if cur != nil {
		d = &stele.StreamDestination{Type: cur.Type, Address: cur.Address, TLS: cur.TLS, Format: cur.Format, URL: cur.URL}
	}
	switch {
	case c.syslog != "":
		*d = stele.StreamDestination{Type: "syslog", Address: c.syslog, TLS: c.tls, Format: d.Format}
		if cur != nil && cur.Type != "syslog" {
			d.Format = ""
		}
	case c.https != "":
		*d = stele.StreamDestination{Type: "https", URL: c.https, Format: d.Format}
		if cur != nil && cur.Type != "https" {
			d.Format = ""
		}
	case cur == nil:
		return nil, &stele.Error{Code: stele.EINVALID, Message: "a stream needs --syslog HOST:PORT or --https URL",
			Details: []stele.FieldError{{Field: "destination", Rule: "required"}}}
	}
	if c.set["tls"] {
		d.TLS = c.tls
	}
	if c.format != "" {
		d.Format = c.format
	}
	h, err := c.headerMap()
	if err != nil {
		return nil, err
	}
	d.Headers = h
	return d, nil
}

func streamsCreate(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlags("streams create", "streams create NAME (--syslog HOST:PORT [--tls] | --https URL [--header 'N: v'] [--header-file F]) --format F [--query Q] [--start now|oldest] [--all-accounts] [--disabled] [--json]")
	var c streamConfig
	c.register(fs, true)
	pos, err := c.parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return stele.Errorf(stele.EINVALID, "streams create needs exactly one NAME (quote a name with spaces)")
	}
	d, err := c.destination(nil)
	if err != nil {
		return err
	}
	api, err := c.client.client()
	if err != nil {
		return err
	}
	enabled := !c.disabledAtCreation
	in := client.StreamInput{Name: pos[0], Query: c.query, Destination: d, Enabled: &enabled, Start: c.start}
	if c.allAccounts {
		in.AllAccounts = &c.allAccounts
	}
	s, err := api.CreateStream(ctx, in)
	if err != nil {
		return err
	}
	if c.asJSON {
		return printJSON(out, s)
	}
	fmt.Fprintf(out, "created stream %s (%s) to %s\n", s.ID, s.Name, destinationText(s.Destination))
	return nil
}

func streamsUpdate(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlags("streams update", "streams update ID [--name N] [--query Q] [--syslog HOST:PORT [--tls] | --https URL] [--format F] [--header 'N: v'] [--header-file F] [--enabled true|false] [--json]")
	var c streamConfig
	c.register(fs, false)
	pos, err := c.parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return stele.Errorf(stele.EINVALID, "streams update needs exactly one stream ID")
	}
	api, err := c.client.client()
	if err != nil {
		return err
	}
	cur, err := api.Stream(ctx, pos[0])
	if err != nil {
		return err
	}
	d, err := c.destination(&cur.Destination)
	if err != nil {
		return err
	}
	in := client.StreamInput{Name: cur.Name, Query: cur.Query, Destination: d}
	if c.set["name"] {
		in.Name = c.name
	}
	if c.set["query"] {
		in.Query = c.query
	}
	if c.enabled != "" {
		on, err := strconv.ParseBool(c.enabled)
		if err != nil {
			return &stele.Error{Code: stele.EINVALID, Message: "--enabled is true or false",
				Details: []stele.FieldError{{Field: "enabled", Rule: "type"}}}
		}
		in.Enabled = &on
	}
	s, err := api.UpdateStream(ctx, cur.ID, in)
	if err != nil {
		return err
	}
	if c.asJSON {
		return printJSON(out, s)
	}
	fmt.Fprintf(out, "updated stream %s (%s): %s\n", s.ID, s.Name, s.Status.State)
	return nil
}

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
		if list == nil {
			list = []client.Stream{}
		}
		return printJSON(out, list)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSTATE\tLAG\tLAG (S)\tFORWARDED\tDESTINATION\tLAST ERROR")
	for _, s := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%.1f\t%d\t%s\t%s\n", s.ID, truncate(s.Name, 40), s.Status.State, s.Status.LagEvents,
			s.Status.LagSeconds, s.Status.Forwarded, truncate(destinationText(s.Destination), 60), truncate(s.Status.LastError, 60))
	}
	return tw.Flush()
}

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

func streamsDelete(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlags("streams delete", "streams delete ID")
	var cf clientFlags
	cf.register(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return stele.Errorf(stele.EINVALID, "streams delete needs exactly one stream ID")
	}
	api, err := cf.client()
	if err != nil {
		return err
	}
	if err := api.DeleteStream(ctx, pos[0]); err != nil {
		return err
	}
	fmt.Fprintf(out, "deleted stream %s\n", pos[0])
	return nil
}

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
	after, err := parseWhen("after", *afterText, now)
	if err != nil {
		return err
	}
	before := now
	if *beforeText != "" {
		if before, err = parseWhen("before", *beforeText, now); err != nil {
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

// parseWhen reads a time as RFC 3339, a date (UTC), or a duration before
// now: 30m, 24h, 7d, 2w.
func parseWhen(field, text string, now time.Time) (time.Time, error) {
	text = strings.TrimSpace(text)
	if t, err := time.Parse(time.RFC3339Nano, text); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", text); err == nil {
		return t, nil
	}
	if n := len(text); n >= 2 {
		if k, err := strconv.Atoi(text[:n-1]); err == nil && k >= 0 {
			unit := map[byte]time.Duration{'m': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour, 'w': 7 * 24 * time.Hour}[text[n-1]]
			if unit != 0 {
				return now.Add(-time.Duration(k) * unit), nil
			}
		}
	}
	return time.Time{}, &stele.Error{Code: stele.EINVALID, Message: fmt.Sprintf("--%s is RFC 3339 (2026-11-24T10:00:00Z), a date (2026-11-24) or a duration before now (24h, 7d)", field),
		Details: []stele.FieldError{{Field: field, Rule: "format"}}}
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
