package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/audit"
	"github.com/stele-audit/stele/internal/seal"
)

func runCrypto(ctx context.Context, args []string, out io.Writer) error {
	return dispatch(ctx, "crypto", "Usage: stele crypto rotate --account NAME     new data and index key versions for the account\n"+
		"       stele crypto rotate --master [--retire] add a master key version and rewrap every account key under it\n"+
		"       stele crypto reencrypt [--account NAME] seal old rows again under the current data key version", []subcommand{
		{"rotate", bind(parseCryptoRotate, cryptoRotateConfig.run)},
		{"reencrypt", bind(parseCryptoReencrypt, cryptoReencryptConfig.run)},
	}, args, out)
}

// cryptoRotateConfig is the configuration of stele crypto rotate.
type cryptoRotateConfig struct {
	store   storeFlags
	account string // the account whose keys to rotate, or "" with master
	master  bool
	retire  bool
	json    bool
}

func parseCryptoRotate(args []string) (cryptoRotateConfig, error) {
	fs := newFlags("crypto rotate", "crypto rotate --account NAME | --master [--retire] [--json]")
	var c cryptoRotateConfig
	c.store.register(fs)
	fs.StringVar(&c.account, "account", "", "rotate this account's data and index keys")
	fs.BoolVar(&c.master, "master", false, "rotate the master key: add a version to the key file and rewrap every account key under it")
	fs.BoolVar(&c.retire, "retire", false, "with --master: once every key is rewrapped, drop older versions from the key file")
	fs.BoolVar(&c.json, "json", false, "print JSON")
	if _, err := parse(fs, args); err != nil {
		return c, err
	}
	if (c.account == "") == !c.master {
		return c, stele.Errorf(stele.EINVALID, "give exactly one of --account NAME or --master")
	}
	return c, nil
}

func (c cryptoRotateConfig) run(ctx context.Context, out io.Writer) error {
	if c.master {
		return rotateMaster(ctx, c.store, c.retire, c.json, out)
	}
	a, acct, err := openAppFor(ctx, c.store, c.account)
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
	if err := a.audit.KeysRotated(ctx, audit.CLI(), acct, rot.DataVersion, rot.IndexVersion); err != nil {
		return err
	}
	if c.json {
		return printJSON(out, map[string]any{"account": acct.Name, "data_key_version": rot.DataVersion, "index_key_version": rot.IndexVersion})
	}
	fmt.Fprintf(out, "account %s: new data key v%d and index key v%d; new events use them, older ones still decrypt.\n"+
		"Run 'stele crypto reencrypt --account %s' to move older rows to v%d.\n", acct.Name, rot.DataVersion, rot.IndexVersion, acct.Name, rot.DataVersion)
	return nil
}

// rotateMaster moves every account key under a new master key version
// (seal.Keyring.RotateMaster), records it and prints it. A key from the
// environment cannot be rewritten from here: the operator adds the new
// version to STELE_MASTER_KEY ("v1:…,v2:…") and runs this again.
func rotateMaster(ctx context.Context, sf storeFlags, retire, asJSON bool, out io.Writer) error {
	path, fromEnv := seal.MasterKeyPath(sf.data, os.Getenv)
	if fromEnv {
		path = ""
	}
	a, err := openApp(ctx, sf, newLogger("warn"))
	if err != nil {
		return err
	}
	defer a.Close()
	rot, err := a.keyring.RotateMaster(ctx, a.keys, path, retire)
	if rot.Version == 0 { // nothing was done
		return err
	}
	// A rotation cut short still changed keys: it is recorded too.
	if rerr := a.audit.MasterKeyRotated(ctx, audit.CLI(), audit.MasterRotation{Version: rot.Version, Rewrapped: rot.Rewrapped, Retired: rot.Retired, Err: err}); rerr != nil {
		return errors.Join(err, rerr)
	}
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(out, map[string]any{"master_key_version": rot.Version, "keys_rewrapped": rot.Rewrapped, "older_versions_retired": rot.Retired})
	}
	fmt.Fprintf(out, "master key version %d: %d account keys rewrapped.\n", rot.Version, rot.Rewrapped)
	if path != "" && !rot.Retired {
		fmt.Fprintf(out, "Older versions stay in %s until you run this with --retire; remove them once every\nserver has restarted or reloaded, and keep in mind that backups wrapped under them still need them.\n", path)
	}
	return nil
}

// cryptoReencryptConfig is the configuration of stele crypto reencrypt.
type cryptoReencryptConfig struct {
	store   storeFlags
	account string // "": every account
	batch   int
	json    bool
}

func parseCryptoReencrypt(args []string) (cryptoReencryptConfig, error) {
	fs := newFlags("crypto reencrypt", "crypto reencrypt [--account NAME] [--batch N] [--json]")
	var c cryptoReencryptConfig
	c.store.register(fs)
	fs.StringVar(&c.account, "account", "", "only this account (default: every account)")
	fs.IntVar(&c.batch, "batch", 1000, "rows per transaction")
	fs.BoolVar(&c.json, "json", false, "print JSON")
	_, err := parse(fs, args)
	return c, err
}

func (c cryptoReencryptConfig) run(ctx context.Context, out io.Writer) error {
	a, err := openApp(ctx, c.store, newLogger("warn"))
	if err != nil {
		return err
	}
	defer a.Close()
	var accts []*stele.Account
	if c.account != "" {
		acct, err := a.db.AccountByName(ctx, c.account)
		if err != nil {
			return err
		}
		accts = append(accts, acct)
	} else if accts, err = a.db.Accounts(ctx); err != nil {
		return err
	}
	var results []seal.ReencryptResult
	for _, acct := range accts {
		res, err := a.keyring.Reencrypt(ctx, a.db, acct.ID, c.batch, 0)
		if err != nil {
			return fmt.Errorf("account %s: %w", acct.Name, err)
		}
		results = append(results, res)
		if res.Rows == 0 {
			continue
		}
		if err := a.audit.Reencrypted(ctx, audit.CLI(), acct, res.Rows, res.Version); err != nil {
			return err
		}
		if !c.json {
			fmt.Fprintf(out, "account %s: %d rows moved to data key v%d\n", acct.Name, res.Rows, res.Version)
		}
	}
	if c.json {
		return printJSON(out, results)
	}
	return nil
}
