package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/audit"
	"github.com/stele-audit/stele/internal/ledger"
	"github.com/stele-audit/stele/internal/seal"
	"github.com/stele-audit/stele/internal/stores"
	"github.com/stele-audit/stele/internal/users"
)

// initConfig is the configuration of stele init.
type initConfig struct {
	store    storeFlags
	origin   string
	keysDir  string // "": the data directory (SQLite), or none with printEnv
	printEnv bool
	email    string
	password string // "": generate one and print it
}

// originName is what a checkpoint origin prefix (and its key's name) may
// be: a host-like name, as C2SP origins are.
var originName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)

func runInit(ctx context.Context, args []string, out io.Writer) error {
	return bind(parseInit, initConfig.run)(ctx, args, out)
}

func parseInit(args []string) (initConfig, error) {
	fs := newFlags("init", "init [--data DIR | --db URL] [--origin NAME] [--keys-dir DIR | --print-env] [--operator-email E] [--operator-password P]\n\n"+
		"Makes a new store and its keys: the master key, which wraps every account's keys, and the\n"+
		"checkpoint signing key, named --origin, the name verifiers see on every checkpoint. On SQLite\n"+
		"the keys go into the data directory (or --keys-dir); on PostgreSQL, shared by every node,\n"+
		"into --keys-dir as files or, with --print-env, to standard output as STELE_…= lines for a\n"+
		"secret manager (everything else is then printed on standard error). Makes the first operator\n"+
		"of the console. Refuses a place that holds a store, and key files that exist.")
	var c initConfig
	c.store.register(fs)
	fs.StringVar(&c.origin, "origin", ledger.DefaultOriginPrefix, "the checkpoint origin prefix and signing key name: name your deployment (audit.example.com)")
	fs.StringVar(&c.keysDir, "keys-dir", "", "write the keys as files (mode 0600) into this directory")
	fs.StringVar(&c.keysDir, "out", "", "the same as --keys-dir")
	fs.BoolVar(&c.printEnv, "print-env", false, "print the keys as STELE_MASTER_KEY= and STELE_SIGNING_KEY= lines instead of writing files")
	fs.StringVar(&c.email, "operator-email", users.OperatorEmail, "the email the first operator signs in with")
	fs.StringVar(&c.password, "operator-password", "", "the first operator's password (at least 12 characters; give it as STELE_OPERATOR_PASSWORD); one is generated and printed when empty")
	if _, err := parse(fs, args); err != nil {
		return c, err
	}
	if !originName.MatchString(c.origin) {
		return c, &stele.Error{Code: stele.EINVALID, Message: fmt.Sprintf("--origin %q is not a name: letters, digits, '.', '-' and '_', at most 100, starting with a letter or digit (audit.example.com)", c.origin),
			Details: []stele.FieldError{{Field: "origin", Rule: "format"}}}
	}
	if c.keysDir != "" && c.printEnv {
		return c, stele.Errorf(stele.EINVALID, "give --keys-dir or --print-env, not both")
	}
	if c.store.shared() && c.keysDir == "" && !c.printEnv {
		return c, &stele.Error{Code: stele.EINVALID, Message: "a PostgreSQL store's keys are shared by every node, not kept in one node's data directory: give --print-env (STELE_…= lines for your secret manager) or --keys-dir DIR (files)",
			Details: []stele.FieldError{{Field: "print-env", Rule: "required"}}}
	}
	// Keys already in the environment would be used by every later
	// command instead of the ones made here.
	for _, v := range []string{"STELE_MASTER_KEY", "STELE_MASTER_KEY_FILE", "STELE_SIGNING_KEY", "STELE_SIGNING_KEY_FILE"} {
		if os.Getenv(v) != "" {
			return c, stele.Errorf(stele.EINVALID, "%s is set: stele init makes new keys, which later commands would not use while it is; unset it to make a new store", v)
		}
	}
	if p := os.Getenv("STELE_ORIGIN_PREFIX"); p != "" && p != c.origin {
		return c, stele.Errorf(stele.EINVALID, "STELE_ORIGIN_PREFIX is %s but --origin %s: give one name", p, c.origin)
	}
	return c, nil
}

// keyFiles is where init writes the keys: nowhere with --print-env.
func (c initConfig) keyFiles() (master, signing string) {
	dir := c.keysDir
	switch {
	case c.printEnv:
		return "", ""
	case dir == "":
		dir = c.store.data
	}
	return filepath.Join(dir, seal.MasterKeyFile), filepath.Join(dir, ledger.SigningKeyFile)
}

