// Package stores decides which event and key stores a configuration names,
// whether a command may open or make them and where their keys come from,
// and opens them.
package stores

import (
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/postgres"
)

// Place is where a store is, as the configuration names it (the flags
// --data, --db and --keys-db with their environment fallbacks applied).
type Place struct {
	// Data is the data directory: the SQLite file's default place and,
	// on SQLite, the keys' files.
	Data string
	// DB is the event database: empty (stele.db in Data), sqlite:PATH or
	// a postgres:// URL.
	DB string
	// KeysDB is the key store: empty (the one that goes with DB),
	// sqlite:PATH or a postgres:// URL.
	KeysDB string
}

// Shared reports whether the store is one that several nodes may share.
func (p Place) Shared() bool { return IsPostgresURL(p.DB) }

// IsPostgresURL reports whether u names a PostgreSQL database.
func IsPostgresURL(u string) bool {
	return strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://")
}

// SQLitePath is the SQLite file of the place: sqlite:PATH, or stele.db in
// the data directory.
func (p Place) SQLitePath() string {
	if s := strings.TrimPrefix(p.DB, "sqlite:"); s != "" {
		return s
	}
	return filepath.Join(p.Data, "stele.db")
}

// Events is the event store's file or URL.
func (p Place) Events() string {
	if p.Shared() {
		return p.DB
	}
	return p.SQLitePath()
}

// String names the store for a message, never with a password.
func (p Place) String() string {
	if p.Shared() {
		return "the PostgreSQL database " + RedactURL(p.DB)
	}
	return p.SQLitePath()
}

// checkDB refuses a DB that names neither SQLite nor PostgreSQL.
func (p Place) checkDB() error {
	if !IsPostgresURL(p.DB) && p.DB != "" && !strings.HasPrefix(p.DB, "sqlite:") {
		return stele.Errorf(stele.EINVALID, "--db must be sqlite:PATH or a postgres:// URL")
	}
	return nil
}

// Keys is where the key store of the event store at eventsAt is: the one
// KeysDB names, or else the one that goes with the event store: keys.db
// beside a SQLite file, or the database of the same name with _keys on the
// same PostgreSQL server (made is true: opened, it is created if it does
// not exist yet). It is never the event store itself: a backup of the
// events must not hold their keys. It opens nothing, so a bad --keys-db is
// refused before anything is looked for or made.
func (p Place) Keys(eventsAt string) (u string, made bool, err error) {
	u = p.KeysDB
	shared := IsPostgresURL(eventsAt)
	if u == "" {
		if !shared {
			return "sqlite:" + KeysPathFor(eventsAt), false, nil
		}
		ku, err := postgres.KeysDatabaseURL(eventsAt)
		return ku, true, err
	}
	switch {
	case IsPostgresURL(u):
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

func keysFlagError(msg string) error {
	return &stele.Error{Code: stele.EINVALID, Message: msg, Details: []stele.FieldError{{Field: "keys-db", Rule: "apart"}}}
}

// KeysPathFor is the key store beside the SQLite event file at path:
// keys.db for the default stele.db, else NAME.keys.db for NAME.db.
func KeysPathFor(path string) string {
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

// RedactURL is a database URL without its user, password and parameters.
func RedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(the URL given)"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}

// Args are the flags that name the place in a command printed for the
// operator to run, as the command line would give them: never a database
// URL, which may hold a password, but the variable that holds it.
func (p Place) Args() string {
	switch {
	case p.Shared():
		return `--db "$STELE_DATABASE_URL"`
	case p.DB != "":
		return "--db " + ShellQuote(p.DB)
	}
	return "--data " + ShellQuote(p.Data)
}

// ShellQuote quotes s for a POSIX shell when it needs it.
func ShellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./:@%+=,-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
