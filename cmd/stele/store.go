package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/leader"
	"github.com/stele-audit/stele/internal/ledger"
	"github.com/stele-audit/stele/internal/postgres"
	"github.com/stele-audit/stele/internal/seal"
	"github.com/stele-audit/stele/internal/sqlite"
)

// databaseURL is --db, or else STELE_DATABASE_URL (the name PaaS hosts
// give a database), or else empty: the SQLite file in the data directory.
func (s *storeFlags) databaseURL() string {
	if s.db != "" {
		return s.db
	}
	return os.Getenv("STELE_DATABASE_URL")
}

// keysURL is --keys-db, or else STELE_KEYS_DATABASE_URL, or else empty:
// the key store that goes with the event store (keyStoreFor).
func (s *storeFlags) keysURL() string {
	if s.keysDB != "" {
		return s.keysDB
	}
	return os.Getenv("STELE_KEYS_DATABASE_URL")
}

// shared reports whether the store is one that several nodes may share.
func (s *storeFlags) shared() bool { return isPostgresURL(s.databaseURL()) }

func isPostgresURL(u string) bool {
	return strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://")
}

// sqlitePath is the SQLite file of the flags: sqlite:PATH, or stele.db in
// the data directory.
func (s *storeFlags) sqlitePath() string {
	if p := strings.TrimPrefix(s.databaseURL(), "sqlite:"); p != "" {
		return p
	}
	return filepath.Join(s.data, "stele.db")
}

// storeMode is whether a command may make the store it opens.
type storeMode int

const (
	// existingStore: every local command but serve and init works on a
	// store that exists, and refuses, creating nothing, where there is none.
	existingStore storeMode = iota
	// storeIfMissing: serve makes a store (and on SQLite its keys) on an
	// empty directory, so that the two-command start stays two commands.
	storeIfMissing
	// newStore: init makes a store, and refuses a place that holds one.
	newStore
)

// storeKeys are the master and checkpoint signing keys a store is opened
// with.
type storeKeys struct {
	master  *seal.MasterKey
	signing *ledger.SigningKey
	// noSigning is why signing is nil: the signing key of an existing
	// SQLite store is not here (an auditor's copy of the data directory,
	// a key kept in a secret store). Commands that sign or print it refuse
	// with it (checkSigner); the others need no signing key.
	noSigning error
}

// prepareStore is the one place that decides, before anything is opened
// or written, whether a command may go on at the place the flags name, and
// finds the keys: an existing store's keys are read, never made; on SQLite
// a store being made gets them generated into the data directory (unless
// given, by init); on PostgreSQL they come from the environment (or init).
func prepareStore(ctx context.Context, sf storeFlags, mode storeMode, given *storeKeys, logger *slog.Logger) (storeKeys, error) {
	u := sf.databaseURL()
	if !isPostgresURL(u) && u != "" && !strings.HasPrefix(u, "sqlite:") {
		return storeKeys{}, stele.Errorf(stele.EINVALID, "--db must be sqlite:PATH or a postgres:// URL")
	}
	if _, _, err := keysPlace(sf, eventsPlace(sf)); err != nil {
		return storeKeys{}, err
	}
	exists, err := storeExists(ctx, sf)
	if err != nil {
		return storeKeys{}, err
	}
	switch {
	case !exists && mode == existingStore:
		return storeKeys{}, noStoreError(sf)
	case exists && mode == newStore:
		return storeKeys{}, stele.Errorf(stele.ECONFLICT, "%s already holds a Stele store: stele init makes new stores only, and overwrites nothing", storePlace(sf))
	}
	if given != nil {
		return *given, nil
	}
	if sf.shared() {
		return sharedStoreKeys(exists)
	}
	if !exists { // serve on an empty directory: the store and its keys are made together
		if err := os.MkdirAll(sf.data, 0o700); err != nil {
			return storeKeys{}, fmt.Errorf("create data directory: %w", err)
		}
		master, err := seal.LoadMasterKey(sf.data, os.Getenv, logger)
		if err != nil {
			return storeKeys{}, keyError(err)
		}
		signing, err := ledger.LoadSigningKey(sf.data, os.Getenv, originPrefixOr(ledger.DefaultOriginPrefix), logger)
		return storeKeys{master: master, signing: signing}, keyError(err)
	}
	master, err := seal.ReadMasterKey(sf.data, os.Getenv)
	if errors.Is(err, fs.ErrNotExist) {
		p, _ := seal.MasterKeyPath(sf.data, os.Getenv)
		return storeKeys{}, stele.Errorf(stele.ENOTFOUND, "the store in %s has no master key: STELE_MASTER_KEY is unset and %s does not exist. Set STELE_MASTER_KEY or STELE_MASTER_KEY_FILE to the key this store was made with (its account keys are wrapped under it; a new key would unwrap none). A new store and its keys are made by 'stele init --data DIR'", storePlace(sf), p)
	}
	if err != nil {
		return storeKeys{}, keyError(err)
	}
	signing, err := ledger.ReadSigningKey(sf.data, os.Getenv)
	if errors.Is(err, fs.ErrNotExist) {
		return storeKeys{master: master, noSigning: noSigningKey(sf)}, nil
	}
	return storeKeys{master: master, signing: signing}, keyError(err)
}

