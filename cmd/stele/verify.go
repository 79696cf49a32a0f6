package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/client"
	"github.com/stele-audit/stele/internal/apikey"
	"github.com/stele-audit/stele/internal/audit"
	"github.com/stele-audit/stele/internal/export"
	"github.com/stele-audit/stele/internal/integrity"
)

// verifyConfig is the configuration of stele verify: a bundle, a live
// server or the local store.
type verifyConfig struct {
	store     storeFlags
	client    clientFlags
	publicKey string
	// moreKeys are further --public-key values: keys trusted besides
	// publicKey (with --data, after a change of signing key).
	moreKeys  []string
	account   string
	statePath string
	samples   int
	json      bool
	bundle    string // a bundle file to verify offline
	remote    bool   // verify the server of --url with --key
}

func runVerify(ctx context.Context, args []string, out io.Writer) error {
	return bind(parseVerify, verifyConfig.run)(ctx, args, out)
}

func parseVerify(args []string) (verifyConfig, error) {
	fs := newFlags("verify", "verify [--data DIR | --db URL] [--account A]\n       stele verify --url U --key K [--public-key K] [--state FILE] [--samples N]\n       stele verify BUNDLE --public-key K\n\n"+localOrRemoteHelp)
	var c verifyConfig
	c.store.register(fs)
	c.client.register(fs)
	fs.Var((*multiFlag)(&c.moreKeys), "public-key", "the checkpoint verifier key to trust (default: the local signing key's, or the one in --state); with --data, give it again for each key that signed, before and after a change of signing key")
	fs.StringVar(&c.account, "account", "", "verify only this account (with --data)")
	fs.StringVar(&c.statePath, "state", integrity.DefaultTrustStatePath(), "file keeping the last checkpoint trusted per log (with --url)")
	fs.IntVar(&c.samples, "samples", 5, "events to spot-check for inclusion (with --url)")
	fs.BoolVar(&c.json, "json", false, "print the report as JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return c, err
	}
	if len(c.moreKeys) > 0 {
		c.publicKey, c.moreKeys = c.moreKeys[0], c.moreKeys[1:]
	}
	if len(pos) == 1 {
		c.bundle = pos[0]
	}
	if c.bundle == "" {
		if c.remote, err = localOrRemote(args, c.client, "data", "db", "account"); err != nil {
			return c, err
		}
	}
	if len(c.moreKeys) > 0 && (c.bundle != "" || c.remote) {
		return c, &stele.Error{Code: stele.EINVALID, Message: "--public-key is given once with a bundle or --url: the key of the checkpoint they carry",
			Details: []stele.FieldError{{Field: "public-key", Rule: "once"}}}
	}
	return c, nil
}

func (c verifyConfig) run(ctx context.Context, out io.Writer) error {
	switch {
	case c.bundle != "":
		return verifyBundle(c.bundle, c.publicKey, c.json, out)
	case c.remote:
		api, err := c.client.client()
		if err != nil {
			return err
		}
		rep, err := verifyRemote(ctx, api, c.publicKey, c.statePath, c.samples, out)
		// A verify that could not run (the server unreachable) or whose
		// trust could not be saved is not recorded.
		if err == nil || errors.Is(err, errVerifyFailed) {
			recordRemoteVerify(ctx, api, c.client, rep)
		}
		return err
	}
	return verifyStore(ctx, c.store, append([]string{c.publicKey}, c.moreKeys...), c.account, c.json, out)
}

var errVerifyFailed = errors.New("verification failed")

// verifyStore checks the local store under the verifier keys given (the
// first "": the local signing key's).
func verifyStore(ctx context.Context, sf storeFlags, publicKeys []string, account string, asJSON bool, out io.Writer) error {
	a, err := openApp(ctx, sf, newLogger("warn"))
	if err != nil {
		return err
	}
	defer a.Close()
	v := &integrity.StoreVerifier{Accounts: a.db, Events: a.db, Store: a.db, Keys: a.keyring}
	if a.checkpoints.Key != nil {
		v.Verifier = a.checkpoints.Key.Verifier
	}
	trusted, err := v.TrustKeys(publicKeys)
	if err != nil {
		return err
	}
	if !trusted { // no --public-key, and no local key to trust
		return a.noSigning
	}
	var names []string
	if account != "" {
		names = []string{account}
	}
	rep, err := v.Verify(ctx, names...)
	if err != nil {
		return err
	}
	printStoreReport(out, rep, asJSON)
	target := stele.SystemAccount
	if account != "" {
		target = account
	}
	a.audit.Log(a.audit.Verified(ctx, audit.CLI(), audit.Verification{Account: target, Mode: "store",
		Events: rep.Events, Checkpoints: int64(rep.Checkpoints), Failures: len(rep.Failures)}))
	if !rep.OK() {
		return errVerifyFailed
	}
	return nil
}

