// Package demo generates realistic audit activity for demo accounts: people
// signing in and out, administrators changing roles and settings, connected
// integrations reporting findings, the platform reporting its own latency,
// and the odd password-guessing attack. It is deterministic for a seed.
// Seed fills an empty store with it, and Key and Users give the demo
// account acme a key and console users to try it with.
package demo

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/stele-audit/stele"
)

// AccountSpec names a demo account and its account type.
type AccountSpec struct {
	Name, Type string
}

// Generator produces the activity of the demo accounts between two times.
type Generator struct {
	seed       int64
	start, end time.Time

	mu   sync.Mutex
	live map[string]*liveAccount // state for Next
}

type liveAccount struct {
	r       *rand.Rand
	s       *state
	pending []stele.Event
}

// New returns a Generator for the activity between start and end.
func New(seed int64, start, end time.Time) *Generator {
	return &Generator{
		seed:  seed,
		start: start.UTC().Truncate(stele.TimeUnit),
		end:   end.UTC().Truncate(stele.TimeUnit),
		live:  map[string]*liveAccount{},
	}
}

// Accounts returns the demo accounts, largest first.
func (g *Generator) Accounts() []AccountSpec {
	out := make([]AccountSpec, len(profiles))
	for i, p := range profiles {
		out[i] = AccountSpec{Name: p.name, Type: p.typ}
	}
	return out
}

// rng returns the random stream named by the account and a purpose, so that
// every stream is reproducible on its own.
func (g *Generator) rng(account string, stream uint64) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(account))
	return rand.New(rand.NewPCG(uint64(g.seed), h.Sum64()^stream*0x9e3779b97f4a7c15))
}

func (g *Generator) world(account string) (*state, error) {
	p, ok := profileFor(account)
	if !ok {
		return nil, fmt.Errorf("demo: no account %q", account)
	}
	return newState(p, g.rng(account, 1)), nil
}

// Events calls emit for every event of account between the generator's start
// and end, oldest first. It stops at the first error emit returns and
// returns it.
func (g *Generator) Events(account string, emit func(stele.Event) error) error {
	s, err := g.world(account)
	if err != nil {
		return err
	}
	r := g.rng(account, 2)
	attacks := g.attacks(r, s)
	l := g.start.In(s.loc)
	d := time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, s.loc)
	// Events are sorted by a small key rather than moved around whole: an
	// event is a large struct, and sorting keys is several times faster.
	var buf, carry []stele.Event
	var keys []eventKey
	for ; d.Before(g.end); d = d.Add(24 * time.Hour) {
		next := d.Add(24 * time.Hour)
		buf = s.day(r, d, buf)
		for len(attacks) > 0 && attacks[0].Before(next) {
			buf = s.bruteForce(r, attacks[0], buf)
			attacks = attacks[1:]
		}
		keys = keys[:0]
		for i := range buf {
			keys = append(keys, eventKey{buf[i].Time.UnixMicro(), int32(i)})
		}
		slices.SortFunc(keys, compareKeys)
		// Sessions and bursts may run past midnight: keep their tail for the next day.
		limit := next.UnixMicro()
		for j, k := range keys {
			e := &buf[k.i]
			if k.t >= limit {
				for _, k := range keys[j:] {
					carry = append(carry, buf[k.i])
				}
				break
			}
			if e.Time.Before(g.start) {
				continue
			}
			if e.Time.After(g.end) {
				return nil
			}
			if err := emit(*e); err != nil {
				return err
			}
		}
		clear(buf)
		buf, carry = carry, buf[:0]
	}
	return nil
}

type eventKey struct {
	t int64 // Unix microseconds
	i int32 // position in the day's buffer, so ties keep their order
}

func compareKeys(a, b eventKey) int {
	if a.t != b.t {
		return cmp.Compare(a.t, b.t)
	}
	return cmp.Compare(a.i, b.i)
}

// attacks returns the start times of the brute-force bursts: about three per
// 30 days, at least one, mostly at night local time.
func (g *Generator) attacks(r *rand.Rand, s *state) []time.Time {
	span := g.end.Sub(g.start) - 2*time.Hour
	if span <= 0 {
		return nil
	}
	n := max(1, int((span+5*24*time.Hour)/(10*24*time.Hour)))
	out := make([]time.Time, n)
	for i := range out {
		t := g.start.Add(time.Duration(r.Int64N(int64(span))))
		if h := t.In(s.loc).Hour(); h >= 8 && h < 20 && r.IntN(3) > 0 {
			t = t.Add(12 * time.Hour)
			if t.After(g.start.Add(span)) {
				t = t.Add(-24 * time.Hour)
			}
		}
		if t.Before(g.start) {
			t = g.start
		}
		out[i] = t
	}
	slices.SortFunc(out, time.Time.Compare)
	return out
}

// Next returns one fresh, plausible event for account at time at. It draws
// from a running stream of the account's activity, so consecutive calls read
// like a log. Accounts that are not demo accounts get a generic world of
// their own. Next is safe for concurrent use.
func (g *Generator) Next(account string, at time.Time) stele.Event {
	g.mu.Lock()
	defer g.mu.Unlock()
	a := g.live[account]
	if a == nil {
		p, _ := profileFor(account)
		a = &liveAccount{r: g.rng(account, 3), s: newState(p, g.rng(account, 1))}
		g.live[account] = a
	}
	if len(a.pending) == 0 {
		a.pending = a.s.burst(a.r, at, a.pending[:0])
	}
	e := a.pending[0]
	a.pending = a.pending[1:]
	e.Time = at.UTC().Truncate(stele.TimeUnit)
	return e
}

// burst returns a short run of one kind of activity, for Next.
func (s *state) burst(r *rand.Rand, t time.Time, out []stele.Event) []stele.Event {
	n := r.IntN(100)
	switch {
	case n < 35:
		return s.visit(r, t, t.Add(time.Hour), s.anyUser(r, nil), 0.5, out)
	case n < 55:
		return s.scan(r, t, pick(r, s.sources), out)
	case n < 70:
		for _, route := range s.p.routes {
			out = append(out, s.apiLatency(r, t, route))
		}
		return append(out, s.resourceUsage(r, t))
	case n < 90:
		for range 5 {
			out = append(out, s.apiKeyUsed(r, t))
		}
		return out
	case n < 97:
		ss := session{u: s.admin(r), ip: s.officeIP(r), ua: browserAgents[0], id: hexID(r, "ses_", 16)}
		return append(out, s.adminAction(r, t, ss))
	default:
		return s.bruteForce(r, t, out)
	}
}
