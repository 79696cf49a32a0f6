package postgres

import (
	"encoding/binary"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/sqlstore"
)

// Pages of events are read straight from the wire values of eventColumns:
// rows.Scan spent more per row finding each column's plan and allocating
// the nullable tokens and the leaf hash than the query took on the server
// (docs/PERFORMANCE.md). collectEvents falls back to Scan for a result in any other shape.

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

// wireSize is the size of a value of type oid in the binary format, 0 for
// any length.
func wireSize(oid uint32) int {
	switch oid {
	case pgtype.Int8OID:
		return 8
	case pgtype.Int4OID:
		return 4
	case pgtype.Int2OID:
		return 2
	}
	return 0
}

// decodeEvent reads one row of eventColumns, in the binary format, into r.
// The payload is copied into blocks: vals is only good until the next row.
func decodeEvent(vals [][]byte, r *stele.EventRow, blocks *sqlstore.Blocks) error {
	if len(vals) != len(eventWire) {
		return fmt.Errorf("%d columns, want %d", len(vals), len(eventWire))
	}
	for i, v := range vals {
		token := i >= 7 && i <= 11 // only the five tokens may be NULL
		if size := wireSize(eventWire[i]); (v == nil && !token) || (v != nil && size != 0 && len(v) != size) {
			return fmt.Errorf("column %d: %d bytes (null %v), want %d", i, len(v), v == nil, size)
		}
	}
	i8 := func(i int) int64 {
		if vals[i] == nil {
			return 0
		}
		return int64(binary.BigEndian.Uint64(vals[i]))
	}
	r.AccountID, r.Seq, r.Time, r.ReceivedAt = i8(0), i8(1), i8(2), i8(3)
	r.Action = string(vals[4])
	r.ActorTok, r.ActorEmailTok, r.TargetTok, r.SourceTok, r.IPTok = i8(7), i8(8), i8(9), i8(10), i8(11)
	r.KeyVersion = int(int32(binary.BigEndian.Uint32(vals[12])))
	r.Payload = blocks.Copy(vals[13])
	cat, out := int16(binary.BigEndian.Uint16(vals[5])), int16(binary.BigEndian.Uint16(vals[6]))
	return setCodesAndLeaf(r, cat, out, vals[14])
}
