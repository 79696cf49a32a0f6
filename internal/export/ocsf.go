package export

import (
	"strings"

	"github.com/stele-audit/stele"
)

// OCSFVersion is the version of the Open Cybersecurity Schema Framework
// (schema.ocsf.io) that the ocsf format writes.
const OCSFVersion = "1.3.0"

// OCSF classes and categories Stele's events map to.
const (
	ocsfBaseEvent         = 0    // Uncategorized
	ocsfDetectionFinding  = 2004 // Findings
	ocsfAccountChange     = 3001 // Identity & Access Management
	ocsfAuthentication    = 3002
	ocsfUserAccessMgmt    = 3005
	ocsfApplicationLifecy = 6002 // Application Activity
	ocsfAPIActivity       = 6003
)

var ocsfClassNames = map[int]string{
	ocsfBaseEvent: "Base Event", ocsfDetectionFinding: "Detection Finding", ocsfAccountChange: "Account Change",
	ocsfAuthentication: "Authentication", ocsfUserAccessMgmt: "User Access Management",
	ocsfApplicationLifecy: "Application Lifecycle", ocsfAPIActivity: "API Activity",
}

var ocsfCategoryNames = map[int]string{
	0: "Uncategorized", 2: "Findings", 3: "Identity & Access Management", 6: "Application Activity",
}

// ocsfActivity is an OCSF class and one of its activities.
type ocsfActivity struct {
	class int
	id    int
	name  string
}

// ocsfByAction maps the built-in actions whose class or activity is not
// what their category and verb give (ocsfFor).
var ocsfByAction = map[string]ocsfActivity{
	"user.login":               {ocsfAuthentication, 1, "Logon"},
	"user.login_failed":        {ocsfAuthentication, 1, "Logon"},
	"user.logout":              {ocsfAuthentication, 2, "Logoff"},
	"session.expired":          {ocsfAuthentication, 2, "Logoff"},
	"session.revoked":          {ocsfAuthentication, 2, "Logoff"},
	"user.mfa_challenged":      {ocsfAuthentication, 99, "MFA Challenge"},
	"user.mfa_succeeded":       {ocsfAuthentication, 99, "MFA Verification"},
	"user.mfa_failed":          {ocsfAuthentication, 99, "MFA Verification"},
	"api_key.used":             {ocsfAuthentication, 99, "API Key Use"},
	"user.locked_out":          {ocsfAccountChange, 9, "Lock"},
	"user.mfa_enrolled":        {ocsfAccountChange, 10, "MFA Factor Enable"},
	"user.mfa_reset":           {ocsfAccountChange, 11, "MFA Factor Disable"},
	"user.created":             {ocsfAccountChange, 1, "Create"},
	"user.invited":             {ocsfAccountChange, 1, "Create"},
	"user.deleted":             {ocsfAccountChange, 6, "Delete"},
	"user.updated":             {ocsfAccountChange, 99, "Update"},
	"user.password_reset":      {ocsfAccountChange, 4, "Password Reset"},
	"user.password_changed":    {ocsfAccountChange, 3, "Password Change"},
	"user.role_changed":        {ocsfUserAccessMgmt, 1, "Assign Privileges"},
	"user.permissions_changed": {ocsfUserAccessMgmt, 1, "Assign Privileges"},
	"api_key.created":          {ocsfAPIActivity, 1, "Create"},
	"api_key.revoked":          {ocsfAPIActivity, 4, "Delete"},
	"finding.generated":        {ocsfDetectionFinding, 1, "Create"},
	"finding.updated":          {ocsfDetectionFinding, 2, "Update"},
	"finding.resolved":         {ocsfDetectionFinding, 3, "Close"},
	"finding.deleted":          {ocsfDetectionFinding, 3, "Close"},
	"source.connected":         {ocsfApplicationLifecy, 6, "Enable"},
	"source.disconnected":      {ocsfApplicationLifecy, 7, "Disable"},
	"source.scan_started":      {ocsfApplicationLifecy, 3, "Start"},
	"source.scan_completed":    {ocsfApplicationLifecy, 4, "Stop"},
	"source.scan_failed":       {ocsfApplicationLifecy, 4, "Stop"},
	"system.started":           {ocsfApplicationLifecy, 3, "Start"},
	"system.stopped":           {ocsfApplicationLifecy, 4, "Stop"},
	"system.initialized":       {ocsfApplicationLifecy, 1, "Install"},
	// The ingest requests (creates) an account's quota refused in a minute.
	"ingest.throttled": {ocsfAPIActivity, 1, "Create"},
}

