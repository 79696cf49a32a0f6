package client_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/client"
	"github.com/stele-audit/stele/internal/api"
	"github.com/stele-audit/stele/internal/apikey"
	"github.com/stele-audit/stele/internal/datapath"
	"github.com/stele-audit/stele/internal/ingest"
	"github.com/stele-audit/stele/internal/seal"
	"github.com/stele-audit/stele/internal/sqlite"
)

// A platform records what its users do and closes the client before it
// exits, so that nothing buffered is lost.
func Example() {
	url, key, stop := exampleServer() // a Stele of the example's own; yours is STELE_URL, STELE_KEY
	defer stop()
	ctx := context.Background()

	c, err := client.New(url, key, client.WithErrorHandler(func(err error) { log.Print(err) }))
	if err != nil {
		log.Fatal(err)
	}
	ada := stele.Ref{Type: "user", ID: "u_123", Name: "Ada Lovelace", Email: "ada@acme.io"}
	bob := stele.Ref{Type: "user", ID: "u_456", Name: "Bob"}

	login := client.Login(ada)
	login.IP = "203.0.113.7"
	c.Record(ctx, login)
	c.Record(ctx, client.RoleChanged(ada, bob, "viewer", "admin"))
	c.Record(ctx, client.LoginFailed(bob, "invalid_password"))

	closeCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := c.Close(closeCtx); err != nil { // sends what is buffered
		log.Fatal(err)
	}

	for e, err := range c.Query(ctx, "category:user_management") {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(e.Action, e.Actor.Name, "→", e.Target.Name, e.Metadata["role_after"])
	}
	// Output: user.role_changed Ada Lovelace → Bob admin
}

// exampleServer starts Stele's API on a SQLite store in a temporary
// directory, with a key of the account acme.
func exampleServer() (url, key string, stop func()) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "stele-example")
	if err != nil {
		log.Fatal(err)
	}
	db, err := sqlite.Open(ctx, filepath.Join(dir, "stele.db"))
	if err != nil {
		log.Fatal(err)
	}
	master, err := seal.NewMasterKey(1, bytes.Repeat([]byte{7}, 32))
	if err != nil {
		log.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	keys, err := sqlite.OpenKeys(ctx, filepath.Join(dir, "keys.db"))
	if err != nil {
		log.Fatal(err)
	}
	path := datapath.Start(db, keys, master, logger, ingest.WriterConfig{})
	srv := httptest.NewServer((&api.Server{Ingest: path.Ingest, Search: path.Search, Accounts: db, APIKeys: db, Logger: logger, Ready: db.Ping}).Handler())
	acme := &stele.Account{Name: "acme", Type: "team"}
	if err := db.CreateAccount(ctx, acme); err != nil {
		log.Fatal(err)
	}
	_, key, err = apikey.Issue(ctx, db, acme, []stele.Scope{stele.ScopeEventsWrite, stele.ScopeEventsRead}, false, "example", time.Now())
	if err != nil {
		log.Fatal(err)
	}
	return srv.URL, key, func() {
		srv.Close()
		path.Stop()
		db.Close()
		keys.Close()
		os.RemoveAll(dir)
	}
}
