package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/client"
	"github.com/stele-audit/stele/internal/alert"
)

const alertsUsage = `Usage: stele alerts create|list|update|delete|test|history|templates ...

  stele alerts create --template failed-logins --webhook https://hooks.example.com/stele
  stele alerts create --name NAME --query QUERY [--count N --window 10m [--group-by actor|ip|source]]
                      [--cooldown 15m] [--webhook URL]... [--slack URL]... [--email ADDR]... [--disabled]
  stele alerts create --file rule.json           (the JSON of POST /v1/alert-rules; - for stdin)
  stele alerts list [--json]
  stele alerts update ID [the flags of create; only those given change] [--enable|--disable]
  stele alerts delete ID
  stele alerts test ID                           (sends a test alert to every destination)
  stele alerts history ID [--limit N]            (firings and their deliveries)
  stele alerts templates                         (the rules ready to pick)

They talk to a server: --url and --key (or STELE_URL and STELE_KEY), a key
with the alerts:manage scope. A webhook given no secret gets one, printed
once. Slack URLs are credentials: prefer --file (or stdin) to the command line.`

func runAlerts(ctx context.Context, args []string, out io.Writer) error {
	return dispatch(ctx, "alerts", alertsUsage, []subcommand{
		{"create", runAlertsCreate}, {"list", runAlertsList}, {"update", runAlertsUpdate}, {"delete", runAlertsDelete},
		{"test", runAlertsTest}, {"history", runAlertsHistory}, {"templates", runAlertsTemplates},
	}, args, out)
}

// ruleFlags are the flags that say what a rule is.
type ruleFlags struct {
	template, name, query, file string
	count                       int
	window, groupBy, cooldown   string
	webhooks, slacks, emails    multiFlag
	disabled, enable            bool
	set                         map[string]bool // the flags given
}

// multiFlag is a flag that may be given more than once.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func (rf *ruleFlags) register(fs *flag.FlagSet, update bool) {
	fs.StringVar(&rf.template, "template", "", "start from a template (stele alerts templates lists them)")
	fs.StringVar(&rf.name, "name", "", "the rule's name")
	fs.StringVar(&rf.query, "query", "", "the rule's query, in the query language (action:user.role_changed)")
	fs.StringVar(&rf.file, "file", "", "read the rule as JSON (the API's body) from this file, - for stdin")
	fs.IntVar(&rf.count, "count", 0, "threshold: at least this many matching events …")
	fs.StringVar(&rf.window, "window", "", "… within this window (10m, 1h)")
	fs.StringVar(&rf.groupBy, "group-by", "", "… counted per actor, ip or source")
	fs.StringVar(&rf.cooldown, "cooldown", "", "least time between two firings (15m)")
	fs.Var(&rf.webhooks, "webhook", "send to this webhook URL (repeatable); Stele makes its signing secret")
	fs.Var(&rf.slacks, "slack", "send to this Slack incoming webhook URL (repeatable)")
	fs.Var(&rf.emails, "email", "send email to this address (repeatable)")
	fs.BoolVar(&rf.disabled, "disable", false, "turn the rule off")
	if update {
		fs.BoolVar(&rf.enable, "enable", false, "turn the rule on")
	} else {
		fs.BoolVar(&rf.disabled, "disabled", false, "create the rule turned off")
	}
}

// parseRuleFlags parses args into a config: the client flags, the rule
// flags and which of them were given, and the positional arguments.
func parseRuleFlags(cmd, usage string, args []string, update bool) (clientFlags, *ruleFlags, bool, []string, error) {
	fs := newFlags(cmd, usage)
	var cf clientFlags
	cf.register(fs)
	rf := &ruleFlags{set: map[string]bool{}}
	rf.register(fs, update)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return cf, nil, false, nil, err
	}
	fs.Visit(func(f *flag.Flag) { rf.set[f.Name] = true })
	return cf, rf, *asJSON, pos, nil
}

