package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/seal"
)

func runCrypto(ctx context.Context, args []string, out io.Writer) error {
	return dispatch(ctx, "crypto", "Usage: stele crypto rotate --account NAME     new data and index key versions for the account\n"+
		"       stele crypto rotate --master [--retire] add a master key version and rewrap every account key under it\n"+
		"       stele crypto reencrypt [--account NAME] seal old rows again under the current data key version", []subcommand{
		{"rotate", cryptoRotate},
		{"reencrypt", cryptoReencrypt},
	}, args, out)
}

func cryptoRotate(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlags("crypto rotate", "crypto rotate --account NAME | --master [--retire] [--json]")
	var sf storeFlags
	sf.register(fs)
	account := fs.String("account", "", "rotate this account's data and index keys")
	master := fs.Bool("master", false, "rotate the master key: add a version to the key file and rewrap every account key under it")
	retire := fs.Bool("retire", false, "with --master: once every key is rewrapped, drop older versions from the key file")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if (*account == "") == !*master {
		return stele.Errorf(stele.EINVALID, "give exactly one of --account NAME or --master")
	}
	if *master {
		return rotateMaster(ctx, sf, *retire, *asJSON, out)
	}
	a, acct, err := openAppFor(ctx, sf, *account)
	if err != nil {
		return err
	}
	defer a.Close()
	if _, err := a.keyring.Account(ctx, acct.ID); err != nil { // an account without keys yet gets version 1 first
		return err
	}
	rot, err := a.keyring.Rotate(ctx, acct.ID)
	if err != nil {
		return err
	}
	meta := map[string]any{"data_key_version": rot.DataVersion, "index_key_version": rot.IndexVersion}
	desc := fmt.Sprintf("Keys of %s rotated: data key v%d, index key v%d; older versions still decrypt", acct.Name, rot.DataVersion, rot.IndexVersion)
	target := &stele.Ref{Type: "account", ID: acct.Name, Name: acct.Name}
	var events []stele.Event
	for _, name := range dedupe(acct.Name, stele.SystemAccount) {
		events = append(events, stele.Event{Account: name, Action: "crypto.key_rotated", Outcome: stele.OutcomeSuccess, Target: target, Description: desc, Metadata: meta})
	}
	if err := a.record(ctx, events...); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(out, map[string]any{"account": acct.Name, "data_key_version": rot.DataVersion, "index_key_version": rot.IndexVersion})
	}
	fmt.Fprintf(out, "account %s: new data key v%d and index key v%d; new events use them, older ones still decrypt.\n"+
		"Run 'stele crypto reencrypt --account %s' to move older rows to v%d.\n", acct.Name, rot.DataVersion, rot.IndexVersion, acct.Name, rot.DataVersion)
	return nil
}

func dedupe(names ...string) []string {
	var out []string
	for _, n := range names {
		if len(out) == 0 || out[len(out)-1] != n {
			out = append(out, n)
		}
	}
	return out
}

// rotateMaster adds a master key version to the key file, rewraps every
// account key under it and, with retire, drops the older versions.
func rotateMaster(ctx context.Context, sf storeFlags, retire, asJSON bool, out io.Writer) error {
	path, fromEnv := seal.MasterKeyPath(sf.data, os.Getenv)
	if fromEnv {
		// The environment cannot be rewritten from here: the operator adds
		// the new version to STELE_MASTER_KEY ("v1:…,v2:…") and runs this
		// again; the newest version loaded is the one rewrapped to.
		return rewrapAll(ctx, sf, "", false, asJSON, out)
	}
	if _, err := seal.AddMasterKeyVersion(path); err != nil {
		return err
	}
	return rewrapAll(ctx, sf, path, retire, asJSON, out)
}

func rewrapAll(ctx context.Context, sf storeFlags, path string, retire, asJSON bool, out io.Writer) error {
	a, err := openApp(ctx, sf, newLogger("warn"))
	if err != nil {
		return err
	}
	defer a.Close()
	accts, err := a.db.Accounts(ctx)
	if err != nil {
		return err
	}
	ids := make([]int64, len(accts))
	for i, ac := range accts {
		ids[i] = ac.ID
	}
	n, err := a.keyring.Rewrap(ctx, a.db, ids)
	if err != nil {
		return err
	}
	version := a.keyring.MasterVersion()
	retired := false
	if retire && path != "" {
		m, err := seal.LoadMasterKey(sf.data, os.Getenv, a.logger)
		if err != nil {
			return err
		}
		only, err := seal.NewMasterKeyFrom(m)
		if err != nil {
			return err
		}
		if err := seal.WriteMasterKeyFile(path, only); err != nil {
			return err
		}
		retired = true
	}
	if err := a.record(ctx, stele.Event{Account: stele.SystemAccount, Action: "crypto.key_rotated", Outcome: stele.OutcomeSuccess,
		Target:      &stele.Ref{Type: "master_key", ID: fmt.Sprintf("v%d", version)},
		Description: fmt.Sprintf("Master key rotated to version %d: %d account keys rewrapped", version, n),
		Metadata:    map[string]any{"master_key_version": version, "keys_rewrapped": n, "older_versions_retired": retired}}); err != nil {
		return err
	}
	if asJSON {
		return printJSON(out, map[string]any{"master_key_version": version, "keys_rewrapped": n, "older_versions_retired": retired})
	}
	fmt.Fprintf(out, "master key version %d: %d account keys rewrapped.\n", version, n)
	if path != "" && !retired {
		fmt.Fprintf(out, "Older versions stay in %s until you run this with --retire; remove them once every\nserver has restarted or reloaded, and keep in mind that backups wrapped under them still need them.\n", path)
	}
	return nil
}

func cryptoReencrypt(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlags("crypto reencrypt", "crypto reencrypt [--account NAME] [--batch N] [--json]")
	var sf storeFlags
	sf.register(fs)
	account := fs.String("account", "", "only this account (default: every account)")
	batch := fs.Int("batch", 1000, "rows per transaction")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	a, err := openApp(ctx, sf, newLogger("warn"))
	if err != nil {
		return err
	}
	defer a.Close()
	var accts []*stele.Account
	if *account != "" {
		acct, err := a.db.AccountByName(ctx, *account)
		if err != nil {
			return err
		}
		accts = append(accts, acct)
	} else if accts, err = a.db.Accounts(ctx); err != nil {
		return err
	}
	var results []seal.ReencryptResult
	for _, acct := range accts {
		res, err := a.keyring.Reencrypt(ctx, a.db, acct.ID, *batch, 0)
		if err != nil {
			return fmt.Errorf("account %s: %w", acct.Name, err)
		}
		results = append(results, res)
		if res.Rows == 0 {
			continue
		}
		if err := a.record(ctx, stele.Event{Account: acct.Name, Action: "crypto.reencrypted", Outcome: stele.OutcomeSuccess,
			Target:      &stele.Ref{Type: "account", ID: acct.Name, Name: acct.Name},
			Description: fmt.Sprintf("%d events sealed again under data key v%d", res.Rows, res.Version),
			Metadata:    map[string]any{"rows": res.Rows, "data_key_version": res.Version}}); err != nil {
			return err
		}
		if !*asJSON {
			fmt.Fprintf(out, "account %s: %d rows moved to data key v%d\n", acct.Name, res.Rows, res.Version)
		}
	}
	if *asJSON {
		return printJSON(out, results)
	}
	return nil
}
