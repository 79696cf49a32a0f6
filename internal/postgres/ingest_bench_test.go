package postgres_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/datapath"
	"github.com/stele-audit/stele/internal/demo"
	"github.com/stele-audit/stele/internal/ingest"
	"github.com/stele-audit/stele/internal/postgres"
	"github.com/stele-audit/stele/internal/postgres/pgtest"
	"github.com/stele-audit/stele/internal/seal"
	"github.com/stele-audit/stele/internal/sqlite/sqlitetest"
)

// BenchmarkIngestNodes runs the real ingest path (validation, blind
// indexes, encryption, Merkle append, group commit, durable commit) on 1–3
// "nodes" in one process, each with its own pool, keyring and group-commit
// writer, all on one database, as separate serve processes would be.
// Producers send batches of 500 demo events, spread over the accounts.
func BenchmarkIngestNodes(b *testing.B) {
	const batch = 500
	for _, accounts := range []int{1, 4} {
		for _, nodes := range []int{1, 2, 3} {
			b.Run(fmt.Sprintf("accounts=%d/nodes=%d", accounts, nodes), func(b *testing.B) {
				benchIngest(b, nodes, accounts, batch)
			})
		}
	}
}

func benchIngest(b *testing.B, nodes, accounts, batch int) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	url := pgtest.NewDatabase(b)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	master, _ := seal.NewMasterKey(1, bytes.Repeat([]byte{7}, 32))
	type node struct {
		db  *postgres.DB
		svc *ingest.Service
	}
	var ns []node
	for range nodes {
		db, err := postgres.Open(ctx, url)
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		c := datapath.Start(db, sqlitetest.Keys(b), master, logger, ingest.WriterConfig{})
		defer c.Stop()
		ns = append(ns, node{db, c.Ingest})
	}
	var names []string
	for i := range accounts {
		name := fmt.Sprintf("acct%d", i)
		if err := ns[0].db.CreateAccount(ctx, &stele.Account{Name: name, Type: "team"}); err != nil {
			b.Fatal(err)
		}
		names = append(names, name)
	}
	gen := demo.New(1, time.Now().Add(-time.Hour), time.Now())
	var batches [][]stele.Event
	for i := range 16 {
		var events []stele.Event
		for range batch {
			e := gen.Next(names[i%accounts], time.Now().Add(-time.Minute))
			e.Account = names[i%accounts]
			events = append(events, e)
		}
		batches = append(batches, events)
	}
	var next atomic.Int64
	b.SetParallelism(4) // 4×GOMAXPROCS producers
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1)
			n := ns[int(i)%len(ns)]
			if _, err := n.svc.Record(ctx, slices.Clone(batches[int(i)%len(batches)])...); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
	cancel()
}
