package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/ingest"
)

// accountsListConfig is the configuration of stele accounts list.
type accountsListConfig struct {
	store storeFlags
	types []stele.AccountType
	json  bool
}

func parseAccountsList(args []string) (accountsListConfig, error) {
	fs := newFlags("accounts list", "accounts list [--json]")
	var c accountsListConfig
	c.store.register(fs)
	readTypes := accountTypesFlag(fs)
	fs.BoolVar(&c.json, "json", false, "print JSON")
	if _, err := parse(fs, args); err != nil {
		return c, err
	}
	var err error
	c.types, err = readTypes()
	return c, err
}

func (c accountsListConfig) run(ctx context.Context, out io.Writer) error {
	a, err := openApp(ctx, c.store, newLogger("warn"))
	if err != nil {
		return err
	}
	defer a.Close()
	accts, err := a.db.Accounts(ctx)
	if err != nil {
		return err
	}
	views := make([]stele.AccountSettings, len(accts))
	for i, ac := range accts {
		views[i] = ac.Settings(c.types)
	}
	if c.json {
		return printJSON(out, views)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTYPE\tRETENTION\tLEGAL HOLD\tINGEST QUOTA (* the account's own)\tCREATED")
	for _, v := range views {
		ret := strconv.Itoa(v.RetentionDays) + " days"
		if v.Override {
			ret += " (override)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\t%s\n", v.Name, v.Type, ret, onOff(v.LegalHold), ingest.QuotaText(v.Ingest, &v.IngestOverride), v.CreatedAt.Format(time.DateOnly))
	}
	return tw.Flush()
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
