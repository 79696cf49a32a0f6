package main

import (
	"context"
	"fmt"
	"io"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/audit"
	"github.com/stele-audit/stele/internal/retention"
)

// accountsDeleteConfig is the configuration of stele accounts delete.
type accountsDeleteConfig struct {
	store   storeFlags
	account string
	json    bool
}

func parseAccountsDelete(args []string) (accountsDeleteConfig, error) {
	fs := newFlags("accounts delete", "accounts delete NAME --yes [--json]")
	var c accountsDeleteConfig
	c.store.register(fs)
	yes := fs.Bool("yes", false, "confirm: destroy the account's keys and delete all its events, for good")
	fs.BoolVar(&c.json, "json", false, "print JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return c, err
	}
	if len(pos) != 1 {
		return c, stele.Errorf(stele.EINVALID, "accounts delete needs exactly one NAME")
	}
	c.account = pos[0]
	if !*yes {
		return c, &stele.Error{Code: stele.EINVALID, Message: fmt.Sprintf("deleting %s destroys its keys and every event for good; add --yes to confirm", c.account),
			Details: []stele.FieldError{{Field: "yes", Rule: "required"}}}
	}
	return c, nil
}

func (c accountsDeleteConfig) run(ctx context.Context, out io.Writer) error {
	a, err := openApp(ctx, c.store, newLogger("warn"))
	if err != nil {
		return err
	}
	defer a.Close()
	d, err := retention.DeleteAccount(ctx, a.db, a.db, a.keyring, a.audit, c.account, audit.CLI(), 0)
	if err != nil {
		return err
	}
	if c.json {
		return printJSON(out, d)
	}
	fmt.Fprintf(out, "deleted account %s: %d keys destroyed, %d events deleted.\n"+
		"No backup of the event store decrypts its events any more; backups of the key store taken before now\n"+
		"still hold its keys until they age out (docs/SECURITY.md).\n", d.Account, d.Keys, d.Events)
	return nil
}
