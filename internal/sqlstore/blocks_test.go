package sqlstore

import (
	"bytes"
	"testing"
)

func TestBlocksCopiesWithoutSharingSpareCapacity(t *testing.T) {
	var k Blocks
	var kept [][]byte
	var want [][]byte
	for i := range 500 {
		// Sizes from empty to past a quarter block, so that values share
		// blocks, fill them, and the largest get their own.
		v := bytes.Repeat([]byte{byte(i)}, (i*97)%(blockSize/3))
		c := k.Copy(v)
		if c == nil || !bytes.Equal(c, v) || cap(c) != len(c) {
			t.Fatalf("value %d: copy of %d bytes has len %d cap %d (nil %v)", i, len(v), len(c), cap(c), c == nil)
		}
		if len(v) > 0 {
			v[0] ^= 0xff // a driver reuses its buffer for the next row
		}
		_ = append(c, 0xEE) // must not land in a neighbour
		kept, want = append(kept, c), append(want, bytes.Repeat([]byte{byte(i)}, len(c)))
	}
	for i := range kept {
		if !bytes.Equal(kept[i], want[i]) {
			t.Fatalf("value %d changed after later copies", i)
		}
	}
}

func TestBlocksShareAllocations(t *testing.T) {
	v := make([]byte, 600) // a sealed demo payload
	allocs := testing.AllocsPerRun(20, func() {
		var k Blocks
		for range 51 {
			k.Copy(v)
		}
	})
	if allocs > 1 {
		t.Fatalf("a page of 51 payloads took %v allocations, want 1", allocs)
	}
}
