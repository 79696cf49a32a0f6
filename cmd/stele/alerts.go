package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

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
		if err := alert.DecodeRule(r, &in); err != nil {
			return in, err
		}
	}
	return rf.change().Apply(in)
}

// change is what the flags given say about the rule.
func (rf *ruleFlags) change() alert.RuleChange {
	c := alert.RuleChange{Template: rf.template, Webhooks: rf.webhooks, Slacks: rf.slacks, Emails: rf.emails}
	given := func(name string, v *string) *string {
		if rf.set[name] {
			return v
		}
		return nil
	}
	c.Name, c.Query, c.Cooldown = given("name", &rf.name), given("query", &rf.query), given("cooldown", &rf.cooldown)
	c.Window, c.GroupBy = given("window", &rf.window), given("group-by", &rf.groupBy)
	if rf.set["count"] {
		c.Count = &rf.count
	}
	switch {
	case rf.disabled:
		c.Enabled = new(false)
	case rf.enable:
		c.Enabled = new(true)
	}
	return c
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