// noSigningKey is the refusal of a command that signs with, or prints, the
// signing key of a store whose key is not found.
func noSigningKey(sf storeFlags) error {
	return stele.Errorf(stele.ENOTFOUND, "the store in %s has no checkpoint signing key: STELE_SIGNING_KEY is unset and %s does not exist. Set STELE_SIGNING_KEY or STELE_SIGNING_KEY_FILE to the key whose verifier key your auditors pinned. A new store and its keys are made by 'stele init --data DIR'", storePlace(sf), ledger.SigningKeyPath(sf.data, os.Getenv))
}

// sharedStoreKeys reads the keys every node of a PostgreSQL store shares
// from the environment: a key generated into one node's data directory
// would be unknown to the others, so none is ever made here.
func sharedStoreKeys(exists bool) (storeKeys, error) {
	how := "'stele init --db \"$STELE_DATABASE_URL\" --origin NAME --print-env' makes a new store and prints its keys as STELE_…= lines for your secret manager"
	if exists {
		how = "use the keys this store was made with ('stele init' printed them or wrote them to its --keys-dir); " + how
	}
	if os.Getenv("STELE_MASTER_KEY") == "" && os.Getenv("STELE_MASTER_KEY_FILE") == "" {
		return storeKeys{}, stele.Errorf(stele.EINVALID, "a PostgreSQL store needs the master key shared by every node: set STELE_MASTER_KEY or STELE_MASTER_KEY_FILE; %s", how)
	}
	if os.Getenv("STELE_SIGNING_KEY") == "" && os.Getenv("STELE_SIGNING_KEY_FILE") == "" {
		return storeKeys{}, stele.Errorf(stele.EINVALID, "a PostgreSQL store needs the checkpoint signing key shared by every node: set STELE_SIGNING_KEY or STELE_SIGNING_KEY_FILE; %s", how)
	}
	master, err := seal.ReadMasterKey("", os.Getenv)
	if err != nil {
		return storeKeys{}, keyError(err)
	}
	signing, err := ledger.ReadSigningKey("", os.Getenv)
	return storeKeys{master: master, signing: signing}, keyError(err)
}

// keyError is a key that could not be read or made, with how keys are
// made and what they look like.
func keyError(err error) error {
	if err == nil {
		return nil
	}
	code, msg := stele.EINVALID, err.Error()
	var e *stele.Error
	if errors.As(err, &e) {
		code, msg = e.Code, strings.Replace(msg, e.Error(), e.Message, 1)
	}
	return stele.Errorf(code, "%s (keys are made with their store by 'stele init'; 'stele init --print-env' prints them in the form STELE_MASTER_KEY and STELE_SIGNING_KEY take)", msg)
}

// storeExists reports whether the flags name a place that holds a store:
// a SQLite file with something in it, or a PostgreSQL database with
// Stele's tables. It creates nothing.
func storeExists(ctx context.Context, sf storeFlags) (bool, error) {
	if sf.shared() {
		return postgres.HasStore(ctx, sf.databaseURL())
	}
	fi, err := os.Stat(sf.sqlitePath())
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("look for the store: %w", err)
	}
	return fi.Size() > 0, nil
}

