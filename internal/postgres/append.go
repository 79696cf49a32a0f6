package postgres

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/sqlstore"
)

const eventColumns = `account_id, seq, time, received_at, action, category, outcome,
	actor_tok, actor_email_tok, target_tok, source_tok, ip_tok, key_version, payload, leaf_hash`

var eventColumnNames = []string{"account_id", "seq", "time", "received_at", "action", "category", "outcome",
	"actor_tok", "actor_email_tok", "target_tok", "source_tok", "ip_tok", "key_version", "payload", "leaf_hash"}

// insertEventsSQL inserts any number of rows in one statement, one array
// parameter per column.
const insertEventsSQL = `INSERT INTO events (` + eventColumns + `)
	SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[], $6::smallint[], $7::smallint[],
		$8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[], $13::integer[], $14::bytea[], $15::bytea[])`

// Append runs fn in one transaction and commits it. The commit is durable
// when it returns (synchronous_commit on, PostgreSQL's default).
func (db *DB) Append(ctx context.Context, fn func(stele.AppendTx) error) error {
	return db.tx(ctx, func(tx pgx.Tx) error {
		return fn(&appendTx{tx: tx, copyMin: db.copyMin})
	})
}

// appendTx is the stele.AppendTx of one Append.
type appendTx struct {
	tx      pgx.Tx
	copyMin int
}

// Head returns the account's head and locks its row until the transaction
// ends: another node's Append to the account waits here, and then reads
// the head this one committed. The row is created at size 0 the first time.
func (t *appendTx) Head(ctx context.Context, accountID int64) (stele.Head, error) {
	h, found, err := lockHead(ctx, t.tx, accountID)
	if err != nil || found {
		return h, err
	}
	_, err = t.tx.Exec(ctx, `INSERT INTO heads (account_id, size, frontier) VALUES ($1, 0, '') ON CONFLICT (account_id) DO NOTHING`, accountID)
	if isForeignKey(err) {
		return h, notFound("account %d not found", accountID)
	}
	if err != nil {
		return h, fmt.Errorf("postgres: create head: %w", mapErr(err))
	}
	h, _, err = lockHead(ctx, t.tx, accountID)
	return h, err
}

// APIKeyGeneration reads the key generation as of this statement: a key
// change committed after it is concurrent with this append, which then
// stores events sent with the key before the change took effect.
func (t *appendTx) APIKeyGeneration(ctx context.Context) (int64, error) {
	var n int64
	if err := t.tx.QueryRow(ctx, `SELECT n FROM api_key_generation WHERE id = 1`).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: API key generation: %w", mapErr(err))
	}
	return n, nil
}

func lockHead(ctx context.Context, tx pgx.Tx, accountID int64) (stele.Head, bool, error) {
	h, err := readHead(tx.QueryRow(ctx, `SELECT size, frontier FROM heads WHERE account_id = $1 FOR UPDATE`, accountID), accountID)
	if errors.Is(err, pgx.ErrNoRows) {
		return h, false, nil
	}
	if err != nil {
		return h, false, fmt.Errorf("postgres: lock head: %w", mapErr(err))
	}
	return h, true, nil
}

// readHead scans a (size, frontier) row; pgx.ErrNoRows passes through.
func readHead(row pgx.Row, accountID int64) (stele.Head, error) {
	h := stele.Head{AccountID: accountID}
	var frontier []byte
	if err := row.Scan(&h.Size, &frontier); err != nil {
		return h, err
	}
	if len(frontier)%32 != 0 {
		return h, fmt.Errorf("postgres: head of account %d: frontier of %d bytes", accountID, len(frontier))
	}
	for i := 0; i < len(frontier); i += 32 {
		h.Frontier = append(h.Frontier, [32]byte(frontier[i:i+32]))
	}
	return h, nil
}

// SetHead stores h as its account's head.
func (t *appendTx) SetHead(ctx context.Context, h stele.Head) error {
	frontier := make([]byte, 0, 32*len(h.Frontier))
	for _, f := range h.Frontier {
		frontier = append(frontier, f[:]...)
	}
	_, err := t.tx.Exec(ctx, `INSERT INTO heads (account_id, size, frontier) VALUES ($1, $2, $3)
		ON CONFLICT (account_id) DO UPDATE SET size = excluded.size, frontier = excluded.frontier`, h.AccountID, h.Size, frontier)
	if isForeignKey(err) {
		return notFound("account %d not found", h.AccountID)
	}
	if err != nil {
		return fmt.Errorf("postgres: set head: %w", mapErr(err))
	}
	return nil
}