func (c initConfig) run(ctx context.Context, out io.Writer) error {
	exists, err := stores.Exists(ctx, c.store.place())
	if err != nil {
		return err
	}
	if exists {
		return stele.Errorf(stele.ECONFLICT, "%s already holds a Stele store: stele init makes new stores only, and overwrites nothing", c.store.place())
	}
	masterFile, signingFile := c.keyFiles()
	for _, p := range []string{masterFile, signingFile} {
		if _, err := os.Stat(p); p != "" && !errors.Is(err, fs.ErrNotExist) {
			return stele.Errorf(stele.ECONFLICT, "%s exists: stele init overwrites no key; move it away or choose another --keys-dir", p)
		}
	}
	master, masterText := seal.GenerateMasterKey()
	signing, signingText, err := ledger.NewSigningKey(c.origin)
	if err != nil {
		return err
	}
	info := out // what is not a key: on stderr when stdout carries the keys
	if c.printEnv {
		info = os.Stderr
		fmt.Fprintf(out, "STELE_MASTER_KEY=%s\nSTELE_SIGNING_KEY=%s\n", masterText, signingText)
	} else {
		if err := writeKeyFiles(map[string]string{masterFile: masterText, signingFile: signingText}); err != nil {
			return err
		}
	}
	a, err := openAppIn(ctx, c.store, newStore, &stores.Keys{Master: master, Signing: signing}, newLogger("warn"))
	if err != nil {
		os.Remove(masterFile)
		os.Remove(signingFile)
		return err
	}
	defer a.Close()
	a.checkpoints.OriginPrefix = c.origin
	return c.prepare(ctx, a, info, masterFile, signingFile)
}

// prepare makes the first operator, records what init did in _system's
// log and signs _system's first checkpoint, which records the origin and
// the signing key in the store (serve refuses another key from then on),
// and prints what to do next.
func (c initConfig) prepare(ctx context.Context, a *app, out io.Writer, masterFile, signingFile string) error {
	sys, err := a.db.AccountByName(ctx, stele.SystemAccount)
	if err != nil {
		return err
	}
	u, password, err := a.users.Create(ctx, audit.CLI(), sys, c.email, "Operator", stele.RoleOwner, c.password)
	if err != nil {
		return err
	}
	kind, keys := "sqlite", "files in "+filepath.Dir(masterFile)
	if c.store.shared() {
		kind = "postgres"
	}
	if c.printEnv {
		keys = "environment lines printed"
	}
	key := a.checkpoints.Key
	if err := a.audit.StoreInitialized(ctx, audit.CLI(), audit.Initialization{Store: kind, Origin: c.origin, VerifierKey: key.VerifierKey, Keys: keys, Operator: u.Email}); err != nil {
		return err
	}
	if _, err := a.checkpoints.Sign(ctx, sys); err != nil {
		return err
	}
	fmt.Fprintf(out, "Made a new Stele store: %s\n\n", c.store.place())
	fmt.Fprintf(out, "Checkpoints are signed as %s (origin %s/ACCOUNT). Publish the verifier key for auditors to pin:\n  %s\n\n", c.origin, c.origin, key.VerifierKey)
	env := ""
	switch {
	case c.printEnv:
		fmt.Fprintf(out, "The keys are the STELE_MASTER_KEY= and STELE_SIGNING_KEY= lines on standard output, shown once:\n"+
			"keep them in your secret manager and give them to every node and admin command (a file of them\n"+
			"loads into a shell with: set -a; . ./stele.env; set +a). Without the master key nothing stored can be read.\n\n")
		env = " (in a shell with STELE_MASTER_KEY and STELE_SIGNING_KEY set as printed"
	case c.keysDir != "":
		mf, _ := filepath.Abs(masterFile)
		sf, _ := filepath.Abs(signingFile)
		fmt.Fprintf(out, "The keys are in %s and %s (mode 0600). Point every node and admin command at them:\n  export STELE_MASTER_KEY_FILE=%s STELE_SIGNING_KEY_FILE=%s\n"+
			"Keep copies apart from the database: without the master key nothing stored can be read.\n\n", masterFile, signingFile, stores.ShellQuote(mf), stores.ShellQuote(sf))
		env = " (in a shell with the export above"
	default:
		fmt.Fprintf(out, "The keys are %s and %s (mode 0600).\nKeep copies apart from the data: without the master key nothing stored can be read.\n\n", masterFile, signingFile)
	}
	if c.store.shared() {
		env += " and STELE_DATABASE_URL set to the database URL"
	}
	if env != "" {
		env += ")"
	}
	fmt.Fprintf(out, "The console's operator (sign in at /login once stele serve runs):\n  email:    %s\n", u.Email)
	if c.password == "" {
		fmt.Fprintf(out, "  password: %s   (shown once)\n", password)
	}
	fmt.Fprintf(out, "\nNext steps%s:\n", env)
	fmt.Fprintf(out, "  stele serve %s\n", c.store.place().Args())
	fmt.Fprintf(out, "  stele accounts create acme --type team %s\n", c.store.place().Args())
	fmt.Fprintf(out, "  stele keys create --account acme --scopes events:write,events:read,events:export %s\n", c.store.place().Args())
	return nil
}

// writeKeyFiles writes each key file new, with mode 0600 in a directory
// of mode 0700, durably; on an error it removes what it wrote.
func writeKeyFiles(files map[string]string) error {
	var written []string
	fail := func(err error) error {
		for _, p := range written {
			os.Remove(p)
		}
		return fmt.Errorf("write keys: %w", err)
	}
	for path, text := range files {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return fail(err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return fail(err)
		}
		written = append(written, path)
		_, err = f.WriteString(text + "\n")
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = syncDir(filepath.Dir(path))
		}
		if err != nil {
			return fail(err)
		}
	}
	return nil
}

// syncDir makes a directory's new entries durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
