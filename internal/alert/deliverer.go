package alert

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/audit"
	"github.com/stele-audit/stele/internal/notify"
	"github.com/stele-audit/stele/internal/recovery"
)

// Defaults of the deliverer.
const (
	// DefaultWorkers is how many deliveries to one destination (one
	// webhook or Slack host, or the mail server) are in flight at once.
	DefaultWorkers = 4
	// queuePerDestination bounds the deliveries waiting for one
	// destination's workers; the rest wait in the store.
	queuePerDestination = 256
	// maxIdle is the longest the deliverer sleeps without looking at the
	// store: deliveries made by another node's evaluator are found then.
	maxIdle = time.Second
)

// Deliverer sends due deliveries through notify, at least once: a delivery
// is marked delivered only after its destination accepted it, so one in
// flight when the process dies is sent again. Each destination has its own
// workers and queue, so a slow or failing one holds up only itself.
type Deliverer struct {
	Store    stele.AlertStore
	Sealer   Sealer
	Accounts AccountReader
	Events   EventReader
	Notifier *notify.Notifier
	Audit    *audit.Recorder
	// Backoff is the retry policy (notify.DefaultBackoff when zero);
	// its GiveUpAfter is how old a delivery gets before it fails.
	Backoff notify.Backoff
	Workers int
	Now     func() time.Time
	Logger  *slog.Logger

	wake     chan struct{}
	initOnce sync.Once
}

func (d *Deliverer) init() {
	d.initOnce.Do(func() { d.wake = make(chan struct{}, 1) })
}

// Wake tells the deliverer, without waiting, that deliveries are due.
func (d *Deliverer) Wake() {
	d.init()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *Deliverer) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