// ocsfFor returns the class and activity of an event: its action's entry,
// or what its category and the verb that ends its action give. Actions of
// producers' own get the same treatment as the built-in ones they resemble.
func ocsfFor(action, category string) ocsfActivity {
	if a, ok := ocsfByAction[action]; ok {
		return a
	}
	switch {
	case category == stele.CategoryAuthentication:
		return ocsfActivity{ocsfAuthentication, 99, "Other"}
	case category == stele.CategoryUserManagement:
		return ocsfActivity{ocsfAccountChange, 99, "Other"}
	case category == stele.CategorySourceActivity && strings.HasPrefix(action, "finding."):
		// Detection Finding's activities are Create, Update and Close.
		if a, ok := findingActivities[crudOf(action).id]; ok {
			return a
		}
		return ocsfActivity{ocsfDetectionFinding, 99, "Other"}
	case category == stele.CategorySourceActivity:
		return ocsfActivity{ocsfApplicationLifecy, 99, "Other"}
	case category == stele.CategorySystem:
		return ocsfActivity{ocsfBaseEvent, 99, "Other"}
	}
	a := crudOf(action) // configuration, audit
	a.class = ocsfAPIActivity
	return a
}

// findingActivities are Detection Finding's activities by API Activity's.
var findingActivities = map[int]ocsfActivity{
	1: {ocsfDetectionFinding, 1, "Create"},
	3: {ocsfDetectionFinding, 2, "Update"},
	4: {ocsfDetectionFinding, 3, "Close"},
}

// crudOf reads the verb that ends an action (settings.updated → Update,
// billing.invoice_created → Create) as one of the Create, Read, Update and
// Delete activities of API Activity.
func crudOf(action string) ocsfActivity {
	verb := action[strings.LastIndexAny(action, "._")+1:]
	switch verb {
	case "created", "added", "generated", "signed", "invited", "enrolled":
		return ocsfActivity{ocsfAPIActivity, 1, "Create"}
	case "viewed", "exported", "verified", "read", "listed", "used", "denied", "downloaded":
		return ocsfActivity{ocsfAPIActivity, 2, "Read"}
	case "updated", "changed", "set", "lifted", "rotated", "reencrypted", "modified", "enabled", "disabled", "resolved":
		return ocsfActivity{ocsfAPIActivity, 3, "Update"}
	case "deleted", "removed", "revoked", "purged":
		return ocsfActivity{ocsfAPIActivity, 4, "Delete"}
	}
	return ocsfActivity{ocsfAPIActivity, 99, "Other"}
}

type ocsfEvent struct {
	ActivityID   int           `json:"activity_id"`
	ActivityName string        `json:"activity_name"`
	CategoryUID  int           `json:"category_uid"`
	CategoryName string        `json:"category_name"`
	ClassUID     int           `json:"class_uid"`
	ClassName    string        `json:"class_name"`
	TypeUID      int           `json:"type_uid"`
	TypeName     string        `json:"type_name"`
	SeverityID   int           `json:"severity_id"`
	Severity     string        `json:"severity"`
	StatusID     int           `json:"status_id"`
	Status       string        `json:"status"`
	Time         int64         `json:"time"`
	Message      string        `json:"message,omitempty"`
	Metadata     ocsfMetadata  `json:"metadata"`
	Actor        *ocsfActor    `json:"actor,omitempty"`
	User         *ocsfUser     `json:"user,omitempty"`
	Privileges   []string      `json:"privileges,omitempty"`
	IsMFA        bool          `json:"is_mfa,omitempty"`
	API          *ocsfAPI      `json:"api,omitempty"`
	App          *ocsfApp      `json:"app,omitempty"`
	FindingInfo  *ocsfFinding  `json:"finding_info,omitempty"`
	SrcEndpoint  *ocsfEndpoint `json:"src_endpoint,omitempty"`
	HTTPRequest  *ocsfHTTP     `json:"http_request,omitempty"`
	Unmapped     ocsfUnmapped  `json:"unmapped"`
}

