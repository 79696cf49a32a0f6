package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/stele-audit/stele"
)

// ScanRows calls fn with each of the account's rows with seq in [from, to)
// (no upper bound when to < 0), in seq order. It fills the columns a
// verification needs (not the blind tokens) into one reused row, whose
// Payload is valid only during the call: fn copies what it keeps. It is
// the store verifier's reader; several run at once on the reader pool.
func (db *DB) ScanRows(ctx context.Context, accountID, from, to int64, fn func(*stele.EventRow) error) error {
	// The action is read as a blob: the driver looks up the declared type
	// of every text value it returns, a cost per row here.
	query := `SELECT seq, time, received_at, CAST(action AS BLOB), category, outcome, key_version, payload, leaf_hash FROM events
		WHERE account_id = ? AND seq >= ? AND seq < ? ORDER BY seq`
	if to < 0 {
		to = 1<<63 - 1
	}
	rows, err := db.reader.QueryContext(ctx, query, accountID, from, to)
	if err != nil {
		return fmt.Errorf("sqlite: scan rows: %w", mapErr(err))
	}
	defer rows.Close()
	r := stele.EventRow{AccountID: accountID}
	var (
		cat, out     int64
		action, leaf sql.RawBytes
		payload      sql.RawBytes
	)
	for rows.Next() {
		if err := rows.Scan(&r.Seq, &r.Time, &r.ReceivedAt, &action, &cat, &out, &r.KeyVersion, &payload, &leaf); err != nil {
			return fmt.Errorf("sqlite: scan rows: %w", err)
		}
		if cat < 0 || cat >= int64(len(stele.Categories)) {
			return fmt.Errorf("sqlite: scan rows: event %d/%d: unknown category code %d", accountID, r.Seq, cat)
		}
		if out < 0 || out >= int64(len(stele.Outcomes)) {
			return fmt.Errorf("sqlite: scan rows: event %d/%d: unknown outcome code %d", accountID, r.Seq, out)
		}
		if len(leaf) != 32 {
			return fmt.Errorf("sqlite: scan rows: event %d/%d: leaf hash of %d bytes", accountID, r.Seq, len(leaf))
		}
		// Actions repeat: keep the previous string when it is the same.
		if r.Action != string(action) {
			r.Action = string(action)
		}
		r.Category, r.Outcome = stele.Categories[cat], stele.Outcomes[out]
		r.Payload = payload
		r.LeafHash = [32]byte(leaf)
		if err := fn(&r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: scan rows: %w", mapErr(err))
	}
	return nil
}

var _ stele.Store = (*DB)(nil)

// scanPage is how many rows ScanQuery reads in one statement: each page is
// a read transaction of its own, so that a long export does not hold one
// snapshot (and the WAL) for its whole length.
const scanPage = 5000

// scanColumns are the columns ScanQuery reads. The action is read as a
// blob: the driver looks up the declared type of every text value.
const scanColumns = `seq, time, received_at, CAST(action AS BLOB), category, outcome, key_version, payload`

// ScanQuery calls fn with each row matching q, newest first, from q's
// cursor on (q.Limit is ignored). Like ScanRows it fills one reused row
// with the columns a reader of the events needs (not the blind tokens nor
// the leaf hash), without the driver's conversions and copies; the row and
// its Payload are valid only during the call.
//
// Without filters (a whole account or a time range: the large exports), a
// page is read in two steps: its (time, seq) keys from the time index
// alone, then, when their seqs are dense (events arrive roughly in time
// order), the table's seq range in one forward scan, emitted in key order.
// Reading the page the one-step way costs a table search per row from the
// time index, about half of the reading. A row purged between the two
// steps is left out, as if the export had started after the purge.
func (db *DB) ScanQuery(ctx context.Context, q stele.RowQuery, fn func(*stele.EventRow) error) error {
	q.Limit = scanPage
	sc := rowScanner{r: stele.EventRow{AccountID: q.AccountID}}
	for {
		var (
			n   int
			err error
		)
		if len(q.Filters) == 0 {
			n, err = sc.pageByRange(ctx, db, q, fn)
		} else {
			n, err = sc.page(ctx, db, q, fn)
		}
		if err != nil || n < scanPage {
			return err
		}
		q.HasBelow, q.BelowTime, q.BelowSeq = true, sc.lastTime, sc.lastSeq
	}
}

// rowScanner holds ScanQuery's reused buffers.
type rowScanner struct {
	r                 stele.EventRow
	action            sql.RawBytes
	lastTime, lastSeq int64
	keys              [][2]int64 // (time, seq) of a page
	slots             []slot     // rows of a seq range, by seq - lo
	arena             []byte     // their payloads
}

// slot is a row of a seq range read by pageByRange.
type slot struct {
	seq, received int64
	action        string
	cat, out      int64
	version       int
	payload       [2]int // in arena
	present       bool
}

// page reads one page of q in one statement and returns its row count.
func (sc *rowScanner) page(ctx context.Context, db *DB, q stele.RowQuery, fn func(*stele.EventRow) error) (int, error) {
	query, args, err := buildRowQueryOf(q, scanColumns)
	if err != nil {
		return 0, err
	}
	rows, err := db.reader.QueryContext(ctx, query, args...)
	if err != nil {
		return 0, fmt.Errorf("sqlite: scan query: %w", mapErr(err))
	}
	defer rows.Close()
	r := &sc.r
	n := 0
	var cat, out int64
	for rows.Next() {
		n++
		if err := rows.Scan(&r.Seq, &r.Time, &r.ReceivedAt, &sc.action, &cat, &out, &r.KeyVersion, (*sql.RawBytes)(&r.Payload)); err != nil {
			return n, fmt.Errorf("sqlite: scan query: %w", err)
		}
		if err := sc.fill(cat, out); err != nil {
			return n, err
		}
		if r.Action != string(sc.action) { // actions repeat: keep the string
			r.Action = string(sc.action)
		}
		sc.lastTime, sc.lastSeq = r.Time, r.Seq
		if err := fn(r); err != nil {
			return n, err
		}
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("sqlite: scan query: %w", mapErr(err))
	}
	return n, nil
}

// fill sets the row's category and outcome from their codes.
func (sc *rowScanner) fill(cat, out int64) error {
	if cat < 0 || cat >= int64(len(stele.Categories)) || out < 0 || out >= int64(len(stele.Outcomes)) {
		return fmt.Errorf("sqlite: scan query: event %d/%d: unknown category or outcome code", sc.r.AccountID, sc.r.Seq)
	}
	sc.r.Category, sc.r.Outcome = stele.Categories[cat], stele.Outcomes[out]
	return nil
}

// pageByRange reads one page of q (which has no filters) in two steps (see
// ScanQuery) and returns its row count, that of its keys.
func (sc *rowScanner) pageByRange(ctx context.Context, db *DB, q stele.RowQuery, fn func(*stele.EventRow) error) (int, error) {
	query, args, err := buildRowQueryOf(q, `time, seq`)
	if err != nil {
		return 0, err
	}
	rows, err := db.reader.QueryContext(ctx, query, args...)
	if err != nil {
		return 0, fmt.Errorf("sqlite: scan query: %w", mapErr(err))
	}
	sc.keys = sc.keys[:0]
	lo, hi := int64(1<<63-1), int64(-1<<63)
	for rows.Next() {
		var k [2]int64
		if err := rows.Scan(&k[0], &k[1]); err != nil {
			rows.Close()
			return 0, fmt.Errorf("sqlite: scan query: %w", err)
		}
		sc.keys = append(sc.keys, k)
		lo, hi = min(lo, k[1]), max(hi, k[1])
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return 0, fmt.Errorf("sqlite: scan query: %w", mapErr(err))
	}
	n := len(sc.keys)
	if n == 0 {
		return 0, nil
	}
	if hi-lo >= int64(2*n) {
		// Sparse: late events, or an old time range among newer ones.
		// Read the page the one-step way, exactly these n rows.
		pq := q
		pq.Limit = n
		if _, err := sc.page(ctx, db, pq, fn); err != nil {
			return n, err
		}
		sc.lastTime, sc.lastSeq = sc.keys[n-1][0], sc.keys[n-1][1]
		return n, nil
	}
	span := int(hi - lo + 1)
	if cap(sc.slots) < span {
		sc.slots = make([]slot, span)
	}
	sc.slots = sc.slots[:span]
	clear(sc.slots)
	sc.arena = sc.arena[:0]
	rows, err = db.reader.QueryContext(ctx, `SELECT `+scanColumns+` FROM events WHERE account_id = ? AND seq >= ? AND seq <= ?`, q.AccountID, lo, hi)
	if err != nil {
		return 0, fmt.Errorf("sqlite: scan query: %w", mapErr(err))
	}
	var (
		t       int64
		payload sql.RawBytes
		prev    string
	)
	for rows.Next() {
		var s slot
		if err := rows.Scan(&s.seq, &t, &s.received, &sc.action, &s.cat, &s.out, &s.version, &payload); err != nil {
			rows.Close()
			return 0, fmt.Errorf("sqlite: scan query: %w", err)
		}
		if prev != string(sc.action) {
			prev = string(sc.action)
		}
		s.action, s.present = prev, true
		s.payload = [2]int{len(sc.arena), len(sc.arena) + len(payload)}
		sc.arena = append(sc.arena, payload...)
		sc.slots[s.seq-lo] = s
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return 0, fmt.Errorf("sqlite: scan query: %w", mapErr(err))
	}
	r := &sc.r
	for _, k := range sc.keys {
		s := &sc.slots[k[1]-lo]
		if !s.present {
			continue // purged since the keys were read
		}
		r.Seq, r.Time, r.ReceivedAt, r.Action, r.KeyVersion = s.seq, k[0], s.received, s.action, s.version
		r.Payload = sc.arena[s.payload[0]:s.payload[1]:s.payload[1]]
		if err := sc.fill(s.cat, s.out); err != nil {
			return n, err
		}
		if err := fn(r); err != nil {
			return n, err
		}
	}
	sc.lastTime, sc.lastSeq = sc.keys[n-1][0], sc.keys[n-1][1]
	return n, nil
}
