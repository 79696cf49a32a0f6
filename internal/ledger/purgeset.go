package ledger

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// A set purge statement (version 2) is a signed note whose body is
//
//	stele.purge/v2
//	<origin>
//	<cutoff, RFC 3339>
//	<time of the purge, RFC 3339>
//	<number of events purged>
//	<base64 digest of the purged events>
//	<range>
//	...
//
// one range per line, ascending, disjoint and not touching: "A-B" for the
// seqs A to B inclusive, "A" for one seq. It says: the events of the
// origin's log at these seqs were deleted by a retention purge at that
// time, and every one of them had a time before the cutoff. The digest is
// SHA-256 over, for each purged event in seq order, its seq and time (Unix
// µs, 8 bytes big-endian each) and its 32-byte leaf hash (PurgeDigest), so
// the statement commits to what the store keeps of them.
// Unlike version 1 it covers any set of seqs, not only a prefix, and the
// purged leaves stay in the tree.

// PurgeSetHeader is the first line of a set purge statement.
const PurgeSetHeader = "stele.purge/v2"

// PurgeSetBody is a parsed set purge statement.
type PurgeSetBody struct {
	Origin string
	Cutoff time.Time
	Time   time.Time
	Count  int64
	Digest Hash
	Ranges []SeqRange
}

// SeqRange is the seqs [Lo, Hi).
type SeqRange struct{ Lo, Hi int64 }

// Covers reports whether the body's ranges contain seq.
func (p *PurgeSetBody) Covers(seq int64) bool {
	lo, hi := 0, len(p.Ranges)
	for lo < hi {
		m := (lo + hi) / 2
		switch r := p.Ranges[m]; {
		case seq < r.Lo:
			hi = m
		case seq >= r.Hi:
			lo = m + 1
		default:
			return true
		}
	}
	return false
}

// Ranges returns ascending seqs as ranges.
func Ranges(seqs []int64) []SeqRange {
	var out []SeqRange
	for _, s := range seqs {
		if n := len(out); n > 0 && out[n-1].Hi == s {
			out[n-1].Hi++
			continue
		}
		out = append(out, SeqRange{s, s + 1})
	}
	return out
}

// PurgeDigest accumulates the digest of purged events, in seq order.
type PurgeDigest struct {
	h   hash.Hash
	buf [48]byte
}

// NewPurgeDigest returns an empty digest.
func NewPurgeDigest() *PurgeDigest { return &PurgeDigest{h: sha256.New()} }

// Add adds one purged event.
func (d *PurgeDigest) Add(seq, timeMicros int64, leaf Hash) {
	binary.BigEndian.PutUint64(d.buf[0:], uint64(seq))
	binary.BigEndian.PutUint64(d.buf[8:], uint64(timeMicros))
	copy(d.buf[16:], leaf[:])
	d.h.Write(d.buf[:])
}

// Sum returns the digest of the events added.
func (d *PurgeDigest) Sum() Hash { return Hash(d.h.Sum(nil)) }

// FormatPurgeSet returns the body of a set purge statement.
func FormatPurgeSet(p PurgeSetBody) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n%s\n%s\n%s\n%d\n%s\n", PurgeSetHeader, p.Origin,
		p.Cutoff.UTC().Format(time.RFC3339Nano), p.Time.UTC().Format(time.RFC3339Nano),
		p.Count, base64.StdEncoding.EncodeToString(p.Digest[:]))
	for _, r := range p.Ranges {
		if r.Hi-r.Lo == 1 {
			fmt.Fprintf(&b, "%d\n", r.Lo)
		} else {
			fmt.Fprintf(&b, "%d-%d\n", r.Lo, r.Hi-1)
		}
	}
	return b.String()
}

// ParsePurgeSet parses a set purge statement body and checks that its
// ranges are ascending, disjoint, not touching, and hold Count seqs.
func ParsePurgeSet(text string) (PurgeSetBody, error) {
	var p PurgeSetBody
	lines := strings.Split(text, "\n")
	if len(lines) < 8 || lines[len(lines)-1] != "" || lines[0] != PurgeSetHeader {
		return p, fmt.Errorf("%w set purge statement", ErrFormat)
	}
	bad := func(format string, args ...any) (PurgeSetBody, error) {
		return PurgeSetBody{}, fmt.Errorf("%w set purge statement: %s", ErrFormat, fmt.Sprintf(format, args...))
	}
	if p.Origin = lines[1]; p.Origin == "" {
		return bad("empty origin")
	}
	var err error
	if p.Cutoff, err = time.Parse(time.RFC3339Nano, lines[2]); err != nil {
		return bad("cutoff: %v", err)
	}
	if p.Time, err = time.Parse(time.RFC3339Nano, lines[3]); err != nil {
		return bad("time: %v", err)
	}
	if p.Count, err = parseSize(lines[4]); err != nil {
		return bad("count: %v", err)
	}
	if p.Digest, err = parseHash(lines[5]); err != nil {
		return bad("digest: %v", err)
	}
	var n int64
	for _, l := range lines[6 : len(lines)-1] {
		a, b, dash := strings.Cut(l, "-")
		lo, err := parseSize(a)
		hi := lo
		if err == nil && dash {
			hi, err = parseSize(b)
		}
		if err != nil || hi < lo {
			return bad("range %q", l)
		}
		if k := len(p.Ranges); k > 0 && lo <= p.Ranges[k-1].Hi {
			return bad("range %q does not follow the one before it", l)
		}
		p.Ranges = append(p.Ranges, SeqRange{lo, hi + 1})
		n += hi + 1 - lo
	}
	if n != p.Count {
		return bad("the ranges hold %d seqs, the count says %d", n, p.Count)
	}
	return p, nil
}

// SignPurgeSet returns the signed note of a set purge statement.
func SignPurgeSet(signer note.Signer, p PurgeSetBody) ([]byte, error) {
	msg, err := note.Sign(&note.Note{Text: FormatPurgeSet(p)}, signer)
	if err != nil {
		return nil, fmt.Errorf("ledger: sign purge statement: %w", err)
	}
	return msg, nil
}

// OpenPurgeSet verifies a signed set purge statement, signed by verifier
// or one of more, and parses its body.
func OpenPurgeSet(msg []byte, verifier note.Verifier, more ...note.Verifier) (PurgeSetBody, error) {
	n, err := openNote(msg, append([]note.Verifier{verifier}, more...))
	if err != nil {
		return PurgeSetBody{}, err
	}
	return ParsePurgeSet(n.Text)
}
