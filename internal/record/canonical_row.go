package record

import (
	"bytes"
	"encoding/binary"

	"github.com/stele-audit/stele"
)

// AppendCanonicalRow appends the canonical encoding of the event a stored
// row holds, given the row's decrypted payload plain, without decoding the
// payload into an Event: the payload's secret fields are already in the
// canonical order and form, so the encoding is the clear header followed by
// them. It returns ErrCorrupt exactly when DecodePayload would reject plain,
// and otherwise the bytes AppendCanonical gives for the event that
// DecodePayload and the row's clear columns make (a test holds both to it).
// The store verifier uses it to hash a million rows without allocating.
func AppendCanonicalRow(dst []byte, account string, r *stele.EventRow, plain []byte) ([]byte, error) {
	if !validPayload(plain) {
		return dst, ErrCorrupt
	}
	dst = append(dst, canonicalV1)
	dst = appendString(dst, account)
	dst = binary.BigEndian.AppendUint64(dst, uint64(r.Seq))
	// Through Time and back, as the decoded event would go.
	dst = binary.BigEndian.AppendUint64(dst, uint64(Micros(Time(r.ReceivedAt))))
	dst = binary.BigEndian.AppendUint64(dst, uint64(Micros(Time(r.Time))))
	dst = appendString(dst, r.Action)
	dst = appendString(dst, r.Category)
	dst = appendString(dst, r.Outcome)
	return append(dst, plain[1:]...), nil
}

// validPayload reports whether DecodePayload accepts b; it follows the
// decoder's rules step by step without building the event.
func validPayload(b []byte) bool {
	if len(b) == 0 || b[0] != payloadV1 {
		return false
	}
	s := scanner{b: b[1:], ok: true}
	// actor (type, id, name, email), target and source (type, id, name),
	// ip, user agent, request id, description, idempotency key.
	for range 4 + 3 + 3 + 5 {
		s.skipString()
	}
	s.metadata()
	return s.ok && len(s.b) == 0
}

type scanner struct {
	b  []byte
	ok bool
}

func (s *scanner) uvarint() (uint64, int) {
	n, k := binary.Uvarint(s.b)
	if k <= 0 || k != uvarintLen(n) {
		s.ok = false
		return 0, 0
	}
	return n, k
}

// str returns the next string's bytes, aliasing b.
func (s *scanner) str() []byte {
	if !s.ok {
		return nil
	}
	n, k := s.uvarint()
	if !s.ok || n > uint64(len(s.b)-k) {
		s.ok = false
		return nil
	}
	v := s.b[k : k+int(n)]
	s.b = s.b[k+int(n):]
	return v
}

func (s *scanner) skipString() { s.str() }

func (s *scanner) metadata() {
	if !s.ok {
		return
	}
	n, k := s.uvarint()
	if !s.ok || n > uint64(len(s.b)) {
		s.ok = false
		return
	}
	s.b = s.b[k:]
	var prev []byte
	for i := range n {
		key := s.str()
		if !s.ok || len(s.b) == 0 || (i > 0 && bytes.Compare(key, prev) <= 0) {
			s.ok = false
			return
		}
		prev = key
		kind := s.b[0]
		s.b = s.b[1:]
		switch kind {
		case kindString, kindNumber:
			s.skipString()
		case kindTrue, kindFalse, kindNull:
		default:
			s.ok = false
			return
		}
	}
}
