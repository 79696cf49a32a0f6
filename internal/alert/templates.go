package alert

import "github.com/stele-audit/stele/internal/notify"

// Template is a rule ready to pick in the console or with
// `stele alerts create --template NAME`: everything but its destinations.
type Template struct {
	Name        string // the template's name, as the CLI takes it
	Title       string // the rule's name
	Description string
	Query       string
	Threshold   *ThresholdInput
	Cooldown    string
}

// Templates are the rules issue 17 asks to have ready.
var Templates = []Template{
	{Name: "role-changed", Title: "Role or permission changed",
		Description: "Someone's role or permissions changed: a new admin is the first thing to know about.",
		Query:       "action:user.role_changed,user.permissions_changed"},
	{Name: "integration-changed", Title: "Integration added or removed",
		Description: "An integration was connected or disconnected.",
		Query:       "action:integration.added,integration.removed"},
	{Name: "settings-changed", Title: "Audit, retention or alert settings changed",
		Description: "The account's audit, retention, legal hold, quota or alert settings changed.",
		Query:       "action:settings.updated,retention.changed,legal_hold.set,legal_hold.lifted,ingest_quota.changed,alert_rule.created,alert_rule.updated,alert_rule.deleted"},
	{Name: "failed-logins", Title: "Failed logins for one user",
		Description: "One user failed to sign in 5 times within 10 minutes (change the count and window to taste).",
		Query:       "action:user.login_failed", Threshold: &ThresholdInput{Count: 5, Window: "10m", GroupBy: "actor"}, Cooldown: "15m"},
	{Name: "log-exported", Title: "Audit log exported",
		Description: "Someone exported the audit log.",
		Query:       "action:audit_log.exported"},
	{Name: "findings-deleted", Title: "Burst of findings deleted",
		Description: "20 or more findings deleted within 10 minutes.",
		Query:       "action:finding.deleted", Threshold: &ThresholdInput{Count: 20, Window: "10m"}, Cooldown: "1h"},
}

// TemplateNamed returns the template called name, and false if none is.
func TemplateNamed(name string) (Template, bool) {
	for _, t := range Templates {
		if t.Name == name {
			return t, true
		}
	}
	return Template{}, false
}

// Input returns the template as a rule with destinations ds.
func (t Template) Input(ds []notify.Destination) Input {
	in := Input{Name: t.Title, Query: t.Query, Cooldown: t.Cooldown, Destinations: ds}
	if t.Threshold != nil {
		th := *t.Threshold
		in.Threshold = &th
	}
	return in
}