// InsertEvents inserts rows: with COPY for a batch of at least copyMin rows,
// otherwise with one multi-row INSERT. Either way a duplicate (account,
// seq, time) fails the whole batch with ECONFLICT.
func (t *appendTx) InsertEvents(ctx context.Context, rows []stele.EventRow) error {
	if len(rows) == 0 {
		return nil
	}
	cols := newEventColumns(len(rows))
	for i := range rows {
		if err := cols.add(&rows[i]); err != nil {
			return err
		}
	}
	var err error
	if len(rows) >= t.copyMin {
		_, err = t.tx.CopyFrom(ctx, pgx.Identifier{"events"}, eventColumnNames, cols.copySource())
	} else {
		_, err = t.tx.Exec(ctx, insertEventsSQL, cols.args()...)
	}
	if isUnique(err) {
		return stele.Errorf(stele.ECONFLICT, "an event of account %d with seq in %d..%d exists", rows[0].AccountID, rows[0].Seq, rows[len(rows)-1].Seq)
	}
	if err != nil {
		return fmt.Errorf("postgres: insert events: %w", mapErr(err))
	}
	return nil
}

// eventColumns holds a batch of rows column by column, as the multi-row
// INSERT binds them; COPY reads them back row by row.
type eventCols struct {
	account, seq, time, received          []int64
	action                                []string
	category, outcome                     []int16
	actor, actorEmail, target, source, ip []*int64
	keyVersion                            []int32
	payload, leaf                         [][]byte
}

func newEventColumns(n int) *eventCols {
	return &eventCols{
		account: make([]int64, 0, n), seq: make([]int64, 0, n), time: make([]int64, 0, n), received: make([]int64, 0, n),
		action: make([]string, 0, n), category: make([]int16, 0, n), outcome: make([]int16, 0, n),
		actor: make([]*int64, 0, n), actorEmail: make([]*int64, 0, n), target: make([]*int64, 0, n),
		source: make([]*int64, 0, n), ip: make([]*int64, 0, n), keyVersion: make([]int32, 0, n),
		payload: make([][]byte, 0, n), leaf: make([][]byte, 0, n),
	}
}

func (c *eventCols) add(r *stele.EventRow) error {
	cat, err := categoryCode(r.Category)
	if err != nil {
		return err
	}
	out, err := outcomeCode(r.Outcome)
	if err != nil {
		return err
	}
	c.account = append(c.account, r.AccountID)
	c.seq = append(c.seq, r.Seq)
	c.time = append(c.time, r.Time)
	c.received = append(c.received, r.ReceivedAt)
	c.action = append(c.action, r.Action)
	c.category = append(c.category, cat)
	c.outcome = append(c.outcome, out)
	c.actor = append(c.actor, token(&r.ActorTok))
	c.actorEmail = append(c.actorEmail, token(&r.ActorEmailTok))
	c.target = append(c.target, token(&r.TargetTok))
	c.source = append(c.source, token(&r.SourceTok))
	c.ip = append(c.ip, token(&r.IPTok))
	c.keyVersion = append(c.keyVersion, int32(r.KeyVersion))
	c.payload = append(c.payload, sqlstore.NonNilBytes(r.Payload))
	c.leaf = append(c.leaf, r.LeafHash[:])
	return nil
}

func (c *eventCols) args() []any {
	return []any{c.account, c.seq, c.time, c.received, c.action, c.category, c.outcome,
		c.actor, c.actorEmail, c.target, c.source, c.ip, c.keyVersion, c.payload, c.leaf}
}

func (c *eventCols) copySource() pgx.CopyFromSource {
	return pgx.CopyFromSlice(len(c.seq), func(i int) ([]any, error) {
		return []any{c.account[i], c.seq[i], c.time[i], c.received[i], c.action[i], c.category[i], c.outcome[i],
			c.actor[i], c.actorEmail[i], c.target[i], c.source[i], c.ip[i], c.keyVersion[i], c.payload[i], c.leaf[i]}, nil
	})
}

// token binds a blind-index token, NULL for an absent field.
func token(t *int64) *int64 {
	if *t == 0 {
		return nil
	}
	return t
}

// InsertTreeNodes inserts an account's new tree nodes in one statement.
func (t *appendTx) InsertTreeNodes(ctx context.Context, accountID int64, nodes []stele.TreeNode) error {
	if len(nodes) == 0 {
		return nil
	}
	levels := make([]int32, len(nodes))
	idx := make([]int64, len(nodes))
	hashes := make([][]byte, len(nodes))
	for i := range nodes {
		levels[i], idx[i], hashes[i] = int32(nodes[i].Level), nodes[i].Index, nodes[i].Hash[:]
	}
	_, err := t.tx.Exec(ctx, `INSERT INTO tree_nodes (account_id, level, idx, hash)
		SELECT $1, * FROM unnest($2::integer[], $3::bigint[], $4::bytea[])`, accountID, levels, idx, hashes)
	if isUnique(err) {
		return stele.Errorf(stele.ECONFLICT, "a tree node of account %d exists", accountID)
	}
	if err != nil {
		return fmt.Errorf("postgres: insert tree nodes: %w", mapErr(err))
	}
	return nil
}

