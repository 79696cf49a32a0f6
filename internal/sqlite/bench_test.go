package sqlite

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/stele-audit/stele"
)

var benchActions = []struct{ action, category string }{
	{"user.login", stele.CategoryAuthentication},
	{"user.logout", stele.CategoryAuthentication},
	{"user.login_failed", stele.CategoryAuthentication},
	{"api_key.used", stele.CategoryAuthentication},
	{"finding.generated", stele.CategorySourceActivity},
	{"settings.updated", stele.CategoryConfiguration},
	{"user.role_changed", stele.CategoryUserManagement},
	{"audit_log.viewed", stele.CategoryAudit},
}

// benchRow returns a realistic row: a sealed (incompressible) payload of
// payloadLen bytes, an actor with id and email, a target and an IP from
// small populations, a source on a quarter of the events.
func benchRow(rng *rand.Rand, account, seq int64, payloadLen int) stele.EventRow {
	a := benchActions[rng.IntN(len(benchActions))]
	actor := rng.Int64N(benchActors) + 1
	payload := make([]byte, payloadLen)
	for i := range payload {
		payload[i] = byte(rng.Uint32())
	}
	t := base + seq*1000 + rng.Int64N(500)
	r := stele.EventRow{
		AccountID: account, Seq: seq, Time: t, ReceivedAt: t + 1500,
		Action: a.action, Category: a.category, Outcome: stele.Outcomes[rng.IntN(3)],
		ActorTok: tokenOf("actor", actor), ActorEmailTok: tokenOf("email", actor),
		TargetTok: tokenOf("target", rng.Int64N(benchTargets)), IPTok: tokenOf("ip", rng.Int64N(benchIPs)),
		KeyVersion: 1, Payload: payload, LeafHash: sha256.Sum256(payload),
	}
	if rng.IntN(4) == 0 {
		r.SourceTok = tokenOf("source", rng.Int64N(10))
	}
	return r
}

// Populations of the blind-indexed fields: each distinct value is one place
// in its index that a commit dirties.
var benchActors, benchTargets, benchIPs int64 = 200, 5000, 1000

// base is 2025-01-01 in Unix µs.
const base = int64(1_735_689_600_000_000)

func tokenOf(domain string, n int64) int64 {
	h := sha256.Sum256(fmt.Appendf(nil, "%s:%d", domain, n))
	v := int64(h[0])<<56 | int64(h[1])<<48 | int64(h[2])<<40 | int64(h[3])<<32 | int64(h[4])<<24 | int64(h[5])<<16 | int64(h[6])<<8 | int64(h[7])
	if v == 0 {
		v = 1
	}
	return v
}

// fill appends n rows to account in batches, with a tree node for every
// eighth event as the ledger stores them.
func fill(tb testing.TB, ctx context.Context, db *DB, rng *rand.Rand, account int64, n, batch, payloadLen int) {
	tb.Helper()
	if err := appendRows(ctx, db, rng, account, n, batch, payloadLen); err != nil {
		tb.Fatal(err)
	}
}

// appendRows is fill, returning the first error.
func appendRows(ctx context.Context, db *DB, rng *rand.Rand, account int64, n, batch, payloadLen int) error {
	for done := 0; done < n; {
		k := min(batch, n-done)
		err := db.Append(ctx, func(tx stele.AppendTx) error {
			h, err := tx.Head(ctx, account)
			if err != nil {
				return err
			}
			rows := make([]stele.EventRow, k)
			var nodes []stele.TreeNode
			for i := range rows {
				rows[i] = benchRow(rng, account, h.Size+int64(i), payloadLen)
				if seq := h.Size + int64(i); seq%8 == 7 {
					nodes = append(nodes, stele.TreeNode{Level: 4, Index: seq / 8, Hash: rows[i].LeafHash})
				}
			}
			if err := tx.InsertEvents(ctx, rows); err != nil {
				return err
			}
			if err := tx.InsertTreeNodes(ctx, account, nodes); err != nil {
				return err
			}
			h.Size += int64(k)
			h.Frontier = [][32]byte{rows[k-1].LeafHash}
			return tx.SetHead(ctx, h)
		})
		if err != nil {
			return err
		}
		done += k
	}
	return nil
}

