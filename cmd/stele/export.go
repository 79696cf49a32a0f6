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
)

func runExport(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlags("export", "export --format csv|jsonl|ocsf|bundle [--data DIR --account A | --url U --key K] [QUERY] > FILE")
	var sf storeFlags
	sf.register(fs)
	var cf clientFlags
	cf.register(fs)
	format := fs.String("format", "csv", "csv (for spreadsheets), jsonl (JSON Lines), ocsf (JSON Lines of OCSF events, for SIEMs), or bundle (a verifiable bundle: events, checkpoint, inclusion proofs)")
	account := fs.String("account", "", "the account to export from the local store (with --data)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if *format != "bundle" {
		if _, err := export.Lookup(*format, "bundle"); err != nil {
			return err
		}
	}
	q := strings.Join(pos, " ")
	local := givenOnCommandLine(args, "data") || givenOnCommandLine(args, "db") || givenOnCommandLine(args, "account")
	if cf.key != "" && (!local || givenOnCommandLine(args, "url") || givenOnCommandLine(args, "key")) {
		return exportRemote(ctx, cf, *format, q, out)
	}
	if *account == "" {
		return &stele.Error{Code: stele.EINVALID, Message: "--account is required with the local store (or give --url and --key)",
			Details: []stele.FieldError{{Field: "account", Rule: "required"}}}
	}
	parsed, err := query.Parse(q, time.Now())
	if err != nil {
		return err
	}
	a, acct, err := openAppFor(ctx, sf, *account)
	if err != nil {
		return err
	}
	defer a.Close()
	var n int64
	if *format == "bundle" {
		n, err = integrity.WriteBundle(ctx, out, a.checkpoints, a.search, acct, parsed)
	} else {
		var f export.Format
		if f, err = export.Lookup(*format); err == nil {
			n, err = export.Events(ctx, out, a.search, acct, parsed, f)
		}
	}
	// The rows are out: a failure to record them is logged, not returned.
	a.audit.Log(a.audit.Exported(ctx, audit.CLI(), audit.Export{Account: acct.Name, Query: parsed.String(), Format: *format, Rows: n, Err: err}))
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
