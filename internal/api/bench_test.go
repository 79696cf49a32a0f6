package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/demo"
	"github.com/stele-audit/stele/internal/record"
	"github.com/stele-audit/stele/internal/seal"
)

// demoBody returns a request body of n generated events.
func demoBody(b testing.TB, n int) []byte {
	b.Helper()
	body, err := demoRequest(n)
	if err != nil {
		b.Fatal(err)
	}
	return body
}

// demoRequest returns a request body of n generated events.
func demoRequest(n int) ([]byte, error) {
	gen := demo.New(1, time.Now().Add(-time.Hour), time.Now())
	type input struct {
		Time        string         `json:"time"`
		Action      string         `json:"action"`
		Category    string         `json:"category,omitempty"`
		Outcome     string         `json:"outcome,omitempty"`
		Actor       *stele.Ref     `json:"actor,omitempty"`
		Target      *stele.Ref     `json:"target,omitempty"`
		Source      *stele.Ref     `json:"source,omitempty"`
		IP          string         `json:"ip,omitempty"`
		UserAgent   string         `json:"user_agent,omitempty"`
		RequestID   string         `json:"request_id,omitempty"`
		Description string         `json:"description,omitempty"`
		Metadata    map[string]any `json:"metadata,omitempty"`
	}
	events := make([]input, n)
	for i := range events {
		e := gen.Next("acme", time.Now().Add(-time.Minute))
		if e.Target != nil {
			e.Target.Email = ""
		}
		if e.Source != nil {
			e.Source.Email = ""
		}
		events[i] = input{e.Time.Format(time.RFC3339Nano), e.Action, e.Category, e.Outcome, e.Actor, e.Target, e.Source,
			e.IP, e.UserAgent, e.RequestID, e.Description, e.Metadata}
	}
	if n == 1 {
		return json.Marshal(events[0])
	}
	return json.Marshal(map[string]any{"events": events})
}

// BenchmarkIngestHTTP is the whole pipeline: HTTP, decode, validate, blind
// indexes, Merkle append, encryption, group commit with fsync.
func BenchmarkIngestHTTP(b *testing.B) {
	for _, batch := range []int{1, 100, 500} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			e := newEnv(b)
			body := demoBody(b, batch)
			b.SetBytes(int64(len(body)))
			b.SetParallelism(16) // 32 clients on 2 cores
			var failed atomic.Int64
			b.ResetTimer()
			// Keep a connection per client, as real producers do, so the
			// benchmark measures requests rather than TCP handshakes.
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest("POST", e.srv.URL+"/v1/events", bytes.NewReader(body))
					req.Header.Set("Authorization", "Bearer "+e.keys["acme"])
					req.Header.Set("Content-Type", "application/json")
					resp, err := client.Do(req)
					if err != nil || resp.StatusCode != 201 {
						failed.Add(1)
					}
					if resp != nil {
						io.Copy(io.Discard, resp.Body) // so the connection is reused
						resp.Body.Close()
					}
				}
			})
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
			if failed.Load() > 0 {
				b.Fatalf("%d requests failed", failed.Load())
			}
		})
	}
}

// BenchmarkRawInsert is the baseline: the rows of the same generated
// events, written straight to the store in batches of 500, without HTTP,
// validation, blind-index HMACs, hashing or encryption (the payload is the
// plain encoding padded to the sealed size; tokens are FNV hashes).
func BenchmarkRawInsert(b *testing.B) {
	e := newEnv(b)
	const batch = 500
	acct := e.accts["acme"].ID
	gen := demo.New(1, time.Now().Add(-time.Hour), time.Now())
	tok := func(s string) int64 {
		if s == "" {
			return 0
		}
		h := fnv.New64a()
		h.Write([]byte(s))
		return int64(h.Sum64() | 1)
	}
	rows := make([]stele.EventRow, batch)
	var seq int64
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		for i := range rows {
			ev := gen.Next("acme", time.Now())
			r := stele.EventRow{AccountID: acct, Seq: seq, Time: ev.Time.UnixMicro(), ReceivedAt: time.Now().UnixMicro(),
				Action: ev.Action, Category: ev.Category, Outcome: ev.Outcome, IPTok: tok(ev.IP), KeyVersion: 1,
				Payload: append(record.AppendPayload(nil, &ev), make([]byte, seal.Overhead)...)}
			if ev.Actor != nil {
				r.ActorTok, r.ActorEmailTok = tok(ev.Actor.ID), tok(ev.Actor.Email)
			}
			if ev.Target != nil {
				r.TargetTok = tok(ev.Target.ID)
			}
			if ev.Source != nil {
				r.SourceTok = tok(ev.Source.ID)
			}
			rows[i] = r
			seq++
		}
		b.StartTimer()
		err := e.db.Append(ctx, func(tx stele.AppendTx) error {
			if _, err := tx.Head(ctx, acct); err != nil {
				return err
			}
			if err := tx.InsertEvents(ctx, rows); err != nil {
				return err
			}
			return tx.SetHead(ctx, stele.Head{AccountID: acct, Size: seq})
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
}
