package integrity

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"runtime"
	"strings"
	"sync"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/ledger"
	"github.com/stele-audit/stele/internal/record"
	"github.com/stele-audit/stele/internal/seal"
	"github.com/stele-audit/stele/internal/search"
	"golang.org/x/mod/sumdb/note"
)

// Kinds of failure a store verification reports.
const (
	KindRowAltered        = "row altered"
	KindRowsSwapped       = "rows swapped"
	KindLeafMismatch      = "leaf hash mismatch"
	KindRowMissing        = "row missing"
	KindForgedRow         = "forged row"
	KindTreeMismatch      = "tree mismatch"
	KindRollback          = "rollback"
	KindCheckpointSig     = "checkpoint signature invalid"
	KindCheckpointRoot    = "checkpoint root mismatch"
	KindCheckpointUnknown = "checkpoint not checkable"
	KindPurgeInvalid      = "purge statement invalid"
	KindPurgedTooEarly    = "purged before its retention ended"
	// KindKeysDestroyed: the account was deleted and its keys destroyed
	// in the key store; its events here (a copy of the event store from
	// before the deletion) cannot be decrypted, so they are not checked.
	KindKeysDestroyed = "account keys destroyed"
)

// Failure is one thing a verification found wrong. Seq and Checkpoint are
// -1 when they do not apply.
type Failure struct {
	Account    string `json:"account"`
	Seq        int64  `json:"seq"`
	Checkpoint int64  `json:"checkpoint"`
	Kind       string `json:"kind"`
	Detail     string `json:"detail"`
}

func (f Failure) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "account %s", f.Account)
	if f.Seq >= 0 {
		fmt.Fprintf(&b, ", seq %d", f.Seq)
	}
	if f.Checkpoint >= 0 {
		fmt.Fprintf(&b, ", checkpoint %d", f.Checkpoint)
	}
	if strings.HasPrefix(f.Detail, f.Kind) {
		fmt.Fprintf(&b, ": %s", f.Detail)
	} else {
		fmt.Fprintf(&b, ": %s: %s", f.Kind, f.Detail)
	}
	return b.String()
}

// Report is the outcome of a store verification.
type Report struct {
	Accounts    int       `json:"accounts"`
	Events      int64     `json:"events"`
	Checkpoints int       `json:"checkpoints"`
	Purged      int64     `json:"purged"`
	Failures    []Failure `json:"failures"`
}

// OK reports whether nothing failed.
func (r *Report) OK() bool { return len(r.Failures) == 0 }

// StoreVerifier re-checks a whole store: every row decrypts under its clear
// columns, every leaf hash is the hash of its decrypted event, the stored
// tree and head match the leaves, every checkpoint is signed by Verifier
// and matches the tree, and rows are missing only below a signed purge.
type StoreVerifier struct {
	Accounts stele.AccountStore
	Events   stele.EventStore
	Store    stele.IntegrityStore
	Keys     *seal.Keyring
	Verifier note.Verifier
	// Also are keys trusted besides Verifier: the key before a change of
	// signing key, which signed the older checkpoints.
	Also    []note.Verifier
	Workers int // decrypting goroutines, default GOMAXPROCS
	Chunk   int // rows per read, default 4096
}

// Verify checks the named accounts, or every account when names is empty.
func (v *StoreVerifier) Verify(ctx context.Context, names ...string) (*Report, error) {
	var accounts []*stele.Account
	if len(names) == 0 {
		all, err := v.Accounts.Accounts(ctx)
		if err != nil {
			return nil, err
		}
		accounts = all
	}
	for _, n := range names {
		a, err := v.Accounts.AccountByName(ctx, n)
		if err != nil {
			return nil, err
		}
		accounts = append(accounts, a)
	}
	rep := &Report{}
	for _, a := range accounts {
		if err := v.verifyAccount(ctx, a, rep); err != nil {
			return nil, fmt.Errorf("verify account %s: %w", a.Name, err)
		}
		rep.Accounts++
	}
	return rep, nil
}

