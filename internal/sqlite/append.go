package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/sqlstore"
)

// chunk is the number of rows one multi-row INSERT carries. Rows beyond the
// last full chunk go through the single-row statement.
const chunk = 64

const eventColumns = `account_id, seq, time, received_at, action, category, outcome,
	actor_tok, actor_email_tok, target_tok, source_tok, ip_tok, key_version, payload, leaf_hash`

const eventParams = 15

// appendStmts are the statements of an append, prepared once on the writer.
type appendStmts struct {
	head, setHead  *sql.Stmt
	event1, eventN *sql.Stmt
	node1, nodeN   *sql.Stmt
	idempotency1   *sql.Stmt
	claim1, claimN *sql.Stmt
	unclaim        *sql.Stmt
	generation     *sql.Stmt
	ruleGeneration *sql.Stmt
	match1, matchN *sql.Stmt
	all            []*sql.Stmt
}

func prepareAppend(ctx context.Context, w *sql.DB) (*appendStmts, error) {
	s := &appendStmts{}
	prep := func(dst **sql.Stmt, query string) error {
		st, err := w.PrepareContext(ctx, query)
		if err != nil {
			return fmt.Errorf("sqlite: prepare: %w", mapErr(err))
		}
		*dst = st
		s.all = append(s.all, st)
		return nil
	}
	err := errors.Join(
		prep(&s.head, `SELECT size, frontier FROM heads WHERE account_id = ?`),
		prep(&s.setHead, `INSERT INTO heads (account_id, size, frontier) VALUES (?, ?, ?)
			ON CONFLICT (account_id) DO UPDATE SET size = excluded.size, frontier = excluded.frontier`),
		prep(&s.event1, `INSERT OR ROLLBACK INTO events (`+eventColumns+`) VALUES `+placeholders(1, eventParams)),
		prep(&s.eventN, `INSERT OR ROLLBACK INTO events (`+eventColumns+`) VALUES `+placeholders(chunk, eventParams)),
		prep(&s.node1, `INSERT OR ROLLBACK INTO tree_nodes (account_id, level, idx, hash) VALUES `+placeholders(1, 4)),
		prep(&s.nodeN, `INSERT OR ROLLBACK INTO tree_nodes (account_id, level, idx, hash) VALUES `+placeholders(chunk, 4)),
		prep(&s.idempotency1, `INSERT INTO idempotency (account_id, token, seq) VALUES (?, ?, ?)`),
		prep(&s.claim1, `INSERT OR ROLLBACK INTO idempotency (account_id, token, seq) VALUES `+placeholders(1, 3)+claimConflict),
		prep(&s.claimN, `INSERT OR ROLLBACK INTO idempotency (account_id, token, seq) VALUES `+placeholders(chunk, 3)+claimConflict),
		prep(&s.unclaim, `DELETE FROM idempotency WHERE account_id = ? AND seq >= ?`),
		prep(&s.generation, `SELECT n FROM api_key_generation WHERE id = 1`),
		prep(&s.ruleGeneration, `SELECT n FROM alert_rule_generation WHERE id = 1`),
		prep(&s.match1, `INSERT OR ROLLBACK INTO alert_matches (account_id, seq, time, rules) VALUES `+placeholders(1, 4)),
		prep(&s.matchN, `INSERT OR ROLLBACK INTO alert_matches (account_id, seq, time, rules) VALUES `+placeholders(chunk, 4)),
	)
	if err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

func (s *appendStmts) close() error {
	var errs []error
	for _, st := range s.all {
		errs = append(errs, st.Close())
	}
	return errors.Join(errs...)
}

// placeholders returns "(?, …), (?, …)": rows groups of cols parameters.
func placeholders(rows, cols int) string {
	group := "(" + strings.TrimSuffix(strings.Repeat("?,", cols), ",") + ")"
	return strings.TrimSuffix(strings.Repeat(group+",", rows), ",")
}

// Append runs fn in one BEGIN IMMEDIATE transaction on the writer
// connection and commits it; synchronous=FULL makes the commit durable.
func (db *DB) Append(ctx context.Context, fn func(stele.AppendTx) error) error {
	return db.write(ctx, func(tx *sql.Tx) error {
		t := &appendTx{tx: tx, s: db.stmts}
		if err := fn(t); err != nil {
			return err
		}
		// A failed insert has already rolled the transaction back; fn
		// must not be able to commit what would be left.
		return t.err
	})
}

// SoleWriter reports that appends never wait on one another's locks: one
// connection writes, a transaction at a time, so the ingest writer may
// append accounts to a transaction in any order.
func (db *DB) SoleWriter() bool { return true }

// appendTx is the stele.AppendTx of one Append.
type appendTx struct {
	tx   *sql.Tx
	s    *appendStmts
	args []any
	// bound holds the tx-bound forms of the prepared statements.
	bound map[*sql.Stmt]*sql.Stmt
	// err is the failure of an INSERT OR ROLLBACK, which ended the
	// transaction: every later call fails with it.
	err error
}

// fail records err, from a statement that rolled the transaction back.
func (t *appendTx) fail(err error) error {
	t.err = err
	return err
}

func (t *appendTx) stmt(ctx context.Context, s *sql.Stmt) *sql.Stmt {
	if b, ok := t.bound[s]; ok {
		return b
	}
	if t.bound == nil {
		t.bound = map[*sql.Stmt]*sql.Stmt{}
	}
	b := t.tx.StmtContext(ctx, s)
	t.bound[s] = b
	return b
}

// Head returns the account's head; an account with no events has size 0.
func (t *appendTx) Head(ctx context.Context, accountID int64) (stele.Head, error) {
	if t.err != nil {
		return stele.Head{}, t.err
	}
	return readHead(t.stmt(ctx, t.s.head).QueryRowContext(ctx, accountID), accountID)
}

func readHead(row *sql.Row, accountID int64) (stele.Head, error) {
	h := stele.Head{AccountID: accountID}
	var frontier []byte
	err := row.Scan(&h.Size, &frontier)
	if errors.Is(err, sql.ErrNoRows) {
		return h, nil
	}
	if err != nil {
		return h, fmt.Errorf("sqlite: read head: %w", mapErr(err))
	}
	if len(frontier)%32 != 0 {
		return h, fmt.Errorf("sqlite: head of account %d: frontier of %d bytes", accountID, len(frontier))
	}
	for i := 0; i < len(frontier); i += 32 {
		h.Frontier = append(h.Frontier, [32]byte(frontier[i:i+32]))
	}
	return h, nil
}

// SetHead stores h as its account's head.
func (t *appendTx) SetHead(ctx context.Context, h stele.Head) error {
	if t.err != nil {
		return t.err
	}
	frontier := make([]byte, 0, 32*len(h.Frontier))
	for _, f := range h.Frontier {
		frontier = append(frontier, f[:]...)
	}
	if _, err := t.stmt(ctx, t.s.setHead).ExecContext(ctx, h.AccountID, h.Size, frontier); err != nil {
		if isForeignKey(err) {
			return notFound("account %d not found", h.AccountID)
		}
		return fmt.Errorf("sqlite: set head: %w", mapErr(err))
	}
	return nil
}

// InsertEvents inserts rows, chunk rows per statement. The statements are
// INSERT OR ROLLBACK: a failure ends the whole transaction, so SQLite need
// not keep a statement journal to undo part of one.
func (t *appendTx) InsertEvents(ctx context.Context, rows []stele.EventRow) error {
	if t.err != nil {
		return t.err
	}
	for len(rows) > 0 {
		n, st := 1, t.s.event1
		if len(rows) >= chunk {
			n, st = chunk, t.s.eventN
		}
		args := t.args[:0]
		for i := range rows[:n] {
			var err error
			if args, err = appendEventArgs(args, &rows[i]); err != nil {
				return err
			}
		}
		t.args = args
		if _, err := t.stmt(ctx, st).ExecContext(ctx, args...); err != nil {
			if isUnique(err) {
				return t.fail(stele.Errorf(stele.ECONFLICT, "an event of account %d with seq in %d..%d exists", rows[0].AccountID, rows[0].Seq, rows[n-1].Seq))
			}
			return t.fail(fmt.Errorf("sqlite: insert events: %w", mapErr(err)))
		}
		rows = rows[n:]
	}
	clear(t.args) // drop references to payloads
	return nil
}

func appendEventArgs(args []any, r *stele.EventRow) ([]any, error) {
	cat, err := categoryCode(r.Category)
	if err != nil {
		return args, err
	}
	out, err := outcomeCode(r.Outcome)
	if err != nil {
		return args, err
	}
	return append(args, r.AccountID, r.Seq, r.Time, r.ReceivedAt, r.Action, cat, out,
		token(r.ActorTok), token(r.ActorEmailTok), token(r.TargetTok), token(r.SourceTok), token(r.IPTok),
		int64(r.KeyVersion), sqlstore.NonNilBytes(r.Payload), r.LeafHash[:]), nil
}

// token binds a blind-index token, NULL for an absent field.
func token(t int64) any {
	if t == 0 {
		return nil
	}
	return t
}

// InsertTreeNodes inserts an account's new tree nodes.
func (t *appendTx) InsertTreeNodes(ctx context.Context, accountID int64, nodes []stele.TreeNode) error {
	if t.err != nil {
		return t.err
	}
	for len(nodes) > 0 {
		n, st := 1, t.s.node1
		if len(nodes) >= chunk {
			n, st = chunk, t.s.nodeN
		}
		args := t.args[:0]
		for i := range nodes[:n] {
			nd := &nodes[i]
			args = append(args, accountID, int64(nd.Level), nd.Index, nd.Hash[:])
		}
		t.args = args
		if _, err := t.stmt(ctx, st).ExecContext(ctx, args...); err != nil {
			if isUnique(err) {
				return t.fail(stele.Errorf(stele.ECONFLICT, "a tree node of account %d exists", accountID))
			}
			return t.fail(fmt.Errorf("sqlite: insert tree nodes: %w", mapErr(err)))
		}
		nodes = nodes[n:]
	}
	clear(t.args)
	return nil
}

// IdempotentSeqs returns the seqs recorded under those of tokens seen before.
func (t *appendTx) IdempotentSeqs(ctx context.Context, accountID int64, tokens []int64) (map[int64]int64, error) {
	if t.err != nil {
		return nil, t.err
	}
	out := map[int64]int64{}
	for part := range slices.Chunk(tokens, 500) {
		args := make([]any, 0, len(part)+1)
		args = append(args, accountID)
		for _, tok := range part {
			args = append(args, tok)
		}
		rows, err := t.tx.QueryContext(ctx, `SELECT token, seq FROM idempotency WHERE account_id = ? AND token IN (`+
			strings.TrimSuffix(strings.Repeat("?,", len(part)), ",")+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("sqlite: idempotent seqs: %w", mapErr(err))
		}
		for rows.Next() {
			var tok, seq int64
			if err := rows.Scan(&tok, &seq); err != nil {
				rows.Close()
				return nil, fmt.Errorf("sqlite: idempotent seqs: %w", err)
			}
			out[tok] = seq
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("sqlite: idempotent seqs: %w", mapErr(err))
		}
	}
	return out, nil
}

// InsertIdempotency records the seq first stored under each token.
func (t *appendTx) InsertIdempotency(ctx context.Context, accountID int64, tokens map[int64]int64) error {
	if t.err != nil {
		return t.err
	}
	st := t.stmt(ctx, t.s.idempotency1)
	for _, tok := range slices.Sorted(maps.Keys(tokens)) {
		if _, err := st.ExecContext(ctx, accountID, tok, tokens[tok]); err != nil {
			if isUnique(err) {
				return stele.Errorf(stele.ECONFLICT, "idempotency token already recorded for account %d", accountID)
			}
			return fmt.Errorf("sqlite: insert idempotency: %w", mapErr(err))
		}
	}
	return nil
}

// claimConflict makes a claim skip a token already recorded; the rows it
// inserted tell whether any was. OR ROLLBACK for every other failure spares
// SQLite a statement journal, as for the events.
const claimConflict = ` ON CONFLICT (account_id, token) DO NOTHING`

// ClaimIdempotency inserts the tokens, chunk rows a statement, skipping
// any already recorded. When every row went in, that was the whole check.
// Otherwise it reads the recorded seqs and deletes what it inserted: every
// row at or after the lowest seq given, since no stored event has one.
func (t *appendTx) ClaimIdempotency(ctx context.Context, accountID int64, tokens map[int64]int64) (map[int64]int64, error) {
	if t.err != nil {
		return nil, t.err
	}
	toks := slices.Sorted(maps.Keys(tokens))
	var inserted int64
	for rest := toks; len(rest) > 0; {
		n, st := 1, t.s.claim1
		if len(rest) >= chunk {
			n, st = chunk, t.s.claimN
		}
		args := t.args[:0]
		for _, tok := range rest[:n] {
			args = append(args, accountID, tok, tokens[tok])
		}
		t.args = args
		res, err := t.stmt(ctx, st).ExecContext(ctx, args...)
		if err != nil {
			return nil, t.fail(fmt.Errorf("sqlite: claim idempotency: %w", mapErr(err)))
		}
		k, err := res.RowsAffected()
		if err != nil {
			return nil, t.fail(fmt.Errorf("sqlite: claim idempotency: %w", mapErr(err)))
		}
		inserted += k
		rest = rest[n:]
	}
	if inserted == int64(len(toks)) {
		return map[int64]int64{}, nil
	}
	seen, err := t.IdempotentSeqs(ctx, accountID, toks)
	if err != nil {
		return nil, err
	}
	from := slices.Min(slices.Collect(maps.Values(tokens)))
	for tok, seq := range seen {
		if seq >= from {
			delete(seen, tok) // inserted by this call
		}
	}
	if _, err := t.stmt(ctx, t.s.unclaim).ExecContext(ctx, accountID, from); err != nil {
		return nil, fmt.Errorf("sqlite: claim idempotency: %w", mapErr(err))
	}
	return seen, nil
}

// APIKeyGeneration reads the key generation in the transaction, which
// holds the write lock: no key can change before it commits.
func (t *appendTx) APIKeyGeneration(ctx context.Context) (int64, error) {
	if t.err != nil {
		return 0, t.err
	}
	var n int64
	if err := t.stmt(ctx, t.s.generation).QueryRowContext(ctx).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: API key generation: %w", mapErr(err))
	}
	return n, nil
}

// categoryCode is a category's stored code: its index in stele.Categories.
func categoryCode(c string) (int64, error) {
	i := slices.Index(stele.Categories, c)
	if i < 0 {
		return 0, stele.Errorf(stele.EINVALID, "unknown category %q", c)
	}
	return int64(i), nil
}

// outcomeCode is an outcome's stored code: its index in stele.Outcomes.
func outcomeCode(o string) (int64, error) {
	i := slices.Index(stele.Outcomes, o)
	if i < 0 {
		return 0, stele.Errorf(stele.EINVALID, "unknown outcome %q", o)
	}
	return int64(i), nil
}
