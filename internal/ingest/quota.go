package ingest

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stele-audit/stele"
)

// Quotas enforces the accounts' ingest quotas (stele.IngestQuota): a token
// bucket of events and one of body bytes per account, in this process. A
// request takes what it needs from the buckets of every account it writes
// to, or nothing: a request any bucket cannot cover yet is refused whole,
// with the time after which it would pass. Service.Record (Stele's own
// events) never passes through here.
//
// The buckets are each process's own: on PostgreSQL every node enforces
// the quota on the requests it receives. An account's settings are read
// from the store when first needed and again once they are older than
// QuotaConfig.Reread, so a change made with the CLI on the shared store
// reaches every node within that time.
type Quotas struct {
	accounts stele.AccountStore
	types    []stele.AccountType
	reread   time.Duration
	now      func() time.Time

	mu      sync.Mutex
	limits  map[int64]*limiter
	start   time.Time                // of the current refusal window
	window  map[int64]*RefusedWindow // refusals since start, by account
	refused map[refusedKey]*Refused  // since the process started
}

// QuotaConfig configures Quotas. Zero values take defaults.
type QuotaConfig struct {
	Types  []stele.AccountType // stele.DefaultAccountTypes when nil
	Reread time.Duration       // default 10 s
	Now    func() time.Time
}

