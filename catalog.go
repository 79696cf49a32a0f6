package stele

import "regexp"

// Categories of activity. Every event belongs to exactly one.
const (
	CategoryAuthentication = "authentication"
	CategoryUserManagement = "user_management"
	CategoryConfiguration  = "configuration"
	CategorySourceActivity = "source_activity"
	CategorySystem         = "system"
	CategoryAudit          = "audit"
)

// Categories lists the categories in display order.
var Categories = []string{
	CategoryAuthentication, CategoryUserManagement, CategoryConfiguration,
	CategorySourceActivity, CategorySystem, CategoryAudit,
}

// IsCategory reports whether c is a known category.
func IsCategory(c string) bool {
	for _, k := range Categories {
		if k == c {
			return true
		}
	}
	return false
}

// Catalog maps the built-in actions to their categories. Producers may send
// other actions that match ActionPattern, as long as they name a category.
var Catalog = map[string]string{
	// authentication
	"user.login":          CategoryAuthentication,
	"user.logout":         CategoryAuthentication,
	"user.login_failed":   CategoryAuthentication,
	"user.locked_out":     CategoryAuthentication,
	"user.mfa_challenged": CategoryAuthentication,
	"user.mfa_succeeded":  CategoryAuthentication,
	"user.mfa_failed":     CategoryAuthentication,
	"user.mfa_enrolled":   CategoryAuthentication,
	"session.expired":     CategoryAuthentication,
	"session.revoked":     CategoryAuthentication,
	"api_key.used":        CategoryAuthentication,

	// user_management
	"user.created":             CategoryUserManagement,
	"user.invited":             CategoryUserManagement,
	"user.deleted":             CategoryUserManagement,
	"user.updated":             CategoryUserManagement,
	"user.password_reset":      CategoryUserManagement,
	"user.password_changed":    CategoryUserManagement,
	"user.role_changed":        CategoryUserManagement,
	"user.permissions_changed": CategoryUserManagement,
	"user.mfa_reset":           CategoryUserManagement,
	"api_key.created":          CategoryUserManagement,
	"api_key.revoked":          CategoryUserManagement,

	// configuration
	"integration.added":    CategoryConfiguration,
	"integration.removed":  CategoryConfiguration,
	"integration.updated":  CategoryConfiguration,
	"settings.updated":     CategoryConfiguration,
	"retention.changed":    CategoryConfiguration,
	"ingest_quota.changed": CategoryConfiguration,
	"legal_hold.set":       CategoryConfiguration,
	"legal_hold.lifted":    CategoryConfiguration,
	"account.created":      CategoryConfiguration,
	"account.updated":      CategoryConfiguration,
	"account.deleted":      CategoryConfiguration,
	"alert_rule.created":   CategoryConfiguration,
	"alert_rule.updated":   CategoryConfiguration,
	"alert_rule.deleted":   CategoryConfiguration,
	"alert_rule.tested":    CategoryConfiguration,
	"stream.created":       CategoryConfiguration,
	"stream.updated":       CategoryConfiguration,
	"stream.deleted":       CategoryConfiguration,
	"stream.paused":        CategoryConfiguration,
	"crypto.key_rotated":   CategoryConfiguration,
	"crypto.reencrypted":   CategoryConfiguration,

	// source_activity
	"finding.generated":     CategorySourceActivity,
	"finding.updated":       CategorySourceActivity,
	"finding.deleted":       CategorySourceActivity,
	"finding.resolved":      CategorySourceActivity,
	"source.scan_started":   CategorySourceActivity,
	"source.scan_completed": CategorySourceActivity,
	"source.scan_failed":    CategorySourceActivity,
	"source.connected":      CategorySourceActivity,
	"source.disconnected":   CategorySourceActivity,

	// system
	"system.api_latency":    CategorySystem,
	"system.resource_usage": CategorySystem,
	"system.started":        CategorySystem,
	"system.initialized":    CategorySystem,
	"system.stopped":        CategorySystem,
	"ingest.throttled":      CategorySystem,

	// audit
	"audit_log.viewed":               CategoryAudit,
	"audit_log.exported":             CategoryAudit,
	"stream.replayed":                CategoryAudit,
	"audit_log.verified":             CategoryAudit,
	"audit_log.denied":               CategoryAudit,
	"retention.purged":               CategoryAudit,
	"retention.alert_history_purged": CategoryAudit,
	"checkpoint.signed":              CategoryAudit,
	"alert.fired":                    CategoryAudit,
	"alert.delivery_failed":          CategoryAudit,
}

// ActionPattern is the shape of every action, built-in or not.
var ActionPattern = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$`)
