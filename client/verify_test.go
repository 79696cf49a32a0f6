package client_test

import (
	"errors"
	"sync"
	"testing"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/client"
	"github.com/stele-audit/stele/internal/ledger"
)

func TestVerifyReceiptProvesInclusionAgainstThePinnedKey(t *testing.T) {
	s := startLive(t)
	var mu sync.Mutex
	var receipts []stele.Receipt
	c := s.client(t, client.WithBatchSize(7), client.WithReceiptHandler(func(rs []stele.Receipt) {
		mu.Lock()
		receipts = append(receipts, rs...)
		mu.Unlock()
	}))
	recordN(t, c, 0, 20)
	flush(t, c)
	if len(receipts) != 20 {
		t.Fatalf("%d receipts, want 20", len(receipts))
	}
	key := s.sk.VerifierKey
	for _, r := range []stele.Receipt{receipts[0], receipts[6], receipts[19]} {
		cp, err := c.VerifyReceipt(t.Context(), r, key)
		if err != nil {
			t.Fatalf("receipt %+v: %v", r, err)
		}
		if cp.Size <= r.Seq || cp.Origin != "stele.test/acme" {
			t.Fatalf("checkpoint %+v for seq %d", cp, r.Seq)
		}
	}

	// What does not hold is refused.
	other, _, err := ledger.NewSigningKey("stele.test")
	if err != nil {
		t.Fatal(err)
	}
	altered := receipts[3]
	altered.LeafHash = receipts[4].LeafHash
	moved := receipts[3]
	moved.Seq = 4
	foreign := receipts[3]
	foreign.Account = "globex"
	for name, check := range map[string]func() error{
		"another key":     func() error { _, err := c.VerifyReceipt(t.Context(), receipts[3], other.VerifierKey); return err },
		"another leaf":    func() error { _, err := c.VerifyReceipt(t.Context(), altered, key); return err },
		"another seq":     func() error { _, err := c.VerifyReceipt(t.Context(), moved, key); return err },
		"another account": func() error { _, err := c.VerifyReceipt(t.Context(), foreign, key); return err },
	} {
		if err := check(); !errors.Is(err, client.ErrNotVerified) {
			t.Errorf("%s: %v, want ErrNotVerified", name, err)
		}
	}
	if _, err := c.VerifyReceipt(t.Context(), receipts[3], "not a key"); stele.ErrorCode(err) != stele.EINVALID {
		t.Errorf("a bad verifier key: %v", err)
	}

	// The latest checkpoint opens under the key; a proof checks against it.
	cp, err := c.Checkpoint(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	opened, err := client.OpenCheckpoint(cp.Note, key)
	if err != nil || opened.Root != cp.Root || opened.Size != cp.Size {
		t.Fatalf("open checkpoint: %+v %v", opened, err)
	}
	p, err := c.InclusionProof(t.Context(), 2, opened.Size)
	if err != nil {
		t.Fatal(err)
	}
	if err := client.VerifyInclusion(p.LeafHash, 2, opened.Size, p.Hashes, opened.Root); err != nil {
		t.Fatal(err)
	}
	if err := client.VerifyInclusion(p.LeafHash, 3, opened.Size, p.Hashes, opened.Root); !errors.Is(err, client.ErrNotVerified) {
		t.Fatalf("a proof for another seq: %v", err)
	}
}
