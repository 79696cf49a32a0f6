package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/alert"
	"github.com/stele-audit/stele/internal/audit"
	"github.com/stele-audit/stele/internal/datapath"
	"github.com/stele-audit/stele/internal/ingest"
	"github.com/stele-audit/stele/internal/integrity"
	"github.com/stele-audit/stele/internal/seal"
	"github.com/stele-audit/stele/internal/search"
	"github.com/stele-audit/stele/internal/stores"
	"github.com/stele-audit/stele/internal/users"
)

// app is Stele wired together on the local store.
type app struct {
	db stele.Store
	// keys is the key store, apart from db (stores.Open).
	keys stores.KeyStore
	// leader decides whether this process runs the background jobs of
	// serve: always on SQLite, one node at a time on PostgreSQL.
	leader  stele.Leadership
	keyring *seal.Keyring
	writer  *ingest.Writer
	ingest  *ingest.Service
	search  *search.Service
	// checkpoints signs checkpoints with the signing key (see checkpoint.go).
	checkpoints *integrity.Checkpointer
	logger      *slog.Logger
	// audit records the commands' own actions in the accounts' logs.
	audit *audit.Recorder
	users *users.Service
	data  *datapath.Path
	// streams is serve's (streams_serve.go); nil for other commands.
	streams *serveStreams
	// alerts matches every event this process stores against the alert rules.
	alerts *alert.Matcher
	// signer is who signed the store's latest checkpoint of _system, nil
	// before the first; checkSigner holds the signing key to it.
	signer *integrity.Signer
	// noSigning, when set, is why the app has no signing key: commands
	// that sign or print it refuse with it (checkSigner).
	noSigning error
}

// openApp opens the store named by the flags, which must exist, with its
// keys, and starts the writer. Close stops it.
func openApp(ctx context.Context, sf storeFlags, logger *slog.Logger) (*app, error) {
	return openAppIn(ctx, sf, existingStore, nil, logger)
}

// openAppIn opens the store as mode allows (prepareStore), with the keys
// given (init) or found.
func openAppIn(ctx context.Context, sf storeFlags, mode stores.Mode, given *stores.Keys, logger *slog.Logger) (*app, error) {
	found, err := prepareStore(ctx, sf, mode, given, logger)
	if err != nil {
		return nil, err
	}
	db, keys, lead, err := openStore(ctx, sf, found.Master, logger)
	if err != nil {
		return nil, err
	}
	a := &app{db: db, keys: keys, leader: lead, logger: logger}
	a.data = datapath.Start(db, keys, found.Master, logger, ingest.WriterConfig{})
	a.keyring, a.writer, a.ingest, a.search = a.data.Keyring, a.data.Writer, a.data.Ingest, a.data.Search
	a.audit = &audit.Recorder{Sink: a.ingest, Logger: logger}
	a.users = &users.Service{Store: a.db, Audit: a.audit}
	a.alerts = alert.NewMatcher(db)
	a.ingest.SetAlertMatcher(a.alerts)
	if err := a.ensureSystemAccount(ctx); err != nil {
		a.Close()
		return nil, err
	}
	a.noSigning = found.NoSigning
	if a.checkpoints, err = newCheckpointer(ctx, a, found.Signing, logger); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

// openAppFor opens the app and looks up the named account, for the
// commands that work on one account (--account, required); on an error the
// app is closed.
func openAppFor(ctx context.Context, sf storeFlags, account string) (*app, *stele.Account, error) {
	if account == "" {
		return nil, nil, &stele.Error{Code: stele.EINVALID, Message: "--account is required", Details: []stele.FieldError{{Field: "account", Rule: "required"}}}
	}
	a, err := openApp(ctx, sf, newLogger("warn"))
	if err != nil {
		return nil, nil, err
	}
	acct, err := a.db.AccountByName(ctx, account)
	if err != nil {
		a.Close()
		return nil, nil, err
	}
	return a, acct, nil
}

// ensureSystemAccount creates the operator account on first start.
func (a *app) ensureSystemAccount(ctx context.Context) error {
	_, err := a.db.AccountByName(ctx, stele.SystemAccount)
	if stele.ErrorCode(err) != stele.ENOTFOUND {
		return err
	}
	err = a.db.CreateAccount(ctx, &stele.Account{Name: stele.SystemAccount, Type: "enterprise"})
	if stele.ErrorCode(err) == stele.ECONFLICT { // another process just made it
		return nil
	}
	return err
}

// Close stops the writer, after it has finished any commit, and closes the
// stores.
func (a *app) Close() {
	a.data.Stop()
	if err := a.db.Close(); err != nil {
		a.logger.Error("close store", "err", err)
	}
	if err := a.keys.Close(); err != nil {
		a.logger.Error("close key store", "err", err)
	}
}

func newLogger(level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}