// accountCheck is the state of one account's verification.
type accountCheck struct {
	v         *StoreVerifier
	account   *stele.Account
	rep       *Report
	keys      *seal.AccountKeys
	head      stele.Head // the stored head
	tree      stele.Head // the tree recomputed from the leaves
	broken    int64      // seq at which the recomputation stopped, -1 if it did not
	nodes     map[[2]int64]ledger.Hash
	cps       map[int64]*stele.Checkpoint
	cpSizes   []int64
	undecr    []*stele.EventRow // rows that did not decrypt, for swap detection
	treeBad   int
	lastSeen  int64
	floor     int64 // the purge point the recomputation starts from
	nodeCheck func(stele.TreeNode)
	purged    purgedCheck // the set purges (stele.purge/v2)
}

func (c *accountCheck) fail(seq, cp int64, kind, format string, args ...any) {
	c.rep.Failures = append(c.rep.Failures, Failure{Account: c.account.Name, Seq: seq, Checkpoint: cp, Kind: kind, Detail: fmt.Sprintf(format, args...)})
}

func (v *StoreVerifier) verifyAccount(ctx context.Context, a *stele.Account, rep *Report) error {
	c := &accountCheck{v: v, account: a, rep: rep, broken: -1, nodes: map[[2]int64]ledger.Hash{}, cps: map[int64]*stele.Checkpoint{}}
	var err error
	if c.head, err = v.Events.CurrentHead(ctx, a.ID); err != nil {
		return err
	}
	if c.keys, err = v.Keys.Account(ctx, a.ID); err != nil {
		if stele.ErrorCode(err) == stele.EGONE {
			c.fail(-1, -1, KindKeysDestroyed, "%s", stele.ErrorMessage(err))
			return nil
		}
		return err
	}
	start, err := c.purgePoint(ctx)
	if err != nil {
		return err
	}
	rep.Purged += start.Size
	c.tree, c.floor = start, start.Size
	if err := c.loadPurgeSets(ctx); err != nil {
		return err
	}
	if err := c.loadNodes(ctx); err != nil {
		return err
	}
	if err := c.checkCheckpointNotes(ctx); err != nil {
		return err
	}
	if root, err := ledger.Root(c.tree); err == nil {
		c.checkRootAt(c.tree.Size, root)
	}
	if err := c.streamRows(ctx, start.Size); err != nil {
		return err
	}
	if c.purged.err != nil {
		return c.purged.err
	}
	c.finish(ctx)
	return c.purged.err
}

// purgePoint returns the tree state the leaves start from: the frontier of
// the largest validly signed purge, or the empty tree.
func (c *accountCheck) purgePoint(ctx context.Context) (stele.Head, error) {
	start := stele.Head{AccountID: c.account.ID}
	purges, err := c.v.Store.Purges(ctx, c.account.ID)
	if err != nil {
		return start, err
	}
	for _, p := range purges {
		body, err := ledger.OpenPurge(p.Note, c.v.Verifier, c.v.Also...)
		if err != nil {
			c.fail(p.Below, -1, KindPurgeInvalid, "purge below seq %d: %v", p.Below, err)
			continue
		}
		h := stele.Head{AccountID: c.account.ID, Size: p.Below, Frontier: p.Frontier}
		root, rerr := ledger.Root(h)
		switch {
		case body.Below != p.Below || !strings.HasSuffix(body.Origin, "/"+c.account.Name):
			c.fail(p.Below, -1, KindPurgeInvalid, "the signed statement (%s below %d) is not this purge's", body.Origin, body.Below)
		case rerr != nil || root != body.Root:
			c.fail(p.Below, -1, KindPurgeInvalid, "the stored frontier does not hash to the signed root")
		case p.Below >= start.Size:
			start = h
		}
	}
	return start, nil
}

