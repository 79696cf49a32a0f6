package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/stele-audit/stele/internal/integrity"
	"github.com/stele-audit/stele/internal/ledger"
)

// originPrefix is the origin prefix of checkpoints: STELE_ORIGIN_PREFIX, by
// default ledger.DefaultOriginPrefix. An account's origin is PREFIX/NAME.
func originPrefix() string {
	if p := os.Getenv("STELE_ORIGIN_PREFIX"); p != "" {
		return p
	}
	return ledger.DefaultOriginPrefix
}

func loadSigningKey(sf storeFlags, logger *slog.Logger) (*ledger.SigningKey, error) {
	return ledger.LoadSigningKey(sf.data, os.Getenv, originPrefix(), logger)
}

func newCheckpointer(sf storeFlags, a *app, logger *slog.Logger) (*integrity.Checkpointer, error) {
	key, err := loadSigningKey(sf, logger)
	if err != nil {
		return nil, err
	}
	return &integrity.Checkpointer{Accounts: a.db, Events: a.db, Store: a.db, Key: key, OriginPrefix: originPrefix(), Logger: logger}, nil
}

func runCheckpoint(ctx context.Context, args []string, out io.Writer) error {
	return dispatch(ctx, "checkpoint", "Usage: stele checkpoint public-key [--data DIR]\n       stele checkpoint sign [--account NAME] [--data DIR]", []subcommand{
		{"public-key", bind(parseCheckpointPublicKey, checkpointPublicKeyConfig.run)},
		{"sign", bind(parseCheckpointSign, checkpointSignConfig.run)},
	}, args, out)
}

// checkpointPublicKeyConfig is the configuration of stele checkpoint
// public-key.
type checkpointPublicKeyConfig struct{ store storeFlags }

func parseCheckpointPublicKey(args []string) (checkpointPublicKeyConfig, error) {
	fs := newFlags("checkpoint public-key", "checkpoint public-key [--data DIR]")
	var c checkpointPublicKeyConfig
	c.store.register(fs)
	_, err := parse(fs, args)
	return c, err
}

func (c checkpointPublicKeyConfig) run(ctx context.Context, out io.Writer) error {
	if err := os.MkdirAll(c.store.data, 0o700); err != nil {
		return err
	}
	key, err := loadSigningKey(c.store, newLogger("warn"))
	if err != nil {
		return err
	}
	fmt.Fprintln(out, key.VerifierKey)
	return nil
}

// checkpointSignConfig is the configuration of stele checkpoint sign.
type checkpointSignConfig struct {
	store   storeFlags
	account string // "": every account that grew
}

func parseCheckpointSign(args []string) (checkpointSignConfig, error) {
	fs := newFlags("checkpoint sign", "checkpoint sign [--account NAME] [--data DIR]")
	var c checkpointSignConfig
	c.store.register(fs)
	fs.StringVar(&c.account, "account", "", "sign only this account's tree (default: every account that grew)")
	_, err := parse(fs, args)
	return c, err
}

func (c checkpointSignConfig) run(ctx context.Context, out io.Writer) error {
	a, err := openApp(ctx, c.store, newLogger("warn"))
	if err != nil {
		return err
	}
	defer a.Close()
	if c.account == "" {
		n, err := a.checkpoints.SignAll(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "signed %d checkpoints\n", n)
		return nil
	}
	acct, err := a.db.AccountByName(ctx, c.account)
	if err != nil {
		return err
	}
	cp, err := a.checkpoints.Sign(ctx, acct)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s", cp.Note)
	return nil
}