// input builds the rule's JSON from the flags over base (a template, the
// rule as it is, or nothing).
func (rf *ruleFlags) input(base client.AlertRuleInput) (client.AlertRuleInput, error) {
	in := base
	if rf.file != "" {
		var r io.Reader = os.Stdin
		if rf.file != "-" {
			f, err := os.Open(rf.file)
			if err != nil {
				return in, err
			}
			defer f.Close()
			r = f
		}
		dec := json.NewDecoder(r)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&in); err != nil {
			return in, &stele.Error{Code: stele.EINVALID, Message: "--file: not an alert rule's JSON: " + err.Error(),
				Details: []stele.FieldError{{Field: "file", Rule: "json"}}}
		}
	}
	if rf.template != "" {
		t, ok := alert.TemplateNamed(rf.template)
		if !ok {
			var names []string
			for _, t := range alert.Templates {
				names = append(names, t.Name)
			}
			return in, &stele.Error{Code: stele.EINVALID, Message: fmt.Sprintf("--template: no template %q (%s)", rf.template, strings.Join(names, ", ")),
				Details: []stele.FieldError{{Field: "template", Rule: "one_of"}}}
		}
		in.Name, in.Query, in.Cooldown = t.Title, t.Query, t.Cooldown
		in.Threshold = nil
		if t.Threshold != nil {
			in.Threshold = &client.AlertThreshold{Count: t.Threshold.Count, Window: t.Threshold.Window, GroupBy: t.Threshold.GroupBy}
		}
	}
	if rf.set["name"] {
		in.Name = rf.name
	}
	if rf.set["query"] {
		in.Query = rf.query
	}
	if rf.set["count"] || rf.set["window"] || rf.set["group-by"] {
		if in.Threshold == nil {
			in.Threshold = &client.AlertThreshold{}
		}
		if rf.set["count"] {
			in.Threshold.Count = rf.count
		}
		if rf.set["window"] {
			in.Threshold.Window = rf.window
		}
		if rf.set["group-by"] {
			in.Threshold.GroupBy = rf.groupBy
		}
	}
	if rf.set["cooldown"] {
		in.Cooldown = rf.cooldown
	}
	if len(rf.webhooks)+len(rf.slacks)+len(rf.emails) > 0 {
		in.Destinations = nil
		for _, u := range rf.webhooks {
			in.Destinations = append(in.Destinations, client.AlertDestination{Type: "webhook", URL: u})
		}
		for _, u := range rf.slacks {
			in.Destinations = append(in.Destinations, client.AlertDestination{Type: "slack", URL: u})
		}
		if len(rf.emails) > 0 {
			in.Destinations = append(in.Destinations, client.AlertDestination{Type: "email", To: rf.emails})
		}
	}
	switch {
	case rf.disabled:
		in.Enabled = new(false)
	case rf.enable:
		in.Enabled = new(true)
	}
	return in, nil
}