// ocsfUnmapped holds Stele's fields that the class has no attribute for.
type ocsfUnmapped struct {
	Action   string         `json:"action"`
	Category string         `json:"category"`
	Outcome  string         `json:"outcome"`
	Target   *stele.Ref     `json:"target,omitempty"`
	Source   *stele.Ref     `json:"source,omitempty"`
	Metadata map[string]any `json:"metadata,omitempty"`
}

type ocsfMetadata struct {
	Version        string      `json:"version"`
	Product        ocsfProduct `json:"product"`
	UID            string      `json:"uid"`
	TenantUID      string      `json:"tenant_uid"`
	Sequence       int64       `json:"sequence"`
	LoggedTime     int64       `json:"logged_time"`
	LogName        string      `json:"log_name"`
	EventCode      string      `json:"event_code"`
	CorrelationUID string      `json:"correlation_uid,omitempty"`
}

type ocsfProduct struct {
	Name       string `json:"name"`
	VendorName string `json:"vendor_name"`
}

type ocsfActor struct {
	User *ocsfUser `json:"user,omitempty"`
}

type ocsfUser struct {
	UID       string `json:"uid,omitempty"`
	Name      string `json:"name,omitempty"`
	EmailAddr string `json:"email_addr,omitempty"`
	Type      string `json:"type,omitempty"`
	TypeID    int    `json:"type_id"`
}

type ocsfAPI struct {
	Operation string `json:"operation"`
}

type ocsfApp struct {
	Name string `json:"name"`
	UID  string `json:"uid,omitempty"`
	Type string `json:"type,omitempty"`
}

type ocsfFinding struct {
	UID   string `json:"uid"`
	Title string `json:"title"`
	Desc  string `json:"desc,omitempty"`
}

type ocsfEndpoint struct {
	IP string `json:"ip"`
}

type ocsfHTTP struct {
	UserAgent string `json:"user_agent"`
}

// ocsfUserOf is an actor or target as an OCSF user: type_id 1 User, 2
// Admin, 3 System (services, the operator's tools), 99 Other.
func ocsfUserOf(r *stele.Ref) *ocsfUser {
	if r.IsZero() {
		return nil
	}
	u := &ocsfUser{UID: r.ID, Name: r.Name, EmailAddr: r.Email, Type: r.Type}
	switch r.Type {
	case "", "user":
		u.TypeID, u.Type = 1, "User"
	case "admin", "operator":
		u.TypeID = 2
	case "service", "system", "api_key", "integration":
		u.TypeID = 3
	default:
		u.TypeID = 99
	}
	return u
}

