package integrity

import (
	"context"
	"sort"
	"strings"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/ledger"
	"github.com/stele-audit/stele/internal/record"
)

// purgeSet is one validly signed set purge statement (stele.purge/v2) and
// what the verification found of the events it covers.
type purgeSet struct {
	first  int64
	body   ledger.PurgeSetBody
	cutoff int64 // Unix µs
	digest *ledger.PurgeDigest
	seen   int64
}

// coveredRange is a range of one statement, for looking a seq up.
type coveredRange struct {
	lo, hi int64
	set    *purgeSet
}

// purgedCheck holds the account's set purges and reads what the store kept
// of the purged events, in seq order, as the rows are consumed.
type purgedCheck struct {
	ctx    context.Context
	sets   []*purgeSet
	ranges []coveredRange // by lo, disjoint
	buf    []stele.PurgedEvent
	next   int64 // the seq the next read starts from
	done   bool  // the store has no purged events from next on
	err    error
}

// loadPurgeSets reads and checks the account's set purge statements. A
// statement that is not validly signed for this account covers nothing, so
// the seqs it claims read as deleted.
func (c *accountCheck) loadPurgeSets(ctx context.Context) error {
	c.purged = purgedCheck{ctx: ctx, next: c.floor}
	stmts, err := c.v.Store.PurgeStatements(ctx, c.account.ID)
	if err != nil {
		return err
	}
	for _, st := range stmts {
		body, err := ledger.OpenPurgeSet(st.Note, c.v.Verifier, c.v.Also...)
		switch {
		case err != nil:
			c.fail(st.First, -1, KindPurgeInvalid, "purge from seq %d: %v", st.First, err)
			continue
		case !strings.HasSuffix(body.Origin, "/"+c.account.Name):
			c.fail(st.First, -1, KindPurgeInvalid, "the purge statement from seq %d is signed for origin %q, not this account", st.First, body.Origin)
			continue
		case body.Ranges[0].Lo != st.First:
			c.fail(st.First, -1, KindPurgeInvalid, "the signed statement starts at seq %d, not the stored %d", body.Ranges[0].Lo, st.First)
			continue
		}
		set := &purgeSet{first: st.First, body: body, cutoff: record.Micros(body.Cutoff), digest: ledger.NewPurgeDigest()}
		c.purged.sets = append(c.purged.sets, set)
		for _, r := range body.Ranges {
			c.purged.ranges = append(c.purged.ranges, coveredRange{lo: r.Lo, hi: r.Hi, set: set})
		}
	}
	sort.Slice(c.purged.ranges, func(i, j int) bool { return c.purged.ranges[i].lo < c.purged.ranges[j].lo })
	for i := 1; i < len(c.purged.ranges); i++ {
		if a, b := c.purged.ranges[i-1], c.purged.ranges[i]; b.lo < a.hi {
			c.fail(b.lo, -1, KindPurgeInvalid, "the purge statements from seqs %d and %d both cover seq %d", a.set.first, b.set.first, b.lo)
		}
	}
	return nil
}

// setOf returns the statement covering seq, nil if none does.
func (p *purgedCheck) setOf(seq int64) *purgeSet {
	i := sort.Search(len(p.ranges), func(i int) bool { return p.ranges[i].hi > seq })
	if i < len(p.ranges) && p.ranges[i].lo <= seq {
		return p.ranges[i].set
	}
	return nil
}

// peek returns the next purged event with seq >= from, nil if none.
func (c *accountCheck) peekPurged(from int64) *stele.PurgedEvent {
	p := &c.purged
	for {
		for len(p.buf) > 0 && p.buf[0].Seq < from {
			p.buf = p.buf[1:]
		}
		if len(p.buf) > 0 {
			return &p.buf[0]
		}
		if p.done || p.err != nil {
			return nil
		}
		limit := c.v.chunk()
		rows, err := c.v.Store.PurgedEvents(p.ctx, c.account.ID, max(p.next, from), limit)
		if err != nil {
			p.err = err
			return nil
		}
		p.buf = rows
		p.done = len(rows) < limit
		if len(rows) > 0 {
			p.next = rows[len(rows)-1].Seq + 1
		}
	}
}

// purgedAt returns the purged event at seq, nil if the store kept none.
func (c *accountCheck) purgedAt(seq int64) *stele.PurgedEvent {
	if e := c.peekPurged(seq); e != nil && e.Seq == seq {
		return e
	}
	return nil
}

// gap accounts for the seqs from lastSeen+1 up to (not including) to,
// which have no row: each must have been purged under a signed statement,
// the rest were deleted.
func (c *accountCheck) gap(to int64) {
	for next := c.lastSeen + 1; next < to; {
		e := c.peekPurged(next)
		if e == nil || e.Seq >= to {
			c.missing(next, to)
			break
		}
		if e.Seq > next {
			c.missing(next, e.Seq)
		}
		c.consumePurged(e)
		next = e.Seq + 1
	}
	c.lastSeen = to - 1
}

// consumePurged takes a purged event in its place in the tree, and checks
// that a signed statement covers it and that it had expired by then.
func (c *accountCheck) consumePurged(e *stele.PurgedEvent) {
	c.rep.Purged++
	if c.countPurged(e) == nil {
		c.fail(e.Seq, -1, KindRowMissing, "row missing (deleted) at seq %d, not covered by a signed purge statement (its purged record is forged)", e.Seq)
		if c.broken < 0 {
			c.broken = e.Seq
		}
		return
	}
	c.appendLeaf(e.LeafHash)
}

// countPurged adds a purged event to its statement's digest and returns the
// statement, nil if none covers it.
func (c *accountCheck) countPurged(e *stele.PurgedEvent) *purgeSet {
	set := c.purged.setOf(e.Seq)
	if set == nil {
		return nil
	}
	set.digest.Add(e.Seq, e.Time, e.LeafHash)
	set.seen++
	if e.Time >= set.cutoff {
		c.fail(e.Seq, -1, KindPurgedTooEarly, "the event at seq %d (time %s) was purged, but its time was not before the cutoff %s of the statement signed %s",
			e.Seq, record.Time(e.Time).Format("2006-01-02T15:04:05.999999Z07:00"), set.body.Cutoff.Format("2006-01-02T15:04:05Z07:00"), set.body.Time.Format("2006-01-02T15:04:05Z07:00"))
	}
	return set
}

// finishPurgeSets checks that each statement's purged events are those it
// signed: as many, with the same seqs, times and leaf hashes.
func (c *accountCheck) finishPurgeSets() {
	for _, set := range c.purged.sets {
		if set.seen != set.body.Count || set.digest.Sum() != set.body.Digest {
			c.fail(set.first, -1, KindPurgeInvalid, "the purge statement from seq %d signed %d events; the store keeps %d of them, or others than it signed",
				set.first, set.body.Count, set.seen)
		}
	}
}
