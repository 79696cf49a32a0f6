package stele

import (
	"context"
	"time"
)

// Head is the state of an account's log after its last committed event: the
// tree size (the next seq) and the compact Merkle frontier, one hash per set
// bit of Size from the largest subtree down.
type Head struct {
	AccountID int64
	Size      int64
	Frontier  [][32]byte
}

// EventRow is an event as stored: clear columns for ordering, retention and
// counting, 64-bit blind-index tokens for the filterable identities (0 when
// the field is absent), and the sealed payload. Times are Unix microseconds.
type EventRow struct {
	AccountID     int64
	Seq           int64
	Time          int64
	ReceivedAt    int64
	Action        string
	Category      string
	Outcome       string
	ActorTok      int64
	ActorEmailTok int64
	TargetTok     int64
	SourceTok     int64
	IPTok         int64
	KeyVersion    int
	Payload       []byte
	LeafHash      [32]byte
}

// TreeNode is a stored interior hash of an account's Merkle tree: the hash of
// the subtree of 2^Level leaves starting at leaf Index*2^Level.
type TreeNode struct {
	Level int
	Index int64
	Hash  [32]byte
}

// AppendTx is the transaction in which a group of events is appended. On
// PostgreSQL, Head locks the account's head row until the transaction ends,
// so nodes appending to one account take turns and seqs stay gap-free.
type AppendTx interface {
	Head(ctx context.Context, accountID int64) (Head, error)
	SetHead(ctx context.Context, h Head) error
	InsertEvents(ctx context.Context, rows []EventRow) error
	InsertTreeNodes(ctx context.Context, accountID int64, nodes []TreeNode) error
	// IdempotentSeqs returns, for the tokens already recorded, the seq of the
	// event first stored under each.
	IdempotentSeqs(ctx context.Context, accountID int64, tokens []int64) (map[int64]int64, error)
	InsertIdempotency(ctx context.Context, accountID int64, tokens map[int64]int64) error
	// ClaimIdempotency records every token with its seq if none is
	// recorded yet, and returns an empty map. Otherwise it records none and
	// returns the seqs of those already recorded, as IdempotentSeqs does.
	// Every seq given is new: at least the account's head size. One call
	// does the usual case, a batch with no replay, in one pass.
	ClaimIdempotency(ctx context.Context, accountID int64, tokens map[int64]int64) (map[int64]int64, error)
	// APIKeyGeneration reads the key store's generation in the transaction
	// (APIKeyGenerationStore), to confirm that the keys the events were
	// sent with are unchanged.
	APIKeyGeneration(ctx context.Context) (int64, error)
	// AlertRuleGeneration reads the alert rule generation in the
	// transaction, to confirm that the events were matched against the
	// rules in force; InsertAlertMatches stores what they matched.
	AlertRuleGeneration(ctx context.Context) (int64, error)
	InsertAlertMatches(ctx context.Context, matches []AlertMatch) error
}

// Field is a filterable field of the query language.
type Field string

const (
	FieldAction   Field = "action"
	FieldCategory Field = "category"
	FieldOutcome  Field = "outcome"
	FieldActor    Field = "actor"
	FieldTarget   Field = "target"
	FieldSource   Field = "source"
	FieldIP       Field = "ip"
	FieldText     Field = "text"
	// FieldGroup is a parenthesised part of a query (Term.Any, RowFilter.Any).
	FieldGroup Field = "group"
)

// Blind reports whether f is stored as a blind-index token.
func (f Field) Blind() bool {
	return f == FieldActor || f == FieldTarget || f == FieldSource || f == FieldIP
}

// RowFilter is one condition a store evaluates. Clear fields match any of
// Values exactly or any of Prefixes as a prefix; blind fields match any of
// Tokens (one per value and key version). Negate inverts the whole condition.
// FieldText never reaches a store: it is checked after decryption.
//
// A filter of FieldGroup matches when all the filters of any one of the
// lists in Any match (an OR of ANDs, from the query's parentheses and OR);
// its lists hold no FieldText filter.
type RowFilter struct {
	Field    Field
	Values   []string
	Prefixes []string
	Tokens   []int64
	Negate   bool
	Any      [][]RowFilter
}

// MaxIndexedValues is the most values (or, for a blind field, tokens) of
// one positive filter that a store reads as a union of index scans, one scan
// per value, each newest first; a filter with more is checked row by row
// along the time index. The read path turns an action prefix into the
// actions that have it only when they fit.
const MaxIndexedValues = 32

// RowQuery selects an account's rows newest first, by (Time, Seq) descending.
type RowQuery struct {
	AccountID int64
	Filters   []RowFilter
	After     int64 // Time >= After when non-zero (Unix µs)
	Before    int64 // Time < Before when non-zero
	// Below continues after a page: rows strictly before (BelowTime, BelowSeq).
	HasBelow  bool
	BelowTime int64
	BelowSeq  int64
	Limit     int
}

