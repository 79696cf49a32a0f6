package stele

import (
	"context"
	"time"
)

// PurgeBatch sums up what a retention purge removed (or, in a dry run,
// would remove) from an account: Deleted events, with seqs in [FromSeq,
// BelowSeq) (not every seq of it: only the expired ones) and times in
// [OldestTime, NewestTime] (Unix µs). Deleted is 0 when nothing expired.
type PurgeBatch struct {
	Deleted    int64
	FromSeq    int64
	BelowSeq   int64
	OldestTime int64
	NewestTime int64
}

// RetentionStore deletes expired events: those whose time is before their
// account's cutoff, wherever their seqs lie (an event sent late with an
// old time expires with its time, not its place in the log). What is kept
// of a purged event is its seq, time and leaf hash, so the Merkle tree's
// hashes and the account's head stay as they are, and each purge's signed
// statement (stele.purge/v2) says which seqs went.
type RetentionStore interface {
	// ExpiredEvents returns, without deleting, up to limit of the account's
	// events whose time is before cutoff (Unix µs), wherever their seqs lie,
	// oldest first by (time, seq): what PurgeEvents is given to delete.
	// after, when not nil, continues past that event (a dry run's pages).
	ExpiredEvents(ctx context.Context, accountID, cutoff int64, after *PurgedEvent, limit int) ([]PurgedEvent, error)
	// PurgeEvents deletes, in one transaction, the account's events at the
	// seqs of batch (in seq order), keeps each one's seq, time and leaf hash (PurgedEvents:
	// the tree's leaves stay, so proofs and consistency still hold), deletes
	// their idempotency records and stores stmt, their signed statement. An
	// event of the batch that is gone, or whose time or leaf hash is not the
	// batch's, or whose time is not before cutoff, fails the whole batch with
	// ECONFLICT and deletes nothing.
	PurgeEvents(ctx context.Context, accountID, cutoff int64, batch []PurgedEvent, stmt *PurgeStatement) error
}

// PurgedEvent is what is kept of an event a retention purge deleted: its
// seq, its time (Unix µs) and its leaf hash, which the Merkle tree still
// needs. Nothing of its content is kept.
type PurgedEvent struct {
	Seq      int64
	Time     int64
	LeafHash [32]byte
}

// PurgeStatement records a retention purge of any set of an account's seqs
// (docs/INTEGRITY.md, stele.purge/v2): Note is the signed statement, which
// lists the seqs as ranges and commits to the seq, time and leaf hash of
// every purged event and to the cutoff they were all before. First is its
// lowest seq, which no other statement of the account covers.
type PurgeStatement struct {
	AccountID int64
	First     int64
	Note      []byte
	CreatedAt time.Time
}

// CheckPurgeBatch is the stores' check, inside a purge's transaction, that
// the events deleted (seq, time and leaf hash, as the store read them) are
// exactly the batch, all before cutoff, and that stmt is the batch's.
func CheckPurgeBatch(accountID, cutoff int64, batch, deleted []PurgedEvent, stmt *PurgeStatement) error {
	if stmt != nil && (stmt.AccountID != accountID || len(batch) > 0 && stmt.First != batch[0].Seq) {
		return Errorf(ECONFLICT, "purge statement of account %d from seq %d is not this batch's; nothing deleted", stmt.AccountID, stmt.First)
	}
	if len(deleted) != len(batch) {
		return Errorf(ECONFLICT, "purge of %d events found %d of them; nothing deleted", len(batch), len(deleted))
	}
	for i := range batch {
		b, d := &batch[i], &deleted[i]
		if *b != *d {
			return Errorf(ECONFLICT, "purged event at seq %d is not the one read (seq %d); nothing deleted", b.Seq, d.Seq)
		}
		if d.Time >= cutoff {
			return Errorf(ECONFLICT, "event at seq %d is not before the cutoff; nothing deleted", d.Seq)
		}
	}
	return nil
}

// Reencrypted is an event payload sealed again under a newer data key.
// The additional data is unchanged, so is the leaf hash.
type Reencrypted struct {
	AccountID  int64
	Seq        int64
	OldVersion int
	NewVersion int
	Payload    []byte
}

// KeyRotationStore is what re-encryption under a newer data key needs of
// the event store.
type KeyRotationStore interface {
	// RowsBelowKeyVersion returns up to limit of the account's rows with
	// seq >= from sealed under a data key version older than version, by seq.
	RowsBelowKeyVersion(ctx context.Context, accountID int64, version int, from int64, limit int) ([]EventRow, error)
	// UpdatePayloads stores re-sealed payloads in one transaction; a row
	// whose key version is no longer OldVersion (or which is gone) is left
	// alone. It returns how many rows changed.
	UpdatePayloads(ctx context.Context, rows []Reencrypted) (int64, error)
}

// AccountDeleter removes an account from the event store for good.
// Callers destroy its keys in the KeyStore first (crypto-shredding), then
// the rows, in bounded batches, then the account itself.
type AccountDeleter interface {
	// DeleteAccountEvents deletes up to limit of the account's events and
	// returns how many; 0 once none is left.
	DeleteAccountEvents(ctx context.Context, accountID int64, limit int) (int64, error)
	// DeleteAccount removes the account row and everything else of it that
	// is left (tree nodes, head, idempotency records, API keys, and the rows
	// of any other table keyed by account_id).
	DeleteAccount(ctx context.Context, accountID int64) error
}

// RetentionSettings is an account's retention as the console shows it.
type RetentionSettings struct {
	Account       string    `json:"account"`
	Type          string    `json:"type"`
	RetentionDays int       `json:"retention_days"`
	Override      bool      `json:"retention_overridden"`
	LegalHold     bool      `json:"legal_hold"`
	Cutoff        time.Time `json:"cutoff"` // events before it are purged on the next run, unless held
}
