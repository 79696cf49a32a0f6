package sqlite

import (
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
)

// The writer's commits are durable only when each syncs the WAL (and on
// walbuf.c, the sync is what writes the commit's frames at all): a writer
// connection opened with less than synchronous=FULL must refuse to open.
func TestWriterRefusesToOpenWithoutFullSync(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stele.db")
	openTest(t, path) // the file, migrated
	for _, level := range []string{"OFF", "NORMAL"} {
		d := strings.Replace(dsn(path, false), "_synchronous=FULL", "_synchronous="+level, 1)
		if d == dsn(path, false) {
			t.Fatalf("no _synchronous=FULL in the writer's DSN %s", d)
		}
		db, err := sql.Open(writerDriver, d)
		if err != nil {
			t.Fatal(err)
		}
		err = db.Ping()
		db.Close()
		if err == nil || !strings.Contains(err.Error(), "synchronous=FULL") {
			t.Errorf("a writer connection with synchronous=%s: %v, want a refusal naming synchronous=FULL", level, err)
		}
	}
	for _, level := range []string{"FULL", "EXTRA"} {
		db, err := sql.Open(writerDriver, strings.Replace(dsn(path, false), "_synchronous=FULL", "_synchronous="+level, 1))
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Ping(); err != nil {
			t.Errorf("a writer connection with synchronous=%s: %v", level, err)
		}
		db.Close()
	}
}
