package ingest

import (
	"context"
	"strings"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/seal"
)

// AlertMatcher gives the ingest path the alert rules in force
// (internal/alert's Matcher). Each event is matched on its request's
// goroutine, before it waits for the writer; the writer's commit stores
// the matches with the events and confirms, by reading the rule
// generation in its transaction, that they were matched against the rules
// in force. A batch matched at another generation is left out of the
// commit and matched again.
type AlertMatcher interface {
	// Rules returns the enabled rules at a generation of at least atLeast.
	Rules(ctx context.Context, atLeast int64) (AlertRules, error)
	// Matched is told, without waiting, that a commit stored matches.
	Matched()
}

// AlertRules is the enabled rules of every account, compiled.
type AlertRules interface {
	Generation() int64
	// Match appends the matches of e, an event of accountID with tokens,
	// leaving their Seq for the writer.
	Match(dst []stele.AlertMatch, accountID int64, e *stele.Event, tokens seal.RowTokens) []stele.AlertMatch
}

// SetAlertMatcher makes the service match every event against m's rules;
// call it before the service takes requests.
func (s *Service) SetAlertMatcher(m AlertMatcher) { s.alerts = m }

// maxRematch bounds how often one request matches its events again
// because the rules changed under it; rules change rarely.
const maxRematch = 5

// matchAlerts matches b's events against the rules at a generation of at
// least atLeast. Stele's own alert.* events match nothing, so that an
// alert can never set off another.
func (s *Service) matchAlerts(ctx context.Context, b *batch, atLeast int64, own bool) error {
	rules, err := s.alerts.Rules(ctx, atLeast)
	if err != nil {
		return err
	}
	b.matchRules, b.ruleGen = true, rules.Generation()
	for _, p := range b.events[b.next:] { // a batch stored in part is matched again for the rest
		p.matches = p.matches[:0]
		if own && strings.HasPrefix(p.event.Action, "alert.") {
			continue
		}
		p.matches = rules.Match(p.matches, p.accountID, &p.event, p.tokens)
	}
	return nil
}

// submitMatched submits b, matching its events again for as long as the
// commit finds the rules changed.
func (s *Service) submitMatched(ctx context.Context, b *batch, own bool) error {
	if s.alerts == nil {
		return s.writer.submit(ctx, b)
	}
	atLeast := int64(0)
	for range maxRematch {
		if err := s.matchAlerts(ctx, b, atLeast, own); err != nil {
			return err
		}
		if err := s.writer.submit(ctx, b); err != nil {
			return err
		}
		if !b.rulesStale {
			for _, p := range b.events {
				if len(p.matches) > 0 {
					s.alerts.Matched()
					break
				}
			}
			return nil
		}
		atLeast = b.rulesGen
	}
	return stele.Errorf(stele.EUNAVAILABLE, "the alert rules kept changing while the events were stored; send them again")
}

// confirmRules reads the rule generation in tx, once, if any batch of the
// group was matched, and marks the batches matched at another one.
func confirmRules(ctx context.Context, tx stele.AppendTx, group []*batch) error {
	var (
		gen  int64
		read bool
	)
	for _, b := range group {
		b.rulesStale = false
		if !b.matchRules || b.stale {
			continue
		}
		if !read {
			var err error
			if gen, err = tx.AlertRuleGeneration(ctx); err != nil {
				return err
			}
			read = true
		}
		b.rulesStale, b.rulesGen = b.ruleGen != gen, gen
	}
	return nil
}