func runAlertsCreate(ctx context.Context, args []string, out io.Writer) error {
	cf, rf, asJSON, _, err := parseRuleFlags("alerts create", "alerts create (--template NAME | --name N --query Q | --file F) [flags]", args, false)
	if err != nil {
		return err
	}
	in, err := rf.input(client.AlertRuleInput{})
	if err != nil {
		return err
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	r, err := c.CreateAlertRule(ctx, in)
	if err != nil {
		return err
	}
	return printRule(out, r, asJSON, "Created")
}

func runAlertsUpdate(ctx context.Context, args []string, out io.Writer) error {
	cf, rf, asJSON, pos, err := parseRuleFlags("alerts update", "alerts update ID [flags]", args, true)
	if err != nil {
		return err
	}
	id, err := oneID("update", pos)
	if err != nil {
		return err
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	cur, err := c.AlertRule(ctx, id)
	if err != nil {
		return err
	}
	// What the server returned, secrets redacted, goes back as it was:
	// the server keeps what it stored.
	base := client.AlertRuleInput{Name: cur.Name, Query: cur.Query, Threshold: cur.Threshold, Cooldown: cur.Cooldown, Destinations: cur.Destinations}
	in, err := rf.input(base)
	if err != nil {
		return err
	}
	r, err := c.UpdateAlertRule(ctx, id, in)
	if err != nil {
		return err
	}
	return printRule(out, r, asJSON, "Updated")
}

func oneID(verb string, pos []string) (string, error) {
	if len(pos) != 1 {
		return "", &stele.Error{Code: stele.EINVALID, Message: fmt.Sprintf("usage: stele alerts %s ID", verb),
			Details: []stele.FieldError{{Field: "id", Rule: "required"}}}
	}
	return pos[0], nil
}

// idCommand parses the flags of a command that takes one rule id.
func idCommand(verb string, args []string, extra func(fs *flag.FlagSet)) (*client.Client, string, bool, error) {
	fs := newFlags("alerts "+verb, "alerts "+verb+" ID")
	var cf clientFlags
	cf.register(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	if extra != nil {
		extra(fs)
	}
	pos, err := parse(fs, args)
	if err != nil {
		return nil, "", false, err
	}
	id, err := oneID(verb, pos)
	if err != nil {
		return nil, "", false, err
	}
	c, err := cf.client()
	return c, id, *asJSON, err
}

func runAlertsDelete(ctx context.Context, args []string, out io.Writer) error {
	c, id, _, err := idCommand("delete", args, nil)
	if err != nil {
		return err
	}
	if err := c.DeleteAlertRule(ctx, id); err != nil {
		return err
	}
	fmt.Fprintf(out, "Deleted alert rule %s (its history stays).\n", id)
	return nil
}

func runAlertsTest(ctx context.Context, args []string, out io.Writer) error {
	c, id, asJSON, err := idCommand("test", args, nil)
	if err != nil {
		return err
	}
	res, err := c.TestAlertRule(ctx, id)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(out, res)
	}
	failed := 0
	for _, r := range res {
		status := "ok"
		if !r.OK {
			status, failed = "FAILED: "+r.Error, failed+1
		}
		fmt.Fprintf(out, "%-8s %s  %s\n", r.Destination.Type, destText(r.Destination), status)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d destinations did not take the test alert", failed, len(res))
	}
	return nil
}

func runAlertsHistory(ctx context.Context, args []string, out io.Writer) error {
	var limit *int
	c, id, asJSON, err := idCommand("history", args, func(fs *flag.FlagSet) { limit = fs.Int("limit", 20, "at most this many firings") })
	if err != nil {
		return err
	}
	fs, err := c.AlertFirings(ctx, id, *limit)
	if err != nil {
		return err
	}
	if asJSON {
		if fs == nil {
			fs = []client.AlertFiring{}
		}
		return printJSON(out, fs)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FIRED\tID\tCOUNT\tDELIVERIES")
	for _, f := range fs {
		var ds []string
		for _, d := range f.Deliveries {
			ds = append(ds, fmt.Sprintf("%s %s (%d)", d.Destination.Type, d.State, d.Attempts))
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", f.FiredAt.UTC().Format("2006-01-02 15:04:05"), f.ID, f.Count, strings.Join(ds, ", "))
	}
	return tw.Flush()
}

func runAlertsList(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlags("alerts list", "alerts list [--json]")
	var cf clientFlags
	cf.register(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	rules, err := c.AlertRules(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		if rules == nil {
			rules = []client.AlertRule{}
		}
		return printJSON(out, rules)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tON\tQUERY\tTHRESHOLD\tDESTINATIONS")
	for _, r := range rules {
		th := "every event"
		if r.Threshold != nil {
			th = fmt.Sprintf("%d in %s", r.Threshold.Count, r.Threshold.Window)
			if r.Threshold.GroupBy != "" {
				th += " per " + r.Threshold.GroupBy
			}
		}
		var ds []string
		for _, d := range r.Destinations {
			ds = append(ds, d.Type)
		}
		fmt.Fprintf(tw, "%s\t%s\t%v\t%s\t%s\t%s\n", r.ID, r.Name, r.Enabled, r.Query, th, strings.Join(ds, ","))
	}
	return tw.Flush()
}

func runAlertsTemplates(_ context.Context, args []string, out io.Writer) error {
	fs := newFlags("alerts templates", "alerts templates")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TEMPLATE\tRULE\tQUERY\tTHRESHOLD")
	for _, t := range alert.Templates {
		th := ""
		if t.Threshold != nil {
			th = fmt.Sprintf("%d in %s", t.Threshold.Count, t.Threshold.Window)
			if t.Threshold.GroupBy != "" {
				th += " per " + t.Threshold.GroupBy
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.Name, t.Title, t.Query, th)
	}
	return tw.Flush()
}

func destText(d client.AlertDestination) string {
	if d.Type == "email" {
		return strings.Join(d.To, ", ")
	}
	return d.URL
}

func printRule(out io.Writer, r *client.AlertRule, asJSON bool, verb string) error {
	if asJSON {
		return printJSON(out, r)
	}
	fmt.Fprintf(out, "%s alert rule %s (%s): %s\n", verb, r.ID, r.Name, r.Query)
	for _, d := range r.Destinations {
		fmt.Fprintf(out, "  %-8s %s\n", d.Type, destText(d))
		if d.Secret != "" {
			fmt.Fprintf(out, "           signing secret (shown once): %s\n", d.Secret)
		}
	}
	return nil
}
