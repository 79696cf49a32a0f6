package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/client"
	"github.com/stele-audit/stele/internal/stream"
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
	headers            multiFlag
	headerFile         string
	start              string
	allAccounts        bool
	enabled            string // "", "true" or "false"
	set                map[string]bool
	client             clientFlags
	asJSON             bool
	disabledAtCreation bool
}

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

// destination builds the destination the flags name, over cur (the
// stream's current one on an update, nil on a create), with the headers of
// --header and --header-file.
func (c *streamConfig) destination(cur *client.StreamDestinationView) (*stele.StreamDestination, error) {
	change := stream.DestinationChange{Syslog: c.syslog, HTTPS: c.https, Format: c.format}
	if c.set["tls"] {
		change.TLS = &c.tls
	}
	var base *stele.StreamDestination
	if cur != nil {
		base = &stele.StreamDestination{Type: cur.Type, Address: cur.Address, TLS: cur.TLS, Format: cur.Format, URL: cur.URL}
	}
	d, err := change.Apply(base)
	if err != nil {
		return nil, err
	}
	if d.Headers, err = c.headerMap(); err != nil {
		return nil, err
	}
	return d, nil
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
		more, err := stream.HeaderLines(f)
		if err != nil {
			return nil, fmt.Errorf("--header-file: %w", err)
		}
		lines = append(lines, more...)
	}
	return stream.ParseHeaders(lines)
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
	in, err := c.update(cur)
	if err != nil {
		return err
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

// update is the stream cur as the flags change it.
func (c *streamConfig) update(cur *client.Stream) (client.StreamInput, error) {
	d, err := c.destination(&cur.Destination)
	if err != nil {
		return client.StreamInput{}, err
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
			return client.StreamInput{}, &stele.Error{Code: stele.EINVALID, Message: "--enabled is true or false",
				Details: []stele.FieldError{{Field: "enabled", Rule: "type"}}}
		}
		in.Enabled = &on
	}
	return in, nil
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
