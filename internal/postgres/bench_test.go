package postgres

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/postgres/pgtest"
)

// BenchmarkInsertEvents appends batches of events in durable transactions
// (head lock, insert, set head, commit), sending the rows with COPY or with
// one multi-row INSERT, side by side.
func BenchmarkInsertEvents(b *testing.B) {
	db, err := Open(b.Context(), pgtest.NewDatabase(b))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	payload := make([]byte, 420) // a typical sealed event
	for _, batch := range []int{10, 100, 1000} {
		for _, mode := range []string{"insert", "copy"} {
			b.Run(fmt.Sprintf("%s/batch=%d", mode, batch), func(b *testing.B) {
				ctx := context.Background()
				a := &stele.Account{Name: fmt.Sprintf("b%d%s", batch, mode), Type: "team"}
				if err := db.CreateAccount(ctx, a); err != nil {
					b.Fatal(err)
				}
				db.copyMin = 1 << 30
				if mode == "copy" {
					db.copyMin = 1
				}
				defer func() { db.copyMin = defaultCopyMin }()
				rows := make([]stele.EventRow, batch)
				for b.Loop() {
					err := db.Append(ctx, func(tx stele.AppendTx) error {
						h, err := tx.Head(ctx, a.ID)
						if err != nil {
							return err
						}
						now := time.Now().UnixMicro()
						for i := range rows {
							seq := h.Size + int64(i)
							rows[i] = stele.EventRow{AccountID: a.ID, Seq: seq, Time: now, ReceivedAt: now, Action: "user.login",
								Category: stele.CategoryAuthentication, Outcome: stele.OutcomeSuccess, ActorTok: seq%50 + 1,
								ActorEmailTok: seq%50 + 100, IPTok: seq%200 + 1, KeyVersion: 1, Payload: payload}
						}
						if err := tx.InsertEvents(ctx, rows); err != nil {
							return err
						}
						h.Size += int64(batch)
						return tx.SetHead(ctx, h)
					})
					if err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "rows/s")
			})
		}
	}
}