// IdempotentSeqs returns the seqs recorded under those of tokens seen
// before. Called after Head, it sees every commit of another node that held
// the account's head before this transaction did.
func (t *appendTx) IdempotentSeqs(ctx context.Context, accountID int64, tokens []int64) (map[int64]int64, error) {
	out := map[int64]int64{}
	if len(tokens) == 0 {
		return out, nil
	}
	rows, err := t.tx.Query(ctx, `SELECT token, seq FROM idempotency WHERE account_id = $1 AND token = ANY($2)`, accountID, tokens)
	if err != nil {
		return nil, fmt.Errorf("postgres: idempotent seqs: %w", mapErr(err))
	}
	var tok, seq int64
	if _, err := pgx.ForEachRow(rows, []any{&tok, &seq}, func() error { out[tok] = seq; return nil }); err != nil {
		return nil, fmt.Errorf("postgres: idempotent seqs: %w", mapErr(err))
	}
	return out, nil
}

// InsertIdempotency records the seq first stored under each token.
func (t *appendTx) InsertIdempotency(ctx context.Context, accountID int64, tokens map[int64]int64) error {
	if len(tokens) == 0 {
		return nil
	}
	toks := slices.Sorted(maps.Keys(tokens))
	seqs := make([]int64, len(toks))
	for i, tok := range toks {
		seqs[i] = tokens[tok]
	}
	_, err := t.tx.Exec(ctx, `INSERT INTO idempotency (account_id, token, seq)
		SELECT $1, * FROM unnest($2::bigint[], $3::bigint[])`, accountID, toks, seqs)
	if isUnique(err) {
		return stele.Errorf(stele.ECONFLICT, "idempotency token already recorded for account %d", accountID)
	}
	if err != nil {
		return fmt.Errorf("postgres: insert idempotency: %w", mapErr(err))
	}
	return nil
}

// ClaimIdempotency inserts the tokens in one statement, skipping any
// already recorded. When every row went in, that was the whole check.
// Otherwise it reads the recorded seqs and deletes what it inserted: every
// row at or after the lowest seq given, since no stored event has one.
func (t *appendTx) ClaimIdempotency(ctx context.Context, accountID int64, tokens map[int64]int64) (map[int64]int64, error) {
	if len(tokens) == 0 {
		return map[int64]int64{}, nil
	}
	toks := slices.Sorted(maps.Keys(tokens))
	seqs := make([]int64, len(toks))
	for i, tok := range toks {
		seqs[i] = tokens[tok]
	}
	tag, err := t.tx.Exec(ctx, `INSERT INTO idempotency (account_id, token, seq)
		SELECT $1, * FROM unnest($2::bigint[], $3::bigint[]) ON CONFLICT DO NOTHING`, accountID, toks, seqs)
	if err != nil {
		return nil, fmt.Errorf("postgres: claim idempotency: %w", mapErr(err))
	}
	if tag.RowsAffected() == int64(len(toks)) {
		return map[int64]int64{}, nil
	}
	seen, err := t.IdempotentSeqs(ctx, accountID, toks)
	if err != nil {
		return nil, err
	}
	from := slices.Min(seqs)
	for tok, seq := range seen {
		if seq >= from {
			delete(seen, tok) // inserted by this call
		}
	}
	if _, err := t.tx.Exec(ctx, `DELETE FROM idempotency WHERE account_id = $1 AND seq >= $2`, accountID, from); err != nil {
		return nil, fmt.Errorf("postgres: claim idempotency: %w", mapErr(err))
	}
	return seen, nil
}

// categoryCode is a category's stored code: its index in stele.Categories.
func categoryCode(c string) (int16, error) {
	i := slices.Index(stele.Categories, c)
	if i < 0 {
		return 0, stele.Errorf(stele.EINVALID, "unknown category %q", c)
	}
	return int16(i), nil
}

// outcomeCode is an outcome's stored code: its index in stele.Outcomes.
func outcomeCode(o string) (int16, error) {
	i := slices.Index(stele.Outcomes, o)
	if i < 0 {
		return 0, stele.Errorf(stele.EINVALID, "unknown outcome %q", o)
	}
	return int16(i), nil
}