func (c *accountCheck) loadNodes(ctx context.Context) error {
	for level := ledger.StoredLevel; level < 63 && c.head.Size>>level > 0; level++ {
		nodes, err := c.v.Events.TreeNodes(ctx, c.account.ID, level, 0, 1<<62)
		if err != nil {
			return err
		}
		for _, n := range nodes {
			c.nodes[[2]int64{int64(level), n.Index}] = n.Hash
		}
	}
	return nil
}

func (c *accountCheck) checkCheckpointNotes(ctx context.Context) error {
	cps, err := c.v.Store.Checkpoints(ctx, c.account.ID)
	if err != nil {
		return err
	}
	c.rep.Checkpoints += len(cps)
	for _, cp := range cps {
		body, err := ledger.OpenCheckpoint(cp.Note, c.v.Verifier, c.v.Also...)
		switch {
		case err != nil:
			c.fail(-1, cp.Size, KindCheckpointSig, "%v", err)
			continue
		case body.Size != cp.Size || body.Root != cp.Root:
			c.fail(-1, cp.Size, KindCheckpointSig, "the signed note says size %d, the row size %d (or another root)", body.Size, cp.Size)
			continue
		case !strings.HasSuffix(body.Origin, "/"+c.account.Name):
			c.fail(-1, cp.Size, KindCheckpointSig, "signed for origin %q, not this account", body.Origin)
			continue
		}
		c.cps[cp.Size] = cp
		c.cpSizes = append(c.cpSizes, cp.Size)
	}
	return nil
}

// checkRootAt compares the recomputed root at size with the checkpoint of that size.
func (c *accountCheck) checkRootAt(size int64, root ledger.Hash) {
	if cp, ok := c.cps[size]; ok && cp.Root != root {
		c.fail(-1, size, KindCheckpointRoot, "the signed root of size %d differs from the tree recomputed from the events", size)
	}
}

// rowResult is a row after decryption and hashing by a worker.
type rowResult struct {
	seq    int64
	stored ledger.Hash     // the row's stored leaf hash
	bad    uint8           // 0, badDecrypt or badLeaf
	row    *stele.EventRow // a copy of the row when it did not decrypt
}

const (
	badDecrypt = 1 + iota // the payload does not open, or does not decode
	badLeaf               // the stored leaf hash is not the event's
)

// rowScanner is a store that streams a seq range of rows without keeping
// them (the SQLite store); other stores are read with RowsBySeq.
type rowScanner interface {
	ScanRows(ctx context.Context, accountID, from, to int64, fn func(*stele.EventRow) error) error
}

// scanRange calls fn with the account's rows with seq in [lo, hi), or all
// from lo when hi < 0, in seq order.
func (c *accountCheck) scanRange(ctx context.Context, lo, hi int64, fn func(*stele.EventRow) error) error {
	if s, ok := c.v.Store.(rowScanner); ok {
		return s.ScanRows(ctx, c.account.ID, lo, hi, fn)
	}
	limit := c.v.chunk()
	if hi >= 0 {
		// At most hi-lo rows are in [lo, hi), and they come first.
		limit = int(hi - lo)
	}
	for next := lo; ; {
		rows, err := c.v.Store.RowsBySeq(ctx, c.account.ID, next, limit)
		if err != nil {
			return err
		}
		for i := range rows {
			if hi >= 0 && rows[i].Seq >= hi {
				return nil
			}
			if err := fn(&rows[i]); err != nil {
				return err
			}
		}
		if hi >= 0 || len(rows) < limit {
			return nil
		}
		next = rows[len(rows)-1].Seq + 1
	}
}

func (v *StoreVerifier) chunk() int {
	if v.Chunk > 0 {
		return v.Chunk
	}
	return 4096
}

// checker decrypts and hashes rows with buffers reused from row to row.
type checker struct {
	keys    *seal.AccountKeys
	account string
	ad      []byte
	plain   []byte
	leaf    []byte // 0x00 ‖ the canonical encoding: the leaf hash's input
}

