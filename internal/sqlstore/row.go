package sqlstore

// What the stores share of their rows: the column lists of the tables whose
// columns have the same meaning and Go types in both schemas, and the scans
// of those columns into stele's types. Both drivers' rows (database/sql's
// and pgx's) are a Scanner; both scan a NULL into a nil pointer.

import (
	"fmt"
	"time"

	"github.com/stele-audit/stele"
)

// Scanner is one row of either driver.
type Scanner interface{ Scan(dest ...any) error }

// Rows is a result set of either driver (*sql.Rows, pgx.Rows), read row by
// row.
type Rows interface {
	Scanner
	Next() bool
	Err() error
}

// Collect reads every row with scan, into a slice that is empty, not nil,
// when there is none. The caller closes rows.
func Collect[T any](rows Rows, scan func(Scanner) (T, error)) ([]T, error) {
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// Time is a stored time (Unix µs) in UTC.
func Time(us int64) time.Time { return time.UnixMicro(us).UTC() }

// TimeOrNil is a nullable stored time.
func TimeOrNil(us *int64) *time.Time {
	if us == nil {
		return nil
	}
	t := Time(*us)
	return &t
}

// MicrosOrNil is the stored form of a nullable time.
func MicrosOrNil(t *time.Time) *int64 {
	if t == nil {
		return nil
	}
	us := t.UnixMicro()
	return &us
}

// NonNilBytes keeps a NOT NULL binary column from receiving a nil slice,
// which both drivers send as NULL.
func NonNilBytes(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// Blocks copies the byte values of a page of rows into shared blocks, so
// that a page costs a few allocations rather than one for each value (a
// driver's bytes are good only until its next row). The zero Blocks is
// ready to use.
type Blocks struct{ free []byte }

// blockSize holds some fifty sealed payloads of demo events.
const blockSize = 32 << 10

// Copy returns a copy of b with no spare capacity, so that appending to it
// cannot write over the next value; never nil. A value over a quarter of a
// block gets an allocation of its own.
func (k *Blocks) Copy(b []byte) []byte {
	if len(b) == 0 {
		return []byte{}
	}
	if len(b) > cap(k.free)-len(k.free) {
		if len(b) > blockSize/4 {
			c := make([]byte, len(b))
			copy(c, b)
			return c
		}
		k.free = make([]byte, 0, blockSize)
	}
	n := len(k.free)
	k.free = append(k.free, b...)
	return k.free[n:len(k.free):len(k.free)]
}

// AccountColumns are the columns Account scans, in its order.
const AccountColumns = `id, name, type, retention_days, legal_hold, created_at, ` + AccountSettingColumns

// AccountSettingColumns are the account's own ingest quota settings, in
// the order of AccountSettings.
const AccountSettingColumns = `ingest_events_per_second, ingest_bytes_per_second, ingest_burst_seconds`

// AccountSettings returns the values of AccountSettingColumns for a.
func AccountSettings(a *stele.Account) []any {
	return []any{a.Ingest.EventsPerSecond, a.Ingest.BytesPerSecond, a.Ingest.BurstSeconds}
}

// ScanAccount scans AccountColumns.
func ScanAccount(s Scanner) (*stele.Account, error) {
	var (
		a         stele.Account
		retention *int64
		created   int64
	)
	if err := s.Scan(&a.ID, &a.Name, &a.Type, &retention, &a.LegalHold, &created,
		&a.Ingest.EventsPerSecond, &a.Ingest.BytesPerSecond, &a.Ingest.BurstSeconds); err != nil {
		return nil, err
	}
	if retention != nil {
		n := int(*retention)
		a.RetentionDays = &n
	}
	a.CreatedAt = Time(created)
	return &a, nil
}

// APIKeyColumns are the columns APIKey scans, of api_keys k joined with
// accounts a.
const APIKeyColumns = `k.id, k.account_id, a.name, k.name, k.scopes, k.operator, k.secret_hash, k.created_at, k.revoked_at`

// ScanAPIKey scans APIKeyColumns.
func ScanAPIKey(s Scanner) (*stele.APIKey, error) {
	var (
		k       stele.APIKey
		scopes  string
		created int64
		revoked *int64
	)
	if err := s.Scan(&k.ID, &k.AccountID, &k.Account, &k.Name, &scopes, &k.Operator, &k.SecretHash, &created, &revoked); err != nil {
		return nil, err
	}
	k.Scopes = stele.SplitScopes(scopes)
	k.CreatedAt, k.RevokedAt = Time(created), TimeOrNil(revoked)
	return &k, nil
}

// UserColumns are the columns User scans, of users u joined with accounts a.
const UserColumns = `u.id, u.account_id, a.name, u.email, u.name, u.role, u.password_hash, u.totp_secret, u.totp_last_step, u.created_at, u.updated_at`

// ScanUser scans UserColumns.
func ScanUser(s Scanner) (*stele.User, error) {
	var (
		u                stele.User
		role             string
		created, updated int64
	)
	if err := s.Scan(&u.ID, &u.AccountID, &u.Account, &u.Email, &u.Name, &role, &u.PasswordHash,
		&u.TOTPSecret, &u.TOTPLastStep, &created, &updated); err != nil {
		return nil, err
	}
	u.Role = stele.Role(role)
	u.CreatedAt, u.UpdatedAt = Time(created), Time(updated)
	return &u, nil
}

// CheckpointColumns are the columns Checkpoint scans.
const CheckpointColumns = `account_id, size, root, note, created_at`

// ScanCheckpoint scans CheckpointColumns.
func ScanCheckpoint(s Scanner) (*stele.Checkpoint, error) {
	c := &stele.Checkpoint{}
	var root []byte
	var created int64
	if err := s.Scan(&c.AccountID, &c.Size, &root, &c.Note, &created); err != nil {
		return nil, err
	}
	if len(root) != 32 {
		return nil, fmt.Errorf("checkpoint %d/%d: root of %d bytes", c.AccountID, c.Size, len(root))
	}
	c.Root = [32]byte(root)
	c.CreatedAt = Time(created)
	return c, nil
}
