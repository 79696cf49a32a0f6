package audit

import (
	"context"
	"fmt"
	"strings"

	"github.com/stele-audit/stele"
)

// AlertRuleState is what the log keeps of an alert rule before or after a
// change: its settings, and its destinations as types and hosts only.
type AlertRuleState struct {
	ID, Name, Query, Threshold, Cooldown, Destinations string
	Enabled                                            bool
}

func (s *AlertRuleState) put(m map[string]any, suffix string) {
	if s == nil {
		for _, k := range []string{"name", "query", "threshold", "cooldown", "enabled", "destinations"} {
			m[k+suffix] = ""
		}
		return
	}
	m["name"+suffix], m["query"+suffix], m["threshold"+suffix] = s.Name, s.Query, s.Threshold
	m["cooldown"+suffix], m["enabled"+suffix], m["destinations"+suffix] = s.Cooldown, fmt.Sprint(s.Enabled), s.Destinations
}

func ruleChange(account, action string, before, after *AlertRuleState) stele.Event {
	r := after
	if r == nil {
		r = before
	}
	m := map[string]any{}
	before.put(m, "_before")
	after.put(m, "_after")
	return stele.Event{Account: account, Action: action, Category: stele.CategoryConfiguration, Outcome: stele.OutcomeSuccess,
		Target: &stele.Ref{Type: "alert_rule", ID: r.ID, Name: r.Name}, Metadata: m}
}

// AlertRuleCreated records that a created an alert rule in account.
func (r *Recorder) AlertRuleCreated(ctx context.Context, a Actor, account string, after *AlertRuleState) error {
	e := ruleChange(account, "alert_rule.created", nil, after)
	e.Description = fmt.Sprintf("%s created alert rule %q", a.name(), after.Name)
	return r.record(ctx, a, both(e)...)
}

// AlertRuleUpdated records that a changed an alert rule of account.
func (r *Recorder) AlertRuleUpdated(ctx context.Context, a Actor, account string, before, after *AlertRuleState) error {
	e := ruleChange(account, "alert_rule.updated", before, after)
	var changed []string
	for _, k := range []string{"name", "query", "threshold", "cooldown", "enabled", "destinations"} {
		if e.Metadata[k+"_before"] != e.Metadata[k+"_after"] {
			changed = append(changed, k)
		}
	}
	what := "nothing"
	if len(changed) > 0 {
		what = strings.Join(changed, ", ")
	}
	e.Description = fmt.Sprintf("%s changed alert rule %q (%s)", a.name(), after.Name, what)
	return r.record(ctx, a, both(e)...)
}

// AlertRuleDeleted records that a deleted an alert rule of account.
func (r *Recorder) AlertRuleDeleted(ctx context.Context, a Actor, account string, before *AlertRuleState) error {
	e := ruleChange(account, "alert_rule.deleted", before, nil)
	e.Description = fmt.Sprintf("%s deleted alert rule %q", a.name(), before.Name)
	return r.record(ctx, a, both(e)...)
}

// AlertRuleTested records that a sent a test alert of a rule, and how
// each destination took it (errors as notify words them: no secret).
func (r *Recorder) AlertRuleTested(ctx context.Context, a Actor, account string, rule *AlertRuleState, results []string, ok bool) error {
	outcome := stele.OutcomeSuccess
	if !ok {
		outcome = stele.OutcomeFailure
	}
	return r.record(ctx, a, stele.Event{Account: account, Action: "alert_rule.tested", Category: stele.CategoryConfiguration, Outcome: outcome,
		Target:      &stele.Ref{Type: "alert_rule", ID: rule.ID, Name: rule.Name},
		Description: fmt.Sprintf("%s sent a test alert of rule %q", a.name(), rule.Name),
		Metadata:    map[string]any{"results": strings.Join(results, "; ")}})
}

// AlertFiring is what the log keeps of one firing.
type AlertFiring struct {
	ID, RuleID, RuleName string
	Count                int
	GroupBy, Group       string
	EventIDs             []string
}

// AlertFired records a rule's firing in its account. Its idempotency key
// is made from the firing's id, so a record retried after a crash is
// stored once.
func (r *Recorder) AlertFired(ctx context.Context, account string, f AlertFiring) error {
	desc := fmt.Sprintf("Alert rule %q fired on %d matching event(s)", f.RuleName, f.Count)
	if f.GroupBy != "" {
		desc += fmt.Sprintf(" for %s %s", f.GroupBy, f.Group)
	}
	return r.record(ctx, System(), stele.Event{Account: account, Action: "alert.fired", Category: stele.CategoryAudit,
		Outcome: stele.OutcomeSuccess, Target: &stele.Ref{Type: "alert_rule", ID: f.RuleID, Name: f.RuleName},
		Description: desc, IdempotencyKey: "alert.fired:" + f.ID,
		Metadata: map[string]any{"alert_id": f.ID, "count": fmt.Sprint(f.Count), "group_by": f.GroupBy, "group": f.Group,
			"event_ids": strings.Join(f.EventIDs, ",")}})
}

// AlertDeliveryFailed records that Stele gave up delivering a firing to
// one destination; reason is notify's error text (no secret, no URL path).
func (r *Recorder) AlertDeliveryFailed(ctx context.Context, account, deliveryID, firingID string, rule *stele.Ref, destination string, attempts int, reason string) error {
	return r.record(ctx, System(), stele.Event{Account: account, Action: "alert.delivery_failed", Category: stele.CategoryAudit,
		Outcome: stele.OutcomeFailure, Target: rule,
		Description:    fmt.Sprintf("Stele gave up delivering alert %s to %s after %d attempt(s)", firingID, destination, attempts),
		IdempotencyKey: "alert.delivery_failed:" + deliveryID,
		Metadata: map[string]any{"delivery_id": deliveryID, "alert_id": firingID, "destination": destination,
			"attempts": fmt.Sprint(attempts), "error": reason}})
}
