package main

import (
	"context"
	"fmt"
	"io"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/audit"
)

func runUsers(ctx context.Context, args []string, out io.Writer) error {
	return dispatch(ctx, "users", "Usage: stele users create --account NAME --email E --role owner|admin|auditor|member [--password P] [--name N]\n       stele users list --account NAME", []subcommand{
		{"create", bind(parseUsersCreate, usersCreateConfig.run)},
		{"list", bind(parseUsersList, usersListConfig.run)},
	}, args, out)
}

// usersCreateConfig is the configuration of stele users create.
type usersCreateConfig struct {
	store    storeFlags
	account  string
	email    string
	name     string
	role     stele.Role
	password string // "": generate one and print it
	json     bool
}

func parseUsersCreate(args []string) (usersCreateConfig, error) {
	fs := newFlags("users create", "users create --account NAME --email E --role owner|admin|auditor|member [--password P] [--name N] [--json]")
	var c usersCreateConfig
	c.store.register(fs)
	fs.StringVar(&c.account, "account", "", "the account the user belongs to (_system for an operator)")
	fs.StringVar(&c.email, "email", "", "the user's email, which they sign in with")
	fs.StringVar(&c.name, "name", "", "the user's display name")
	role := fs.String("role", "", "owner, admin, auditor or member")
	fs.StringVar(&c.password, "password", "", "the password (at least 12 characters); one is generated and printed when empty")
	fs.BoolVar(&c.json, "json", false, "print JSON")
	if _, err := parse(fs, args); err != nil {
		return c, err
	}
	var missing []stele.FieldError
	for f, v := range map[string]string{"account": c.account, "email": c.email, "role": *role} {
		if v == "" {
			missing = append(missing, stele.FieldError{Field: f, Rule: "required"})
		}
	}
	if missing != nil {
		return c, &stele.Error{Code: stele.EINVALID, Message: "--account, --email and --role are required", Details: missing}
	}
	var err error
	c.role, err = stele.ParseRole(*role)
	return c, err
}

func (c usersCreateConfig) run(ctx context.Context, out io.Writer) error {
	a, acct, err := openAppFor(ctx, c.store, c.account)
	if err != nil {
		return err
	}
	defer a.Close()
	u, pw, err := a.users.Create(ctx, audit.CLI(), acct, c.email, c.name, c.role, c.password)
	if err != nil {
		return err
	}
	if c.json {
		body := map[string]any{"id": u.ID, "account": acct.Name, "email": u.Email, "role": u.Role}
		if c.password == "" {
			body["password"] = pw
		}
		return printJSON(out, body)
	}
	fmt.Fprintf(out, "created user %s (%s) in account %s\n", u.Email, u.Role, acct.Name)
	if c.password == "" {
		fmt.Fprintf(out, "\n  password: %s\n\nThis is the only time the password is shown.\n", pw)
	}
	return nil
}

// usersListConfig is the configuration of stele users list.
type usersListConfig struct{ listConfig }

func parseUsersList(args []string) (usersListConfig, error) {
	c, err := parseList("users list", "users", args)
	return usersListConfig{c}, err
}

func (c usersListConfig) run(ctx context.Context, out io.Writer) error {
	return listForAccount(ctx, c.listConfig, out,
		func(ctx context.Context, a *app, id int64) ([]*stele.User, error) { return a.db.Users(ctx, id) },
		[]string{"ID", "EMAIL", "ROLE", "MFA"},
		func(u *stele.User) []any { return []any{u.ID, u.Email, u.Role, u.MFAEnabled()} })
}
