package forward

import "github.com/stele-audit/stele"

// Syslog severities (RFC 5424 §6.2.1) that events map to.
const (
	severityWarning = 4
	severityNotice  = 5
	severityInfo    = 6
)

// facilityLogAudit is RFC 5424's facility 13, "log audit": the default
// facility of every message.
const facilityLogAudit = 13

// severityOf maps an event to a syslog severity (docs/STREAMS.md has the
// table): a failure of an authentication, a change to users or settings, or
// an access to the audit log is a warning, any other failure a notice; a
// successful change to users or settings is a notice; the rest is
// informational. Producers choose the category and outcome, so the mapping
// ranks; it never drops.
func severityOf(e *stele.Event) int {
	sensitive := false
	switch e.Category {
	case stele.CategoryAuthentication, stele.CategoryUserManagement, stele.CategoryConfiguration, stele.CategoryAudit:
		sensitive = true
	}
	switch {
	case e.Outcome == stele.OutcomeFailure && sensitive:
		return severityWarning
	case e.Outcome == stele.OutcomeFailure:
		return severityNotice
	case e.Category == stele.CategoryUserManagement || e.Category == stele.CategoryConfiguration:
		return severityNotice
	}
	return severityInfo
}

// cefSeverity is the CEF severity (0 to 10) of a syslog severity: 7 (high)
// for a warning, 5 (medium) for a notice, 3 (low) for the rest.
func cefSeverity(syslogSeverity int) int {
	switch syslogSeverity {
	case severityWarning:
		return 7
	case severityNotice:
		return 5
	}
	return 3
}
