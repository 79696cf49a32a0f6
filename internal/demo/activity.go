package demo

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/stele-audit/stele"
)

// event returns the skeleton every builder fills in.
func (s *state) event(r *rand.Rand, t time.Time, action, outcome string) stele.Event {
	return stele.Event{
		Account:   s.p.name,
		Time:      t.UTC().Truncate(stele.TimeUnit),
		Action:    action,
		Category:  stele.Catalog[action],
		Outcome:   outcome,
		RequestID: hexID(r, "req_", 20),
	}
}

func ref(r stele.Ref) *stele.Ref { return &r }

func num(n int) json.Number { return json.Number(strconv.Itoa(n)) }

func dec(f float64, prec int) json.Number {
	return json.Number(strconv.FormatFloat(f, 'f', prec, 64))
}

// session describes where a person is working from.
type session struct {
	u      *user
	ip, ua string
	id     string
}

func (s *state) userEvent(r *rand.Rand, t time.Time, ss session, action, outcome, desc string) stele.Event {
	e := s.event(r, t, action, outcome)
	e.Actor = ref(ss.u.ref)
	e.IP, e.UserAgent, e.Description = ss.ip, ss.ua, desc
	return e
}

var mfaMethods = []string{"totp", "webauthn", "push", "totp", "webauthn"}

// signIn appends the events of one sign-in: the odd typo, the MFA challenge
// and the login itself.
func (s *state) signIn(r *rand.Rand, t time.Time, ss session, out []stele.Event) ([]stele.Event, time.Time) {
	if r.IntN(100) < 7 {
		e := s.userEvent(r, t, ss, "user.login_failed", stele.OutcomeFailure, ss.u.ref.Name+" failed to sign in: wrong password")
		e.Metadata = map[string]any{"reason": "invalid_password", "attempt": num(1)}
		out = append(out, e)
		t = t.Add(time.Duration(5+r.IntN(40)) * time.Second)
	}
	method := pick(r, mfaMethods)
	e := s.userEvent(r, t, ss, "user.mfa_challenged", stele.OutcomeSuccess, ss.u.ref.Name+" was asked for a second factor ("+method+")")
	e.Metadata = map[string]any{"method": method}
	out = append(out, e)
	t = t.Add(time.Duration(3+r.IntN(25)) * time.Second)
	if r.IntN(100) < 3 {
		e := s.userEvent(r, t, ss, "user.mfa_failed", stele.OutcomeFailure, ss.u.ref.Name+" entered a wrong "+method+" code")
		e.Metadata = map[string]any{"method": method}
		out = append(out, e)
		t = t.Add(time.Duration(10+r.IntN(30)) * time.Second)
	}
	e = s.userEvent(r, t, ss, "user.mfa_succeeded", stele.OutcomeSuccess, ss.u.ref.Name+" passed the "+method+" challenge")
	e.Metadata = map[string]any{"method": method}
	out = append(out, e)
	t = t.Add(time.Duration(200+r.IntN(800)) * time.Millisecond)
	login := "password"
	if r.IntN(3) == 0 {
		login = "sso"
	}
	e = s.userEvent(r, t, ss, "user.login", stele.OutcomeSuccess, ss.u.ref.Name+" signed in")
	e.Metadata = map[string]any{"method": login, "mfa": method, "session_id": ss.id}
	return append(out, e), t
}

func (s *state) signOut(r *rand.Rand, t time.Time, ss session) stele.Event {
	if r.IntN(5) == 0 {
		e := s.userEvent(r, t, ss, "session.expired", stele.OutcomeSuccess, ss.u.ref.Name+"'s session expired after inactivity")
		e.Metadata = map[string]any{"session_id": ss.id, "idle_minutes": num(30)}
		return e
	}
	e := s.userEvent(r, t, ss, "user.logout", stele.OutcomeSuccess, ss.u.ref.Name+" signed out")
	e.Metadata = map[string]any{"session_id": ss.id}
	return e
}

var auditQueries = []string{
	"category:authentication outcome:failure", "action:user.role_changed", "action:user.*", "source:aws",
	"category:configuration after:2026-01-01", "outcome:failure", "action:finding.generated critical", "actor:admin",
}

// work returns one thing a signed-in person does, depending on their role.
func (s *state) work(r *rand.Rand, t time.Time, ss session) stele.Event {
	n := r.IntN(100)
	switch ss.u.role {
	case roleAuditor:
		switch {
		case n < 55:
			return s.auditViewed(r, t, ss)
		case n < 70:
			return s.auditExported(r, t, ss)
		case n < 80:
			return s.auditVerified(r, t, ss)
		}
	case roleOwner, roleAdmin:
		if n < 20 {
			return s.auditViewed(r, t, ss)
		}
	default:
		if n < 8 {
			return s.auditViewed(r, t, ss)
		}
	}
	if n%4 == 0 {
		return s.findingResolvedBy(r, t, ss)
	}
	return s.findingUpdatedBy(r, t, ss)
}

