package stele

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// SystemAccount is the operator account: Stele records its own events there.
const SystemAccount = "_system"

// AccountNamePattern is the shape of an account name. Names starting with an
// underscore are reserved for Stele.
var AccountNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// MaxRetentionDays bounds a retention: a hundred years.
const MaxRetentionDays = 36500

// AccountType sets the defaults of the accounts of that type: their
// retention and their ingest quota.
type AccountType struct {
	Name          string      `json:"name"`
	RetentionDays int         `json:"retention_days"`
	Ingest        IngestQuota `json:"ingest"`
}

// DefaultAccountTypes are the built-in types; configuration may override
// their settings. The ingest quotas leave a platform's normal traffic alone
// (a busy one on team sends a few hundred events a second) and stop one
// that runs away; the bursts hold at least one largest request
// (MaxBatchEvents, MaxBodyBytes).
var DefaultAccountTypes = []AccountType{
	{Name: "free", RetentionDays: 30, Ingest: IngestQuota{EventsPerSecond: 100, BytesPerSecond: 256 << 10, BurstSeconds: DefaultIngestBurstSeconds}},
	{Name: "team", RetentionDays: 90, Ingest: IngestQuota{EventsPerSecond: 1_000, BytesPerSecond: 4 << 20, BurstSeconds: DefaultIngestBurstSeconds}},
	{Name: "business", RetentionDays: 365, Ingest: IngestQuota{EventsPerSecond: 5_000, BytesPerSecond: 16 << 20, BurstSeconds: DefaultIngestBurstSeconds}},
	{Name: "enterprise", RetentionDays: 730, Ingest: IngestQuota{EventsPerSecond: 50_000, BytesPerSecond: 64 << 20, BurstSeconds: DefaultIngestBurstSeconds}},
}

// Validate checks a type's name and settings.
func (t AccountType) Validate() error {
	var out []FieldError
	if !AccountNamePattern.MatchString(t.Name) {
		out = append(out, FieldError{Field: "name", Rule: "pattern",
			Message: fmt.Sprintf("an account type's name is 1-63 lowercase letters, digits, - and _, starting with a letter or digit; not %q", t.Name)})
	}
	if fe := checkRetentionDays(t.RetentionDays); fe != nil {
		out = append(out, *fe)
	}
	q := t.Ingest
	out = append(out, ingestProblems(&q.EventsPerSecond, &q.BytesPerSecond, &q.BurstSeconds)...)
	for i := range out {
		out[i].Message = "type " + t.Name + ": " + out[i].Message
	}
	return invalidSettings(out)
}

// Account is a tenant: every event, key and user belongs to one.
type Account struct {
	ID            int64          `json:"id"`
	Name          string         `json:"name"`
	Type          string         `json:"type"`
	RetentionDays *int           `json:"retention_days_override,omitempty"`
	LegalHold     bool           `json:"legal_hold"`
	Ingest        IngestOverride `json:"ingest_override"`
	CreatedAt     time.Time      `json:"created_at"`
}

// IngestQuota returns the account's ingest quota: its type's from types
// with its own settings over it. A type not in types has no quota.
func (a *Account) IngestQuota(types []AccountType) IngestQuota {
	var q IngestQuota
	if i := slices.IndexFunc(types, func(t AccountType) bool { return t.Name == a.Type }); i >= 0 {
		q = types[i].Ingest
	}
	return a.Ingest.Over(q)
}

// AccountSettings is an account's settings as in force: its retention and
// ingest quota, its type's unless its own (stele accounts list --json).
type AccountSettings struct {
	Name          string    `json:"name"`
	Type          string    `json:"type"`
	RetentionDays int       `json:"retention_days"`
	Override      bool      `json:"retention_overridden"`
	LegalHold     bool      `json:"legal_hold"`
	CreatedAt     time.Time `json:"created_at"`
	// Ingest is the quota enforced (0: unlimited); IngestOverride the
	// settings that are the account's own rather than its type's.
	Ingest         IngestQuota    `json:"ingest"`
	IngestOverride IngestOverride `json:"ingest_override"`
}

// Settings returns the account's settings in force under types.
func (a *Account) Settings(types []AccountType) AccountSettings {
	return AccountSettings{Name: a.Name, Type: a.Type, RetentionDays: a.Retention(types),
		Override: a.RetentionDays != nil, LegalHold: a.LegalHold, CreatedAt: a.CreatedAt,
		Ingest: a.IngestQuota(types), IngestOverride: a.Ingest}
}