// noStoreError is the refusal of a command pointed at a place without a
// store: where it looked, and how to point it elsewhere or make one.
func noStoreError(sf storeFlags) error {
	if sf.shared() {
		return stele.Errorf(stele.ENOTFOUND, "no Stele store in the PostgreSQL database %s: point to the database of your store with --db URL (or STELE_DATABASE_URL), or make a store there with 'stele init --db \"$STELE_DATABASE_URL\" --origin NAME --print-env'", redactURL(sf.databaseURL()))
	}
	p := sf.sqlitePath()
	if abs, err := filepath.Abs(p); err == nil {
		p = abs
	}
	return stele.Errorf(stele.ENOTFOUND, "no Stele store at %s (nothing was created): point to your store's data directory with --data DIR (or STELE_DATA) or to its database with --db URL (or STELE_DATABASE_URL), or make a new store there with: stele init %s", p, storeArgs(sf))
}

// storePlace names the store of the flags for a message, never with a
// password.
func storePlace(sf storeFlags) string {
	if sf.shared() {
		return "the PostgreSQL database " + redactURL(sf.databaseURL())
	}
	return sf.sqlitePath()
}

// redactURL is a database URL without its user, password and parameters.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(the URL given)"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}

// keyStore is an open key store.
type keyStore interface {
	stele.KeyStore
	Ping(ctx context.Context) error
	Close() error
}

// openStore opens the stores the flags name: the event store, the key
// store apart from it, and the leadership that decides which process runs
// background jobs. Keys that an older release kept in the event store are
// moved to the key store first (seal.Keyring.MoveLegacyKeys), so every
// command and every node finds them there.
func openStore(ctx context.Context, sf storeFlags, master *seal.MasterKey, logger *slog.Logger) (stele.Store, keyStore, stele.Leadership, error) {
	db, eventsAt, lead, err := openEvents(ctx, sf, logger)
	if err != nil {
		return nil, nil, nil, err
	}
	keys, err := openKeys(ctx, sf, eventsAt)
	if err != nil {
		db.Close()
		return nil, nil, nil, err
	}
	n, err := seal.NewKeyring(master, keys).MoveLegacyKeys(ctx, db)
	if err != nil {
		keys.Close()
		db.Close()
		return nil, nil, nil, fmt.Errorf("open store: %w", err)
	}
	if n > 0 {
		logger.Info("account keys moved out of the event store into the key store", "keys", n)
	}
	return db, keys, lead, nil
}

// openEvents opens the event store; eventsAt is its file or URL.
func openEvents(ctx context.Context, sf storeFlags, logger *slog.Logger) (db stele.Store, eventsAt string, lead stele.Leadership, err error) {
	u := sf.databaseURL()
	switch {
	case isPostgresURL(u):
		// prepareStore has found the keys every node shares.
		pg, err := postgres.Open(ctx, u)
		if err != nil {
			return nil, "", nil, fmt.Errorf("open store: %w", err)
		}
		return pg, u, &postgres.Leadership{DB: pg, Logger: logger}, nil
	case u == "", strings.HasPrefix(u, "sqlite:"):
		path := sf.sqlitePath()
		lite, err := sqlite.Open(ctx, path)
		if err != nil {
			return nil, "", nil, fmt.Errorf("open store: %w", err)
		}
		return lite, path, leader.Local{Logger: logger}, nil
	default:
		return nil, "", nil, stele.Errorf(stele.EINVALID, "--db must be sqlite:PATH or a postgres:// URL")
	}
}

// keysPlace is where the key store of the event store at eventsAt is: the
// one --keys-db names, or else the one that goes with the event store:
// keys.db beside a SQLite file, or the database of the same name with
// _keys on the same PostgreSQL server (made is true: opened, it is created
// if it does not exist yet). It is never the event store itself: a backup
// of the events must not hold their keys. It opens nothing, so a bad
// --keys-db is refused before anything is looked for or made.
func keysPlace(sf storeFlags, eventsAt string) (u string, made bool, err error) {
	u = sf.keysURL()
	shared := isPostgresURL(eventsAt)
	if u == "" {
		if !shared {
			return "sqlite:" + keysPathFor(eventsAt), false, nil
		}
		ku, err := postgres.KeysDatabaseURL(eventsAt)
		return ku, true, err
	}
	switch {
	case isPostgresURL(u):
		if u == eventsAt {
			return "", false, keysFlagError("--keys-db names the event database itself: the keys must live apart from the events")
		}
	case strings.HasPrefix(u, "sqlite:") && u != "sqlite:":
		if shared {
			return "", false, keysFlagError("nodes sharing a PostgreSQL database must share the key store too: --keys-db must be a postgres:// URL")
		}
		if same, _ := sameFile(strings.TrimPrefix(u, "sqlite:"), eventsAt); same {
			return "", false, keysFlagError("--keys-db names the event database itself: the keys must live apart from the events")
		}
	default:
		return "", false, keysFlagError("--keys-db must be sqlite:PATH or a postgres:// URL")
	}
	return u, false, nil
}

