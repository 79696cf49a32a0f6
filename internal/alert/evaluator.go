package alert

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/audit"
	"github.com/stele-audit/stele/internal/notify"
)

// Defaults of the evaluator.
const (
	// DefaultPoll is how often the evaluator looks for matches committed
	// by other nodes; this node's own commits wake it at once.
	DefaultPoll = 500 * time.Millisecond
	// matchPage is the most matching events one account gives one round.
	matchPage = 2000
	// pruneEvery spaces the deletions of matches no window needs.
	pruneEvery = 30 * time.Second
)

// EventReader returns an account's event, decrypted (search.Service).
type EventReader interface {
	Event(ctx context.Context, account *stele.Account, seq int64) (*stele.Event, error)
}

// Retention gives the time (Unix µs) before which an account's events are
// past their retention, 0 for none (search.Service.RetentionFloor).
type Retention interface {
	RetentionFloor(ctx context.Context, account *stele.Account) (int64, error)
}

// AccountReader returns an account by id.
type AccountReader interface {
	Account(ctx context.Context, id int64) (*stele.Account, error)
}

// Evaluator turns matches into firings. Run it on one node at a time (the
// leader of job "alerts"): it keeps each rule's windows in memory, rebuilt
// from the stored matches and firings when it starts.
type Evaluator struct {
	Store    stele.AlertStore
	Sealer   Sealer
	Accounts AccountReader
	Events   EventReader
	Audit    *audit.Recorder
	// Matcher wakes the evaluator when this process commits matches.
	Matcher *Matcher
	// Delivered, when set, is told that a round stored deliveries.
	Delivered func()
	// Retention, when set, gives each account's retention floor (Unix µs):
	// a match of an event already older (a back-fill not yet purged) is
	// not counted, as no read shows the event (search.Service).
	Retention Retention
	Poll      time.Duration
	Now       func() time.Time
	Logger    *slog.Logger

	gen     int64
	rules   map[string]*ruleState // by id
	byKey   map[int64]*ruleState
	byAcct  map[int64][]*ruleState
	cursors map[int64]int64
	pruned  time.Time
}

type ruleState struct {
	rule   *stele.AlertRule
	dests  int
	groups map[int64]*group
	// pending gathers a rule without threshold's matches of one round.
	pending *stele.AlertFiring
}

func (e *Evaluator) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

// Run evaluates until ctx is done. An error means its state may be
// behind the store's; the leadership calls it again, and it starts afresh
// from the store.
func (e *Evaluator) Run(ctx context.Context) error {
	if err := e.start(ctx); err != nil {
		return err
	}
	poll := e.Poll
	if poll <= 0 {
		poll = DefaultPoll
	}
	var wake <-chan struct{}
	if e.Matcher != nil {
		wake = e.Matcher.wake
	}
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		case <-t.C:
		}
		if err := e.Round(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		t.Reset(poll)
	}
}

// start reads the rules and cursors and rebuilds every window.
func (e *Evaluator) start(ctx context.Context) error {
	e.rules, e.byKey, e.byAcct, e.gen = map[string]*ruleState{}, map[int64]*ruleState{}, map[int64][]*ruleState{}, -1
	cursors, err := e.Store.AlertCursors(ctx)
	if err != nil {
		return err
	}
	e.cursors = cursors
	return e.loadRules(ctx)
}

// loadRules reads the enabled rules when their generation has moved,
// keeping the state of rules unchanged since and rebuilding the others'.
func (e *Evaluator) loadRules(ctx context.Context) error {
	gen, err := e.Store.AlertRuleGeneration(ctx)
	if err != nil || gen == e.gen {
		return err
	}
	rules, gen, err := e.Store.EnabledAlertRules(ctx)
	if err != nil {
		return err
	}
	next := map[string]*ruleState{}
	byKey := map[int64]*ruleState{}
	byAcct := map[int64][]*ruleState{}
	for _, r := range rules {
		st, ok := e.rules[r.ID]
		if !ok || !st.rule.UpdatedAt.Equal(r.UpdatedAt) {
			if st, err = e.rebuild(ctx, r); err != nil {
				return err
			}
		}
		next[r.ID], byKey[r.Key] = st, st
		byAcct[r.AccountID] = append(byAcct[r.AccountID], st)
	}
	e.rules, e.byKey, e.byAcct, e.gen = next, byKey, byAcct, gen
	return nil
}

