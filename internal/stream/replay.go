package stream

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/forward"
	"github.com/stele-audit/stele/internal/leader"
	"github.com/stele-audit/stele/internal/recovery"
	"github.com/stele-audit/stele/internal/search"
)

// runReplays runs the stream's replays one after the other, oldest first,
// each on a sender of its own beside the live one, until ctx is done. A
// replay walks the accounts' seqs from the oldest kept event to the head
// it found when it reached the account, and sends the events whose time
// is in its window and that match the stream's query.
func (f *Forwarder) runReplays(ctx context.Context, s *stele.Stream, q stele.Query, dest forward.Destination) {
	failures := 0
	for ctx.Err() == nil {
		changed := f.changed.wait()
		rp, err := f.nextReplay(ctx, s)
		if err == nil && rp != nil {
			err = recovery.Call(func() error { return f.replay(ctx, s, q, dest, rp) })
		}
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			failures++
			recovery.Log(f.Logger, slog.LevelWarn, "stream replay", err, "stream", s.ID)
			leader.Sleep(ctx, forward.Backoff(failures, f.Config.MinBackoff, f.Config.MaxBackoff))
			continue
		}
		failures = 0
		if rp != nil {
			continue // there may be another
		}
		t := time.NewTimer(f.Config.Refresh)
		select {
		case <-ctx.Done():
		case <-changed:
		case <-t.C:
		}
		t.Stop()
	}
}

// nextReplay returns the stream's oldest replay still to do, or nil.
func (f *Forwarder) nextReplay(ctx context.Context, s *stele.Stream) (*stele.StreamReplay, error) {
	replays, err := f.Store.StreamReplays(ctx, s.ID, 100)
	if err != nil {
		return nil, err
	}
	for i := len(replays) - 1; i >= 0; i-- {
		if st := replays[i].State; st == stele.ReplayPending || st == stele.ReplayRunning {
			return replays[i], nil
		}
	}
	return nil, nil
}

// replay runs rp to its end. Progress is stored after every batch, so a
// replay cut short (a restart, a new leader) goes on where it stopped.
func (f *Forwarder) replay(ctx context.Context, s *stele.Stream, q stele.Query, dest forward.Destination, rp *stele.StreamReplay) error {
	sender, err := forward.New(dest, f.Options)
	if err != nil {
		return err
	}
	defer sender.Close()
	accounts, err := f.replayAccounts(ctx, s)
	if err != nil {
		return err
	}
	if rp.State == stele.ReplayPending {
		rp.State = stele.ReplayRunning
		if err := f.Store.UpdateStreamReplay(ctx, rp); err != nil {
			return err
		}
	}
	f.Logger.Info("stream replay", "stream", s.ID, "replay", rp.ID, "after", rp.After, "before", rp.Before)
	after, before := rp.After.UnixMicro(), rp.Before.UnixMicro()
	failures := 0
	var events []*stele.Event
	for _, a := range accounts {
		if a.ID < rp.CursorAccount {
			continue
		}
		if a.ID != rp.CursorAccount {
			head, err := f.Store.CurrentHead(ctx, a.ID)
			if err != nil {
				return err
			}
			rp.CursorAccount, rp.NextSeq, rp.UntilSeq = a.ID, 0, head.Size
			if err := f.Store.UpdateStreamReplay(ctx, rp); err != nil {
				return err
			}
		}
		keys, err := f.Keys.Account(ctx, a.ID)
		if err != nil {
			return err
		}
		floor, err := f.floor(ctx, a.ID)
		if err != nil {
			return err
		}
		for rp.NextSeq < rp.UntilSeq {
			rows, err := f.Store.RowsBySeq(ctx, a.ID, rp.NextSeq, int(min(int64(f.Config.Batch), rp.UntilSeq-rp.NextSeq)))
			if err != nil {
				return err
			}
			if len(rows) == 0 {
				break
			}
			events = events[:0]
			last := int64(-1)
			for i := range rows {
				r := &rows[i]
				if r.Seq >= rp.UntilSeq {
					break
				}
				last = r.Seq
				// The time is in clear: only the window's events are opened,
				// and none past retention.
				if r.Time < after || r.Time >= before || r.Time < floor {
					continue
				}
				e, err := search.Decrypt(keys, a.Name, r)
				if err != nil {
					return fmt.Errorf("read event %d of account %s: %w", r.Seq, a.Name, err)
				}
				if search.Matches(e, q) {
					events = append(events, e)
				}
			}
			for len(events) > 0 {
				err := sender.Send(ctx, events)
				if err == nil {
					break
				}
				if ctx.Err() != nil {
					return nil
				}
				if forward.Permanent(err) {
					return f.finishReplay(ctx, rp, stele.ReplayFailed, ErrorText(err))
				}
				failures++
				rp.Error = ErrorText(err)
				f.Logger.Warn("stream replay: batch failed; it is sent again", "stream", s.ID, "replay", rp.ID, "err", rp.Error)
				leader.Sleep(ctx, forward.Backoff(failures, f.Config.MinBackoff, f.Config.MaxBackoff))
			}
			failures = 0
			rp.NextSeq, rp.Sent, rp.Error = last+1, rp.Sent+int64(len(events)), ""
			if last < 0 { // the rest of the account was purged
				rp.NextSeq = rp.UntilSeq
			}
			if err := f.Store.UpdateStreamReplay(ctx, rp); err != nil {
				return err
			}
		}
	}
	return f.finishReplay(ctx, rp, stele.ReplayDone, "")
}

func (f *Forwarder) finishReplay(ctx context.Context, rp *stele.StreamReplay, state, msg string) error {
	rp.State, rp.Error, rp.FinishedAt = state, msg, time.Now().UTC().Truncate(stele.TimeUnit)
	if err := f.Store.UpdateStreamReplay(ctx, rp); err != nil {
		return err
	}
	f.Logger.Info("stream replay finished", "stream", rp.StreamID, "replay", rp.ID, "state", state, "sent", rp.Sent)
	return nil
}

// replayAccounts are the accounts a replay of s walks, by id.
func (f *Forwarder) replayAccounts(ctx context.Context, s *stele.Stream) ([]*stele.Account, error) {
	if !s.AllAccounts {
		a, err := f.Store.Account(ctx, s.AccountID)
		if err != nil {
			return nil, err
		}
		return []*stele.Account{a}, nil
	}
	all, err := f.Store.Accounts(ctx)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(all, func(a, b *stele.Account) int { return cmp.Compare(a.ID, b.ID) })
	return all, nil
}