// eventsPlace is the event store's file or URL.
func eventsPlace(sf storeFlags) string {
	if sf.shared() {
		return sf.databaseURL()
	}
	return sf.sqlitePath()
}

// openKeys opens the key store of the event store at eventsAt (keysPlace).
func openKeys(ctx context.Context, sf storeFlags, eventsAt string) (keyStore, error) {
	u, made, err := keysPlace(sf, eventsAt)
	if err != nil {
		return nil, err
	}
	if made {
		if err := postgres.EnsureDatabase(ctx, eventsAt, u); err != nil {
			return nil, fmt.Errorf("open key store: %w", err)
		}
	}
	if isPostgresURL(u) {
		k, err := postgres.OpenKeys(ctx, u)
		if err != nil {
			return nil, fmt.Errorf("open key store: %w", err)
		}
		return k, nil
	}
	k, err := sqlite.OpenKeys(ctx, strings.TrimPrefix(u, "sqlite:"))
	if err != nil {
		return nil, fmt.Errorf("open key store: %w", err)
	}
	return k, nil
}

func keysFlagError(msg string) error {
	return &stele.Error{Code: stele.EINVALID, Message: msg, Details: []stele.FieldError{{Field: "keys-db", Rule: "apart"}}}
}

// keysPathFor is the key store beside the SQLite event file at path:
// keys.db for the default stele.db, else NAME.keys.db for NAME.db.
func keysPathFor(path string) string {
	dir, base := filepath.Split(path)
	if base == "stele.db" {
		return filepath.Join(dir, "keys.db")
	}
	return filepath.Join(dir, strings.TrimSuffix(base, ".db")+".keys.db")
}

// sameFile reports whether a and b name one file (both existing) or one
// path.
func sameFile(a, b string) (bool, error) {
	if filepath.Clean(a) == filepath.Clean(b) {
		return true, nil
	}
	sa, errA := os.Stat(a)
	sb, errB := os.Stat(b)
	if err := errors.Join(errA, errB); err != nil {
		return false, err
	}
	return os.SameFile(sa, sb), nil
}

// pingStores reports whether both stores answer: the events' and the keys'.
func (a *app) pingStores(ctx context.Context) error {
	if err := a.db.Ping(ctx); err != nil {
		return err
	}
	return a.keys.Ping(ctx)
}

// storeArgs are the flags that name the store of sf in a command printed
// for the operator to run, as the command line would give them: never a
// database URL, which may hold a password, but the variable that holds it.
func storeArgs(sf storeFlags) string {
	switch {
	case sf.shared():
		return `--db "$STELE_DATABASE_URL"`
	case sf.databaseURL() != "":
		return "--db " + shellQuote(sf.databaseURL())
	}
	return "--data " + shellQuote(sf.data)
}

// storeShell says what the shell of printed commands needs besides them:
// on PostgreSQL the database URL and the nodes' keys, which are not shown.
func storeShell(sf storeFlags) string {
	if sf.shared() {
		return " (in a shell with STELE_DATABASE_URL set to the database URL, and the same STELE_MASTER_KEY and STELE_SIGNING_KEY as the nodes, or their _FILE forms)"
	}
	if os.Getenv("STELE_MASTER_KEY") != "" || os.Getenv("STELE_MASTER_KEY_FILE") != "" {
		return " (with the same STELE_MASTER_KEY and STELE_SIGNING_KEY as this server, or their _FILE forms)"
	}
	return ""
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./:@%+=,-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