func (k *checker) check(r *stele.EventRow) rowResult {
	res := rowResult{seq: r.Seq, stored: r.LeafHash}
	var err error
	k.ad = record.AppendAD(k.ad[:0], r)
	k.plain, err = k.keys.OpenAppend(k.plain[:0], r.KeyVersion, r.Seq, r.Payload, k.ad)
	if err == nil {
		k.leaf, err = record.AppendCanonicalRow(append(k.leaf[:0], 0), k.account, r, k.plain)
	}
	if err != nil {
		row := *r
		row.Payload = bytes.Clone(r.Payload)
		res.bad, res.row = badDecrypt, &row
		return res
	}
	// ledger.LeafHash of the canonical encoding, without its allocation.
	if sha256.Sum256(k.leaf) != r.LeafHash {
		res.bad = badLeaf
	}
	return res
}

// streamRows checks the rows from seq from on. The seqs are cut into
// chunks; workers each read a chunk on their own store connection, decrypt
// and hash its rows, and hand the results back; they are consumed in seq
// order, through a queue of per-chunk channels, to rebuild the tree.
func (c *accountCheck) streamRows(ctx context.Context, from int64) error {
	chunk := int64(c.v.chunk())
	workers := c.v.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type job struct {
		lo, hi int64 // hi < 0: the last chunk, read to the end
		out    chan []rowResult
	}
	jobs := make(chan job, workers)
	order := make(chan chan []rowResult, workers*2)
	free := make(chan []rowResult, workers*3)
	go func() {
		defer close(jobs)
		defer close(order)
		for lo := from; ; lo += chunk {
			j := job{lo: lo, hi: lo + chunk, out: make(chan []rowResult, 1)}
			if j.hi >= c.head.Size {
				j.hi = -1 // also finds rows forged beyond the head
			}
			select {
			case order <- j.out:
			case <-ctx.Done():
				return
			}
			select {
			case jobs <- j:
			case <-ctx.Done():
				j.out <- nil
				return
			}
			if j.hi < 0 {
				return
			}
		}
	}()
	var (
		wg      sync.WaitGroup
		errOnce sync.Once
		readErr error
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := &checker{keys: c.keys, account: c.account.Name}
			for j := range jobs {
				var res []rowResult
				select {
				case res = <-free:
				default:
				}
				err := c.scanRange(ctx, j.lo, j.hi, func(r *stele.EventRow) error {
					res = append(res, k.check(r))
					return nil
				})
				if err != nil {
					errOnce.Do(func() { readErr = err; cancel() })
				}
				j.out <- res
			}
		}()
	}
	c.lastSeen = from - 1
	for out := range order {
		res := <-out
		if ctx.Err() == nil {
			for i := range res {
				c.rep.Events++
				c.consume(&res[i])
			}
		}
		select {
		case free <- res[:0]:
		default:
		}
	}
	wg.Wait()
	if readErr == nil {
		readErr = ctx.Err()
	}
	return readErr
}

func (c *accountCheck) consume(r *rowResult) {
	seq := r.seq
	if seq >= c.head.Size {
		c.fail(seq, -1, KindForgedRow, "seq %d is beyond the tree's head (size %d): the row was inserted", seq, c.head.Size)
		return
	}
	if seq != c.lastSeen+1 {
		c.gap(seq)
	}
	if e := c.purgedAt(seq); e != nil {
		c.fail(seq, -1, KindPurgeInvalid, "the event at seq %d is both stored and recorded as purged", seq)
		c.countPurged(e)
	}
	c.lastSeen = seq
	switch r.bad {
	case badDecrypt:
		c.undecr = append(c.undecr, r.row)
		c.fail(seq, -1, KindRowAltered, "the payload does not decrypt under the row's account, seq and clear columns (time, action, category, outcome): its ciphertext or a clear column was changed")
	case badLeaf:
		c.fail(seq, -1, KindLeafMismatch, "the stored leaf hash is not the hash of the decrypted event")
	}
	c.appendLeaf(r.stored)
}

