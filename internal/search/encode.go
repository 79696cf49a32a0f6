package search

import (
	"context"
	"fmt"
	"runtime"
	"sync"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/record"
	"github.com/stele-audit/stele/internal/recovery"
	"github.com/stele-audit/stele/internal/seal"
)

// chunkRows is how many rows one worker decrypts and encodes at a time.
const chunkRows = 256

// chunk is a run of rows in export order: their clear columns, their
// sealed payloads one after the other in sealed, and, once a worker is
// done with it, their encoding in out (or the error that stopped it).
type chunk struct {
	rows   []stele.EventRow
	sealed []byte
	lens   []int // of each row's payload in sealed
	out    []byte
	n      int64 // rows that matched and were encoded
	err    error
	done   chan struct{}
}

// Encode streams the events of account matching q, newest first, through
// enc and hands the encoded bytes to out, in order, on the caller's
// goroutine. Reading rows, and decrypting and encoding them, overlap: one
// goroutine reads the store (ScanQuery) into chunks, GOMAXPROCS workers
// decrypt and encode chunks, and the caller writes them in order. At most a few chunks per worker are in
// flight, whatever the size of the result. enc must be safe to call from
// several goroutines at once. It returns how many events it encoded; when
// out or enc fails, the events before the failure were handed to out.
func (s *Service) Encode(ctx context.Context, account *stele.Account, q stele.Query,
	enc func(dst []byte, e *stele.Event) ([]byte, error), out func([]byte) error) (int64, error) {
	keys, err := s.keys.Account(ctx, account.ID)
	if err != nil {
		return 0, err
	}
	rq, _ := plan(keys, account.ID, q)
	if err := s.bound(ctx, &rq, account); err != nil {
		return 0, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	workers := max(1, runtime.GOMAXPROCS(0))
	free := make(chan *chunk, 3*workers)
	for range cap(free) {
		free <- &chunk{done: make(chan struct{}, 1)}
	}
	todo := make(chan *chunk, cap(free))    // to the workers
	ordered := make(chan *chunk, cap(free)) // to the writer, in order
	var readErr error
	go func() { // the reader
		defer close(ordered)
		defer close(todo)
		var c *chunk
		send := func() bool {
			select {
			case todo <- c:
			case <-ctx.Done():
				return false
			}
			ordered <- c // never blocks: the chunks are cap(ordered)
			c = nil
			return true
		}
		readErr = recovery.Call(func() error {
			return s.store.ScanQuery(ctx, rq, func(r *stele.EventRow) error {
				if c == nil {
					select {
					case c = <-free:
					case <-ctx.Done():
						return ctx.Err()
					}
					c.rows, c.sealed, c.lens = c.rows[:0], c.sealed[:0], c.lens[:0]
				}
				c.rows = append(c.rows, *r)
				c.rows[len(c.rows)-1].Payload = nil // set from sealed by the worker
				c.sealed = append(c.sealed, r.Payload...)
				c.lens = append(c.lens, len(r.Payload))
				if len(c.rows) == chunkRows && !send() {
					return ctx.Err()
				}
				return nil
			})
		})
		if readErr == nil && c != nil {
			send()
		}
	}()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var (
				e     stele.Event
				plain []byte
				ad    []byte
			)
			for c := range todo {
				c.out, c.n, c.err = c.out[:0], 0, nil
				// A panic on one event (in enc, say) is beyond the request's
				// recover on this goroutine: it becomes the chunk's error.
				if err := recovery.Call(func() error {
					sealed := c.sealed
					for i := range c.rows {
						r := &c.rows[i]
						n := c.lens[i]
						r.Payload, sealed = sealed[:n:n], sealed[n:]
						ad = record.AppendAD(ad[:0], r)
						var err error
						if plain, err = decryptInto(keys, account.Name, r, ad, plain[:0], &e); err == nil {
							if !Matches(&e, q) {
								continue
							}
							c.out, err = enc(c.out, &e)
						}
						if err != nil {
							return err
						}
						c.n++
					}
					return nil
				}); err != nil {
					c.err = err
				}
				c.done <- struct{}{}
			}
		}()
	}
	defer wg.Wait()
	var n int64
	for c := range ordered {
		<-c.done
		if c.err != nil {
			cancel()
			drain(ordered)
			return n, c.err
		}
		if len(c.out) > 0 {
			if err := out(c.out); err != nil {
				cancel()
				drain(ordered)
				return n, err
			}
		}
		n += c.n
		free <- c
	}
	if readErr != nil {
		return n, readErr
	}
	return n, ctx.Err()
}

// drain waits for the chunks in flight after a failure, so that no worker
// is left writing to one.
func drain(ordered chan *chunk) {
	for c := range ordered {
		<-c.done
	}
}

// decryptInto is Decrypt into e, decrypting into plain (returned for
// reuse) with the row's additional data ad.
func decryptInto(keys *seal.AccountKeys, account string, r *stele.EventRow, ad, plain []byte, e *stele.Event) ([]byte, error) {
	plain, err := keys.OpenAppend(plain, r.KeyVersion, r.Seq, r.Payload, ad)
	if err != nil {
		return plain, fmt.Errorf("event %d of account %s: %w", r.Seq, account, err)
	}
	*e = stele.Event{
		ID: stele.EventID(r.AccountID, r.Seq), Seq: r.Seq, Account: account,
		Time: record.Time(r.Time), ReceivedAt: record.Time(r.ReceivedAt),
		Action: r.Action, Category: r.Category, Outcome: r.Outcome,
	}
	if err := record.DecodePayload(plain, e); err != nil {
		return plain, fmt.Errorf("event %d of account %s: %w", r.Seq, account, err)
	}
	return plain, nil
}
