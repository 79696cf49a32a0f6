package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/stele-audit/stele/client"
	"github.com/stele-audit/stele/internal/alert"
)

// runAlertsHistory prints a rule's firings and their deliveries.
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
		return printJSONList(out, fs)
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

// runAlertsList prints the rules of the key's account.
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
		return printJSONList(out, rules)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tON\tQUERY\tTHRESHOLD\tDESTINATIONS")
	for _, r := range rules {
		th := "every event"
		if t := r.Threshold; t != nil {
			th = thresholdText(t.Count, t.Window, t.GroupBy)
		}
		var ds []string
		for _, d := range r.Destinations {
			ds = append(ds, d.Type)
		}
		fmt.Fprintf(tw, "%s\t%s\t%v\t%s\t%s\t%s\n", r.ID, r.Name, r.Enabled, r.Query, th, strings.Join(ds, ","))
	}
	return tw.Flush()
}

// runAlertsTemplates prints the rules ready to pick.
func runAlertsTemplates(_ context.Context, args []string, out io.Writer) error {
	fs := newFlags("alerts templates", "alerts templates")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TEMPLATE\tRULE\tQUERY\tTHRESHOLD")
	for _, t := range alert.Templates {
		th := ""
		if t := t.Threshold; t != nil {
			th = thresholdText(t.Count, t.Window, t.GroupBy)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.Name, t.Title, t.Query, th)
	}
	return tw.Flush()
}

// destText is where a destination sends, for the terminal.
func destText(d client.AlertDestination) string {
	if d.Type == "email" {
		return strings.Join(d.To, ", ")
	}
	return d.URL
}

// printRule prints a rule just made or changed, with a secret the server
// generated for it, shown once.
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

// thresholdText is a rule's threshold for a table: "5 in 10m per actor".
func thresholdText(count int, window, groupBy string) string {
	th := fmt.Sprintf("%d in %s", count, window)
	if groupBy != "" {
		th += " per " + groupBy
	}
	return th
}
