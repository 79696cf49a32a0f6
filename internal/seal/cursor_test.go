package seal

import (
	"bytes"
	"context"
	"hash"
	"testing"
)

// TestCursorMACIsSharedAndBoundToAccountAndVersion: every node holding an
// account's keys (another keyring on the same key store, or this one after
// a restart) computes the same cursor MAC; another account, another index
// key version, or the index key itself used as it is for tokens, computes
// another. Rotation keeps the versions a cursor may name.
func TestCursorMACIsSharedAndBoundToAccountAndVersion(t *testing.T) {
	ctx := context.Background()
	store := testKeys(t)
	msg := []byte("cursor content")
	node1, node2 := NewKeyring(testMaster(t, 1), store), NewKeyring(testMaster(t, 1), store)
	k1, err := node1.Account(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	mac, ok := k1.CursorMAC(k1.IndexVersion(), msg)
	if !ok || len(mac) != 32 {
		t.Fatalf("CursorMAC = %x, %v", mac, ok)
	}
	k2, err := node2.Account(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := k2.CursorMAC(k2.IndexVersion(), msg); !bytes.Equal(again, mac) {
		t.Fatalf("another node computes %x, not %x", again, mac)
	}
	other, err := node1.Account(ctx, 4)
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := other.CursorMAC(other.IndexVersion(), msg); bytes.Equal(m, mac) {
		t.Fatal("another account computes the same MAC")
	}
	h := k1.index[0].pool.Get().(hash.Hash)
	h.Reset()
	h.Write(msg)
	if bytes.Equal(h.Sum(nil), mac) {
		t.Fatal("the cursor MAC is keyed by the index key itself")
	}
	if _, ok := k1.CursorMAC(9, msg); ok {
		t.Fatal("a MAC under an index key version the account does not have")
	}

	rot, err := node1.Rotate(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	node2.Forget(3)
	k3, err := node2.Account(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := k3.CursorMAC(1, msg); !ok || !bytes.Equal(m, mac) {
		t.Fatalf("after rotation version 1 computes %x, %v", m, ok)
	}
	if m, ok := k3.CursorMAC(rot.IndexVersion, msg); !ok || bytes.Equal(m, mac) || k3.IndexVersion() != rot.IndexVersion {
		t.Fatalf("the new version computes %x, %v", m, ok)
	}
}