// appendLeaf extends the recomputed tree by one leaf, and checks the root
// against a checkpoint of the new size.
func (c *accountCheck) appendLeaf(leaf ledger.Hash) {
	if c.broken >= 0 {
		return
	}
	if c.nodeCheck == nil {
		c.nodeCheck = c.checkNode // one func value, not one per row
	}
	c.tree = ledger.Append(c.tree, leaf, c.nodeCheck)
	if _, ok := c.cps[c.tree.Size]; ok {
		root, _ := ledger.Root(c.tree)
		c.checkRootAt(c.tree.Size, root)
	}
}

// checkNode compares a node recomputed from the leaves with the stored one.
func (c *accountCheck) checkNode(n stele.TreeNode) {
	got, ok := c.nodes[[2]int64{int64(n.Level), n.Index}]
	if (!ok || got != n.Hash) && c.treeBad < 5 {
		c.treeBad++
		c.fail(n.Index<<n.Level, -1, KindTreeMismatch, "stored tree node level %d index %d is missing or differs from the leaves", n.Level, n.Index)
	}
}

// missing reports rows [from, to) as missing and stops recomputing the tree
// from the leaves (checkpoints beyond are then checked from stored nodes).
func (c *accountCheck) missing(from, to int64) {
	if to-from == 1 {
		c.fail(from, -1, KindRowMissing, "row missing (deleted) at seq %d, not covered by a signed purge statement", from)
	} else {
		c.fail(from, -1, KindRowMissing, "rows missing (deleted) at seqs %d..%d, not covered by a signed purge statement", from, to-1)
	}
	if c.broken < 0 {
		c.broken = from
	}
}

func (c *accountCheck) finish(ctx context.Context) {
	if c.lastSeen+1 < c.head.Size {
		c.gap(c.head.Size)
	}
	c.finishPurgeSets()
	if c.broken < 0 && c.tree.Size == c.head.Size {
		if fmt.Sprint(c.tree.Frontier) != fmt.Sprint(c.head.Frontier) {
			c.fail(-1, -1, KindTreeMismatch, "the stored head of size %d differs from the tree recomputed from the events", c.head.Size)
		}
	}
	known := c.tree.Size // the tree is known from the leaves up to here
	if c.broken >= 0 {
		known = c.broken
	}
	r := Hashes{Store: c.v.Events, AccountID: c.account.ID}
	for _, size := range c.cpSizes {
		switch {
		case size > c.head.Size:
			c.fail(-1, size, KindRollback, "rollback: the tree has %d events, fewer than signed checkpoint %d", c.head.Size, size)
		case size > known || size < c.floor:
			// Not recomputed from the leaves: check it from stored hashes.
			root, err := ledger.TreeRoot(ctx, r, size)
			if err != nil && size < c.floor {
				continue // its leaves were purged under a signed statement
			}
			if err != nil {
				c.fail(-1, size, KindCheckpointUnknown, "the root of size %d cannot be recomputed: %v", size, err)
				continue
			}
			c.checkRootAt(size, root)
		}
	}
	c.detectSwaps()
}

// detectSwaps tries each undecryptable payload under the other failing
// rows' seqs and clear columns: a match means the payloads were swapped
// or moved between rows, which is worth saying plainly.
func (c *accountCheck) detectSwaps() {
	rows := c.undecr
	if len(rows) > 64 {
		rows = rows[:64]
	}
	for _, a := range rows {
		for _, b := range rows {
			if a == b {
				continue
			}
			moved := *b
			moved.Payload, moved.KeyVersion = a.Payload, a.KeyVersion
			if _, err := search.Decrypt(c.keys, c.account.Name, &moved); err == nil {
				c.fail(a.Seq, -1, KindRowsSwapped, "the payload stored at seq %d was sealed for seq %d", a.Seq, b.Seq)
			}
		}
	}
}
