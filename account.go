package stele

import (
	"context"
	"regexp"
	"time"
)

// SystemAccount is the operator account: Stele records its own events there.
const SystemAccount = "_system"

// AccountNamePattern is the shape of an account name. Names starting with an
// underscore are reserved for Stele.
var AccountNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// AccountType sets the default retention of the accounts of that type.
type AccountType struct {
	Name          string `json:"name"`
	RetentionDays int    `json:"retention_days"`
}

// DefaultAccountTypes are the built-in types; configuration may override their days.
var DefaultAccountTypes = []AccountType{
	{Name: "free", RetentionDays: 30},
	{Name: "team", RetentionDays: 90},
	{Name: "business", RetentionDays: 365},
	{Name: "enterprise", RetentionDays: 730},
}

// Account is a tenant: every event, key and user belongs to one.
type Account struct {
	ID            int64     `json:"id"`
	Name          string    `json:"name"`
	Type          string    `json:"type"`
	RetentionDays *int      `json:"retention_days_override,omitempty"`
	LegalHold     bool      `json:"legal_hold"`
	CreatedAt     time.Time `json:"created_at"`
}

// Retention returns the account's retention in days: its own override, or
// its type's days from types, or 0 when neither is known.
func (a *Account) Retention(types []AccountType) int {
	if a.RetentionDays != nil {
		return *a.RetentionDays
	}
	for _, t := range types {
		if t.Name == a.Type {
			return t.RetentionDays
		}
	}
	return 0
}

// Clone returns a copy of a that shares nothing with it.
func (a *Account) Clone() *Account {
	c := *a
	if a.RetentionDays != nil {
		n := *a.RetentionDays
		c.RetentionDays = &n
	}
	return &c
}

// AccountUpdate changes the fields that are non-nil.
type AccountUpdate struct {
	Type           *string
	RetentionDays  *int // 0 clears the override
	ClearRetention bool
	LegalHold      *bool
}

// Apply changes a as u says.
func (u AccountUpdate) Apply(a *Account) {
	if u.Type != nil {
		a.Type = *u.Type
	}
	switch {
	case u.ClearRetention, u.RetentionDays != nil && *u.RetentionDays == 0:
		a.RetentionDays = nil
	case u.RetentionDays != nil:
		n := *u.RetentionDays
		a.RetentionDays = &n
	}
	if u.LegalHold != nil {
		a.LegalHold = *u.LegalHold
	}
}

// AccountStore keeps accounts.
type AccountStore interface {
	CreateAccount(ctx context.Context, a *Account) error // sets a.ID and a.CreatedAt; ECONFLICT if the name exists
	Account(ctx context.Context, id int64) (*Account, error)
	AccountByName(ctx context.Context, name string) (*Account, error)
	Accounts(ctx context.Context) ([]*Account, error)
	// UpdateAccount applies u and returns the account as it was just
	// before, read in the same transaction, and as it is now.
	UpdateAccount(ctx context.Context, id int64, u AccountUpdate) (before, after *Account, err error)
}
