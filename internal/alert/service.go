package alert

import (
	"context"
	"crypto/rand"
	"strings"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/audit"
	"github.com/stele-audit/stele/internal/notify"
	"github.com/stele-audit/stele/internal/query"
)

// Service saves an account's alert rules: every change checked (the query
// parsed, the destinations validated), its destinations sealed, and
// recorded in the account's log with before and after.
type Service struct {
	Store  stele.AlertStore
	Sealer Sealer
	Audit  *audit.Recorder
	// Policy says which destination URLs are acceptable beyond public
	// https ones (tests and on-premises receivers).
	Policy notify.URLPolicy
	// Notifier sends "send test" alerts; nil turns Test off.
	Notifier *notify.Notifier
	// Changed, when set, is called after every change to a rule, so this
	// process's Matcher need not wait for a commit to learn of it.
	Changed func()
	Now     func() time.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// NewRuleID returns a new rule id: "rul_" and 100 random bits.
func NewRuleID() string { return stele.AlertRuleIDPrefix + strings.ToLower(rand.Text()[:20]) }

// Create saves a new rule for account. A webhook given no secret gets one,
// shown in the answer this once.
func (s *Service) Create(ctx context.Context, account *stele.Account, in Input, a audit.Actor) (*Rule, error) {
	r := &stele.AlertRule{ID: NewRuleID(), AccountID: account.ID, Enabled: in.Enabled == nil || *in.Enabled}
	ds, generated, err := s.prepare(ctx, r, in, nil)
	if err != nil {
		return nil, err
	}
	if err := s.Store.CreateAlertRule(ctx, r); err != nil {
		return nil, err
	}
	s.changed()
	v := view(r, destinationsOf(ds))
	s.Audit.Log(s.Audit.AlertRuleCreated(context.WithoutCancel(ctx), a, account.Name, state(v)))
	for i, secret := range generated {
		v.Destinations[i].Secret = secret
	}
	return v, nil
}

// prepare fills r's settings and sealed destinations from in, checking
// everything; before is the rule's destinations so far (nil on create).
func (s *Service) prepare(ctx context.Context, r *stele.AlertRule, in Input, before []stored) ([]stored, map[int]string, error) {
	details := in.settings(r)
	if r.Query != "" {
		details = append(details, checkQuery(r.Query, s.now())...)
	}
	ds, generated := merge(in.Destinations, before, s.now())
	if err := notify.ValidateDestinations(destinationsOf(ds), s.Policy); err != nil {
		details = append(details, errDestinations(err)...)
	}
	if len(details) == 0 {
		sealed, err := sealDestinations(ctx, s.Sealer, r.AccountID, ds)
		if err != nil {
			return nil, nil, err
		}
		r.Destinations = sealed
	} else {
		r.Destinations = "-" // reported already; keep Validate to the other fields
	}
	if e, ok := r.Validate().(*stele.Error); ok {
		details = append(details, e.Details...)
	}
	if len(details) > 0 {
		return nil, nil, &stele.Error{Code: stele.EINVALID, Message: "invalid alert rule: " + details[0].Message, Details: details}
	}
	return ds, generated, nil
}

// checkQuery parses a rule's query and refuses what a rule cannot use: a
// time range (a rule looks at each event as it arrives).
func checkQuery(q string, now time.Time) []stele.FieldError {
	parsed, err := query.Parse(q, now)
	if err != nil {
		var out []stele.FieldError
		if e, ok := err.(*stele.Error); ok {
			for _, d := range e.Details {
				out = append(out, stele.FieldError{Field: "query", Rule: d.Rule, Message: "query: " + d.Message})
			}
		}
		if out == nil {
			out = []stele.FieldError{{Field: "query", Rule: "syntax", Message: "query: " + stele.ErrorMessage(err)}}
		}
		return out
	}
	if !parsed.After.IsZero() || !parsed.Before.IsZero() {
		return []stele.FieldError{{Field: "query", Rule: "no_time_range",
			Message: "query: a rule looks at each event as it arrives; leave out after: and before:"}}
	}
	if len(parsed.Terms) == 0 {
		return []stele.FieldError{{Field: "query", Rule: "required", Message: "query: a rule needs at least one term"}}
	}
	return nil
}

// Get returns one of account's rules.
func (s *Service) Get(ctx context.Context, account *stele.Account, id string) (*Rule, error) {
	r, ds, err := s.load(ctx, account, id)
	if err != nil {
		return nil, err
	}
	return view(r, destinationsOf(ds)), nil
}

func (s *Service) load(ctx context.Context, account *stele.Account, id string) (*stele.AlertRule, []stored, error) {
	r, err := s.Store.AlertRule(ctx, account.ID, id)
	if err != nil {
		return nil, nil, err
	}
	ds, err := openDestinations(ctx, s.Sealer, account.ID, r.Destinations)
	if err != nil {
		return nil, nil, err
	}
	return r, ds, nil
}

// List returns account's rules, oldest first.
func (s *Service) List(ctx context.Context, account *stele.Account) ([]*Rule, error) {
	rs, err := s.Store.AlertRules(ctx, account.ID)
	if err != nil {
		return nil, err
	}
	out := make([]*Rule, 0, len(rs))
	for _, r := range rs {
		ds, err := openDestinations(ctx, s.Sealer, account.ID, r.Destinations)
		if err != nil {
			return nil, err
		}
		out = append(out, view(r, destinationsOf(ds)))
	}
	return out, nil
}

// Update replaces a rule's settings with in. What the API never returns
// (a webhook's secret, a Slack URL) may be left out or sent back redacted
// and is kept; a new webhook secret keeps the old one signing for
// RotationGrace.
func (s *Service) Update(ctx context.Context, account *stele.Account, id string, in Input, a audit.Actor) (*Rule, error) {
	r, before, err := s.load(ctx, account, id)
	if err != nil {
		return nil, err
	}
	old := view(r, destinationsOf(before))
	next := *r
	if in.Enabled != nil {
		next.Enabled = *in.Enabled
	}
	ds, generated, err := s.prepare(ctx, &next, in, before)
	if err != nil {
		return nil, err
	}
	if _, err := s.Store.UpdateAlertRule(ctx, &next); err != nil {
		return nil, err
	}
	s.changed()
	v := view(&next, destinationsOf(ds))
	s.Audit.Log(s.Audit.AlertRuleUpdated(context.WithoutCancel(ctx), a, account.Name, state(old), state(v)))
	for i, secret := range generated {
		v.Destinations[i].Secret = secret
	}
	return v, nil
}

// SetEnabled turns a rule on or off.
func (s *Service) SetEnabled(ctx context.Context, account *stele.Account, id string, on bool, a audit.Actor) (*Rule, error) {
	r, ds, err := s.load(ctx, account, id)
	if err != nil {
		return nil, err
	}
	old := view(r, destinationsOf(ds))
	next := *r
	next.Enabled = on
	if _, err := s.Store.UpdateAlertRule(ctx, &next); err != nil {
		return nil, err
	}
	s.changed()
	v := view(&next, destinationsOf(ds))
	s.Audit.Log(s.Audit.AlertRuleUpdated(context.WithoutCancel(ctx), a, account.Name, state(old), state(v)))
	return v, nil
}

// Delete removes a rule; its firings stay as history.
func (s *Service) Delete(ctx context.Context, account *stele.Account, id string, a audit.Actor) error {
	r, err := s.Store.DeleteAlertRule(ctx, account.ID, id)
	if err != nil {
		return err
	}
	s.changed()
	var ds []stored
	if opened, err := openDestinations(ctx, s.Sealer, account.ID, r.Destinations); err == nil {
		ds = opened
	}
	s.Audit.Log(s.Audit.AlertRuleDeleted(context.WithoutCancel(ctx), a, account.Name, state(view(r, destinationsOf(ds)))))
	return nil
}

func (s *Service) changed() {
	if s.Changed != nil {
		s.Changed()
	}
}

// state is what the log keeps of a rule.
func state(v *Rule) *audit.AlertRuleState {
	st := &audit.AlertRuleState{ID: v.ID, Name: v.Name, Query: v.Query, Cooldown: v.Cooldown, Enabled: v.Enabled,
		Destinations: summary(v.Destinations)}
	if t := v.Threshold; t != nil {
		st.Threshold = strings.TrimSpace(strings.Join([]string{itoa(t.Count), "in", t.Window, byText(t.GroupBy)}, " "))
	}
	return st
}

func byText(groupBy string) string {
	if groupBy == "" {
		return ""
	}
	return "per " + groupBy
}
