package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/apikey"
	"github.com/stele-audit/stele/internal/audit"
)

func runKeys(ctx context.Context, args []string, out io.Writer) error {
	return dispatch(ctx, "keys", "Usage: stele keys create --account NAME --scopes events:write,events:read [--operator] [--name N]\n       stele keys list --account NAME\n       stele keys revoke ID", []subcommand{
		{"create", bind(parseKeysCreate, keysCreateConfig.run)},
		{"list", bind(parseKeysList, keysListConfig.run)},
		{"revoke", bind(parseKeysRevoke, keysRevokeConfig.run)},
	}, args, out)
}

// keysCreateConfig is the configuration of stele keys create.
type keysCreateConfig struct {
	store    storeFlags
	account  string
	scopes   []stele.Scope
	operator bool
	name     string
	json     bool
}

func parseKeysCreate(args []string) (keysCreateConfig, error) {
	fs := newFlags("keys create", "keys create --account NAME --scopes S1,S2 [--operator] [--name N] [--json]")
	var c keysCreateConfig
	c.store.register(fs)
	fs.StringVar(&c.account, "account", "", "the account the key belongs to (_system for --operator)")
	scopes := fs.String("scopes", "", "comma-separated scopes, one or more of: "+scopeList()+" (required)")
	fs.BoolVar(&c.operator, "operator", false, "a platform key that may write events for any account")
	fs.StringVar(&c.name, "name", "", "a label for the key")
	fs.BoolVar(&c.json, "json", false, "print JSON: {\"id\", \"key\"}")
	if _, err := parse(fs, args); err != nil {
		return c, err
	}
	if c.operator && c.account == "" {
		c.account = stele.SystemAccount
	}
	if c.account == "" {
		return c, &stele.Error{Code: stele.EINVALID, Message: "--account is required", Details: []stele.FieldError{{Field: "account", Rule: "required"}}}
	}
	// A key that can do nothing the user meant is worse than an error: no
	// scope is taken for granted.
	if c.scopes = apikey.ParseScopes(*scopes); len(c.scopes) == 0 {
		return c, &stele.Error{Code: stele.EINVALID,
			Message: "--scopes is required: one or more of " + scopeList() + " (e.g. --scopes events:write,events:read,events:export)",
			Details: []stele.FieldError{{Field: "scopes", Rule: "required"}}}
	}
	return c, nil
}

// scopeList is the scopes a key may carry, for messages and help.
func scopeList() string {
	names := make([]string, len(stele.Scopes))
	for i, sc := range stele.Scopes {
		names[i] = string(sc)
	}
	return strings.Join(names, ", ")
}

func (c keysCreateConfig) run(ctx context.Context, out io.Writer) error {
	a, acct, err := openAppFor(ctx, c.store, c.account)
	if err != nil {
		return err
	}
	defer a.Close()
	k, secret, err := apikey.Issue(ctx, a.db, acct, c.scopes, c.operator, c.name, time.Now())
	if err != nil {
		return err
	}
	if err := a.audit.KeyCreated(ctx, audit.CLI(), k); err != nil {
		return err
	}
	if c.json {
		return printJSON(out, map[string]any{"id": k.ID, "key": secret, "account": acct.Name, "scopes": k.Scopes, "operator": k.Operator})
	}
	fmt.Fprintf(out, "created key %s for account %s with scopes %s\n\n  %s\n\nThis is the only time the key is shown; store it now.\n", k.ID, acct.Name, stele.JoinScopes(k.Scopes), secret)
	return nil
}

// keysListConfig is the configuration of stele keys list.
type keysListConfig struct{ listConfig }

func parseKeysList(args []string) (keysListConfig, error) {
	c, err := parseList("keys list", "keys", args)
	return keysListConfig{c}, err
}

func (c keysListConfig) run(ctx context.Context, out io.Writer) error {
	return listForAccount(ctx, c.listConfig, out,
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

// keysRevokeConfig is the configuration of stele keys revoke.
type keysRevokeConfig struct {
	store storeFlags
	id    string
	json  bool
}

func parseKeysRevoke(args []string) (keysRevokeConfig, error) {
	fs := newFlags("keys revoke", "keys revoke ID [--json]")
	var c keysRevokeConfig
	c.store.register(fs)
	fs.BoolVar(&c.json, "json", false, "print JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return c, err
	}
	if len(pos) != 1 {
		return c, stele.Errorf(stele.EINVALID, "keys revoke needs exactly one key ID")
	}
	c.id = pos[0]
	return c, nil
}

func (c keysRevokeConfig) run(ctx context.Context, out io.Writer) error {
	a, err := openApp(ctx, c.store, newLogger("warn"))
	if err != nil {
		return err
	}
	defer a.Close()
	k, err := a.db.APIKey(ctx, c.id)
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
	if c.json {
		return printJSON(out, map[string]any{"id": k.ID, "revoked_at": now.UTC()})
	}
	fmt.Fprintf(out, "revoked key %s of account %s\n", k.ID, k.Account)
	return nil
}
