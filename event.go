package stele

import (
	"encoding/base32"
	"encoding/binary"
	"strings"
	"time"
)

// Ref names a party of an event: who acted (actor), what was acted on (target)
// or which connected integration it happened in (source). Email is used for actors.
type Ref struct {
	Type  string `json:"type,omitempty"`
	ID    string `json:"id,omitempty"`
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
}

// IsZero reports whether no field of r is set.
func (r *Ref) IsZero() bool { return r == nil || *r == Ref{} }

// Outcomes an event may record.
const (
	OutcomeSuccess = "success"
	OutcomeFailure = "failure"
	OutcomeUnknown = "unknown"
)

// Outcomes lists the known outcomes in their stored order (the index is the stored code).
var Outcomes = []string{OutcomeUnknown, OutcomeSuccess, OutcomeFailure}

// Event is one audit record. ID, Seq, Account and ReceivedAt are assigned by
// Stele; the rest is what the producer sent, validated and normalised (times
// in UTC truncated to microseconds, category filled in from the catalog).
//
// Metadata values are scalars: string, json.Number, bool or nil.
type Event struct {
	ID             string         `json:"id"`
	Seq            int64          `json:"seq"`
	Account        string         `json:"account"`
	Time           time.Time      `json:"time"`
	ReceivedAt     time.Time      `json:"received_at"`
	Action         string         `json:"action"`
	Category       string         `json:"category"`
	Outcome        string         `json:"outcome"`
	Actor          *Ref           `json:"actor,omitempty"`
	Target         *Ref           `json:"target,omitempty"`
	Source         *Ref           `json:"source,omitempty"`
	IP             string         `json:"ip,omitempty"`
	UserAgent      string         `json:"user_agent,omitempty"`
	RequestID      string         `json:"request_id,omitempty"`
	Description    string         `json:"description,omitempty"`
	Metadata       map[string]any `json:"metadata,omitempty"`
	IdempotencyKey string         `json:"idempotency_key,omitempty"`
}

// Receipt is what an accepted event's producer gets back: the event's id and
// seq, and its leaf hash in the account's Merkle tree. Replayed is true when
// the event's idempotency key had been seen and nothing new was stored.
type Receipt struct {
	ID       string `json:"id"`
	Seq      int64  `json:"seq"`
	Account  string `json:"account"`
	LeafHash string `json:"leaf_hash"`
	Replayed bool   `json:"replayed,omitempty"`
}

// Limits on an event, as DESIGN.md and the API promise them.
const (
	MaxActionLen     = 128
	MaxIDLen         = 256
	MaxMetadataKeys  = 50
	MaxEventBytes    = 32 << 10
	MaxBatchEvents   = 1000
	MaxBodyBytes     = 1 << 20
	MaxFutureSkew    = 5 * time.Minute
	MaxTextLen       = 4096 // description, names, user agent
	MaxMetadataValue = 4096
	MaxEmailLen      = 320
)

// IsEmail reports whether s passes as an event's email: at most
// MaxEmailLen bytes, something before and after its last @, no space and
// no angle bracket. Stele's own events check what someone typed with it
// before they name an actor by it.
func IsEmail(s string) bool {
	at := strings.LastIndexByte(s, '@')
	return len(s) <= MaxEmailLen && at >= 1 && at < len(s)-1 && !strings.ContainsAny(s, " \t\r\n<>")
}

// TimeUnit is the resolution Stele keeps times at.
const TimeUnit = time.Microsecond

var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// EventID returns the public id of an account's event with the given seq.
// The id is stable and unique across accounts, so a lookup by id needs no
// index of its own.
func EventID(accountID int64, seq int64) string {
	var b [10]byte
	binary.BigEndian.PutUint32(b[0:4], uint32(accountID))
	b[4] = byte(seq >> 40)
	b[5] = byte(seq >> 32)
	binary.BigEndian.PutUint32(b[6:10], uint32(seq))
	return "evt_" + idEncoding.EncodeToString(b[:])
}

// ParseEventID returns the account id and seq an id names.
func ParseEventID(id string) (accountID int64, seq int64, err error) {
	rest, ok := strings.CutPrefix(id, "evt_")
	if !ok || len(rest) != 16 {
		return 0, 0, Errorf(ENOTFOUND, "event %q not found", id)
	}
	b, err := idEncoding.DecodeString(rest)
	if err != nil || len(b) != 10 {
		return 0, 0, Errorf(ENOTFOUND, "event %q not found", id)
	}
	accountID = int64(binary.BigEndian.Uint32(b[0:4]))
	seq = int64(b[4])<<40 | int64(b[5])<<32 | int64(binary.BigEndian.Uint32(b[6:10]))
	return accountID, seq, nil
}