// rebuild makes a rule's state from the store: its matches already read
// that a window may still count, and its groups' last firings.
func (e *Evaluator) rebuild(ctx context.Context, r *stele.AlertRule) (*ruleState, error) {
	ds, err := openDestinations(ctx, e.Sealer, r.AccountID, r.Destinations)
	if err != nil {
		return nil, fmt.Errorf("alert: rule %s: %w", r.ID, err)
	}
	st := &ruleState{rule: r, dests: len(ds), groups: map[int64]*group{}}
	now := e.now()
	span := max(r.Cooldown, r.LongestWindow()) + stele.MaxFutureSkew
	firings, err := e.Store.AlertFirings(ctx, r.AccountID, r.ID, now.Add(-span), 10_000)
	if err != nil {
		return nil, err
	}
	for _, f := range slices.Backward(firings) { // oldest first: the newest ends up on top
		g := st.group(f.Group)
		g.lastFired, g.consumed = f.FiredAt, max(g.consumed, f.LastSeq)
	}
	if r.Threshold == nil {
		return st, nil
	}
	cursor, ok := e.cursors[r.AccountID]
	if !ok {
		return st, nil
	}
	ms, err := e.Store.RuleMatches(ctx, r.AccountID, r.Key, cursor, now.Add(-r.Threshold.Window-stele.MaxFutureSkew).UnixMicro())
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		st.group(m.Group).add(point{m.Seq, m.Time}, r.Threshold.Window)
	}
	return st, nil
}

func (st *ruleState) group(token int64) *group {
	g := st.groups[token]
	if g == nil {
		g = newGroup()
		st.groups[token] = g
	}
	return g
}

// Round reads every account's new matches, fires what they make fire, and
// stores the firings, their deliveries and the new cursors at once; then
// it records alert.fired for every firing not yet recorded.
func (e *Evaluator) Round(ctx context.Context) error {
	if e.rules == nil {
		if err := e.start(ctx); err != nil {
			return err
		}
	}
	if err := e.loadRules(ctx); err != nil {
		return err
	}
	accounts := slices.Sorted(maps.Keys(e.byAcct))
	heads, err := e.Store.AlertHeads(ctx, accounts)
	if err != nil {
		return err
	}
	now := e.now()
	round := &stele.AlertRound{Cursors: map[int64]int64{}}
	for _, acct := range accounts {
		from := e.cursors[acct]
		head := heads[acct]
		if head <= from {
			continue
		}
		ms, err := e.Store.AlertMatches(ctx, acct, from, head, matchPage)
		if err != nil {
			return err
		}
		to := head
		if events := distinctSeqs(ms); events == matchPage {
			to = ms[len(ms)-1].Seq + 1 // a full page: go on from there next round
		}
		floor := int64(0)
		if e.Retention != nil && len(ms) > 0 {
			if floor, err = e.Retention.RetentionFloor(ctx, &stele.Account{ID: acct}); err != nil {
				return err
			}
		}
		for _, m := range ms {
			if m.Time < floor {
				continue // past retention: read nowhere, alerted on by no rule
			}
			if st := e.byKey[m.Rule]; st != nil && st.rule.AccountID == acct {
				st.match(m, now, round)
			}
		}
		for _, st := range e.byAcct[acct] {
			st.flush(round)
		}
		round.Cursors[acct] = to
	}
	if now.Sub(e.pruned) >= pruneEvery {
		for _, acct := range accounts {
			longest := time.Duration(0)
			for _, st := range e.byAcct[acct] {
				longest = max(longest, st.rule.LongestWindow())
				st.forget(now)
			}
			cursor := e.cursors[acct]
			if c, ok := round.Cursors[acct]; ok {
				cursor = c
			}
			round.Prune = append(round.Prune, stele.AlertPrune{AccountID: acct, BeforeSeq: cursor,
				BeforeTime: now.Add(-longest - stele.MaxFutureSkew).UnixMicro()})
		}
		e.pruned = now
	}
	if len(round.Cursors) > 0 || len(round.Prune) > 0 {
		for _, f := range round.Firings {
			for i := range e.rules[f.RuleID].dests {
				round.Deliveries = append(round.Deliveries, &stele.AlertDelivery{ID: notify.NewDeliveryID(), AccountID: f.AccountID,
					FiringID: f.ID, Destination: i, State: stele.DeliveryPending, NextAttempt: now, CreatedAt: now, UpdatedAt: now})
			}
		}
		if err := e.Store.CommitAlertRound(ctx, round); err != nil {
			e.rules = nil // the windows are ahead of the store: start afresh
			return err
		}
		maps.Copy(e.cursors, round.Cursors)
		if len(round.Deliveries) > 0 && e.Delivered != nil {
			e.Delivered()
		}
	}
	return e.recordFirings(ctx)
}

// distinctSeqs counts the events of matches ordered by seq.
func distinctSeqs(ms []stele.AlertMatch) int {
	n := 0
	for i, m := range ms {
		if i == 0 || ms[i-1].Seq != m.Seq {
			n++
		}
	}
	return n
}