// Validate checks an account as it is to be stored: its name (or the
// reserved SystemAccount), its type among types, and its own settings.
// Every problem is listed in one EINVALID error, each naming its field and
// rule.
func (a *Account) Validate(types []AccountType) error {
	var out []FieldError
	if a.Name != SystemAccount && !AccountNamePattern.MatchString(a.Name) {
		out = append(out, FieldError{Field: "name", Rule: "pattern",
			Message: fmt.Sprintf("an account name is 1-63 lowercase letters, digits, - and _, starting with a letter or digit; not %q", a.Name)})
	}
	if fe := checkType(a.Type, types); fe != nil {
		out = append(out, *fe)
	}
	if a.RetentionDays != nil {
		if fe := checkRetentionDays(*a.RetentionDays); fe != nil {
			out = append(out, *fe)
		}
	}
	o := a.Ingest
	out = append(out, ingestProblems(o.EventsPerSecond, o.BytesPerSecond, o.BurstSeconds)...)
	return invalidSettings(out)
}

func checkType(typ string, types []AccountType) *FieldError {
	if slices.ContainsFunc(types, func(t AccountType) bool { return t.Name == typ }) {
		return nil
	}
	names := make([]string, len(types))
	for i, t := range types {
		names[i] = t.Name
	}
	return &FieldError{Field: "type", Rule: "enum",
		Message: fmt.Sprintf("the account type must be one of %s; not %q", strings.Join(names, ", "), typ)}
}

func checkRetentionDays(n int) *FieldError {
	if n < 1 || n > MaxRetentionDays {
		return &FieldError{Field: "retention_days", Rule: "range",
			Message: fmt.Sprintf("retention days must be a whole number from 1 to %d; not %d", MaxRetentionDays, n)}
	}
	return nil
}

// invalidSettings is the EINVALID error listing problems, or nil for none.
func invalidSettings(problems []FieldError) error {
	if len(problems) == 0 {
		return nil
	}
	msgs := make([]string, len(problems))
	for i, p := range problems {
		msgs[i] = p.Message
	}
	return &Error{Code: EINVALID, Message: strings.Join(msgs, "; "), Details: problems}
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

// RetentionCutoff returns the time before which the account's events are
// past their retention at now, and its retention in days; ok is false when
// the account has no known retention (then none of its events expire).
func (a *Account) RetentionCutoff(types []AccountType, now time.Time) (cutoff time.Time, days int, ok bool) {
	days = a.Retention(types)
	if days <= 0 {
		return time.Time{}, 0, false
	}
	return now.Add(-time.Duration(days) * 24 * time.Hour).UTC().Truncate(TimeUnit), days, true
}

// Clone returns a copy of a that shares nothing with it.
func (a *Account) Clone() *Account {
	c := *a
	if a.RetentionDays != nil {
		n := *a.RetentionDays
		c.RetentionDays = &n
	}
	c.Ingest = a.Ingest.clone()
	return &c
}

// AccountUpdate changes the fields that are non-nil and the settings whose
// change is not zero.
type AccountUpdate struct {
	Type *string
	// RetentionDays is the account's own retention, from 1 to
	// MaxRetentionDays (Validate refuses 0; Apply takes it as
	// ClearRetention, so that no path stores a retention of no days).
	RetentionDays  *int
	ClearRetention bool // back to its type's
	LegalHold      *bool

	IngestEventsPerSecond SettingChange
	IngestBytesPerSecond  SettingChange
	IngestBurstSeconds    SettingChange
}

// IsZero reports whether u changes nothing.
func (u AccountUpdate) IsZero() bool {
	return u.Type == nil && u.RetentionDays == nil && !u.ClearRetention && u.LegalHold == nil &&
		u.IngestEventsPerSecond.IsZero() && u.IngestBytesPerSecond.IsZero() && u.IngestBurstSeconds.IsZero()
}

// Validate checks what u sets, with the rules of Account.Validate: a new
// type among types, retention days and ingest settings in range. What u
// leaves alone is not checked again, so an account whose type the
// configuration has since dropped can still have its other settings changed.
func (u AccountUpdate) Validate(types []AccountType) error {
	var out []FieldError
	if u.Type != nil {
		if fe := checkType(*u.Type, types); fe != nil {
			out = append(out, *fe)
		}
	}
	if u.RetentionDays != nil && !u.ClearRetention {
		if fe := checkRetentionDays(*u.RetentionDays); fe != nil {
			out = append(out, *fe)
		}
	}
	set := func(c SettingChange) *int64 {
		if c.Clear {
			return nil
		}
		return c.Set
	}
	out = append(out, ingestProblems(set(u.IngestEventsPerSecond), set(u.IngestBytesPerSecond), set(u.IngestBurstSeconds))...)
	return invalidSettings(out)
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
	u.IngestEventsPerSecond.apply(&a.Ingest.EventsPerSecond)
	u.IngestBytesPerSecond.apply(&a.Ingest.BytesPerSecond)
	u.IngestBurstSeconds.apply(&a.Ingest.BurstSeconds)
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