// EventStore keeps events, their tree hashes and each account's head.
type EventStore interface {
	// Append runs fn in one durable transaction; when Append returns nil the
	// transaction's writes survive a crash.
	Append(ctx context.Context, fn func(AppendTx) error) error
	Rows(ctx context.Context, q RowQuery) ([]EventRow, error)
	Row(ctx context.Context, accountID, seq int64) (*EventRow, error) // ENOTFOUND
	// LeafHashes returns the leaf hashes of seqs [from, to) in order.
	LeafHashes(ctx context.Context, accountID, from, to int64) ([][32]byte, error)
	TreeNodes(ctx context.Context, accountID int64, level int, from, to int64) ([]TreeNode, error)
	CurrentHead(ctx context.Context, accountID int64) (Head, error)
	CountRows(ctx context.Context, accountID int64) (int64, error)
	// Actions returns the distinct actions of the account's events that
	// start with prefix (byte-wise), in byte order, at most limit of them.
	Actions(ctx context.Context, accountID int64, prefix string, limit int) ([]string, error)
	// ScanQuery streams what paging through Rows returns: it calls fn with
	// each row matching q, newest first, from q's cursor on, ignoring
	// q.Limit, without collecting them (exports). The row (and its Payload)
	// may be reused once fn returns, and the tokens and leaf hash may be
	// left unset.
	ScanQuery(ctx context.Context, q RowQuery, fn func(*EventRow) error) error
}

// WrappedKey is an account's key, encrypted under the master key. Purpose is
// "data" (payload encryption) or "index" (blind indexes).
type WrappedKey struct {
	AccountID     int64
	Purpose       string
	Version       int
	MasterVersion int
	Wrapped       []byte
	CreatedAt     time.Time
}

// KeyStore keeps the accounts' wrapped keys, apart from the event store:
// a copy of the event store (a backup) holds no key, so once an account's
// keys are destroyed here, no copy of its events decrypts again. Stele keeps
// it in a SQLite file of its own or a PostgreSQL database of its own
// (sqlite.KeyDB, postgres.KeyDB); a KMS can implement the same methods.
//
// Every method of an account whose keys were destroyed fails with
// KeysDestroyed (code EGONE), and no key is ever added to it again.
type KeyStore interface {
	// WrappedKeys returns the account's keys by purpose and version; none
	// (and no error) for an account that has never had keys.
	WrappedKeys(ctx context.Context, accountID int64) ([]WrappedKey, error)
	// AddWrappedKeys stores keys in one transaction; ECONFLICT, and
	// nothing stored, if any (account, purpose, version) exists.
	AddWrappedKeys(ctx context.Context, keys []WrappedKey) error
	// RewrapKeys replaces the wrapped form and master version of existing
	// keys, matched by (account, purpose, version), in one transaction.
	RewrapKeys(ctx context.Context, keys []WrappedKey) error
	// DestroyKeys removes every key of the account for good, leaving no
	// copy of them in the store's live files, records that they were
	// destroyed, and returns how many there were. Destroying an account's
	// keys twice is no error.
	DestroyKeys(ctx context.Context, accountID int64) (int64, error)
	// KeyAccounts returns the accounts that hold keys, ascending.
	KeyAccounts(ctx context.Context) ([]int64, error)
}

// LegacyKeys is the event store's part in moving the accounts' keys into
// the KeyStore: releases before it kept the wrapped keys in the event
// store itself.
type LegacyKeys interface {
	// LegacyWrappedKeys returns every wrapped key still kept in the event
	// store; none once they were moved (DropLegacyKeys).
	LegacyWrappedKeys(ctx context.Context) ([]WrappedKey, error)
	// DropLegacyKeys destroys the event store's wrapped keys for good,
	// leaving no copy in its live files.
	DropLegacyKeys(ctx context.Context) error
}

// Store is the store Stele needs: every service interface of this package,
// as both the SQLite and the PostgreSQL store implement it. The binary, the
// data path and the contract suite (internal/storetest) all take a Store;
// a package that needs only a part of it takes the small interface.
type Store interface {
	AccountStore
	APIKeyGenerationStore
	LegacyKeys
	KeyRotationStore
	EventStore
	EventCounter
	IntegrityStore
	RetentionStore
	AccountDeleter
	UserStore
	SessionStore
	LoginThrottleStore
	StreamStore
	AlertStore
	// Ping reports whether the store answers.
	Ping(ctx context.Context) error
	// Size is the store's size on disk in bytes, for the metrics.
	Size(ctx context.Context) (int64, error)
	Close() error
}