// toOCSF converts e to an OCSF event of the class its action maps to
// (docs/EXPORT.md has the table). What OCSF has no attribute for (the
// account's action name, the target of most classes, metadata) is kept under
// unmapped.
func toOCSF(e *stele.Event) *ocsfEvent {
	a := ocsfFor(e.Action, e.Category)
	o := &ocsfEvent{
		ActivityID: a.id, ActivityName: a.name,
		ClassUID: a.class, ClassName: ocsfClassNames[a.class], CategoryUID: a.class / 1000,
		TypeUID: a.class*100 + a.id, TypeName: ocsfClassNames[a.class] + ": " + a.name,
		SeverityID: 1, Severity: "Informational",
		Time:    e.Time.UnixMilli(),
		Message: e.Description,
		Metadata: ocsfMetadata{Version: OCSFVersion, Product: ocsfProduct{Name: "Stele", VendorName: "Stele"},
			UID: e.ID, TenantUID: e.Account, Sequence: e.Seq, LoggedTime: e.ReceivedAt.UnixMilli(),
			LogName: "audit", EventCode: e.Action, CorrelationUID: e.RequestID},
		Unmapped: ocsfUnmapped{Action: e.Action, Category: e.Category, Outcome: e.Outcome, Metadata: e.Metadata},
	}
	o.CategoryName = ocsfCategoryNames[o.CategoryUID]
	switch e.Outcome {
	case stele.OutcomeSuccess:
		o.StatusID, o.Status = 1, "Success"
	case stele.OutcomeFailure:
		o.StatusID, o.Status = 2, "Failure"
		o.SeverityID, o.Severity = 2, "Low"
	default:
		o.StatusID, o.Status = 0, "Unknown"
	}
	actor := ocsfUserOf(e.Actor)
	if actor != nil {
		o.Actor = &ocsfActor{User: actor}
	}
	if e.IP != "" {
		o.SrcEndpoint = &ocsfEndpoint{IP: e.IP}
	}
	if e.UserAgent != "" {
		o.HTTPRequest = &ocsfHTTP{UserAgent: e.UserAgent}
	}
	targetMapped, sourceMapped := false, false
	switch a.class {
	case ocsfAuthentication:
		// The user who authenticates is the actor.
		o.User = actor
		o.IsMFA = strings.Contains(e.Action, "mfa")
	case ocsfAccountChange, ocsfUserAccessMgmt:
		// The user changed is the target when there is one; the actor made
		// the change.
		o.User = actor
		if u := ocsfUserOf(e.Target); u != nil {
			o.User, targetMapped = u, true
		}
		if a.class == ocsfUserAccessMgmt {
			o.Privileges = privilegesOf(e)
		}
	case ocsfAPIActivity:
		o.API = &ocsfAPI{Operation: e.Action}
		if o.SrcEndpoint == nil {
			o.SrcEndpoint = &ocsfEndpoint{} // required by the class; the address is unknown
		}
	case ocsfApplicationLifecy:
		switch {
		case !e.Source.IsZero():
			o.App, sourceMapped = &ocsfApp{Name: firstOf(e.Source.Name, e.Source.ID), UID: e.Source.ID, Type: e.Source.Type}, true
		case strings.HasPrefix(e.Action, "system."):
			o.App = &ocsfApp{Name: "Stele"}
		default:
			name, _, _ := strings.Cut(e.Action, ".") // source.scan_started: "source"
			o.App = &ocsfApp{Name: name}
		}
	case ocsfDetectionFinding:
		f := &ocsfFinding{UID: e.ID, Title: firstOf(e.Description, e.Action), Desc: e.Description}
		if !e.Target.IsZero() {
			f.UID, f.Title, targetMapped = firstOf(e.Target.ID, e.ID), firstOf(e.Target.Name, e.Description, e.Action), true
		}
		o.FindingInfo = f
	}
	if !e.Target.IsZero() && !targetMapped {
		o.Unmapped.Target = e.Target
	}
	if !e.Source.IsZero() && !sourceMapped {
		o.Unmapped.Source = e.Source
	}
	return o
}

// privilegesOf names what a role or permission change granted: the
// metadata's role_after or permissions, else the action itself.
func privilegesOf(e *stele.Event) []string {
	for _, k := range []string{"role_after", "role", "permissions_after", "permissions"} {
		if v, ok := e.Metadata[k]; ok {
			if s, ok := v.(string); ok && s != "" {
				return []string{s}
			}
		}
	}
	return []string{e.Action}
}

func firstOf(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// AppendOCSF appends e as one line of OCSF JSON, HTML characters not
// escaped (as the jsonl format writes them).
func AppendOCSF(dst []byte, e *stele.Event) ([]byte, error) {
	return appendJSONLine(dst, toOCSF(e))
}