// match counts one match of st's rule.
func (st *ruleState) match(m stele.AlertMatch, now time.Time, round *stele.AlertRound) {
	r := st.rule
	if r.Threshold == nil {
		g := st.group(0)
		if m.Seq <= g.consumed || g.cooling(now, r.Cooldown) {
			return
		}
		if st.pending == nil {
			st.pending = st.firing(now, 0)
		}
		f := st.pending
		f.Count++
		f.LastSeq = m.Seq
		f.Seqs = append(f.Seqs, m.Seq)
		if len(f.Seqs) > stele.MaxAlertFiringSeqs {
			f.Seqs = f.Seqs[1:]
		}
		return
	}
	g := st.group(m.Group)
	g.add(point{m.Seq, m.Time}, r.Threshold.Window)
	if len(g.points) < r.Threshold.Count || g.cooling(now, r.Cooldown) {
		return
	}
	f := st.firing(now, m.Group)
	f.Count, f.Seqs, f.WindowStart, f.WindowEnd = g.fire(now, r.Threshold.Window, m.Seq)
	f.LastSeq = m.Seq
	round.Firings = append(round.Firings, f)
}

// forget drops the groups that hold nothing a later match needs: no
// match a window still counts, no cooldown running. A rule counting per
// ip would otherwise keep every address it ever saw.
func (st *ruleState) forget(now time.Time) {
	horizon := now.Add(-st.rule.LongestWindow() - stele.MaxFutureSkew).UnixMicro()
	for token, g := range st.groups {
		if g.cooling(now, st.rule.Cooldown) {
			continue
		}
		if len(g.points) == 0 || g.newest < horizon {
			delete(st.groups, token)
		}
	}
}

// flush ends a round for st: a rule without threshold fires once for all
// its matches of the round.
func (st *ruleState) flush(round *stele.AlertRound) {
	f := st.pending
	if f == nil {
		return
	}
	st.pending = nil
	g := st.group(0)
	g.lastFired, g.consumed = f.FiredAt, f.LastSeq
	round.Firings = append(round.Firings, f)
}

func (st *ruleState) firing(now time.Time, token int64) *stele.AlertFiring {
	r := st.rule
	return &stele.AlertFiring{ID: NewFiringID(), AccountID: r.AccountID, RuleID: r.ID, RuleName: r.Name, Query: r.Query,
		Threshold: r.Threshold, Destinations: r.Destinations, Group: token, FiredAt: now.UTC().Truncate(stele.TimeUnit)}
}

// NewFiringID returns a new firing id: "alr_" and 100 random bits.
func NewFiringID() string { return stele.AlertFiringIDPrefix + strings.ToLower(rand.Text()[:20]) }

// recordFirings records alert.fired for the firings not yet recorded: a
// firing is stored first, so a crash between the two loses no record, and
// the record's idempotency key keeps a retried one from being stored twice.
func (e *Evaluator) recordFirings(ctx context.Context) error {
	fs, err := e.Store.UnrecordedAlertFirings(ctx, 100)
	if err != nil {
		return err
	}
	for _, f := range fs {
		acct, err := e.Accounts.Account(ctx, f.AccountID)
		if err != nil {
			return err
		}
		rec := audit.AlertFiring{ID: f.ID, RuleID: f.RuleID, RuleName: f.RuleName, Count: f.Count}
		for _, seq := range f.Seqs {
			rec.EventIDs = append(rec.EventIDs, stele.EventID(f.AccountID, seq))
		}
		if f.Threshold != nil && f.Threshold.GroupBy != "" {
			rec.GroupBy = f.Threshold.GroupBy
			rec.Group = groupValue(ctx, e.Events, acct, f)
		}
		if err := e.Audit.AlertFired(ctx, acct.Name, rec); err != nil {
			return err
		}
		if err := e.Store.MarkAlertFiringRecorded(ctx, f.AccountID, f.ID); err != nil {
			return err
		}
	}
	return nil
}

// groupValue returns, for people, the value a firing's group stands for:
// the actor's id or email, the ip or the source's id, read from its newest
// triggering event ("" when that event is gone).
func groupValue(ctx context.Context, events EventReader, acct *stele.Account, f *stele.AlertFiring) string {
	if f.Threshold == nil || f.Threshold.GroupBy == "" || len(f.Seqs) == 0 || events == nil {
		return ""
	}
	ev, err := events.Event(ctx, acct, f.Seqs[len(f.Seqs)-1])
	if err != nil {
		return ""
	}
	switch f.Threshold.GroupBy {
	case stele.GroupByActor:
		if ev.Actor != nil {
			if ev.Actor.ID != "" {
				return ev.Actor.ID
			}
			return ev.Actor.Email
		}
	case stele.GroupByIP:
		return ev.IP
	case stele.GroupBySource:
		if ev.Source != nil {
			return ev.Source.ID
		}
	}
	return ""
}
