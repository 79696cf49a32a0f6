package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/audit"
	"github.com/stele-audit/stele/internal/ingest"
)

const accountsUsage = `Usage: stele accounts create NAME --type TYPE [--retention-days N] [--ingest-events-per-second N|unlimited] [--ingest-bytes-per-second N|unlimited] [--ingest-burst-seconds N]
       stele accounts list [--json]
       stele accounts set NAME [--type T] [--retention-days N|default] [--legal-hold on|off]
                               [--ingest-events-per-second N|unlimited|default] [--ingest-bytes-per-second N|unlimited|default] [--ingest-burst-seconds N|default]
       stele accounts delete NAME --yes

An account's ingest quota is its type's (see --default-ingest-* on serve) unless
set here: requests past it get 429 with Retry-After. 0 or 'unlimited' lifts a
rate; 'default' goes back to the type's.`

func runAccounts(ctx context.Context, args []string, out io.Writer) error {
	return dispatch(ctx, "accounts", accountsUsage, []subcommand{
		{"create", bind(parseAccountsCreate, accountsCreateConfig.run)},
		{"list", bind(parseAccountsList, accountsListConfig.run)},
		{"set", bind(parseAccountsSet, accountsSetConfig.run)},
		{"delete", bind(parseAccountsDelete, accountsDeleteConfig.run)},
	}, args, out)
}

// quotaFlags are the flags of an account's own ingest quota settings.
type quotaFlags struct{ events, bytes, burst *string }

func registerQuotaFlags(fs *flag.FlagSet, clear string) quotaFlags {
	return quotaFlags{
		events: fs.String("ingest-events-per-second", "", "the account's own ingest quota: events a second, or 'unlimited'"+clear),
		bytes:  fs.String("ingest-bytes-per-second", "", "the account's own ingest quota: request bytes a second (N, NKiB, NMiB, NGiB), or 'unlimited'"+clear),
		burst:  fs.String("ingest-burst-seconds", "", "the account's own ingest quota: seconds of each rate it may send at once"+clear),
	}
}

// changes returns the settings the flags change; "default" clears one.
func (q quotaFlags) changes() (events, bytes, burst stele.SettingChange, err error) {
	if events, err = ingest.ParseQuotaChange(stele.FieldIngestEventsPerSecond, *q.events); err != nil {
		return
	}
	if bytes, err = ingest.ParseQuotaChange(stele.FieldIngestBytesPerSecond, *q.bytes); err != nil {
		return
	}
	burst, err = ingest.ParseQuotaChange(stele.FieldIngestBurstSeconds, *q.burst)
	return
}

// accountsCreateConfig is the configuration of stele accounts create.
type accountsCreateConfig struct {
	store   storeFlags
	account *stele.Account // the account to create, checked
	types   []stele.AccountType
	json    bool
}

func parseAccountsCreate(args []string) (accountsCreateConfig, error) {
	fs := newFlags("accounts create", "accounts create NAME --type TYPE [--retention-days N] [--ingest-events-per-second N|unlimited] [--ingest-bytes-per-second N|unlimited] [--ingest-burst-seconds N] [--json]")
	var c accountsCreateConfig
	c.store.register(fs)
	readTypes := accountTypesFlag(fs)
	typ := fs.String("type", "free", "account type: free, team, business or enterprise")
	days := fs.Int("retention-days", 0, "keep events this many days instead of the type's default")
	quota := registerQuotaFlags(fs, " (default: the type's)")
	fs.BoolVar(&c.json, "json", false, "print JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return c, err
	}
	if c.types, err = readTypes(); err != nil {
		return c, err
	}
	if len(pos) != 1 {
		return c, stele.Errorf(stele.EINVALID, "accounts create needs exactly one NAME")
	}
	c.account = &stele.Account{Name: pos[0], Type: *typ}
	if *days != 0 {
		c.account.RetentionDays = days
	}
	events, bytes, burst, err := quota.changes()
	if err != nil {
		return c, err
	}
	if events.Clear || bytes.Clear || burst.Clear {
		return c, stele.Errorf(stele.EINVALID, "a new account takes its type's ingest quota already: 'default' is for accounts set")
	}
	stele.AccountUpdate{IngestEventsPerSecond: events, IngestBytesPerSecond: bytes, IngestBurstSeconds: burst}.Apply(c.account)
	return c, c.account.Validate(c.types)
}

