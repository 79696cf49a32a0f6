package demo

import (
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/stele-audit/stele"
)

// adminKinds weighs the changes owners and admins make during a working day.
var adminKinds = []struct {
	weight int
	build  func(s *state, r *rand.Rand, t time.Time, ss session) (stele.Event, bool)
}{
	{12, (*state).roleChanged},
	{10, (*state).permissionsChanged},
	{10, (*state).passwordReset},
	{4, (*state).userCreated},
	{2, (*state).userDeleted},
	{14, (*state).settingsUpdated},
	{6, (*state).alertRuleCreated},
	{4, (*state).alertRuleUpdated},
	{6, (*state).integrationUpdated},
	{2, (*state).integrationAdded},
	{1, (*state).integrationRemoved},
	{5, (*state).apiKeyCreated},
	{3, (*state).apiKeyRevoked},
	{1, (*state).retentionChanged},
	{2, (*state).streamCreated},
	{2, (*state).mfaReset},
}

var adminWeight = func() int {
	n := 0
	for _, k := range adminKinds {
		n += k.weight
	}
	return n
}()

// adminAction returns one administrative change made by ss.u.
func (s *state) adminAction(r *rand.Rand, t time.Time, ss session) stele.Event {
	n := r.IntN(adminWeight)
	for _, k := range adminKinds {
		if n -= k.weight; n < 0 {
			if e, ok := k.build(s, r, t, ss); ok {
				return e
			}
			break
		}
	}
	e, _ := s.settingsUpdated(r, t, ss)
	return e
}

func possessive(name string) string { return name + "'s" }

var grantableRoles = []string{roleAdmin, roleAuditor, roleMember, roleMember}

func (s *state) roleChanged(r *rand.Rand, t time.Time, ss session) (stele.Event, bool) {
	u := s.anyUser(r, ss.u)
	if u.role == roleOwner {
		return stele.Event{}, false
	}
	before, after := u.role, pick(r, grantableRoles)
	if after == before {
		return stele.Event{}, false
	}
	u.role = after
	e := s.userEvent(r, t, ss, "user.role_changed", stele.OutcomeSuccess,
		ss.u.ref.Name+" changed "+possessive(u.ref.Name)+" role from "+before+" to "+after)
	e.Target = &stele.Ref{Type: "user", ID: u.ref.ID, Name: u.ref.Name}
	e.Metadata = map[string]any{"role_before": before, "role_after": after}
	return e, true
}

var permissions = []string{"events:export", "alerts:manage", "streams:manage", "sources:manage", "billing:view", "keys:manage"}

func (s *state) permissionsChanged(r *rand.Rand, t time.Time, ss session) (stele.Event, bool) {
	u := s.anyUser(r, ss.u)
	perm := pick(r, permissions)
	verb, change := "granted", "grant"
	if r.IntN(3) == 0 {
		verb, change = "revoked", "revoke"
	}
	desc := ss.u.ref.Name + " " + verb + " " + perm + " to " + u.ref.Name
	if change == "revoke" {
		desc = ss.u.ref.Name + " revoked " + perm + " from " + u.ref.Name
	}
	e := s.userEvent(r, t, ss, "user.permissions_changed", stele.OutcomeSuccess, desc)
	e.Target = &stele.Ref{Type: "user", ID: u.ref.ID, Name: u.ref.Name}
	e.Metadata = map[string]any{"permission": perm, "change": change}
	return e, true
}

func (s *state) passwordReset(r *rand.Rand, t time.Time, ss session) (stele.Event, bool) {
	u := s.anyUser(r, ss.u)
	e := s.userEvent(r, t, ss, "user.password_reset", stele.OutcomeSuccess, ss.u.ref.Name+" sent "+u.ref.Name+" a password reset link")
	e.Target = &stele.Ref{Type: "user", ID: u.ref.ID, Name: u.ref.Name}
	e.Metadata = map[string]any{"via": "email", "expires_minutes": num(60)}
	return e, true
}

func (s *state) userCreated(r *rand.Rand, t time.Time, ss session) (stele.Event, bool) {
	if len(s.spare) == 0 {
		return stele.Event{}, false
	}
	u := s.spare[0]
	s.spare = s.spare[1:]
	u.active = true
	s.users = append(s.users, u)
	e := s.userEvent(r, t, ss, "user.created", stele.OutcomeSuccess, ss.u.ref.Name+" added "+u.ref.Name+" ("+u.ref.Email+") as "+u.role)
	e.Target = &stele.Ref{Type: "user", ID: u.ref.ID, Name: u.ref.Name}
	e.Metadata = map[string]any{"role": u.role, "email": u.ref.Email, "invited": true}
	return e, true
}

