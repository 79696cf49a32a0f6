package main

import (
	"context"
	"fmt"
	"io"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/audit"
	"github.com/stele-audit/stele/internal/retention"
)

func accountsDelete(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlags("accounts delete", "accounts delete NAME --yes [--json]")
	var sf storeFlags
	sf.register(fs)
	yes := fs.Bool("yes", false, "confirm: destroy the account's keys and delete all its events, for good")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return stele.Errorf(stele.EINVALID, "accounts delete needs exactly one NAME")
	}
	if !*yes {
		return &stele.Error{Code: stele.EINVALID, Message: fmt.Sprintf("deleting %s destroys its keys and every event for good; add --yes to confirm", pos[0]),
			Details: []stele.FieldError{{Field: "yes", Rule: "required"}}}
	}
	a, err := openApp(ctx, sf, newLogger("warn"))
	if err != nil {
		return err
	}
	defer a.Close()
	d, err := retention.DeleteAccount(ctx, a.db, a.db, a.keyring, a.audit, pos[0], audit.CLI(), 0)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(out, d)
	}
	fmt.Fprintf(out, "deleted account %s: %d keys destroyed, %d events deleted.\n"+
		"Backups taken before now still hold its wrapped keys: they decrypt with the master key until they age out\n"+
		"or the master key is rotated and its old version retired (stele crypto rotate --master --retire).\n", d.Account, d.Keys, d.Events)
	return nil
}
