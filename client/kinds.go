package client

import (
	"github.com/stele-audit/stele"
)

// Helpers for the common kinds of activity: each returns the event with
// its catalog action, category, outcome, parties and metadata set the way
// Stele's console, alerts and demo data read them. Add what the platform
// knows before recording it:
//
//	e := client.RoleChanged(admin, user, "viewer", "admin")
//	e.IP, e.Description = ip, "Ada made Bob an admin"
//	c.Record(ctx, e)
//
// Metadata values must be strings, numbers, booleans or nil.

func event(action string, actor stele.Ref, outcome string) stele.Event {
	return stele.Event{Action: action, Category: stele.Catalog[action], Outcome: outcome, Actor: refOf(actor)}
}

func refOf(r stele.Ref) *stele.Ref {
	if r == (stele.Ref{}) {
		return nil
	}
	return &r
}

// targetOf is r as a target or a source: only actors carry an email.
func targetOf(r stele.Ref) *stele.Ref {
	r.Email = ""
	return refOf(r)
}

// Login is a successful sign-in of actor (user.login).
func Login(actor stele.Ref) stele.Event {
	return event("user.login", actor, stele.OutcomeSuccess)
}

// Logout is actor signing out (user.logout).
func Logout(actor stele.Ref) stele.Event {
	return event("user.logout", actor, stele.OutcomeSuccess)
}

// LoginFailed is a refused sign-in as actor (user.login_failed), with the
// reason ("invalid_password", "mfa_failed", "locked", …).
func LoginFailed(actor stele.Ref, reason string) stele.Event {
	e := event("user.login_failed", actor, stele.OutcomeFailure)
	e.Metadata = map[string]any{"reason": reason}
	return e
}

// RoleChanged is actor changing the role of the user target from before
// to after (user.role_changed).
func RoleChanged(actor, target stele.Ref, before, after string) stele.Event {
	e := event("user.role_changed", actor, stele.OutcomeSuccess)
	e.Target = targetOf(target)
	e.Metadata = map[string]any{"role_before": before, "role_after": after}
	return e
}

// PermissionsChanged is actor granting ("granted") or revoking
// ("revoked") a permission of the user target (user.permissions_changed).
func PermissionsChanged(actor, target stele.Ref, permission, change string) stele.Event {
	e := event("user.permissions_changed", actor, stele.OutcomeSuccess)
	e.Target = targetOf(target)
	e.Metadata = map[string]any{"permission": permission, "change": change}
	return e
}

// UserCreated is actor adding the user target with a role (user.created).
func UserCreated(actor, target stele.Ref, role string) stele.Event {
	e := event("user.created", actor, stele.OutcomeSuccess)
	e.Target = targetOf(target)
	e.Metadata = map[string]any{"role": role}
	return e
}

// UserDeleted is actor removing the user target (user.deleted).
func UserDeleted(actor, target stele.Ref) stele.Event {
	e := event("user.deleted", actor, stele.OutcomeSuccess)
	e.Target = targetOf(target)
	return e
}

// IntegrationAdded is actor connecting a source: an AWS account, a GitHub
// organisation, an Okta tenant … (integration.added). The source's Type
// names the kind of integration.
func IntegrationAdded(actor, source stele.Ref) stele.Event {
	e := event("integration.added", actor, stele.OutcomeSuccess)
	e.Source = targetOf(source)
	e.Metadata = map[string]any{"integration": source.Type}
	return e
}

// IntegrationRemoved is actor disconnecting a source (integration.removed).
func IntegrationRemoved(actor, source stele.Ref) stele.Event {
	e := event("integration.removed", actor, stele.OutcomeSuccess)
	e.Source = targetOf(source)
	e.Metadata = map[string]any{"integration": source.Type}
	return e
}

// SettingChanged is actor changing a setting from before to after
// (settings.updated).
func SettingChanged(actor stele.Ref, setting, before, after string) stele.Event {
	e := event("settings.updated", actor, stele.OutcomeSuccess)
	e.Metadata = map[string]any{"setting": setting, "value_before": before, "value_after": after}
	return e
}

// Finding is what a source's scan found: its id, the rule that raised it,
// the resource it is about and its severity (low, medium, high, critical).
type Finding struct {
	ID, Rule, Resource, Severity string
}

func findingEvent(action string, actor, source stele.Ref, f Finding) stele.Event {
	e := event(action, actor, stele.OutcomeSuccess)
	e.Source = targetOf(source)
	e.Target = &stele.Ref{Type: "finding", ID: f.ID, Name: f.Rule}
	e.Metadata = map[string]any{"finding_id": f.ID, "rule": f.Rule, "resource": f.Resource, "severity": f.Severity}
	return e
}

// FindingGenerated is a finding raised in source by actor, usually the
// scanner (finding.generated).
func FindingGenerated(actor, source stele.Ref, f Finding) stele.Event {
	return findingEvent("finding.generated", actor, source, f)
}

// FindingDeleted is a finding of source removed (finding.deleted).
func FindingDeleted(actor, source stele.Ref, f Finding) stele.Event {
	return findingEvent("finding.deleted", actor, source, f)
}
