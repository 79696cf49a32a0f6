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
		{"public-key", checkpointPublicKey},
		{"sign", checkpointSign},
	}, args, out)
}

func checkpointPublicKey(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlags("checkpoint public-key", "checkpoint public-key [--data DIR]")
	var sf storeFlags
	sf.register(fs)
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if err := os.MkdirAll(sf.data, 0o700); err != nil {
		return err
	}
	key, err := loadSigningKey(sf, newLogger("warn"))
	if err != nil {
		return err
	}
	fmt.Fprintln(out, key.VerifierKey)
	return nil
}

func checkpointSign(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlags("checkpoint sign", "checkpoint sign [--account NAME] [--data DIR]")
	var sf storeFlags
	sf.register(fs)
	account := fs.String("account", "", "sign only this account's tree (default: every account that grew)")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	a, err := openApp(ctx, sf, newLogger("warn"))
	if err != nil {
		return err
	}
	defer a.Close()
	if *account == "" {
		n, err := a.checkpoints.SignAll(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "signed %d checkpoints\n", n)
		return nil
	}
	acct, err := a.db.AccountByName(ctx, *account)
	if err != nil {
		return err
	}
	c, err := a.checkpoints.Sign(ctx, acct)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s", c.Note)
	return nil
}
