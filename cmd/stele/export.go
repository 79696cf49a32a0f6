package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/integrity"
	"github.com/stele-audit/stele/internal/query"
)

func runExport(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlags("export", "export --format bundle [--data DIR --account A | --url U --key K] [QUERY] > bundle.json")
	var sf storeFlags
	sf.register(fs)
	var cf clientFlags
	cf.register(fs)
	format := fs.String("format", "bundle", "bundle (a verifiable bundle: events, checkpoint, inclusion proofs)")
	account := fs.String("account", "", "the account to export from the local store (with --data)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if *format != "bundle" {
		return &stele.Error{Code: stele.EINVALID, Message: "this command writes --format bundle; CSV and JSON Lines come from GET /v1/export",
			Details: []stele.FieldError{{Field: "format", Rule: "enum"}}}
	}
	q := strings.Join(pos, " ")
	if cf.key != "" {
		return exportRemote(ctx, cf, q, out)
	}
	if *account == "" {
		return &stele.Error{Code: stele.EINVALID, Message: "--account is required with the local store (or give --url and --key)",
			Details: []stele.FieldError{{Field: "account", Rule: "required"}}}
	}
	parsed, err := query.Parse(q, time.Now())
	if err != nil {
		return err
	}
	a, err := openApp(ctx, sf, newLogger("warn"))
	if err != nil {
		return err
	}
	defer a.Close()
	acct, err := a.db.AccountByName(ctx, *account)
	if err != nil {
		return err
	}
	n, err := integrity.WriteBundle(ctx, out, a.checkpoints, a.search, acct, parsed)
	outcome := stele.OutcomeSuccess
	if err != nil {
		outcome = stele.OutcomeFailure
	}
	if rerr := a.record(ctx, stele.Event{Account: acct.Name, Action: "audit_log.exported", Outcome: outcome,
		Description: "Exported a verifiable bundle from the command line",
		Metadata:    map[string]any{"format": "bundle", "query": q, "rows": fmt.Sprint(n)}}); rerr != nil {
		a.logger.Warn("record export", "err", rerr)
	}
	return err
}

func exportRemote(ctx context.Context, cf clientFlags, q string, out io.Writer) error {
	c, err := newClient(cf)
	if err != nil {
		return err
	}
	resp, err := c.get(ctx, "/v1/export?format=bundle&q="+url.QueryEscape(q), "")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(out, resp.Body)
	return err
}

// get sends a GET and returns the response when its status is 200, or the API's error.
func (c *apiClient) get(ctx context.Context, path, accept string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", c.base+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("GET %s: %s: %s", path, resp.Status, strings.TrimSpace(string(b)))
	}
	return resp, nil
}
