package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/apikey"
	"github.com/stele-audit/stele/internal/audit"
)

func runKeys(ctx context.Context, args []string, out io.Writer) error {
	return dispatch(ctx, "keys", "Usage: stele keys create --account NAME --scopes events:write,events:read [--operator] [--name N]\n       stele keys list --account NAME\n       stele keys revoke ID", []subcommand{
		{"create", keysCreate},
		{"list", keysList},
		{"revoke", keysRevoke},
	}, args, out)
}

func keysCreate(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlags("keys create", "keys create --account NAME --scopes S1,S2 [--operator] [--name N] [--json]")
	var sf storeFlags
	sf.register(fs)
	account := fs.String("account", "", "the account the key belongs to (_system for --operator)")
	scopes := fs.String("scopes", "events:write", "comma-separated scopes: events:write, events:read, events:export, alerts:manage, streams:manage")
	operator := fs.Bool("operator", false, "a platform key that may write events for any account")
	name := fs.String("name", "", "a label for the key")
	asJSON := fs.Bool("json", false, "print JSON: {\"id\", \"key\"}")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *operator && *account == "" {
		*account = stele.SystemAccount
	}
	a, acct, err := openAppFor(ctx, sf, *account)
	if err != nil {
		return err
	}
	defer a.Close()
	k, secret, err := apikey.Issue(ctx, a.db, acct, apikey.ParseScopes(*scopes), *operator, *name, time.Now())
	if err != nil {
		return err
	}
	if err := a.audit.KeyCreated(ctx, audit.CLI(), k); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(out, map[string]any{"id": k.ID, "key": secret, "account": acct.Name, "scopes": k.Scopes, "operator": k.Operator})
	}
	fmt.Fprintf(out, "created key %s for account %s with scopes %s\n\n  %s\n\nThis is the only time the key is shown; store it now.\n", k.ID, acct.Name, stele.JoinScopes(k.Scopes), secret)
	return nil
}

func keysList(ctx context.Context, args []string, out io.Writer) error {
	return listForAccount(ctx, args, out, "keys list", "keys",
		func(ctx context.Context, a *app, id int64) ([]*stele.APIKey, error) { return a.db.APIKeys(ctx, id) },
		[]string{"ID", "NAME", "SCOPES", "OPERATOR", "CREATED", "REVOKED"},
		func(k *stele.APIKey) []any {
			revoked := "-"
			if k.RevokedAt != nil {
				revoked = k.RevokedAt.Format(time.RFC3339)
			}
			return []any{k.ID, k.Name, stele.JoinScopes(k.Scopes), k.Operator, k.CreatedAt.Format(time.RFC3339), revoked}
		})
}

func keysRevoke(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlags("keys revoke", "keys revoke ID [--json]")
	var sf storeFlags
	sf.register(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return stele.Errorf(stele.EINVALID, "keys revoke needs exactly one key ID")
	}
	a, err := openApp(ctx, sf, newLogger("warn"))
	if err != nil {
		return err
	}
	defer a.Close()
	k, err := a.db.APIKey(ctx, pos[0])
	if err != nil {
		return err
	}
	now := time.Now()
	if err := a.db.RevokeAPIKey(ctx, k.ID, now); err != nil {
		return err
	}
	if err := a.audit.KeyRevoked(ctx, audit.CLI(), k); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(out, map[string]any{"id": k.ID, "revoked_at": now.UTC()})
	}
	fmt.Fprintf(out, "revoked key %s of account %s\n", k.ID, k.Account)
	return nil
}
