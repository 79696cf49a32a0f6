package alert

import (
	"slices"
	"time"

	"github.com/stele-audit/stele"
)

// maxKept bounds the matches one group of one rule keeps in its window;
// past it the oldest go, and a firing's count says "at least" that many.
const maxKept = 10_000

// point is one match in a window: its event's seq and time (Unix µs).
type point struct{ seq, time int64 }

// group is one rule's state for one group value (or the only one, for a
// rule that counts no group): the matches in its window, by event time,
// and when it last fired.
//
// The window is counted over event times, up to the newest event of the
// group the evaluator has seen: (newest - window, newest]. A match older
// than that counts no more; one at or below consumed was counted in a
// firing already.
type group struct {
	points    []point
	newest    int64
	lastFired time.Time
	consumed  int64 // the last seq a firing counted; -1 for none
}

func newGroup() *group { return &group{consumed: -1} }

// add counts a match and drops what the window has left behind.
func (g *group) add(p point, window time.Duration) {
	if p.seq <= g.consumed {
		return
	}
	i, _ := slices.BinarySearchFunc(g.points, p, func(a, b point) int {
		if a.time != b.time {
			return cmp64(a.time, b.time)
		}
		return cmp64(a.seq, b.seq)
	})
	g.points = slices.Insert(g.points, i, p)
	g.newest = max(g.newest, p.time)
	start := g.newest - window.Microseconds()
	drop := 0
	for drop < len(g.points) && g.points[drop].time <= start {
		drop++
	}
	if over := len(g.points) - drop - maxKept; over > 0 {
		drop += over
	}
	if drop > 0 {
		g.points = slices.Delete(g.points, 0, drop)
	}
}

// cooling reports whether the group fired less than cooldown before now.
func (g *group) cooling(now time.Time, cooldown time.Duration) bool {
	return !g.lastFired.IsZero() && now.Sub(g.lastFired) < cooldown
}

// fire returns what a firing of the group counts and starts its window
// afresh: the matches it counted count in no later firing.
func (g *group) fire(now time.Time, window time.Duration, lastSeq int64) (count int, seqs []int64, start, end int64) {
	count = len(g.points)
	seqs = newestSeqs(g.points)
	end = g.newest
	start = end - window.Microseconds()
	g.points, g.lastFired, g.consumed = g.points[:0], now, lastSeq
	return count, seqs, start, end
}

// newestSeqs returns the seqs of the newest MaxAlertFiringSeqs points, in
// seq order.
func newestSeqs(ps []point) []int64 {
	out := make([]int64, 0, min(len(ps), stele.MaxAlertFiringSeqs))
	for _, p := range ps {
		out = append(out, p.seq)
	}
	slices.Sort(out)
	if len(out) > stele.MaxAlertFiringSeqs {
		out = out[len(out)-stele.MaxAlertFiringSeqs:]
	}
	return out
}

func cmp64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
