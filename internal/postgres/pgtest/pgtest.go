// Package pgtest gives tests a fresh PostgreSQL database of their own.
//
// Tests find the server through STELE_TEST_POSTGRES_URL (a URL of a
// database the tests may connect to as a role that can CREATE DATABASE).
// When it is unset they skip, unless STELE_REQUIRE_POSTGRES is set, as CI
// sets it: then they fail, so that the PostgreSQL store is never silently
// left untested.
package pgtest

import (
	"context"
	"crypto/rand"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// ServerURL returns STELE_TEST_POSTGRES_URL, or skips (or, when
// STELE_REQUIRE_POSTGRES is set, fails) the test without it.
func ServerURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("STELE_TEST_POSTGRES_URL")
	if u == "" {
		if os.Getenv("STELE_REQUIRE_POSTGRES") != "" {
			t.Fatal("STELE_REQUIRE_POSTGRES is set but STELE_TEST_POSTGRES_URL is not")
		}
		t.Skip("STELE_TEST_POSTGRES_URL is not set")
	}
	return u
}

// NewDatabase creates an empty database stele_test_<random> on the server of
// STELE_TEST_POSTGRES_URL, drops it (and the key database Stele may have
// made beside it, stele_test_<random>_keys) when the test ends, and
// returns its URL.
func NewDatabase(t testing.TB) string {
	t.Helper()
	server := ServerURL(t)
	name := lower("stele_test_" + rand.Text()[:12])
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		t.Fatalf("connect to STELE_TEST_POSTGRES_URL: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE DATABASE `+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		conn, err := pgx.Connect(ctx, server)
		if err != nil {
			t.Errorf("drop test database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		// name_keys is the key database Stele makes beside it by default.
		for _, db := range []string{name, name + "_keys"} {
			if _, err := conn.Exec(ctx, `DROP DATABASE IF EXISTS `+db+` WITH (FORCE)`); err != nil {
				t.Errorf("drop test database %s: %v", db, err)
			}
		}
	})
	return WithDatabase(t, server, name)
}

// NewSchema creates an empty schema stele_test_<random> in the database of
// STELE_TEST_POSTGRES_URL, drops it when the test ends, and returns a URL
// whose connections use it (search_path). A schema costs a fraction of a
// database to make; advisory locks, though, are shared by every schema of
// a database, so tests of leader election take a database of their own.
func NewSchema(t testing.TB) string {
	t.Helper()
	server := ServerURL(t)
	name := lower("stele_test_" + rand.Text()[:12])
	exec := func(sql string) error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		conn, err := pgx.Connect(ctx, server)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, sql)
		return err
	}
	if err := exec(`CREATE SCHEMA ` + name); err != nil {
		t.Fatalf("create test schema: %v", err)
	}
	t.Cleanup(func() {
		if err := exec(`DROP SCHEMA ` + name + ` CASCADE`); err != nil {
			t.Errorf("drop test schema %s: %v", name, err)
		}
	})
	u, err := url.Parse(server)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String()
}

// WithDatabase returns server's URL naming database name instead.
func WithDatabase(t testing.TB, server, name string) string {
	t.Helper()
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("STELE_TEST_POSTGRES_URL must be a postgres:// URL (%v)", err)
	}
	u.Path = "/" + name
	return u.String()
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
