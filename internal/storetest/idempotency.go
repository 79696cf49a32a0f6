package storetest

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"testing"

	"github.com/stele-audit/stele"
)

// testClaimIdempotency holds ClaimIdempotency to all or nothing: a claim
// with no recorded token records them all; one with any records none and
// names the recorded ones with their first seqs, and the same transaction
// can then record the rest as the writer does.
func testClaimIdempotency(t *testing.T, s stele.Store) {
	a := mustAccount(t, s, "acme")
	other := mustAccount(t, s, "globex")
	// 130 tokens: two statements of many rows and two of one on SQLite.
	first := map[int64]int64{}
	for i := range int64(130) {
		first[i*7919-400] = i
	}
	first[-1<<63], first[1<<63-1] = 130, 131
	// inTx returns what read returns in a transaction of its own.
	inTx := func(read func(tx stele.AppendTx) (map[int64]int64, error)) (seen map[int64]int64) {
		t.Helper()
		err := s.Append(ctx(t), func(tx stele.AppendTx) (err error) {
			seen, err = read(tx)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return seen
	}
	claim := func(account int64, tokens map[int64]int64) map[int64]int64 {
		t.Helper()
		return inTx(func(tx stele.AppendTx) (map[int64]int64, error) { return tx.ClaimIdempotency(ctx(t), account, tokens) })
	}
	recorded := func(account int64, tokens []int64) map[int64]int64 {
		t.Helper()
		return inTx(func(tx stele.AppendTx) (map[int64]int64, error) { return tx.IdempotentSeqs(ctx(t), account, tokens) })
	}
	if seen := claim(a.ID, first); len(seen) != 0 {
		t.Fatalf("first claim = %v, want none recorded before", seen)
	}
	if got := recorded(a.ID, slices.Collect(maps.Keys(first))); !reflect.DeepEqual(got, first) {
		t.Fatalf("after the first claim, recorded = %d tokens, want the %d claimed", len(got), len(first))
	}
	// Another account's tokens are its own.
	if seen := claim(other.ID, map[int64]int64{-400: 0}); len(seen) != 0 {
		t.Fatalf("claim of another account = %v, want none recorded", seen)
	}

	// Two replays among 70 new tokens: nothing of this claim is recorded.
	second := map[int64]int64{-400: 132, 1<<63 - 1: 133}
	for i := range int64(70) {
		second[1_000_000+i] = 134 + i
	}
	err := s.Append(ctx(t), func(tx stele.AppendTx) error {
		seen, err := tx.ClaimIdempotency(ctx(t), a.ID, second)
		if err != nil {
			return err
		}
		if want := map[int64]int64{-400: 0, 1<<63 - 1: 131}; !reflect.DeepEqual(seen, want) {
			return fmt.Errorf("claim with two replays = %v, want %v", seen, want)
		}
		news := map[int64]int64{}
		for tok, seq := range second {
			if _, ok := seen[tok]; !ok {
				news[tok] = seq - 2
			}
		}
		got, err := tx.IdempotentSeqs(ctx(t), a.ID, slices.Collect(maps.Keys(news)))
		if err != nil {
			return err
		}
		if len(got) != 0 {
			return fmt.Errorf("a refused claim recorded %d of its new tokens", len(got))
		}
		return tx.InsertIdempotency(ctx(t), a.ID, news)
	})
	if err != nil {
		t.Fatal(err)
	}
	got := recorded(a.ID, []int64{-400, 1<<63 - 1, 1_000_000, 1_000_069})
	if want := map[int64]int64{-400: 0, 1<<63 - 1: 131, 1_000_000: 132, 1_000_069: 201}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after the replays, recorded = %v, want %v", got, want)
	}
	if seen := claim(a.ID, map[int64]int64{}); len(seen) != 0 {
		t.Fatalf("empty claim = %v", seen)
	}
}