func (s *state) userDeleted(r *rand.Rand, t time.Time, ss session) (stele.Event, bool) {
	if len(s.activeUsers()) <= 5 {
		return stele.Event{}, false
	}
	u := s.anyUser(r, ss.u)
	if u.role == roleOwner {
		return stele.Event{}, false
	}
	u.active = false
	e := s.userEvent(r, t, ss, "user.deleted", stele.OutcomeSuccess, ss.u.ref.Name+" removed "+u.ref.Name+" from "+s.p.company)
	e.Target = &stele.Ref{Type: "user", ID: u.ref.ID, Name: u.ref.Name}
	e.Metadata = map[string]any{"role": u.role, "reason": pick(r, []string{"offboarding", "offboarding", "duplicate account", "contract ended"})}
	return e, true
}

var settingChanges = []struct{ name, before, after string }{
	{"session_timeout_minutes", "30", "60"}, {"session_timeout_minutes", "60", "30"},
	{"require_sso", "false", "true"}, {"ip_allowlist", "off", "office only"},
	{"password_min_length", "12", "14"}, {"export_approval", "off", "on"},
	{"timezone", "UTC", "America/New_York"}, {"weekly_digest", "on", "off"},
}

func (s *state) settingsUpdated(r *rand.Rand, t time.Time, ss session) (stele.Event, bool) {
	c := pick(r, settingChanges)
	e := s.userEvent(r, t, ss, "settings.updated", stele.OutcomeSuccess, ss.u.ref.Name+" changed "+c.name+" from "+c.before+" to "+c.after)
	e.Target = &stele.Ref{Type: "account", ID: s.p.name, Name: s.p.company}
	e.Metadata = map[string]any{"setting": c.name, "value_before": c.before, "value_after": c.after}
	return e, true
}

var alertRules = []struct{ name, query string }{
	{"Brute force", "action:user.login_failed"}, {"Role escalations", "action:user.role_changed"},
	{"Critical findings", "action:finding.generated critical"}, {"Audit log exports", "action:audit_log.exported"},
	{"Integration removed", "action:integration.removed"}, {"Users deleted", "action:user.deleted"},
}

func (s *state) alertRuleCreated(r *rand.Rand, t time.Time, ss session) (stele.Event, bool) {
	a := pick(r, alertRules)
	id := s.nextID("rule_")
	e := s.userEvent(r, t, ss, "alert_rule.created", stele.OutcomeSuccess, ss.u.ref.Name+" created the alert rule \""+a.name+"\"")
	e.Target = &stele.Ref{Type: "alert_rule", ID: id, Name: a.name}
	e.Metadata = map[string]any{"query": a.query, "threshold": num(1 + r.IntN(10)), "window": "10m", "destination": pick(r, []string{"slack", "email", "webhook"})}
	return e, true
}

func (s *state) alertRuleUpdated(r *rand.Rand, t time.Time, ss session) (stele.Event, bool) {
	a := pick(r, alertRules)
	e := s.userEvent(r, t, ss, "alert_rule.updated", stele.OutcomeSuccess, ss.u.ref.Name+" changed the threshold of the alert rule \""+a.name+"\"")
	e.Target = &stele.Ref{Type: "alert_rule", ID: "rule_" + strconv.Itoa(1+r.IntN(20)), Name: a.name}
	e.Metadata = map[string]any{"query": a.query, "threshold": num(1 + r.IntN(10))}
	return e, true
}

func (s *state) integrationUpdated(r *rand.Rand, t time.Time, ss session) (stele.Event, bool) {
	src := pick(r, s.sources)
	what := pick(r, []string{"scan interval", "credentials", "region filter", "severity threshold"})
	e := s.userEvent(r, t, ss, "integration.updated", stele.OutcomeSuccess, ss.u.ref.Name+" updated the "+what+" of "+src.ref.Name)
	e.Source = ref(src.ref)
	e.Metadata = map[string]any{"changed": what, "integration": src.ref.Type}
	return e, true
}