func (c accountsCreateConfig) run(ctx context.Context, out io.Writer) error {
	a, err := openApp(ctx, c.store, newLogger("warn"))
	if err != nil {
		return err
	}
	defer a.Close()
	acct := c.account
	if err := a.db.CreateAccount(ctx, acct); err != nil {
		return err
	}
	if _, err := a.keyring.Account(ctx, acct.ID); err != nil {
		return err
	}
	if err := a.audit.AccountCreated(ctx, audit.CLI(), acct, c.types); err != nil {
		return err
	}
	if c.json {
		return printJSON(out, acct.Settings(c.types))
	}
	fmt.Fprintf(out, "created account %s (type %s, %d days retention, ingest %s)\n", acct.Name, acct.Type, acct.Retention(c.types), ingest.QuotaText(acct.IngestQuota(c.types), nil))
	return nil
}

// accountsSetConfig is the configuration of stele accounts set.
type accountsSetConfig struct {
	store   storeFlags
	account string
	update  stele.AccountUpdate // checked, not empty
	types   []stele.AccountType
	json    bool
}

func parseAccountsSet(args []string) (accountsSetConfig, error) {
	fs := newFlags("accounts set", "accounts set NAME [--type T] [--retention-days N|default] [--legal-hold on|off] [--ingest-events-per-second N|unlimited|default] [--ingest-bytes-per-second N|unlimited|default] [--ingest-burst-seconds N|default] [--json]")
	var c accountsSetConfig
	c.store.register(fs)
	readTypes := accountTypesFlag(fs)
	typ := fs.String("type", "", "new account type")
	days := fs.String("retention-days", "", "retention override in days, or 'default' for the type's")
	hold := fs.String("legal-hold", "", "on or off: suspend retention purges")
	quota := registerQuotaFlags(fs, ", or 'default' for the type's")
	fs.BoolVar(&c.json, "json", false, "print JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return c, err
	}
	if c.types, err = readTypes(); err != nil {
		return c, err
	}
	if len(pos) != 1 {
		return c, stele.Errorf(stele.EINVALID, "accounts set needs exactly one NAME")
	}
	c.account = pos[0]
	u := &c.update
	if *typ != "" {
		u.Type = typ
	}
	if err := setRetention(u, *days, *hold); err != nil {
		return c, err
	}
	if u.IngestEventsPerSecond, u.IngestBytesPerSecond, u.IngestBurstSeconds, err = quota.changes(); err != nil {
		return c, err
	}
	if u.IsZero() {
		return c, stele.Errorf(stele.EINVALID, "nothing to change: give --type, --retention-days, --legal-hold or an --ingest-… setting")
	}
	return c, u.Validate(c.types)
}

func (c accountsSetConfig) run(ctx context.Context, out io.Writer) error {
	a, err := openApp(ctx, c.store, newLogger("warn"))
	if err != nil {
		return err
	}
	defer a.Close()
	before, err := a.db.AccountByName(ctx, c.account)
	if err != nil {
		return err
	}
	before, after, err := a.db.UpdateAccount(ctx, before.ID, c.update)
	if err != nil {
		return err
	}
	if err := a.audit.AccountChanged(ctx, audit.CLI(), before, after, c.types); err != nil {
		return err
	}
	if c.json {
		return printJSON(out, after.Settings(c.types))
	}
	fmt.Fprintf(out, "account %s: type %s, %d days retention, legal hold %s, ingest %s\n", after.Name, after.Type, after.Retention(c.types), onOff(after.LegalHold),
		ingest.QuotaText(after.IngestQuota(c.types), &after.Ingest))
	return nil
}

// setRetention sets in u what --retention-days and --legal-hold say.
func setRetention(u *stele.AccountUpdate, days, hold string) error {
	switch days {
	case "":
	case "default":
		u.ClearRetention = true
	default:
		n, err := strconv.Atoi(days)
		if err != nil {
			return &stele.Error{Code: stele.EINVALID, Message: "--retention-days must be a number of days or 'default'",
				Details: []stele.FieldError{{Field: "retention_days", Rule: "type"}}}
		}
		u.RetentionDays = &n
	}
	switch hold {
	case "":
	case "on", "off":
		u.LegalHold = new(hold == "on")
	default:
		return &stele.Error{Code: stele.EINVALID, Message: "--legal-hold must be on or off",
			Details: []stele.FieldError{{Field: "legal_hold", Rule: "enum"}}}
	}
	return nil
}
