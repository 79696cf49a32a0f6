package stele

import (
	"context"
	"slices"
	"time"
)

// Role is a user's role inside its account.
type Role string

const (
	RoleOwner   Role = "owner"
	RoleAdmin   Role = "admin"
	RoleAuditor Role = "auditor"
	RoleMember  Role = "member"
)

// Roles lists the roles from most to least powerful.
var Roles = []Role{RoleOwner, RoleAdmin, RoleAuditor, RoleMember}

// Permission is something a role allows in the console.
type Permission string

const (
	PermAuditLogsRead   Permission = "audit_logs.read"
	PermAuditLogsExport Permission = "audit_logs.export"
	PermUsersManage     Permission = "users.manage"
	PermSettingsManage  Permission = "settings.manage"
	PermKeysManage      Permission = "keys.manage"
)

// RolePermissions says what each role may do. A member sees nothing of the
// audit log; an auditor reads and exports it and changes nothing.
var RolePermissions = map[Role][]Permission{
	RoleOwner:   {PermAuditLogsRead, PermAuditLogsExport, PermUsersManage, PermSettingsManage, PermKeysManage},
	RoleAdmin:   {PermAuditLogsRead, PermAuditLogsExport, PermUsersManage, PermKeysManage},
	RoleAuditor: {PermAuditLogsRead, PermAuditLogsExport},
	RoleMember:  {},
}

// ParseRole returns the role named s, or EINVALID.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if _, ok := RolePermissions[r]; !ok {
		return "", &Error{Code: EINVALID, Message: "role must be owner, admin, auditor or member",
			Details: []FieldError{{Field: "role", Rule: "enum"}}}
	}
	return r, nil
}

// Allows reports whether the role grants p.
func (r Role) Allows(p Permission) bool { return slices.Contains(RolePermissions[r], p) }

// User is a person who signs in to the console. A user belongs to one
// account; users of the _system account are operators, who manage accounts
// but read no other account's log. Emails are unique across Stele, so a
// sign-in needs no account name.
type User struct {
	ID           string    `json:"id"`
	AccountID    int64     `json:"account_id"`
	Account      string    `json:"account"`
	Email        string    `json:"email"`
	Name         string    `json:"name,omitempty"`
	Role         Role      `json:"role"`
	PasswordHash string    `json:"-"` // argon2id, PHC string format
	TOTPSecret   string    `json:"-"` // base32; empty when MFA is off
	TOTPLastStep int64     `json:"-"` // last accepted time step, to refuse replays
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// MFAEnabled reports whether the user signs in with a second factor.
func (u *User) MFAEnabled() bool { return u.TOTPSecret != "" }

// Operator reports whether u is an operator (a user of the _system account).
func (u *User) Operator() bool { return u.Account == SystemAccount }

// UserUpdate changes the fields that are non-nil.
type UserUpdate struct {
	Name         *string
	Role         *Role
	PasswordHash *string
	TOTPSecret   *string // "" turns MFA off
}

// UserStore keeps console users.
type UserStore interface {
	CreateUser(ctx context.Context, u *User) error // sets CreatedAt; ECONFLICT if the email exists
	User(ctx context.Context, id string) (*User, error)
	UserByEmail(ctx context.Context, email string) (*User, error) // ENOTFOUND
	Users(ctx context.Context, accountID int64) ([]*User, error)  // by email
	CountUsers(ctx context.Context) (int64, error)
	UpdateUser(ctx context.Context, id string, u UserUpdate) (*User, error)
	// UseTOTPStep records step as the user's last accepted one; it reports
	// false, changing nothing, when step is not after the last one.
	UseTOTPStep(ctx context.Context, id string, step int64) (bool, error)
	DeleteUser(ctx context.Context, id string) error // also deletes the user's sessions
}

// Session is a signed-in browser. Only the SHA-256 of its token is kept. A
// session waiting for the second factor (MFAPending) grants nothing but the
// MFA step.
type Session struct {
	TokenHash  []byte
	UserID     string
	CreatedAt  time.Time
	LastSeenAt time.Time
	MFAPending bool
	IP         string
	UserAgent  string
}

// SessionStore keeps sessions.
type SessionStore interface {
	CreateSession(ctx context.Context, s *Session) error
	Session(ctx context.Context, tokenHash []byte) (*Session, error) // ENOTFOUND
	TouchSession(ctx context.Context, tokenHash []byte, at time.Time) error
	CompleteMFA(ctx context.Context, tokenHash []byte) error
	DeleteSession(ctx context.Context, tokenHash []byte) error
	DeleteUserSessions(ctx context.Context, userID string) error
	DeleteSessionsBefore(ctx context.Context, createdBefore, seenBefore time.Time) (int64, error)
}