func benchDB(b *testing.B, accounts int) (*DB, []int64) {
	b.Helper()
	db, err := Open(b.Context(), filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	var ids []int64
	for i := range accounts {
		a := &stele.Account{Name: fmt.Sprintf("acct%d", i), Type: "team"}
		if err := db.CreateAccount(b.Context(), a); err != nil {
			b.Fatal(err)
		}
		ids = append(ids, a.ID)
	}
	return db, ids
}

// BenchmarkInsertEvents measures the raw insert rate: 500 rows per Append,
// each Append a durable commit, rotating over four accounts. bytes/row is
// the database size over the rows stored, indexes and tree nodes included.
func BenchmarkInsertEvents(b *testing.B) {
	for _, payload := range []int{330, 450} {
		b.Run(fmt.Sprintf("payload=%d", payload), func(b *testing.B) {
			ctx := b.Context()
			db, ids := benchDB(b, 4)
			rng := rand.New(rand.NewPCG(1, 2))
			const batch = 500
			rows := 0
			start := time.Now()
			for i := 0; b.Loop(); i++ {
				fill(b, ctx, db, rng, ids[i%len(ids)], batch, batch, payload)
				rows += batch
			}
			elapsed := time.Since(start)
			b.ReportMetric(float64(rows)/elapsed.Seconds(), "events/s")
			if size, err := db.Size(ctx); err == nil && rows > 0 {
				b.ReportMetric(float64(size)/float64(rows), "bytes/row")
			}
		})
	}
}

// BenchmarkRowsNewestPage reads pages of 100 from an account of 100k rows.
func BenchmarkRowsNewestPage(b *testing.B) {
	ctx := b.Context()
	db, ids := benchDB(b, 2)
	rng := rand.New(rand.NewPCG(3, 4))
	const n = 100_000
	fill(b, ctx, db, rng, ids[0], n, 1000, 400)
	fill(b, ctx, db, rng, ids[1], 10_000, 1000, 400) // a neighbour
	if size, err := db.Size(ctx); err == nil {
		b.Logf("%d rows: %d bytes, %.0f bytes/row", n+10_000, size, float64(size)/float64(n+10_000))
	}
	mid, err := db.Row(ctx, ids[0], n/2)
	if err != nil {
		b.Fatal(err)
	}
	actor := []int64{tokenOf("actor", 7), tokenOf("email", 7)}
	cases := []struct {
		name string
		q    stele.RowQuery
	}{
		{"newest", stele.RowQuery{AccountID: ids[0], Limit: 100}},
		{"middle", stele.RowQuery{AccountID: ids[0], Limit: 100, HasBelow: true, BelowTime: mid.Time, BelowSeq: mid.Seq}},
		{"action", stele.RowQuery{AccountID: ids[0], Limit: 100, Filters: []stele.RowFilter{{Field: stele.FieldAction, Values: []string{"user.login"}}}}},
		{"actor", stele.RowQuery{AccountID: ids[0], Limit: 100, Filters: []stele.RowFilter{{Field: stele.FieldActor, Tokens: actor}}}},
		{"not_actor", stele.RowQuery{AccountID: ids[0], Limit: 100, Filters: []stele.RowFilter{{Field: stele.FieldActor, Tokens: actor, Negate: true}}}},
		{"action_prefix_failure", stele.RowQuery{AccountID: ids[0], Limit: 100, Filters: []stele.RowFilter{
			{Field: stele.FieldAction, Prefixes: []string{"user."}}, {Field: stele.FieldOutcome, Values: []string{stele.OutcomeFailure}}}}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				rows, err := db.Rows(ctx, tc.q)
				if err != nil {
					b.Fatal(err)
				}
				if len(rows) != 100 {
					b.Fatalf("%d rows, want 100", len(rows))
				}
			}
		})
	}
}
