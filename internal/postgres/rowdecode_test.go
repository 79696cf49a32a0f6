package postgres

import (
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/sqlstore"
)

// Rows come back from the wire exactly as they were stored, and as Scan
// reads them: every column, null and negative tokens, the extremes of each
// integer, and payload bytes of every value.
func TestEventRowsAreDecodedFromTheWireAsScanReadsThem(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	a := &stele.Account{Name: "acme", Type: "team"}
	if err := db.CreateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UnixMicro()
	payload := make([]byte, 256)
	for i := range payload {
		payload[i] = byte(i)
	}
	var want []stele.EventRow
	for i := range 6 {
		r := stele.EventRow{AccountID: a.ID, Seq: int64(i), Time: now - int64(i), ReceivedAt: now + int64(i),
			Action:   []string{"user.login", "finding.created", "config.é"}[i%3],
			Category: stele.Categories[i%len(stele.Categories)], Outcome: stele.Outcomes[i%len(stele.Outcomes)],
			KeyVersion: []int{1, 7, math.MaxInt32}[i%3], Payload: payload[i:]}
		if i%2 == 0 {
			r.ActorTok, r.ActorEmailTok, r.TargetTok, r.SourceTok, r.IPTok = -1, math.MinInt64, math.MaxInt64, 42, -42
		}
		for j := range r.LeafHash {
			r.LeafHash[j] = byte(i*32 + j)
		}
		want = append(want, r)
	}
	err := db.Append(ctx, func(tx stele.AppendTx) error {
		h, err := tx.Head(ctx, a.ID)
		if err != nil {
			return err
		}
		if err := tx.InsertEvents(ctx, want); err != nil {
			return err
		}
		h.Size = int64(len(want))
		return tx.SetHead(ctx, h)
	})
	if err != nil {
		t.Fatal(err)
	}

	rows, err := db.pool.Query(ctx, `SELECT `+eventColumns+` FROM events WHERE account_id = $1 ORDER BY seq`, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for i := 0; rows.Next(); i++ {
		if !wireDecodable(rows.FieldDescriptions()) {
			t.Fatalf("the columns arrive as %+v: the wire decoder is never used", rows.FieldDescriptions())
		}
		var fromWire, scanned stele.EventRow
		if err := decodeEvent(rows.RawValues(), &fromWire, &sqlstore.Blocks{}); err != nil {
			t.Fatal(err)
		}
		if err := scanEvent(rows, &scanned); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(fromWire, want[i]) || !reflect.DeepEqual(scanned, want[i]) {
			t.Errorf("row %d:\nwire %+v\nscan %+v\nwant %+v", i, fromWire, scanned, want[i])
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}

	got, err := db.Rows(ctx, stele.RowQuery{AccountID: a.ID, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	// Newest first: want's times fall as seq rises.
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Rows returned\n%+v\nwant\n%+v", got, want)
	}
}

func TestDecodeEventRefusesMalformedValues(t *testing.T) {
	good := func() [][]byte {
		i8 := make([]byte, 8)
		return [][]byte{i8, i8, i8, i8, []byte("user.login"), {0, 0}, {0, 0}, nil, nil, nil, nil, nil,
			{0, 0, 0, 1}, []byte("p"), make([]byte, 32)}
	}
	var r stele.EventRow
	if err := decodeEvent(good(), &r, &sqlstore.Blocks{}); err != nil {
		t.Fatalf("a good row: %v", err)
	}
	for name, spoil := range map[string]func(v [][]byte){
		"short bigint":     func(v [][]byte) { v[1] = []byte{1} },
		"null seq":         func(v [][]byte) { v[1] = nil },
		"null action":      func(v [][]byte) { v[4] = nil },
		"unknown category": func(v [][]byte) { v[5] = []byte{0x7f, 0} },
		"negative outcome": func(v [][]byte) { v[6] = []byte{0xff, 0xff} },
		"long token":       func(v [][]byte) { v[7] = make([]byte, 9) },
		"short version":    func(v [][]byte) { v[12] = []byte{1} },
		"null payload":     func(v [][]byte) { v[13] = nil },
		"short leaf hash":  func(v [][]byte) { v[14] = make([]byte, 31) },
		"missing column":   func(v [][]byte) {},
	} {
		v := good()
		spoil(v)
		if name == "missing column" {
			v = v[:14]
		}
		if err := decodeEvent(v, &r, &sqlstore.Blocks{}); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}
