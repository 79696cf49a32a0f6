package main

import (
	"context"
	"io"
	"strings"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/audit"
	"github.com/stele-audit/stele/internal/export"
	"github.com/stele-audit/stele/internal/integrity"
	"github.com/stele-audit/stele/internal/query"
	"github.com/stele-audit/stele/internal/retention"
)

// exportConfig is the configuration of stele export: from the local
// store, or from a server through its API.
type exportConfig struct {
	store   storeFlags
	client  clientFlags
	format  string
	account string
	query   string
	remote  bool
	output  string
	// types are the account types whose retention the local export
	// honours: the server's, given the same way.
	types []stele.AccountType
}

func runExport(ctx context.Context, args []string, out io.Writer) error {
	return bind(parseExport, exportConfig.run)(ctx, args, out)
}

func parseExport(args []string) (exportConfig, error) {
	fs := newFlags("export", "export --format csv|jsonl|ocsf|bundle [--data DIR --account A | --url U --key K] [--output FILE] [QUERY]\n\n"+localOrRemoteHelp)
	var c exportConfig
	c.store.register(fs)
	c.client.register(fs)
	fs.StringVar(&c.format, "format", "csv", "csv (for spreadsheets), jsonl (JSON Lines), ocsf (JSON Lines of OCSF events, for SIEMs), or bundle (a verifiable bundle: events, checkpoint, inclusion proofs)")
	fs.StringVar(&c.account, "account", "", "the account to export from the local store (with --data)")
	fs.StringVar(&c.output, "output", "", "write the export to this file, whole or not at all (default: standard output, which gets nothing unless the export starts)")
	days := retentionDaysFlag(fs, "; the local store's events past their retention are left out, as the server leaves them out")
	pos, err := parse(fs, args)
	if err != nil {
		return c, err
	}
	if c.types, err = retention.ParseAccountTypes(*days); err != nil {
		return c, err
	}
	if c.format != "bundle" {
		if _, err := export.Lookup(c.format, "bundle"); err != nil {
			return c, err
		}
	}
	c.query = strings.Join(pos, " ")
	if c.remote, err = localOrRemote(args, c.client, "data", "db", "account", "account-types"); err != nil {
		return c, err
	}
	if !c.remote && c.account == "" {
		return c, &stele.Error{Code: stele.EINVALID, Message: "--account is required with the local store (or give a server: --url and --key)",
			Details: []stele.FieldError{{Field: "account", Rule: "required"}}}
	}
	return c, nil
}

// run writes the export to out and, from the local store, records it in
// the account's log.
func (c exportConfig) run(ctx context.Context, stdout io.Writer) error {
	out, err := openExportOutput(c.output, stdout)
	if err != nil {
		return err
	}
	return out.finish(c.write(ctx, out))
}

// write writes the export to out.
func (c exportConfig) write(ctx context.Context, out io.Writer) error {
	if c.remote {
		return exportRemote(ctx, c.client, c.format, c.query, out)
	}
	parsed, err := query.Parse(c.query, time.Now())
	if err != nil {
		return err
	}
	a, acct, err := openAppFor(ctx, c.store, c.account)
	if err != nil {
		return err
	}
	defer a.Close()
	a.search.SetRetention(c.types, nil)
	var n int64
	if c.format == "bundle" {
		// A bundle carries a checkpoint, signed now if the tree grew: by
		// the store's own key only.
		if err := a.checkSigner(ctx, false); err != nil {
			return err
		}
		n, err = integrity.WriteBundle(ctx, out, a.checkpoints, a.search, acct, parsed)
	} else {
		f, _ := export.Lookup(c.format) // parseExport checked it
		n, err = export.Events(ctx, out, a.search, acct, parsed, f)
	}
	// The rows are out: a failure to record them is logged, not returned.
	a.audit.Log(a.audit.Exported(ctx, audit.CLI(), audit.Export{Account: acct.Name, Query: parsed.String(), Format: c.format, Rows: n, Err: err}))
	return err
}

func exportRemote(ctx context.Context, cf clientFlags, format, q string, out io.Writer) error {
	api, err := cf.client()
	if err != nil {
		return err
	}
	_, err = api.Export(ctx, out, q, format)
	return err
}