// NewQuotas returns the quotas of the accounts in accounts.
func NewQuotas(accounts stele.AccountStore, cfg QuotaConfig) *Quotas {
	if cfg.Types == nil {
		cfg.Types = stele.DefaultAccountTypes
	}
	if cfg.Reread <= 0 {
		cfg.Reread = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Quotas{accounts: accounts, types: cfg.Types, reread: cfg.Reread, now: cfg.Now,
		limits: map[int64]*limiter{}, start: cfg.Now(), window: map[int64]*RefusedWindow{}, refused: map[refusedKey]*Refused{}}
}

// limiter is one account's buckets and the settings they follow.
type limiter struct {
	account string
	quota   stele.IngestQuota
	readAt  time.Time
	reading bool // a request is reading the settings again
	events  bucket
	bytes   bucket
	// perEvent is the mean size of the account's events in the bodies it
	// sent (bytes, a moving average): admit estimates from it how many
	// events a body it has not read holds.
	perEvent float64
}

// bucket is a token bucket; the zero value is full.
type bucket struct {
	used float64 // tokens taken and not yet refilled, as of at
	at   time.Time
}

// level returns the tokens in the bucket at now, for rate and capacity.
func (b *bucket) level(now time.Time, rate, capacity float64) float64 {
	used := b.used
	if !b.at.IsZero() {
		used -= rate * now.Sub(b.at).Seconds()
	}
	return capacity - max(used, 0)
}

// set records level tokens at now.
func (b *bucket) set(now time.Time, level, capacity float64) {
	b.used, b.at = max(capacity-level, 0), now
}

// charge is what one request takes from one account's buckets.
type charge struct {
	accountID int64
	events    int64
	bytes     int64
}

// The quotas as refusals and metrics name them.
const (
	QuotaEvents = "events_per_second"
	QuotaBytes  = "bytes_per_second"
)

// take takes charges from their accounts' buckets, all or none. When a
// bucket cannot cover its charge it returns ETHROTTLED with the wait after
// which the request would pass, or ETOOLARGE when the charge is more than
// the full bucket holds.
func (q *Quotas) take(ctx context.Context, charges []charge) error {
	for _, c := range charges {
		if err := q.fresh(ctx, c.accountID); err != nil {
			return err
		}
	}
	now := q.now()
	q.mu.Lock()
	defer q.mu.Unlock()
	type level struct{ events, bytes float64 }
	levels := make([]level, len(charges))
	for i, c := range charges {
		l := q.limits[c.accountID]
		if l == nil { // the account is gone; the commit will say so
			continue
		}
		eq, bq := l.quota.EventsPerSecond, l.quota.BytesPerSecond
		ev := l.events.level(now, float64(eq), float64(l.quota.EventsBurst()))
		by := l.bytes.level(now, float64(bq), float64(l.quota.BytesBurst()))
		levels[i] = level{ev, by}
		var (
			wait     time.Duration
			exceeded []stele.FieldError
			quota    string
		)
		if eq > 0 && float64(c.events) > ev {
			if c.events > l.quota.EventsBurst() {
				q.refuseLocked(now, c, l, QuotaEvents)
				return overBurst(l, c, QuotaEvents)
			}
			wait = max(wait, secondsOf(float64(c.events)-ev, float64(eq)))
			exceeded = append(exceeded, quotaDetail(l, QuotaEvents))
			quota = QuotaEvents
		}
		if bq > 0 && float64(c.bytes) > by {
			if c.bytes > l.quota.BytesBurst() {
				q.refuseLocked(now, c, l, QuotaBytes)
				return overBurst(l, c, QuotaBytes)
			}
			wait = max(wait, secondsOf(float64(c.bytes)-by, float64(bq)))
			exceeded = append(exceeded, quotaDetail(l, QuotaBytes))
			if quota == "" {
				quota = QuotaBytes
			}
		}
		if exceeded != nil {
			q.refuseLocked(now, c, l, quota)
			return throttled(l, exceeded, wait)
		}
	}
	for i, c := range charges {
		l := q.limits[c.accountID]
		if l == nil {
			continue
		}
		if c.events > 0 && c.bytes > 0 {
			size := float64(c.bytes) / float64(c.events)
			if l.perEvent == 0 {
				l.perEvent = size
			}
			l.perEvent += (size - l.perEvent) / 8
		}
		if l.quota.EventsPerSecond > 0 {
			l.events.set(now, levels[i].events-float64(c.events), float64(l.quota.EventsBurst()))
		}
		if l.quota.BytesPerSecond > 0 {
			l.bytes.set(now, levels[i].bytes-float64(c.bytes), float64(l.quota.BytesBurst()))
		}
	}
	return nil
}

// give returns charges a request took but did not use (its events were
// not stored), so that a retry is not charged twice.
func (q *Quotas) give(charges []charge) {
	now := q.now()
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, c := range charges {
		l := q.limits[c.accountID]
		if l == nil {
			continue
		}
		ec, bc := float64(l.quota.EventsBurst()), float64(l.quota.BytesBurst())
		l.events.set(now, min(l.events.level(now, float64(l.quota.EventsPerSecond), ec)+float64(c.events), ec), ec)
		l.bytes.set(now, min(l.bytes.level(now, float64(l.quota.BytesPerSecond), bc)+float64(c.bytes), bc), bc)
	}
}

// fresh makes sure the account's settings were read within q.reread. While
// one request reads them again the others go on with the old ones.
func (q *Quotas) fresh(ctx context.Context, id int64) error {
	now := q.now()
	q.mu.Lock()
	l := q.limits[id]
	if l != nil && (l.reading || now.Sub(l.readAt) < q.reread) {
		q.mu.Unlock()
		return nil
	}
	if l != nil {
		l.reading = true
	}
	q.mu.Unlock()
	a, err := q.accounts.Account(ctx, id)
	q.mu.Lock()
	defer q.mu.Unlock()
	if l != nil {
		l.reading = false
	}
	switch {
	case stele.ErrorCode(err) == stele.ENOTFOUND:
		delete(q.limits, id)
		return nil
	case err != nil && l != nil:
		return nil // keep enforcing the settings last read
	case err != nil:
		return fmt.Errorf("read the ingest quota of account %d: %w", id, err)
	}
	if l = q.limits[id]; l == nil {
		l = &limiter{}
		q.limits[id] = l
	}
	l.account, l.quota, l.readAt = a.Name, a.IngestQuota(q.types), now
	return nil
}

func secondsOf(tokens, rate float64) time.Duration {
	return time.Duration(math.Ceil(tokens / rate * float64(time.Second)))
}

// RetryAfterSeconds is the whole seconds, at least 1, to wait out d.
func RetryAfterSeconds(d time.Duration) int64 {
	return max(int64(math.Ceil(d.Seconds())), 1)
}

func quotaDetail(l *limiter, quota string) stele.FieldError {
	if quota == QuotaEvents {
		return stele.FieldError{Field: stele.FieldIngestEventsPerSecond, Rule: "quota",
			Message: fmt.Sprintf("%d events a second, in bursts of up to %d", l.quota.EventsPerSecond, l.quota.EventsBurst())}
	}
	return stele.FieldError{Field: stele.FieldIngestBytesPerSecond, Rule: "quota",
		Message: fmt.Sprintf("%d bytes a second, in bursts of up to %d", l.quota.BytesPerSecond, l.quota.BytesBurst())}
}

func throttled(l *limiter, exceeded []stele.FieldError, wait time.Duration) error {
	msgs := make([]string, len(exceeded))
	for i, d := range exceeded {
		msgs[i] = d.Message
	}
	return &stele.Error{Code: stele.ETHROTTLED, RetryAfter: wait, Details: exceeded,
		Message: fmt.Sprintf("account %s is over its ingest quota (%s); nothing was stored: send the request again in %d s",
			l.account, joinAnd(msgs), RetryAfterSeconds(wait))}
}

func overBurst(l *limiter, c charge, quota string) error {
	d := quotaDetail(l, quota)
	d.Rule = "burst"
	n, unit, most := c.events, "events", l.quota.EventsBurst()
	if quota == QuotaBytes {
		n, unit, most = c.bytes, "bytes", l.quota.BytesBurst()
	}
	return &stele.Error{Code: stele.ETOOLARGE, Details: []stele.FieldError{d},
		Message: fmt.Sprintf("this request's %d %s for account %s are more than its ingest quota lets through at once (%s); nothing was stored: send at most %d %s a request",
			n, unit, l.account, d.Message, most, unit)}
}

func joinAnd(s []string) string {
	if len(s) == 2 {
		return s[0] + " and " + s[1]
	}
	return s[0]
}

// refusedKey names a count of Refused.
type refusedKey struct{ account, quota string }

// Refused counts the requests of one account that one quota refused since
// the process started.
type Refused struct {
	Account  string
	Quota    string // QuotaEvents or QuotaBytes
	Requests int64
	Events   int64
}

// RefusedWindow is what the quotas refused of one account within a window.
type RefusedWindow struct {
	Account     string
	Quota       stele.IngestQuota // the account's quota when last refused
	Requests    int64
	Events      int64
	Bytes       int64
	ByEvents    int64 // requests refused by the events quota
	ByBytes     int64 // requests refused by the bytes quota
	First, Last time.Time
}

// refuseLocked counts a refusal of c by quota; q.mu is held.
func (q *Quotas) refuseLocked(now time.Time, c charge, l *limiter, quota string) {
	k := refusedKey{l.account, quota}
	r := q.refused[k]
	if r == nil {
		r = &Refused{Account: l.account, Quota: quota}
		q.refused[k] = r
	}
	r.Requests++
	r.Events += c.events
	w := q.window[c.accountID]
	if w == nil {
		w = &RefusedWindow{Account: l.account, First: now}
		q.window[c.accountID] = w
	}
	w.Quota, w.Last = l.quota, now
	w.Requests++
	w.Events += c.events
	w.Bytes += c.bytes
	if quota == QuotaEvents {
		w.ByEvents++
	} else {
		w.ByBytes++
	}
}

// Refusals returns the counts of refused requests and their events since
// the process started, by account and quota, for the metrics.
func (q *Quotas) Refusals() []Refused {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]Refused, 0, len(q.refused))
	for _, r := range q.refused {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b Refused) int {
		return cmp.Or(strings.Compare(a.Account, b.Account), strings.Compare(a.Quota, b.Quota))
	})
	return out
}

