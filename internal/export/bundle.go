package export

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/ledger"
	"github.com/stele-audit/stele/internal/record"
	"golang.org/x/mod/sumdb/note"
)

// BundleFormat is the format line of a verifiable bundle.
const BundleFormat = "stele.bundle/v1"

// A bundle is one JSON object, written as a stream:
//
//	{"format":"stele.bundle/v1","account":"acme","checkpoint":"<signed note>",
//	 "events":[{"event":{…},"leaf_hash":"<base64>","proof":["<base64>",…]},…]}
//
// Each proof is the event's inclusion proof in the tree of the checkpoint's
// size. The verifier recomputes each leaf hash from the event JSON (the
// canonical encoding of docs/INTEGRITY.md), so leaf_hash is informative.

// BundleEntry is one event of a bundle with its inclusion proof.
type BundleEntry struct {
	Event    *stele.Event `json:"event"`
	LeafHash string       `json:"leaf_hash"`
	Proof    []string     `json:"proof"`
}

// BundleWriter streams a bundle to an io.Writer.
type BundleWriter struct {
	w     *bufio.Writer
	n     int
	enc   *json.Encoder
	buf   bytes.Buffer
	Total int
}

// NewBundleWriter writes the bundle's head: its account and checkpoint.
func NewBundleWriter(w io.Writer, account string, checkpoint []byte) (*BundleWriter, error) {
	bw := &BundleWriter{w: bufio.NewWriterSize(w, 64<<10)}
	head := struct {
		Format     string `json:"format"`
		Account    string `json:"account"`
		Checkpoint string `json:"checkpoint"`
	}{BundleFormat, account, string(checkpoint)}
	b, err := json.Marshal(head)
	if err != nil {
		return nil, err
	}
	bw.w.Write(b[:len(b)-1])
	bw.w.WriteString(",\"events\":[\n")
	bw.enc = json.NewEncoder(&bw.buf)
	bw.enc.SetEscapeHTML(false)
	return bw, nil
}

// Add writes one event with its leaf hash and inclusion proof.
func (bw *BundleWriter) Add(e *stele.Event, leaf ledger.Hash, proof []ledger.Hash) error {
	entry := BundleEntry{Event: e, LeafHash: b64(leaf), Proof: make([]string, len(proof))}
	for i, h := range proof {
		entry.Proof[i] = b64(h)
	}
	bw.buf.Reset()
	if err := bw.enc.Encode(entry); err != nil {
		return err
	}
	if bw.n > 0 {
		bw.w.WriteString(",\n")
	}
	bw.n++
	_, err := bw.w.Write(bytes.TrimSuffix(bw.buf.Bytes(), []byte("\n")))
	return err
}

// Close ends the bundle and flushes it.
func (bw *BundleWriter) Close() error {
	bw.w.WriteString("\n]}\n")
	return bw.w.Flush()
}

func b64(h ledger.Hash) string { return base64.StdEncoding.EncodeToString(h[:]) }

// Bundle is a decoded bundle.
type Bundle struct {
	Format     string        `json:"format"`
	Account    string        `json:"account"`
	Checkpoint string        `json:"checkpoint"`
	Events     []BundleEntry `json:"events"`
}

// DecodeBundle decodes a bundle strictly: unknown fields are errors, and
// metadata numbers keep their exact text.
func DecodeBundle(r io.Reader) (*Bundle, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	dec.UseNumber()
	var b Bundle
	if err := dec.Decode(&b); errors.Is(err, io.EOF) {
		return nil, stele.Errorf(stele.EINVALID, "bundle: the file is empty (an export that failed before its first event writes nothing)")
	} else if err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("bundle: trailing data after the bundle")
	}
	if b.Format != BundleFormat {
		return nil, fmt.Errorf("bundle: format %q, want %q", b.Format, BundleFormat)
	}
	return &b, nil
}

// BundleFailure is one event of a bundle that did not verify.
type BundleFailure struct {
	Index  int    `json:"index"`
	Seq    int64  `json:"seq"`
	Detail string `json:"detail"`
}

// BundleReport is the outcome of a bundle's verification.
type BundleReport struct {
	Account    string          `json:"account"`
	Origin     string          `json:"origin"`
	Size       int64           `json:"size"`
	Root       string          `json:"root"`
	Events     int             `json:"events"`
	Failures   []BundleFailure `json:"failures"`
	Checkpoint string          `json:"-"`
}

// VerifyBundle checks a bundle offline: the checkpoint's signature under
// verifier, and for every event, that the leaf hash recomputed from the
// event's JSON is included in the checkpoint's tree. An error means the
// bundle as a whole cannot be trusted (bad signature, wrong account).
func VerifyBundle(b *Bundle, verifier note.Verifier) (*BundleReport, error) {
	cp, err := ledger.OpenCheckpoint([]byte(b.Checkpoint), verifier)
	if err != nil {
		return nil, fmt.Errorf("bundle checkpoint: %w", err)
	}
	if want := "/" + b.Account; len(cp.Origin) < len(want) || cp.Origin[len(cp.Origin)-len(want):] != want {
		return nil, fmt.Errorf("bundle checkpoint: origin %q is not account %q's", cp.Origin, b.Account)
	}
	rep := &BundleReport{Account: b.Account, Origin: cp.Origin, Size: cp.Size, Root: b64(cp.Root), Events: len(b.Events)}
	var buf []byte
	for i, entry := range b.Events {
		e := entry.Event
		fail := func(format string, args ...any) {
			seq := int64(-1)
			if e != nil {
				seq = e.Seq
			}
			rep.Failures = append(rep.Failures, BundleFailure{Index: i, Seq: seq, Detail: fmt.Sprintf(format, args...)})
		}
		if e == nil {
			fail("no event")
			continue
		}
		if e.Account != b.Account {
			fail("event of account %q in a bundle of %q", e.Account, b.Account)
			continue
		}
		if err := checkEvent(e); err != nil {
			fail("%v", err)
			continue
		}
		buf = record.AppendCanonical(buf[:0], e)
		leaf := ledger.LeafHash(buf)
		proof := make([]ledger.Hash, len(entry.Proof))
		ok := true
		for j, s := range entry.Proof {
			h, err := base64.StdEncoding.DecodeString(s)
			if err != nil || len(h) != 32 {
				ok = false
				break
			}
			proof[j] = ledger.Hash(h)
		}
		if !ok {
			fail("proof hash is not base64 SHA-256")
			continue
		}
		if err := ledger.VerifyInclusion(leaf, e.Seq, cp.Size, proof, cp.Root); err != nil {
			fail("event %s is not in the checkpoint's tree as it is (altered or not logged): %v", e.ID, err)
		}
	}
	return rep, nil
}

// checkEvent rejects what the canonical encoding cannot represent, so that
// a hostile bundle cannot make the verifier panic.
func checkEvent(e *stele.Event) error {
	for k, v := range e.Metadata {
		switch v.(type) {
		case string, json.Number, bool, nil:
		default:
			return fmt.Errorf("metadata %q is not a scalar", k)
		}
	}
	if e.Time.IsZero() || e.ReceivedAt.IsZero() {
		return errors.New("event has no time or received_at")
	}
	return nil
}
