package stores

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stele-audit/stele"
)

func TestPlaceNamesSQLiteFileAndEvents(t *testing.T) {
	for _, tc := range []struct {
		name   string
		p      Place
		sqlite string
		shared bool
	}{
		{"default file in data", Place{Data: "d"}, filepath.Join("d", "stele.db"), false},
		{"sqlite URL", Place{Data: "d", DB: "sqlite:/x/a.db"}, "/x/a.db", false},
		{"bare sqlite: is the default", Place{Data: "d", DB: "sqlite:"}, filepath.Join("d", "stele.db"), false},
		{"postgres", Place{DB: "postgres://h/db"}, "postgres://h/db", true},
		{"postgresql", Place{DB: "postgresql://h/db"}, "postgresql://h/db", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.p.Shared(); got != tc.shared {
				t.Errorf("Shared = %v, want %v", got, tc.shared)
			}
			if !tc.shared {
				if got := tc.p.SQLitePath(); got != tc.sqlite {
					t.Errorf("SQLitePath = %q, want %q", got, tc.sqlite)
				}
			}
			if got := tc.p.Events(); got != tc.sqlite {
				t.Errorf("Events = %q, want %q", got, tc.sqlite)
			}
		})
	}
}

func TestKeysLiveApartFromTheEvents(t *testing.T) {
	dir := t.TempDir()
	events := filepath.Join(dir, "stele.db")
	if err := os.WriteFile(events, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		keysDB   string
		eventsAt string
		want     string
		made     bool
		refused  string // part of the refusal, "" when allowed
	}{
		{"beside default file", "", "/d/stele.db", "sqlite:/d/keys.db", false, ""},
		{"beside named file", "", "/d/audit.db", "sqlite:/d/audit.keys.db", false, ""},
		{"postgres default", "", "postgres://u:p@h/stele", "postgres://u:p@h/stele_keys", true, ""},
		{"explicit sqlite", "sqlite:/k/keys.db", "/d/stele.db", "sqlite:/k/keys.db", false, ""},
		{"explicit postgres", "postgres://h/keys", "postgres://h/stele", "postgres://h/keys", false, ""},
		{"postgres is the events", "postgres://h/stele", "postgres://h/stele", "", false, "event database itself"},
		{"sqlite is the events", "sqlite:" + events, events, "", false, "event database itself"},
		{"same file by another path", "sqlite:" + dir + "/./stele.db", events, "", false, "event database itself"},
		{"sqlite keys for shared events", "sqlite:/k/keys.db", "postgres://h/stele", "", false, "must share the key store"},
		{"bare sqlite:", "sqlite:", "/d/stele.db", "", false, "must be sqlite:PATH"},
		{"unknown scheme", "mysql://h/k", "/d/stele.db", "", false, "must be sqlite:PATH"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, made, err := Place{KeysDB: tc.keysDB}.Keys(tc.eventsAt)
			if tc.refused != "" {
				if err == nil || !strings.Contains(err.Error(), tc.refused) || stele.ErrorCode(err) != stele.EINVALID {
					t.Fatalf("Keys = %q, %v; want EINVALID containing %q", u, err, tc.refused)
				}
				return
			}
			if err != nil || u != tc.want || made != tc.made {
				t.Fatalf("Keys = %q, %v, %v; want %q, %v", u, made, err, tc.want, tc.made)
			}
		})
	}
}

func TestPlaceNeverShowsAPassword(t *testing.T) {
	for _, tc := range []struct {
		p          Place
		text, args string
	}{
		{Place{DB: "postgres://u:secret@h:5432/db?sslmode=disable"}, "the PostgreSQL database postgres://h:5432/db", `--db "$STELE_DATABASE_URL"`},
		{Place{Data: "my data"}, filepath.Join("my data", "stele.db"), "--data 'my data'"},
		{Place{Data: "d", DB: "sqlite:/x/a.db"}, "/x/a.db", "--db sqlite:/x/a.db"},
		{Place{Data: "it's"}, filepath.Join("it's", "stele.db"), `--data 'it'\''s'`},
	} {
		if got := tc.p.String(); got != tc.text {
			t.Errorf("%+v: String = %q, want %q", tc.p, got, tc.text)
		}
		if got := tc.p.Args(); got != tc.args {
			t.Errorf("%+v: Args = %q, want %q", tc.p, got, tc.args)
		}
		if strings.Contains(tc.p.String()+tc.p.Args(), "secret") {
			t.Errorf("%+v: a password shown", tc.p)
		}
	}
	if got := RedactURL("%zz://"); got != "(the URL given)" {
		t.Errorf("RedactURL of a bad URL = %q", got)
	}
}

func TestPrepareRefusesBeforeMakingAnything(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "has")
	if err := os.MkdirAll(existing, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(existing, "stele.db"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "none")
	for _, tc := range []struct {
		name string
		p    Place
		mode Mode
		code stele.Code
		says string
	}{
		{"bad --db", Place{Data: empty, DB: "mysql://h/db"}, IfMissing, stele.EINVALID, "--db must be"},
		{"bad --keys-db", Place{Data: empty, KeysDB: "mysql://h/k"}, IfMissing, stele.EINVALID, "--keys-db must be"},
		{"no store", Place{Data: empty}, Existing, stele.ENOTFOUND, "no Stele store at"},
		{"init over a store", Place{Data: existing}, New, stele.ECONFLICT, "already holds a Stele store"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Prepare(t.Context(), tc.p, tc.mode, nil, "test", nil)
			if stele.ErrorCode(err) != tc.code || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("Prepare = %v; want %s saying %q", err, tc.code, tc.says)
			}
			if _, err := os.Stat(empty); !os.IsNotExist(err) {
				t.Fatalf("Prepare made %s", empty)
			}
		})
	}
}

func TestExistsOnlyWhereAFileHoldsSomething(t *testing.T) {
	dir := t.TempDir()
	p := Place{Data: dir}
	if ok, err := Exists(t.Context(), p); ok || err != nil {
		t.Fatalf("no file: Exists = %v, %v", ok, err)
	}
	if err := os.WriteFile(p.SQLitePath(), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if ok, err := Exists(t.Context(), p); ok || err != nil {
		t.Fatalf("empty file: Exists = %v, %v", ok, err)
	}
	if err := os.WriteFile(p.SQLitePath(), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if ok, err := Exists(t.Context(), p); !ok || err != nil {
		t.Fatalf("file: Exists = %v, %v", ok, err)
	}
}
