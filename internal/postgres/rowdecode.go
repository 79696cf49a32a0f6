package postgres

import (
	"encoding/binary"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stele-audit/stele"
)

// Pages of events are read straight from the wire values of eventColumns:
// rows.Scan spent ≈ 1.3 µs a row finding each column's plan and allocating
// the nullable tokens and the leaf hash, more than the query took on the
// server. collectEvents falls back to Scan for a result in any other shape.

// eventWire is the type and format each of eventColumns must arrive in to be
// decoded here; text may come in either format (the bytes are the same).
var eventWire = [...]uint32{
	pgtype.Int8OID, pgtype.Int8OID, pgtype.Int8OID, pgtype.Int8OID, // account_id, seq, time, received_at
	pgtype.TextOID, pgtype.Int2OID, pgtype.Int2OID, // action, category, outcome
	pgtype.Int8OID, pgtype.Int8OID, pgtype.Int8OID, pgtype.Int8OID, pgtype.Int8OID, // the five tokens
	pgtype.Int4OID, pgtype.ByteaOID, pgtype.ByteaOID, // key_version, payload, leaf_hash
}

// wireDecodable reports whether rows of fields can be read by decodeEvent.
func wireDecodable(fields []pgconn.FieldDescription) bool {
	if len(fields) != len(eventWire) {
		return false
	}
	for i, f := range fields {
		if f.DataTypeOID != eventWire[i] || (f.Format != pgtype.BinaryFormatCode && f.DataTypeOID != pgtype.TextOID) {
			return false
		}
	}
	return true
}

// decodeEvent reads one row of eventColumns, in the binary format, into r.
// The payload is copied: vals is only good until the next row.
func decodeEvent(vals [][]byte, r *stele.EventRow) error {
	if len(vals) != len(eventWire) {
		return fmt.Errorf("%d columns, want %d", len(vals), len(eventWire))
	}
	var err error
	int8At := func(i int, null bool) int64 {
		v := vals[i]
		switch {
		case v == nil && null:
			return 0
		case len(v) != 8:
			if err == nil {
				err = fmt.Errorf("column %d: %d bytes for a bigint", i, len(v))
			}
			return 0
		}
		return int64(binary.BigEndian.Uint64(v))
	}
	smallAt := func(i, size int) int64 {
		v := vals[i]
		if len(v) != size {
			if err == nil {
				err = fmt.Errorf("column %d: %d bytes for a %d-byte integer", i, len(v), size)
			}
			return 0
		}
		if size == 2 {
			return int64(int16(binary.BigEndian.Uint16(v)))
		}
		return int64(int32(binary.BigEndian.Uint32(v)))
	}
	r.AccountID, r.Seq, r.Time, r.ReceivedAt = int8At(0, false), int8At(1, false), int8At(2, false), int8At(3, false)
	if vals[4] == nil {
		return fmt.Errorf("event %d/%d: no action", r.AccountID, r.Seq)
	}
	r.Action = string(vals[4])
	cat, out := smallAt(5, 2), smallAt(6, 2)
	r.ActorTok, r.ActorEmailTok, r.TargetTok, r.SourceTok, r.IPTok = int8At(7, true), int8At(8, true), int8At(9, true), int8At(10, true), int8At(11, true)
	r.KeyVersion = int(smallAt(12, 4))
	if err != nil {
		return fmt.Errorf("event %d/%d: %w", r.AccountID, r.Seq, err)
	}
	if vals[13] == nil {
		return fmt.Errorf("event %d/%d: no payload", r.AccountID, r.Seq)
	}
	r.Payload = append([]byte{}, vals[13]...)
	if cat < 0 || int(cat) >= len(stele.Categories) {
		return fmt.Errorf("event %d/%d: unknown category code %d", r.AccountID, r.Seq, cat)
	}
	if out < 0 || int(out) >= len(stele.Outcomes) {
		return fmt.Errorf("event %d/%d: unknown outcome code %d", r.AccountID, r.Seq, out)
	}
	if len(vals[14]) != 32 {
		return fmt.Errorf("event %d/%d: leaf hash of %d bytes", r.AccountID, r.Seq, len(vals[14]))
	}
	r.Category, r.Outcome = stele.Categories[cat], stele.Outcomes[out]
	r.LeafHash = [32]byte(vals[14])
	return nil
}
