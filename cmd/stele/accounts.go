package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/retention"
)

func runAccounts(ctx context.Context, args []string, out io.Writer) error {
	return dispatch(ctx, "accounts", "Usage: stele accounts create NAME --type TYPE [--retention-days N]\n       stele accounts list\n       stele accounts set NAME [--type T] [--retention-days N|default] [--legal-hold on|off]\n       stele accounts delete NAME --yes", []subcommand{
		{"create", accountsCreate},
		{"list", accountsList},
		{"set", accountsSet},
		{"delete", accountsDelete},
	}, args, out)
}

func accountsCreate(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlags("accounts create", "accounts create NAME --type TYPE [--retention-days N] [--json]")
	var sf storeFlags
	sf.register(fs)
	typesSpec := accountTypesFlag(fs)
	typ := fs.String("type", "free", "account type: free, team, business or enterprise")
	days := fs.Int("retention-days", 0, "keep events this many days instead of the type's default")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	types, err := retention.ParseAccountTypes(*typesSpec)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return stele.Errorf(stele.EINVALID, "accounts create needs exactly one NAME")
	}
	acct := &stele.Account{Name: pos[0], Type: *typ}
	if *days != 0 {
		acct.RetentionDays = days
	}
	if err := acct.Validate(types); err != nil {
		return err
	}
	a, err := openApp(ctx, sf, newLogger("warn"))
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.db.CreateAccount(ctx, acct); err != nil {
		return err
	}
	if _, err := a.keyring.Account(ctx, acct.ID); err != nil {
		return err
	}
	if err := a.record(ctx, stele.Event{Account: stele.SystemAccount, Action: "account.created", Outcome: stele.OutcomeSuccess,
		Target:      &stele.Ref{Type: "account", ID: acct.Name, Name: acct.Name},
		Description: fmt.Sprintf("Account %s created with type %s (%d days retention)", acct.Name, acct.Type, acct.Retention(types)),
		Metadata:    map[string]any{"type": acct.Type, "retention_days": acct.Retention(types)}}); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(out, accountView(acct, types))
	}
	fmt.Fprintf(out, "created account %s (type %s, %d days retention)\n", acct.Name, acct.Type, acct.Retention(types))
	return nil
}

type accountJSON struct {
	Name          string    `json:"name"`
	Type          string    `json:"type"`
	RetentionDays int       `json:"retention_days"`
	Override      bool      `json:"retention_overridden"`
	LegalHold     bool      `json:"legal_hold"`
	CreatedAt     time.Time `json:"created_at"`
}

func accountView(a *stele.Account, types []stele.AccountType) accountJSON {
	return accountJSON{Name: a.Name, Type: a.Type, RetentionDays: a.Retention(types),
		Override: a.RetentionDays != nil, LegalHold: a.LegalHold, CreatedAt: a.CreatedAt}
}

func accountsList(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlags("accounts list", "accounts list [--json]")
	var sf storeFlags
	sf.register(fs)
	typesSpec := accountTypesFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	types, err := retention.ParseAccountTypes(*typesSpec)
	if err != nil {
		return err
	}
	a, err := openApp(ctx, sf, newLogger("warn"))
	if err != nil {
		return err
	}
	defer a.Close()
	accts, err := a.db.Accounts(ctx)
	if err != nil {
		return err
	}
	views := make([]accountJSON, len(accts))
	for i, ac := range accts {
		views[i] = accountView(ac, types)
	}
	if *asJSON {
		return printJSON(out, views)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTYPE\tRETENTION\tLEGAL HOLD\tCREATED")
	for _, v := range views {
		ret := strconv.Itoa(v.RetentionDays) + " days"
		if v.Override {
			ret += " (override)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\n", v.Name, v.Type, ret, onOff(v.LegalHold), v.CreatedAt.Format(time.DateOnly))
	}
	return tw.Flush()
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func accountsSet(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlags("accounts set", "accounts set NAME [--type T] [--retention-days N|default] [--legal-hold on|off] [--json]")
	var sf storeFlags
	sf.register(fs)
	typesSpec := accountTypesFlag(fs)
	typ := fs.String("type", "", "new account type")
	days := fs.String("retention-days", "", "retention override in days, or 'default' for the type's")
	hold := fs.String("legal-hold", "", "on or off: suspend retention purges")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	types, err := retention.ParseAccountTypes(*typesSpec)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return stele.Errorf(stele.EINVALID, "accounts set needs exactly one NAME")
	}
	var u stele.AccountUpdate
	if *typ != "" {
		u.Type = typ
	}
	switch *days {
	case "":
	case "default":
		u.ClearRetention = true
	default:
		n, err := strconv.Atoi(*days)
		if err != nil {
			return &stele.Error{Code: stele.EINVALID, Message: "--retention-days must be a number of days or 'default'",
				Details: []stele.FieldError{{Field: "retention_days", Rule: "type"}}}
		}
		u.RetentionDays = &n
	}
	switch *hold {
	case "":
	case "on", "off":
		on := *hold == "on"
		u.LegalHold = &on
	default:
		return &stele.Error{Code: stele.EINVALID, Message: "--legal-hold must be on or off",
			Details: []stele.FieldError{{Field: "legal_hold", Rule: "enum"}}}
	}
	if u.IsZero() {
		return stele.Errorf(stele.EINVALID, "nothing to change: give --type, --retention-days or --legal-hold")
	}
	if err := u.Validate(types); err != nil {
		return err
	}
	a, err := openApp(ctx, sf, newLogger("warn"))
	if err != nil {
		return err
	}
	defer a.Close()
	before, err := a.db.AccountByName(ctx, pos[0])
	if err != nil {
		return err
	}
	before, after, err := a.db.UpdateAccount(ctx, before.ID, u)
	if err != nil {
		return err
	}
	if err := a.record(ctx, retention.ChangeEvents(before, after, types, operatorActor())...); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(out, accountView(after, types))
	}
	fmt.Fprintf(out, "account %s: type %s, %d days retention, legal hold %s\n", after.Name, after.Type, after.Retention(types), onOff(after.LegalHold))
	return nil
}
