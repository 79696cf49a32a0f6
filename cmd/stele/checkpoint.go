package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/audit"
	"github.com/stele-audit/stele/internal/integrity"
	"github.com/stele-audit/stele/internal/ledger"
)

// originPrefixOr is STELE_ORIGIN_PREFIX, or else def. An account's
// checkpoint origin is PREFIX/NAME.
func originPrefixOr(def string) string {
	if p := os.Getenv("STELE_ORIGIN_PREFIX"); p != "" {
		return p
	}
	return def
}

// newCheckpointer makes the checkpointer of the app with the signing key.
// Its origin prefix is STELE_ORIGIN_PREFIX, or else the one the store's
// checkpoints already carry, or else, on a store without any, the key's
// name (stele init --origin names both).
func newCheckpointer(ctx context.Context, a *app, key *ledger.SigningKey, logger *slog.Logger) (*integrity.Checkpointer, error) {
	if key == nil { // a.noSigning says why
		return &integrity.Checkpointer{Accounts: a.db, Events: a.db, Store: a.db, Logger: logger}, nil
	}
	sys, err := a.db.AccountByName(ctx, stele.SystemAccount)
	if err != nil {
		return nil, err
	}
	rec, ok, err := integrity.RecordedSigner(ctx, a.db, sys, key)
	if err != nil {
		return nil, err
	}
	prefix := key.Name()
	if ok {
		prefix = rec.Prefix
		a.signer = &rec
	}
	return &integrity.Checkpointer{Accounts: a.db, Events: a.db, Store: a.db, Key: key, OriginPrefix: originPrefixOr(prefix), Logger: logger}, nil
}

// checkSigner refuses to sign with a key other than the one that signed
// the store's checkpoints, or under another origin prefix: verifiers who
// pinned that key would reject every checkpoint signed from now on. With
// accept (serve --accept-new-origin), the operator changes them on purpose:
// the change is recorded in _system's log and _system's tree is signed at
// once with the new key, which the store then records as its signer.
func (a *app) checkSigner(ctx context.Context, accept bool) error {
	if a.noSigning != nil {
		return a.noSigning
	}
	rec, cp := a.signer, a.checkpoints
	if rec == nil || rec.Matches && rec.Prefix == cp.OriginPrefix {
		return nil
	}
	if !accept {
		how := "Give this store's own key (STELE_SIGNING_KEY, STELE_SIGNING_KEY_FILE or DATA/signing.key) and origin prefix (STELE_ORIGIN_PREFIX), " +
			"or change them on purpose, once, with 'stele serve --accept-new-origin', then publish the new verifier key ('stele checkpoint public-key'; docs/INTEGRITY.md, \"Changing the signing key\")"
		if !rec.Matches {
			what := fmt.Sprintf("the checkpoint signing key is named %s, but this store's checkpoints are signed by a key named %s", cp.Key.Name(), rec.Name)
			if rec.Name == cp.Key.Name() {
				what = fmt.Sprintf("the checkpoint signing key named %s is not the key that signed this store's checkpoints (also named %s)", cp.Key.Name(), rec.Name)
			}
			return stele.Errorf(stele.EINVALID, "%s (the latest, of %s at size %d): verifiers that pinned its verifier key would reject every checkpoint this key signs. %s", what, stele.SystemAccount, rec.Size, how)
		}
		return stele.Errorf(stele.EINVALID, "checkpoints would be signed with origin %s/ACCOUNT (STELE_ORIGIN_PREFIX), but this store's carry %s/ACCOUNT: verifiers keep their trust per origin and would take these for other logs. %s", cp.OriginPrefix, rec.Prefix, how)
	}
	change := audit.SignerChange{FromName: rec.Name, FromPrefix: rec.Prefix, ToName: cp.Key.Name(), ToPrefix: cp.OriginPrefix, VerifierKey: cp.Key.VerifierKey}
	if err := a.audit.SigningKeyChanged(ctx, audit.CLI(), change); err != nil {
		return err
	}
	sys, err := a.db.AccountByName(ctx, stele.SystemAccount)
	if err != nil {
		return err
	}
	if _, err := cp.Sign(ctx, sys); err != nil {
		return fmt.Errorf("sign %s with the new key: %w", stele.SystemAccount, err)
	}
	a.signer = nil
	a.logger.Warn("checkpoint signer changed on purpose: publish the new verifier key", "from", rec.Name, "to", cp.Key.Name(), "origin_prefix", cp.OriginPrefix, "verifier", cp.Key.VerifierKey)
	return nil
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
	// The store is opened, not only the key read: a key that did not sign
	// its checkpoints is refused rather than printed for auditors to pin.
	a, err := openApp(ctx, c.store, newLogger("warn"))
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.checkSigner(ctx, false); err != nil {
		return err
	}
	fmt.Fprintln(out, a.checkpoints.Key.VerifierKey)
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
	if err := a.checkSigner(ctx, false); err != nil {
		return err
	}
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