// printStoreReport prints what a store verification found.
func printStoreReport(out io.Writer, rep *integrity.Report, asJSON bool) {
	if asJSON {
		if rep.Failures == nil {
			rep.Failures = []integrity.Failure{}
		}
		printJSON(out, rep)
		return
	}
	for _, f := range rep.Failures {
		fmt.Fprintln(out, "FAIL", f)
	}
	fmt.Fprintf(out, "%d accounts, %d events, %d checkpoints, %d events purged under signed statements: %d failures\n",
		rep.Accounts, rep.Events, rep.Checkpoints, rep.Purged, len(rep.Failures))
}

// verifyBundle checks a bundle offline against the verifier key given.
func verifyBundle(path, publicKey string, asJSON bool, out io.Writer) error {
	if publicKey == "" {
		return &stele.Error{Code: stele.EINVALID, Message: "--public-key is required to verify a bundle",
			Details: []stele.FieldError{{Field: "public-key", Rule: "required"}}}
	}
	verifier, err := integrity.ParseVerifierKey(publicKey)
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	b, err := export.DecodeBundle(f)
	if err != nil {
		return err
	}
	rep, err := export.VerifyBundle(b, verifier)
	if err != nil {
		fmt.Fprintln(out, "FAIL", err)
		return errVerifyFailed
	}
	if asJSON {
		printJSON(out, rep)
	} else {
		for _, f := range rep.Failures {
			fmt.Fprintf(out, "FAIL event %d (seq %d): %s\n", f.Index, f.Seq, f.Detail)
		}
		fmt.Fprintf(out, "bundle of %s: checkpoint %s size %d, %d events, %d failures\n", rep.Account, rep.Origin, rep.Size, rep.Events, len(rep.Failures))
	}
	if len(rep.Failures) > 0 {
		return errVerifyFailed
	}
	return nil
}

// verifyRemote verifies the log of api's key against the trust kept in
// the state file, which it moves on when everything passed, and prints
// what it checked.
func verifyRemote(ctx context.Context, api *client.Client, publicKey, statePath string, samples int, out io.Writer) (*integrity.RemoteReport, error) {
	rep, err := (&integrity.RemoteVerifier{API: api, Samples: samples}).VerifyTrusted(ctx, statePath, publicKey)
	if rep == nil {
		return nil, err
	}
	switch {
	case rep.Signature != nil:
		fmt.Fprintln(out, "FAIL checkpoint:", rep.Signature)
	case rep.Consistency != nil:
		fmt.Fprintf(out, "FAIL checkpoint %d is not consistent with the trusted checkpoint %d: %v\n", rep.Size, rep.Trusted, rep.Consistency)
	case rep.Trusted > 0:
		fmt.Fprintf(out, "checkpoint %d is consistent with the trusted checkpoint %d\n", rep.Size, rep.Trusted)
	}
	if rep.Listing != nil {
		fmt.Fprintln(out, "FAIL listing events:", rep.Listing)
	}
	for _, e := range rep.Events {
		switch {
		case e.Err != nil && e.Seq < 0:
			fmt.Fprintf(out, "FAIL event %s: %v\n", e.ID, e.Err)
		case e.Err != nil:
			fmt.Fprintf(out, "FAIL event %s (seq %d): %v\n", e.ID, e.Seq, e.Err)
		default:
			fmt.Fprintf(out, "event %s (seq %d) is included\n", e.ID, e.Seq)
		}
	}
	if !rep.OK() {
		return rep, errVerifyFailed
	}
	if err != nil { // checked, but the trust was not moved on
		return rep, err
	}
	fmt.Fprintf(out, "OK: %s at size %d is signed, consistent with what was trusted before, and includes the events checked\n", rep.Origin, rep.Size)
	return rep, nil
}

// recordRemoteVerify records a verification of a live server in the
// verified account's own log, through the API with the key used to verify,
// when that key may write events.
func recordRemoteVerify(ctx context.Context, api *client.Client, cf clientFlags, rep *integrity.RemoteReport) {
	who := audit.CLI()
	if id, ok := apikey.KeyID(cf.key); ok {
		who = audit.CLIKey(id)
	}
	rec := &audit.Recorder{Sink: audit.SinkFunc(api.Send)}
	if err := rec.Verified(ctx, who, audit.Verification{Mode: "url", Server: strings.TrimRight(cf.url, "/"),
		Events: int64(len(rep.Events)), Checkpoints: 1, Failures: rep.Failures()}); err != nil {
		fmt.Fprintf(os.Stderr, "stele: the verification was not recorded in the log: %s\n", describe(err))
	}
}