func (s *state) integrationAdded(r *rand.Rand, t time.Time, ss session) (stele.Event, bool) {
	have := map[string]bool{}
	for _, src := range s.sources {
		have[src.ref.Type] = true
	}
	var free []sourceKind
	for _, k := range sourceKinds {
		if !have[k.typ] {
			free = append(free, k)
		}
	}
	if len(free) == 0 {
		return stele.Event{}, false
	}
	src := newSource(r, pick(r, free), s.p, len(s.sources))
	src.open = nil
	s.sources = append(s.sources, src)
	e := s.userEvent(r, t, ss, "integration.added", stele.OutcomeSuccess, ss.u.ref.Name+" connected "+src.ref.Name)
	e.Source = ref(src.ref)
	e.Metadata = map[string]any{"integration": src.ref.Type, "scan_interval": src.every.String()}
	return e, true
}

func (s *state) integrationRemoved(r *rand.Rand, t time.Time, ss session) (stele.Event, bool) {
	if len(s.sources) <= 2 {
		return stele.Event{}, false
	}
	src := s.sources[len(s.sources)-1]
	s.sources = s.sources[:len(s.sources)-1]
	e := s.userEvent(r, t, ss, "integration.removed", stele.OutcomeSuccess, ss.u.ref.Name+" disconnected "+src.ref.Name)
	e.Source = ref(src.ref)
	e.Metadata = map[string]any{"integration": src.ref.Type, "open_findings": num(len(src.open))}
	return e, true
}

func (s *state) apiKeyCreated(r *rand.Rand, t time.Time, ss session) (stele.Event, bool) {
	name := pick(r, []string{"github-actions", "datadog-forwarder", "staging-producer", "backup-export", "local-dev"})
	id := hexID(r, "key_", 12)
	e := s.userEvent(r, t, ss, "api_key.created", stele.OutcomeSuccess, ss.u.ref.Name+" created the API key "+name)
	e.Target = &stele.Ref{Type: "api_key", ID: id, Name: name}
	e.Metadata = map[string]any{"scopes": "events:write,events:read", "expires_days": num(90)}
	return e, true
}

func (s *state) apiKeyRevoked(r *rand.Rand, t time.Time, ss session) (stele.Event, bool) {
	name := pick(r, []string{"local-dev", "old-ci", "staging-producer", "contractor-test"})
	e := s.userEvent(r, t, ss, "api_key.revoked", stele.OutcomeSuccess, ss.u.ref.Name+" revoked the API key "+name)
	e.Target = &stele.Ref{Type: "api_key", ID: hexID(r, "key_", 12), Name: name}
	e.Metadata = map[string]any{"reason": pick(r, []string{"unused", "rotated", "leaked"})}
	return e, true
}

func (s *state) retentionChanged(r *rand.Rand, t time.Time, ss session) (stele.Event, bool) {
	if ss.u.role != roleOwner {
		return stele.Event{}, false
	}
	before, after := "365", pick(r, []string{"400", "730", "180"})
	e := s.userEvent(r, t, ss, "retention.changed", stele.OutcomeSuccess, ss.u.ref.Name+" changed the retention from "+before+" to "+after+" days")
	e.Target = &stele.Ref{Type: "account", ID: s.p.name, Name: s.p.company}
	e.Metadata = map[string]any{"days_before": json.Number(before), "days_after": json.Number(after)}
	return e, true
}

func (s *state) streamCreated(r *rand.Rand, t time.Time, ss session) (stele.Event, bool) {
	kind := pick(r, []string{"syslog", "https"})
	name := pick(r, []string{"Splunk", "Datadog", "SIEM", "Sentinel"})
	e := s.userEvent(r, t, ss, "stream.created", stele.OutcomeSuccess, ss.u.ref.Name+" started streaming events to "+name+" over "+kind)
	e.Target = &stele.Ref{Type: "stream", ID: s.nextID("str_"), Name: name}
	e.Metadata = map[string]any{"destination": kind, "format": pick(r, []string{"cef", "json", "ocsf"})}
	return e, true
}

func (s *state) mfaReset(r *rand.Rand, t time.Time, ss session) (stele.Event, bool) {
	u := s.anyUser(r, ss.u)
	e := s.userEvent(r, t, ss, "user.mfa_reset", stele.OutcomeSuccess, ss.u.ref.Name+" reset "+possessive(u.ref.Name)+" second factor")
	e.Target = &stele.Ref{Type: "user", ID: u.ref.ID, Name: u.ref.Name}
	e.Metadata = map[string]any{"reason": "lost device"}
	return e, true
}
