package export_test

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/datapath"
	"github.com/stele-audit/stele/internal/export"
	"github.com/stele-audit/stele/internal/ingest"
	"github.com/stele-audit/stele/internal/query"
	"github.com/stele-audit/stele/internal/seal"
	"github.com/stele-audit/stele/internal/sqlite"
	"github.com/stele-audit/stele/internal/sqlite/sqlitetest"
)

// TestEventsWritesTheSameWhicheverWayAFormatEncodes: export.Events, the
// one path of the console's, the API's and the CLI's exports, writes the
// matching events of a real store, newest first, and a format encoded on
// every core (Append) gives the bytes its one-at-a-time Writer gives.
func TestEventsWritesTheSameWhicheverWayAFormatEncodes(t *testing.T) {
	ctx := t.Context()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "stele.db"))
	if err != nil {
		t.Fatal(err)
	}
	master, _ := seal.NewMasterKey(1, bytes.Repeat([]byte{3}, 32))
	path := datapath.Start(db, sqlitetest.Keys(t), master, slog.New(slog.NewTextHandler(io.Discard, nil)), ingest.WriterConfig{})
	t.Cleanup(func() { path.Stop(); db.Close() })
	if err := db.CreateAccount(ctx, &stele.Account{Name: "acme", Type: "team"}); err != nil {
		t.Fatal(err)
	}
	acme, _ := db.AccountByName(ctx, "acme")
	var batch []stele.Event
	for i := range 300 {
		batch = append(batch, stele.Event{Account: "acme", Action: []string{"user.login", "user.logout"}[i%2], Outcome: stele.OutcomeSuccess,
			Time: time.Now().Add(-time.Duration(i) * time.Minute), Actor: &stele.Ref{ID: fmt.Sprintf("u_%d", i%7), Email: fmt.Sprintf("u%d@acme.io", i%7)},
			Description: fmt.Sprintf("=cmd %d, \"quoted\"\nline", i), Metadata: map[string]any{"i": i, "ok": i%3 == 0}})
	}
	if _, err := path.Ingest.Record(ctx, batch...); err != nil {
		t.Fatal(err)
	}
	for text, want := range map[string]int64{"action:user.login": 150, "action:nothing.matches": 0} {
		q, err := query.Parse(text, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range export.Names() {
			f, _ := export.Lookup(name)
			var parallel, serial bytes.Buffer
			n, err := export.Events(ctx, &parallel, path.Search, acme, q, f)
			if err != nil || n != want {
				t.Fatalf("%s %s: %d events, %v", name, text, n, err)
			}
			one := f
			one.Append, one.Head = nil, nil
			if n, err := export.Events(ctx, &serial, path.Search, acme, q, one); err != nil || n != want {
				t.Fatalf("%s %s one at a time: %d events, %v", name, text, n, err)
			}
			if !bytes.Equal(parallel.Bytes(), serial.Bytes()) {
				t.Fatalf("%s %s: the two ways differ:\n%.300s\n---\n%.300s", name, text, parallel.Bytes(), serial.Bytes())
			}
			if lines := bytes.Count(parallel.Bytes(), []byte("\n")); lines < int(want) {
				t.Fatalf("%s %s: %d lines for %d events", name, text, lines, want)
			}
		}
	}
}
