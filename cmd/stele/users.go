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
		{"create", usersCreate},
		{"list", usersList},
	}, args, out)
}

func usersCreate(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlags("users create", "users create --account NAME --email E --role owner|admin|auditor|member [--password P] [--name N] [--json]")
	var sf storeFlags
	sf.register(fs)
	account := fs.String("account", "", "the account the user belongs to (_system for an operator)")
	email := fs.String("email", "", "the user's email, which they sign in with")
	name := fs.String("name", "", "the user's display name")
	role := fs.String("role", "", "owner, admin, auditor or member")
	password := fs.String("password", "", "the password (at least 12 characters); one is generated and printed when empty")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	var missing []stele.FieldError
	for f, v := range map[string]string{"account": *account, "email": *email, "role": *role} {
		if v == "" {
			missing = append(missing, stele.FieldError{Field: f, Rule: "required"})
		}
	}
	if missing != nil {
		return &stele.Error{Code: stele.EINVALID, Message: "--account, --email and --role are required", Details: missing}
	}
	r, err := stele.ParseRole(*role)
	if err != nil {
		return err
	}
	a, acct, err := openAppFor(ctx, sf, *account)
	if err != nil {
		return err
	}
	defer a.Close()
	u, pw, err := a.users.Create(ctx, audit.CLI(), acct, *email, *name, r, *password)
	if err != nil {
		return err
	}
	if *asJSON {
		body := map[string]any{"id": u.ID, "account": acct.Name, "email": u.Email, "role": u.Role}
		if *password == "" {
			body["password"] = pw
		}
		return printJSON(out, body)
	}
	fmt.Fprintf(out, "created user %s (%s) in account %s\n", u.Email, u.Role, acct.Name)
	if *password == "" {
		fmt.Fprintf(out, "\n  password: %s\n\nThis is the only time the password is shown.\n", pw)
	}
	return nil
}

func usersList(ctx context.Context, args []string, out io.Writer) error {
	return listForAccount(ctx, args, out, "users list", "users",
		func(ctx context.Context, a *app, id int64) ([]*stele.User, error) { return a.db.Users(ctx, id) },
		[]string{"ID", "EMAIL", "ROLE", "MFA"},
		func(u *stele.User) []any { return []any{u.ID, u.Email, u.Role, u.MFAEnabled()} })
}
