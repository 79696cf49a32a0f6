package record

import (
	"bytes"
	"math"
	"testing"

	"github.com/stele-audit/stele"
)

// canonicalViaDecode is what AppendCanonicalRow must equal: the row's
// payload decoded as the search path decodes it, then encoded canonically.
func canonicalViaDecode(account string, r *stele.EventRow, plain []byte) ([]byte, error) {
	e := &stele.Event{Seq: r.Seq, Account: account, Time: Time(r.Time), ReceivedAt: Time(r.ReceivedAt),
		Action: r.Action, Category: r.Category, Outcome: r.Outcome}
	if err := DecodePayload(plain, e); err != nil {
		return nil, err
	}
	return AppendCanonical(nil, e), nil
}

func checkCanonicalRow(t *testing.T, r *stele.EventRow, plain []byte) {
	t.Helper()
	want, werr := canonicalViaDecode("acme", r, plain)
	got, gerr := AppendCanonicalRow([]byte("prefix"), "acme", r, plain)
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("payload %x: decode error %v, row encoding error %v", plain, werr, gerr)
	}
	if werr == nil && !bytes.Equal(got, append([]byte("prefix"), want...)) {
		t.Fatalf("payload %x:\nrow encoding %x\n   via event %x", plain, got, want)
	}
}

func TestCanonicalRowMatchesDecodedEvent(t *testing.T) {
	e := sampleEvent()
	row := &stele.EventRow{AccountID: 2, Seq: e.Seq, Time: Micros(e.Time), ReceivedAt: Micros(e.ReceivedAt),
		Action: e.Action, Category: e.Category, Outcome: e.Outcome}
	for _, plain := range [][]byte{AppendPayload(nil, e), AppendPayload(nil, &stele.Event{})} {
		checkCanonicalRow(t, row, plain)
		// Every truncation, and every single-byte change, is either
		// rejected by both or encoded alike by both.
		for i := range plain {
			checkCanonicalRow(t, row, plain[:i])
			for _, v := range []byte{0, 1, 0x7f, 0x80, 0xff, plain[i] + 1, plain[i] - 1} {
				mut := bytes.Clone(plain)
				mut[i] = v
				checkCanonicalRow(t, row, mut)
			}
		}
		checkCanonicalRow(t, row, append(bytes.Clone(plain), 0))
	}
	// Times that do not survive a round trip through time.Time unchanged
	// (the zero time's microseconds encode as 0).
	for _, us := range []int64{0, -62135596800000000, math.MinInt64, math.MaxInt64} {
		r := *row
		r.Time, r.ReceivedAt = us, us
		checkCanonicalRow(t, &r, AppendPayload(nil, e))
	}
	if _, err := canonicalViaDecode("acme", row, AppendPayload(nil, e)); err != nil {
		t.Fatal(err)
	}
}

func FuzzCanonicalRow(f *testing.F) {
	f.Add(AppendPayload(nil, sampleEvent()), int64(1234), int64(1))
	f.Add(AppendPayload(nil, &stele.Event{}), int64(0), int64(0))
	f.Fuzz(func(t *testing.T, plain []byte, seq, us int64) {
		checkCanonicalRow(t, &stele.EventRow{Seq: seq, Time: us, ReceivedAt: us ^ 1, Action: "user.login", Category: "authentication", Outcome: "success"}, plain)
	})
}
