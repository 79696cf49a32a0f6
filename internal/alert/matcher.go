package alert

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/ingest"
	"github.com/stele-audit/stele/internal/query"
	"github.com/stele-audit/stele/internal/seal"
	"github.com/stele-audit/stele/internal/search"
)

// RuleSource is where the Matcher reads the enabled rules.
type RuleSource interface {
	EnabledAlertRules(ctx context.Context) ([]*stele.AlertRule, int64, error)
}

// Matcher gives the ingest path the enabled rules, compiled once per rule
// generation (ingest.AlertMatcher). The writer's commit confirms the
// generation an event was matched at, so a rule changed by any process or
// node counts from the next commit on.
type Matcher struct {
	source RuleSource
	now    func() time.Time

	mu   sync.Mutex
	set  *RuleSet      // nil until loaded
	load chan struct{} // closed when the load in flight ends; nil when none
	err  error

	wake chan struct{} // told of commits that stored matches
}

var _ ingest.AlertMatcher = (*Matcher)(nil)

// NewMatcher returns a Matcher over source.
func NewMatcher(source RuleSource) *Matcher {
	return &Matcher{source: source, now: time.Now, wake: make(chan struct{}, 1)}
}

// Rules returns the compiled rules, reading them again when the set held
// is older than atLeast (or none is held). Concurrent callers share one read.
func (m *Matcher) Rules(ctx context.Context, atLeast int64) (ingest.AlertRules, error) {
	for {
		m.mu.Lock()
		if m.set != nil && m.set.gen >= atLeast {
			set := m.set
			m.mu.Unlock()
			return set, nil
		}
		if m.load == nil {
			done := make(chan struct{})
			m.load = done
			m.mu.Unlock()
			set, err := m.read(context.WithoutCancel(ctx))
			m.mu.Lock()
			if err == nil && (m.set == nil || set.gen >= m.set.gen) {
				m.set = set
			}
			m.err, m.load = err, nil
			m.mu.Unlock()
			close(done)
			if err != nil {
				return nil, err
			}
			continue
		}
		done := m.load
		m.mu.Unlock()
		select {
		case <-done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		m.mu.Lock()
		err := m.err
		m.mu.Unlock()
		if err != nil {
			return nil, err
		}
	}
}

// Invalidate makes the next Rules read the rules again: this process
// changed one.
func (m *Matcher) Invalidate() {
	m.mu.Lock()
	if m.set != nil {
		m.set = &RuleSet{gen: -1, accounts: m.set.accounts}
	}
	m.mu.Unlock()
}

// Matched is told that a commit stored matches: the evaluator wakes.
func (m *Matcher) Matched() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

func (m *Matcher) read(ctx context.Context) (*RuleSet, error) {
	rules, gen, err := m.source.EnabledAlertRules(ctx)
	if err != nil {
		return nil, err
	}
	return Compile(rules, gen, m.now()), nil
}

// RuleSet is the enabled rules of every account, compiled: each account's
// rules indexed by the exact actions and the action prefixes their queries
// require, so that an event is checked only against the rules that can
// match it.
type RuleSet struct {
	gen      int64
	accounts map[int64]*accountRules
}

type accountRules struct {
	exact    map[string][]*compiled
	prefixes map[string][]*compiled
	lens     []int // the distinct prefix lengths, ascending
	always   []*compiled
	n        int // rules, for the seen set
}

type compiled struct {
	idx     int
	key     int64
	q       stele.Query
	groupBy string
}

// Compile compiles rules at generation gen. A rule whose query no longer
// parses (it was saved by an older version) matches nothing.
func Compile(rules []*stele.AlertRule, gen int64, now time.Time) *RuleSet {
	set := &RuleSet{gen: gen, accounts: map[int64]*accountRules{}}
	for _, r := range rules {
		q, err := query.Parse(r.Query, now)
		if err != nil || !q.After.IsZero() || !q.Before.IsZero() {
			continue
		}
		ar := set.accounts[r.AccountID]
		if ar == nil {
			ar = &accountRules{exact: map[string][]*compiled{}, prefixes: map[string][]*compiled{}}
			set.accounts[r.AccountID] = ar
		}
		c := &compiled{idx: ar.n, key: r.Key, q: q}
		if r.Threshold != nil {
			c.groupBy = r.Threshold.GroupBy
		}
		ar.n++
		ar.index(c)
	}
	return set
}

// index files c under the actions its query requires (requiredActions):
// any event it matches has one of them. A query without such actions is
// checked against every event.
func (ar *accountRules) index(c *compiled) {
	values := requiredActions(c.q.Terms)
	if values == nil {
		ar.always = append(ar.always, c)
		return
	}
	slices.Sort(values)
	for _, v := range slices.Compact(values) {
		if p, ok := strings.CutSuffix(v, "*"); ok {
			ar.prefixes[p] = append(ar.prefixes[p], c)
			if !slices.Contains(ar.lens, len(p)) {
				ar.lens = append(ar.lens, len(p))
				slices.Sort(ar.lens)
			}
		} else {
			ar.exact[v] = append(ar.exact[v], c)
		}
	}
}

// requiredActions returns actions and action prefixes one of which every
// event matching terms (which AND together) has: the values of the first
// positive action term, or else those of every alternative of a positive
// group (action:a OR (action:b actor:x)); nil when there are none.
func requiredActions(terms []stele.Term) []string {
	for _, t := range terms {
		if t.Field == stele.FieldAction && !t.Negate {
			return slices.Clone(t.Values)
		}
	}
	for _, t := range terms {
		if t.Field != stele.FieldGroup || t.Negate {
			continue
		}
		var values []string
		for _, c := range t.Any {
			vs := requiredActions(c)
			if vs == nil {
				values = nil
				break
			}
			values = append(values, vs...)
		}
		if values != nil {
			return values
		}
	}
	return nil
}

// Generation is the rule generation the set was read at.
func (s *RuleSet) Generation() int64 { return s.gen }

// Empty reports whether no account has an enabled rule.
func (s *RuleSet) Empty() bool { return len(s.accounts) == 0 }

// Match appends to dst a match for each of accountID's rules that e
// matches, with the blind token of the value the rule counts per. Seq is
// left for the writer to fill in.
func (s *RuleSet) Match(dst []stele.AlertMatch, accountID int64, e *stele.Event, tokens seal.RowTokens) []stele.AlertMatch {
	ar := s.accounts[accountID]
	if ar == nil {
		return dst
	}
	var seen [(stele.MaxAlertRules + 63) / 64]uint64
	try := func(cs []*compiled) {
		for _, c := range cs {
			if c.idx < len(seen)*64 {
				if seen[c.idx/64]&(1<<(c.idx%64)) != 0 {
					continue
				}
				seen[c.idx/64] |= 1 << (c.idx % 64)
			}
			if search.Matches(e, c.q) {
				dst = append(dst, stele.AlertMatch{AccountID: accountID, Rule: c.key, Time: e.Time.UnixMicro(), Group: groupToken(c.groupBy, tokens)})
			}
		}
	}
	try(ar.exact[e.Action])
	for _, n := range ar.lens {
		if n > len(e.Action) {
			break
		}
		try(ar.prefixes[e.Action[:n]])
	}
	try(ar.always)
	return dst
}

// groupToken is the token of the value a rule counts per: the actor's id,
// or its email when it has no id; the ip; the source.
func groupToken(groupBy string, t seal.RowTokens) int64 {
	switch groupBy {
	case stele.GroupByActor:
		if t.Actor != 0 {
			return t.Actor
		}
		return t.ActorEmail
	case stele.GroupByIP:
		return t.IP
	case stele.GroupBySource:
		return t.Source
	}
	return 0
}

func itoa(n int) string { return strconv.Itoa(n) }