// Run delivers until ctx is done.
func (d *Deliverer) Run(ctx context.Context) error {
	d.init()
	workers := d.Workers
	if workers <= 0 {
		workers = DefaultWorkers
	}
	backoff := d.Backoff
	if backoff == (notify.Backoff{}) {
		backoff = notify.DefaultBackoff
	}
	var (
		mu       sync.Mutex
		inFlight = map[string]bool{}
		queues   = map[string]chan *stele.AlertDelivery{}
		wg       sync.WaitGroup
	)
	defer wg.Wait()
	done := func(id string) {
		mu.Lock()
		delete(inFlight, id)
		mu.Unlock()
		d.Wake()
	}
	queueFor := func(key string) chan *stele.AlertDelivery {
		q, ok := queues[key]
		if !ok {
			q = make(chan *stele.AlertDelivery, queuePerDestination)
			queues[key] = q
			rng := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
			var rngMu sync.Mutex
			for range workers {
				wg.Go(func() {
					for {
						select {
						case <-ctx.Done():
							return
						case dl := <-q:
							err := recovery.Call(func() error {
								return d.attempt(ctx, dl, backoff, func(n int64) int64 {
									rngMu.Lock()
									defer rngMu.Unlock()
									return rng.Int64N(n)
								})
							})
							if err != nil && ctx.Err() == nil {
								recovery.Log(d.Log(), slog.LevelError, "alert delivery attempt", err, "delivery", dl.ID)
								// Not the destination's doing (the store, a key): try
								// again later rather than at once.
								dl.NextAttempt = d.now().Add(backoff.First)
								_ = d.Store.UpdateAlertDelivery(ctx, dl)
							}
							done(dl.ID)
						}
					}
				})
			}
		}
		return q
	}
	for {
		due, err := d.Store.DueAlertDeliveries(ctx, d.now(), 500)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		for _, dl := range due {
			mu.Lock()
			busy := inFlight[dl.ID]
			mu.Unlock()
			if busy {
				continue
			}
			key, err := d.destinationKey(ctx, dl)
			if err != nil {
				d.Log().Warn("alert delivery: read its destination", "delivery", dl.ID, "err", err)
				key = "?"
			}
			select {
			case queueFor(key) <- dl:
				mu.Lock()
				inFlight[dl.ID] = true
				mu.Unlock()
			default: // that destination is backed up: the rest wait in the store
			}
		}
		wait := maxIdle
		if next, ok, err := d.Store.NextAlertDelivery(ctx); err == nil && ok {
			wait = min(wait, max(next.Sub(d.now()), 10*time.Millisecond))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-d.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// Log is the deliverer's logger.
func (d *Deliverer) Log() *slog.Logger {
	if d.Logger != nil {
		return d.Logger
	}
	return slog.Default()
}

// destinationKey names the destination a delivery goes to, for its queue:
// the type and host of a webhook or Slack URL; one queue for the mail
// server. It carries no secret.
func (d *Deliverer) destinationKey(ctx context.Context, dl *stele.AlertDelivery) (string, error) {
	dest, _, err := d.destination(ctx, dl)
	if err != nil {
		return "", err
	}
	if dest.Type == notify.TypeEmail {
		return "email", nil
	}
	u, err := url.Parse(dest.URL)
	if err != nil {
		return dest.Type, nil
	}
	return dest.Type + " " + u.Host, nil
}

func (d *Deliverer) destination(ctx context.Context, dl *stele.AlertDelivery) (notify.Destination, *stele.AlertFiring, error) {
	f, err := d.Store.AlertFiring(ctx, dl.AccountID, dl.FiringID)
	if err != nil {
		return notify.Destination{}, nil, err
	}
	ds, err := OpenDestinations(ctx, d.Sealer, dl.AccountID, f.Destinations, d.now())
	if err != nil {
		return notify.Destination{}, nil, err
	}
	if dl.Destination < 0 || dl.Destination >= len(ds) {
		return notify.Destination{}, nil, errors.New("alert: the delivery's destination is out of range")
	}
	return ds[dl.Destination], f, nil
}

// attempt makes one attempt of dl and stores its outcome.
func (d *Deliverer) attempt(ctx context.Context, dl *stele.AlertDelivery, backoff notify.Backoff, int64n func(int64) int64) error {
	dest, f, err := d.destination(ctx, dl)
	if err != nil {
		return err
	}
	acct, err := d.Accounts.Account(ctx, dl.AccountID)
	if err != nil {
		return err
	}
	if dest.Type == notify.TypeEmail && dl.Pending != nil {
		var to []string
		for _, i := range dl.Pending {
			if i >= 0 && i < len(dest.To) {
				to = append(to, dest.To[i])
			}
		}
		dest.To = to
	}
	a := AlertOf(ctx, d.Events, acct, f)
	err = d.Notifier.Deliver(ctx, notify.Delivery{ID: dl.ID, Alert: a, Destination: dest})
	if ctx.Err() != nil {
		return nil // cut short by the lead ending: the next leader sends it
	}
	now := d.now()
	dl.Attempts++
	if err == nil {
		dl.State, dl.LastError, dl.Pending = stele.DeliveryDelivered, "", nil
		return d.Store.UpdateAlertDelivery(ctx, dl)
	}
	dl.LastError = clip(err.Error(), 1000)
	var de *notify.DeliveryError
	if errors.As(err, &de) && dest.Type == notify.TypeEmail && len(de.Pending) > 0 {
		dl.Pending = indexesOf(dest.To, de.Pending, dl.Pending)
	}
	wait, retry := backoff.Next(err, dl.Attempts, dl.CreatedAt, now, randFunc(int64n))
	if retry {
		dl.NextAttempt = now.Add(wait)
		return d.Store.UpdateAlertDelivery(ctx, dl)
	}
	// Recorded before the delivery is marked failed: a crash between the
	// two sends it again and records once more, which the record's
	// idempotency key absorbs.
	rule := &stele.Ref{Type: "alert_rule", ID: f.RuleID, Name: f.RuleName}
	if err := d.Audit.AlertDeliveryFailed(ctx, acct.Name, dl.ID, f.ID, rule, dest.String(), dl.Attempts, dl.LastError); err != nil {
		return err
	}
	dl.State = stele.DeliveryFailed
	return d.Store.UpdateAlertDelivery(ctx, dl)
}

// indexesOf returns the indexes, in the destination's full list, of the
// addresses still pending; sent were the indexes tried (nil for all).
func indexesOf(tried []string, pending []string, sent []int) []int {
	var out []int
	for j, addr := range tried {
		if !slices.Contains(pending, addr) {
			continue
		}
		if sent != nil {
			out = append(out, sent[j])
		} else {
			out = append(out, j)
		}
	}
	return out
}

type randFunc func(int64) int64

func (f randFunc) Int64N(n int64) int64 { return f(n) }

// AlertOf builds what a firing's destinations receive: its rule, count,
// group and window, and its triggering events decrypted from the store
// (those a retention purge has taken are left out).
func AlertOf(ctx context.Context, events EventReader, acct *stele.Account, f *stele.AlertFiring) *notify.Alert {
	a := &notify.Alert{ID: f.ID, Account: acct.Name, Count: f.Count, FiredAt: f.FiredAt,
		Rule: notify.Rule{ID: f.RuleID, Name: f.RuleName, Query: f.Query}}
	if t := f.Threshold; t != nil {
		a.Rule.Threshold = &notify.Threshold{Count: t.Count, Window: t.Window, GroupBy: t.GroupBy}
		a.WindowStart, a.WindowEnd = time.UnixMicro(f.WindowStart).UTC(), time.UnixMicro(f.WindowEnd).UTC()
		if t.GroupBy != "" {
			a.Group = &notify.Group{By: t.GroupBy, Value: groupValue(ctx, events, acct, f)}
		}
	}
	for _, seq := range f.Seqs {
		if events == nil {
			break
		}
		e, err := events.Event(ctx, acct, seq)
		if err != nil {
			continue
		}
		a.Events = append(a.Events, notify.EventOf(e))
	}
	return a
}
