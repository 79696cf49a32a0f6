package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/ingest"
	"github.com/stele-audit/stele/internal/retention"
)

// accountTypesFlag registers the account types' settings: --account-types
// (STELE_ACCOUNT_TYPES), retention days per type, and the per-type ingest
// quota defaults, overriding the built-in types'. The function it returns
// reads them once the flags are parsed.
func accountTypesFlag(fs *flag.FlagSet) func() ([]stele.AccountType, error) {
	days := retentionDaysFlag(fs, "; a new name adds a type, with no ingest quota until the flags below give it one")
	events := fs.String("default-ingest-events-per-second", "", "ingest quota per account type: events a second, e.g. free=100,team=1000,business=5000,enterprise=50000 (the built-in defaults; 'unlimited' or 0 for none)")
	bytes := fs.String("default-ingest-bytes-per-second", "", "ingest quota per account type: request bytes a second, e.g. free=256KiB,team=4MiB,business=16MiB,enterprise=64MiB (the built-in defaults; 'unlimited' or 0 for none)")
	burst := fs.String("default-ingest-burst-seconds", "", "ingest quota per account type: seconds of each rate an idle account may send at once, e.g. free=10,team=10 (built-in: 10 for every type)")
	return func() ([]stele.AccountType, error) {
		types, err := retention.ParseAccountTypes(*days)
		if err != nil {
			return nil, err
		}
		return ingest.ParseTypeQuotas(types, *events, *bytes, *burst)
	}
}

// retentionDaysFlag registers --account-types (STELE_ACCOUNT_TYPES) alone,
// the retention days per type, for commands that read events and so must
// honour the same retention as the server; more adds to its help.
func retentionDaysFlag(fs *flag.FlagSet, more string) *string {
	return fs.String("account-types", "", "retention days per account type, e.g. free=30,team=90,business=365,enterprise=730 (overrides the built-in days"+more+")")
}

// retentionJob returns the retention job on the app's store.
func (a *app) retentionJob(types []stele.AccountType) *retention.Job {
	return &retention.Job{Accounts: a.db, Store: a.db, Audit: a.audit, Types: types, Logger: a.logger,
		Integrity: a.checkpoints, Alerts: a.db}
}

func runRetention(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 || args[0] != "run" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprintln(out, "Usage: stele retention run [--account NAME] [--dry-run] [--account-types free=30,…] [--json]")
			return nil
		}
		return stele.Errorf(stele.EINVALID, "usage: stele retention run [--account NAME] [--dry-run]")
	}
	return bind(parseRetentionRun, retentionRunConfig.run)(ctx, args[1:], out)
}

// retentionRunConfig is the configuration of stele retention run.
type retentionRunConfig struct {
	store   storeFlags
	account string // "": every account
	dryRun  bool
	types   []stele.AccountType
	batch   int
	json    bool
}

func parseRetentionRun(args []string) (retentionRunConfig, error) {
	fs := newFlags("retention run", "retention run [--account NAME] [--dry-run] [--account-types free=30,…] [--json]")
	var c retentionRunConfig
	c.store.register(fs)
	fs.StringVar(&c.account, "account", "", "purge only this account (default: every account)")
	fs.BoolVar(&c.dryRun, "dry-run", false, "report what would be purged; delete nothing")
	readTypes := accountTypesFlag(fs)
	fs.IntVar(&c.batch, "batch", retention.DefaultBatch, "rows deleted per transaction")
	fs.BoolVar(&c.json, "json", false, "print JSON")
	if _, err := parse(fs, args); err != nil {
		return c, err
	}
	var err error
	c.types, err = readTypes()
	return c, err
}

func (c retentionRunConfig) run(ctx context.Context, out io.Writer) error {
	a, err := openApp(ctx, c.store, newLogger("warn"))
	if err != nil {
		return err
	}
	defer a.Close()
	// A purge statement is signed: by the store's own key only.
	if err := a.checkSigner(ctx, false); err != nil {
		return err
	}
	job := a.retentionJob(c.types)
	job.Batch = c.batch
	results, err := job.Run(ctx, c.account, c.dryRun)
	if c.json {
		if perr := printJSON(out, results); perr != nil {
			return perr
		}
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	verb := "PURGED"
	if c.dryRun {
		verb = "WOULD PURGE"
	}
	fmt.Fprintf(tw, "ACCOUNT\tRETENTION\tCUTOFF\t%s\tSEQS\tNOTE\n", verb)
	for _, r := range results {
		seqs, note := "-", ""
		if r.Deleted > 0 {
			seqs = fmt.Sprintf("%d..%d", r.FromSeq, r.BelowSeq-1)
		}
		if r.LegalHold {
			note = "legal hold"
		}
		if r.AlertFirings > 0 {
			note = fmt.Sprintf("%d alert firings", r.AlertFirings)
		}
		fmt.Fprintf(tw, "%s\t%d days\t%s\t%d\t%s\t%s\n", r.Account, r.RetentionDays, r.Cutoff.Format(time.RFC3339), r.Deleted, seqs, note)
	}
	if ferr := tw.Flush(); ferr != nil {
		return ferr
	}
	return err
}
