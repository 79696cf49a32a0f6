package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/alert"
	"github.com/stele-audit/stele/internal/audit"
	"github.com/stele-audit/stele/internal/console"
	"github.com/stele-audit/stele/internal/demo"
	"github.com/stele-audit/stele/internal/retention"
)

// newConsole makes the web console on the app's store; types are the
// account types of --account-types.
func newConsole(a *app, logger *slog.Logger, tls bool, types []stele.AccountType, rules *alert.Service) (*console.Server, error) {
	c := &console.Server{
		Accounts: a.db, Users: a.db, Sessions: a.db, APIKeys: a.db, Counter: a.db,
		Search: a.search, Ingest: a.ingest, Logger: logger, TLS: tls, Secrets: a.keyring, AccountTypes: types,
		Throttle:  a.db, // shared by every node on the database
		Retention: &retention.Settings{Accounts: a.db, Audit: a.audit, Types: types},
		Audit:     a.audit,
		Streams:   a.streams.service,
		Alerts:    rules,
	}
	if a.checkpoints != nil {
		c.Integrity = a.checkpoints.EventStatus
	}
	return c, c.Init()
}

// withConsole serves the web console beside the API: the console's routes
// are method-and-path patterns, everything else goes to the API handler.
func withConsole(c *console.Server, apiHandler http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", apiHandler)
	c.Routes(mux)
	return mux
}

// ensureOperator creates the first operator user on a store with no users
// and prints its credentials, once. It returns the operator's email, or ""
// when users existed already.
func ensureOperator(ctx context.Context, a *app, out io.Writer, base string) error {
	sys, err := a.db.AccountByName(ctx, stele.SystemAccount)
	if err != nil {
		return err
	}
	u, password, err := a.users.EnsureOperator(ctx, audit.CLI(), sys)
	if err != nil || u == nil {
		return err
	}
	fmt.Fprintf(out, "Sign in to the console at %s/login as the operator (shown once; change it under your email):\n  email:    %s\n  password: %s\n\n", base, u.Email, password)
	return nil
}

// seedDemoUsers gives the demo account acme an owner, an auditor and a
// member to sign in as, unless it has users already, and prints them.
func seedDemoUsers(ctx context.Context, a *app, out io.Writer, base string) error {
	logins, err := demo.Users(ctx, a.db, a.users, audit.CLI())
	if len(logins) > 0 {
		fmt.Fprintf(out, "Demo console users of acme (%s/login; passwords shown once):\n", base)
		for _, l := range logins {
			fmt.Fprintf(out, "  %-8s %-22s %s\n", l.User.Role, l.User.Email, l.Password)
		}
		fmt.Fprintln(out)
	}
	return err
}
