package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/alert"
	"github.com/stele-audit/stele/internal/console"
	"github.com/stele-audit/stele/internal/retention"
)

// withConsole serves the web console beside the API: the console's routes
// are method-and-path patterns, everything else goes to the API handler.
// types are the account types of --account-types.
func withConsole(ctx context.Context, a *app, logger *slog.Logger, tls bool, types []stele.AccountType, rules *alert.Service, apiHandler http.Handler) (http.Handler, error) {
	c := &console.Server{
		Accounts: a.db, Users: a.db, Sessions: a.db, APIKeys: a.db, Counter: a.db,
		Search: a.search, Ingest: a.ingest, Logger: logger, TLS: tls, Secrets: a.keyring, AccountTypes: types,
		Throttle:  a.db, // shared by every node on the database
		Retention: &retention.Settings{Accounts: a.db, Recorder: a.ingest, Types: types},
		Alerts:    rules,
	}
	if cp := a.checkpoints; cp != nil {
		c.Integrity = func(ctx context.Context, account *stele.Account, e *stele.Event) (console.IntegrityStatus, error) {
			st, err := cp.EventStatus(ctx, account, e)
			return console.IntegrityStatus(st), err
		}
	}
	if err := c.Init(); err != nil {
		return nil, err
	}
	go c.ExpireSessions(ctx, 10*time.Minute)
	mux := http.NewServeMux()
	mux.Handle("/", apiHandler)
	c.Routes(mux)
	return mux, nil
}

// ensureOperator creates the first operator user on a store with no users
// and prints its credentials, once. It returns the operator's email, or ""
// when users existed already.
func ensureOperator(ctx context.Context, a *app, out io.Writer, base string) error {
	n, err := a.db.CountUsers(ctx)
	if err != nil || n > 0 {
		return err
	}
	sys, err := a.db.AccountByName(ctx, stele.SystemAccount)
	if err != nil {
		return err
	}
	email := "operator@stele.local"
	u, password, err := createUser(ctx, a, sys, email, "Operator", stele.RoleOwner, "")
	if stele.ErrorCode(err) == stele.ECONFLICT {
		return nil // another node sharing the database, starting at once, made it
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Sign in to the console at %s/login as the operator (shown once; change it under your email):\n  email:    %s\n  password: %s\n\n", base, u.Email, password)
	return nil
}

// seedDemoUsers gives the demo account acme an owner, an auditor and a
// member to sign in as, unless it has users already.
func seedDemoUsers(ctx context.Context, a *app, out io.Writer, base string) error {
	acme, err := a.db.AccountByName(ctx, "acme")
	if stele.ErrorCode(err) == stele.ENOTFOUND {
		return nil
	}
	if err != nil {
		return err
	}
	users, err := a.db.Users(ctx, acme.ID)
	if err != nil || len(users) > 0 {
		return err
	}
	fmt.Fprintf(out, "Demo console users of acme (%s/login; passwords shown once):\n", base)
	for _, d := range []struct {
		email, name string
		role        stele.Role
	}{
		{"owner@acme.example", "Olivia Owner", stele.RoleOwner},
		{"auditor@acme.example", "Arun Auditor", stele.RoleAuditor},
		{"member@acme.example", "Mia Member", stele.RoleMember},
	} {
		u, password, err := createUser(ctx, a, acme, d.email, d.name, d.role, "")
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "  %-8s %-22s %s\n", u.Role, u.Email, password)
	}
	fmt.Fprintln(out)
	return nil
}

// createUser makes a user (with a generated password when password is
// empty), stores it and records user.created in its account.
func createUser(ctx context.Context, a *app, acct *stele.Account, email, name string, role stele.Role, password string) (*stele.User, string, error) {
	u, password, err := console.NewUser(acct, email, name, role, password)
	if err != nil {
		return nil, "", err
	}
	if err := a.db.CreateUser(ctx, u); err != nil {
		return nil, "", err
	}
	if err := a.record(ctx, console.UserCreatedEvent(u, operatorActor())); err != nil {
		return nil, "", err
	}
	return u, password, nil
}