func (s *state) auditViewed(r *rand.Rand, t time.Time, ss session) stele.Event {
	// The shape of Stele's own record of a read (audit.Recorder.Viewed).
	q := pick(r, auditQueries)
	e := s.userEvent(r, t, ss, "audit_log.viewed", stele.OutcomeSuccess, "")
	n := r.IntN(500)
	e.Description = fmt.Sprintf("%s searched the audit log for %s: %d events", ss.u.ref.Name, q, n)
	e.Metadata = map[string]any{"query": q, "results": num(n), "view": "search", "via": "console"}
	return e
}

func (s *state) auditExported(r *rand.Rand, t time.Time, ss session) stele.Event {
	format := pick(r, []string{"csv", "jsonl", "ocsf", "bundle"})
	e := s.userEvent(r, t, ss, "audit_log.exported", stele.OutcomeSuccess, ss.u.ref.Name+" exported the audit log as "+format)
	e.Metadata = map[string]any{"format": format, "query": pick(r, auditQueries), "events": num(100 + r.IntN(20000))}
	return e
}

func (s *state) auditVerified(r *rand.Rand, t time.Time, ss session) stele.Event {
	e := s.userEvent(r, t, ss, "audit_log.verified", stele.OutcomeSuccess, ss.u.ref.Name+" verified the audit log's integrity")
	e.Metadata = map[string]any{"tree_size": num(10000 + r.IntN(90000)), "consistent": true}
	return e
}

var findingStatuses = []string{"triaged", "in_progress", "accepted_risk", "assigned"}

func (s *state) findingUpdatedBy(r *rand.Rand, t time.Time, ss session) stele.Event {
	src := pick(r, s.sources)
	if len(src.open) == 0 {
		src.open = append(src.open, src.newFinding(r))
	}
	f := pick(r, src.open)
	status := pick(r, findingStatuses)
	e := s.userEvent(r, t, ss, "finding.updated", stele.OutcomeSuccess, ss.u.ref.Name+" marked \""+src.ruleTitle(f.rule)+"\" on "+f.resource+" as "+status)
	e.Target = &stele.Ref{Type: "finding", ID: f.id, Name: f.rule}
	e.Source = ref(src.ref)
	e.Metadata = map[string]any{"finding_id": f.id, "rule": f.rule, "resource": f.resource, "severity": f.severity, "status": status}
	return e
}

func (s *state) findingResolvedBy(r *rand.Rand, t time.Time, ss session) stele.Event {
	src := pick(r, s.sources)
	if len(src.open) == 0 {
		return s.findingUpdatedBy(r, t, ss)
	}
	i := r.IntN(len(src.open))
	f := src.open[i]
	src.open = append(src.open[:i], src.open[i+1:]...)
	e := s.userEvent(r, t, ss, "finding.resolved", stele.OutcomeSuccess, ss.u.ref.Name+" resolved \""+src.ruleTitle(f.rule)+"\" on "+f.resource)
	e.Target = &stele.Ref{Type: "finding", ID: f.id, Name: f.rule}
	e.Source = ref(src.ref)
	e.Metadata = map[string]any{"finding_id": f.id, "rule": f.rule, "resource": f.resource, "severity": f.severity, "resolution": "fixed"}
	return e
}

var apiRoutes = []string{"POST /v1/events", "GET /v1/events", "GET /v1/checkpoint", "GET /v1/export"}

// apiKeyUsed is automation calling the API with one of the account's keys.
func (s *state) apiKeyUsed(r *rand.Rand, t time.Time) stele.Event {
	svc := pick(r, s.services)
	e := s.event(r, t, "api_key.used", stele.OutcomeSuccess)
	e.Actor = ref(svc)
	e.IP = ipv4(s.p.office[0], s.p.office[1], s.p.office[2], 200+r.IntN(10))
	e.UserAgent = pick(r, toolAgents)
	route := pick(r, apiRoutes)
	status := 200
	if route == "POST /v1/events" {
		status = 201
	}
	if r.IntN(50) == 0 {
		status = 429
		e.Outcome = stele.OutcomeFailure
	}
	e.Description = "API key " + svc.Name + " called " + route
	e.Metadata = map[string]any{"route": route, "status": num(status), "key_name": svc.Name}
	return e
}
