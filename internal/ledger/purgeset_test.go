package ledger

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestPurgeSetStatementRoundTripAndIsNeitherCheckpointNorV1(t *testing.T) {
	k := testKey(t, "stele.local")
	d := NewPurgeDigest()
	d.Add(0, 1, LeafHash([]byte("a")))
	p := PurgeSetBody{Origin: "stele.local/acme", Cutoff: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC),
		Time: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC), Count: 6, Digest: d.Sum(),
		Ranges: Ranges([]int64{0, 3, 4, 5, 9, 11})}
	if want := []SeqRange{{0, 1}, {3, 6}, {9, 10}, {11, 12}}; !reflect.DeepEqual(p.Ranges, want) {
		t.Fatalf("Ranges = %v, want %v", p.Ranges, want)
	}
	msg, err := SignPurgeSet(k.Signer, p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(msg), "\n0\n3-5\n9\n11\n") {
		t.Fatalf("ranges not written one a line:\n%s", msg)
	}
	got, err := OpenPurgeSet(msg, k.Verifier)
	if err != nil || !reflect.DeepEqual(got, p) {
		t.Fatalf("open = %+v, %v", got, err)
	}
	for _, seq := range []int64{0, 3, 4, 5, 9, 11} {
		if !got.Covers(seq) {
			t.Errorf("Covers(%d) = false", seq)
		}
	}
	for _, seq := range []int64{-1, 1, 2, 6, 8, 10, 12} {
		if got.Covers(seq) {
			t.Errorf("Covers(%d) = true", seq)
		}
	}
	if _, err := OpenCheckpoint(msg, k.Verifier); err == nil {
		t.Fatal("a purge statement parsed as a checkpoint")
	}
	if _, err := OpenPurge(msg, k.Verifier); err == nil {
		t.Fatal("a v2 purge statement parsed as v1")
	}
	tampered := strings.Replace(string(msg), "\n3-5\n", "\n3-6\n", 1)
	if _, err := OpenPurgeSet([]byte(tampered), k.Verifier); !errors.Is(err, ErrSignature) {
		t.Fatalf("tampered statement: %v, want a signature error", err)
	}
}

func TestParsePurgeSetRejectsMalformedRanges(t *testing.T) {
	head := PurgeSetHeader + "\no/a\n2026-10-01T00:00:00Z\n2026-11-01T00:00:00Z\n"
	digest := "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
	for _, text := range []string{
		head + "2\n" + digest + "3\n1\n",   // descending
		head + "2\n" + digest + "1\n2\n",   // touching: one range
		head + "3\n" + digest + "1-2\n2\n", // overlapping
		head + "3\n" + digest + "1-2\n",    // count differs
		head + "1\n" + digest + "5-4\n",    // backwards
		head + "1\n" + digest + "x\n",      // not a number
		head + "0\n" + digest,              // no range
		head + "1\n" + digest + "01\n",     // not canonical
	} {
		if _, err := ParsePurgeSet(text); !errors.Is(err, ErrFormat) {
			t.Errorf("ParsePurgeSet(%q) = %v", text, err)
		}
	}
	if _, err := ParsePurgeSet(head + "3\n" + digest + "1-2\n4\n"); err != nil {
		t.Errorf("valid body rejected: %v", err)
	}
}