// admit refuses, before a request's body is read, a request of bodyBytes
// bytes (-1 when unknown) for an account whose buckets could not take, now,
// those bytes or the events such a body holds (estimated from the sizes of
// the account's events so far, at least one): a producer that sends on after its quota is spent
// is then turned away without the server reading, decoding and validating
// what it sent, so its refused requests cost the other accounts almost
// nothing. It takes nothing from the buckets: a request it lets through is
// charged, or refused, by take.
func (q *Quotas) admit(ctx context.Context, accountID, bodyBytes int64) error {
	if err := q.fresh(ctx, accountID); err != nil {
		return err
	}
	now := q.now()
	q.mu.Lock()
	defer q.mu.Unlock()
	l := q.limits[accountID]
	if l == nil {
		return nil
	}
	c := charge{accountID: accountID, events: 1, bytes: max(bodyBytes, 0)}
	eq, bq := l.quota.EventsPerSecond, l.quota.BytesPerSecond
	var (
		wait     time.Duration
		exceeded []stele.FieldError
		quota    string
	)
	// The events of a body not yet read: at least one, and as many as the
	// account's events of this size would be, when a wait would let them
	// through.
	want := 1.0
	if l.perEvent > 0 && c.bytes > 0 {
		want = min(max(math.Floor(float64(c.bytes)/l.perEvent), 1), float64(l.quota.EventsBurst()))
	}
	if ev := l.events.level(now, float64(eq), float64(l.quota.EventsBurst())); eq > 0 && ev < want {
		wait = secondsOf(want-ev, float64(eq))
		exceeded = append(exceeded, quotaDetail(l, QuotaEvents))
		quota = QuotaEvents
	}
	// A body larger than the whole bucket is left to take, which answers
	// that no wait will let it pass.
	if by := l.bytes.level(now, float64(bq), float64(l.quota.BytesBurst())); bq > 0 && c.bytes <= l.quota.BytesBurst() && float64(c.bytes) > by {
		wait = max(wait, secondsOf(float64(c.bytes)-by, float64(bq)))
		exceeded = append(exceeded, quotaDetail(l, QuotaBytes))
		if quota == "" {
			quota = QuotaBytes
		}
	}
	if exceeded == nil {
		return nil
	}
	// The body was not read: its events are counted as estimated.
	c.events = int64(want)
	q.refuseLocked(now, c, l, quota)
	return throttled(l, exceeded, wait)
}
