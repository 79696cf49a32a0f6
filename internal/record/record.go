package record

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/stele-audit/stele"
)

// Versions of the encodings. A change of layout gets a new version; old
// versions stay decodable.
const (
	payloadV1   = 1
	canonicalV1 = 1
)

// Metadata value kinds in the encodings.
const (
	kindString = 's'
	kindNumber = 'n'
	kindTrue   = 't'
	kindFalse  = 'f'
	kindNull   = 'z'
)

// ErrCorrupt is returned for bytes that are not a valid encoding.
var ErrCorrupt = errors.New("record: corrupt encoding")

// AppendPayload appends the payload encoding of e's secret fields: actor,
// target, source, ip, user agent, request id, description, metadata and
// idempotency key.
func AppendPayload(dst []byte, e *stele.Event) []byte {
	dst = append(dst, payloadV1)
	return appendSecret(dst, e)
}

// PayloadSize returns at least the length of e's payload encoding, so that
// a buffer made with it as capacity is filled without growing.
func PayloadSize(e *stele.Event) int {
	const field = binary.MaxVarintLen64
	n := 1 + 16*field + len(e.IP) + len(e.UserAgent) + len(e.RequestID) + len(e.Description) + len(e.IdempotencyKey)
	for _, r := range []*stele.Ref{e.Actor, e.Target, e.Source} {
		if r != nil {
			n += len(r.Type) + len(r.ID) + len(r.Name) + len(r.Email)
		}
	}
	for k, v := range e.Metadata {
		n += 1 + 2*field + len(k)
		switch v := v.(type) {
		case string:
			n += len(v)
		case json.Number:
			n += len(v)
		}
	}
	return n
}

func appendSecret(dst []byte, e *stele.Event) []byte {
	dst = appendRef(dst, e.Actor, true)
	dst = appendRef(dst, e.Target, false)
	dst = appendRef(dst, e.Source, false)
	dst = appendString(dst, e.IP)
	dst = appendString(dst, e.UserAgent)
	dst = appendString(dst, e.RequestID)
	dst = appendString(dst, e.Description)
	dst = appendString(dst, e.IdempotencyKey)
	return appendMetadata(dst, e.Metadata)
}

// DecodePayload fills e's secret fields from a payload encoding. e keeps
// no reference to b: the payload is copied into one string, of which every
// decoded string is a piece, so that a payload costs one allocation for
// all its strings rather than one for each.
func DecodePayload(b []byte, e *stele.Event) error {
	if len(b) == 0 || b[0] != payloadV1 {
		return ErrCorrupt
	}
	d := decoder{s: string(b[1:])}
	e.Actor = d.ref(true)
	e.Target = d.ref(false)
	e.Source = d.ref(false)
	e.IP = d.string()
	e.UserAgent = d.string()
	e.RequestID = d.string()
	e.Description = d.string()
	e.IdempotencyKey = d.string()
	e.Metadata = d.metadata()
	if d.err != nil || len(d.s) != 0 {
		return ErrCorrupt
	}
	return nil
}

// AppendCanonical appends the canonical encoding of an accepted event: the
// one its Merkle leaf hash commits to. It covers every field, the assigned
// ones (account, seq, received_at) included; the id is derived from them.
func AppendCanonical(dst []byte, e *stele.Event) []byte {
	dst = append(dst, canonicalV1)
	dst = appendString(dst, e.Account)
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.Seq))
	dst = binary.BigEndian.AppendUint64(dst, uint64(Micros(e.ReceivedAt)))
	dst = binary.BigEndian.AppendUint64(dst, uint64(Micros(e.Time)))
	dst = appendString(dst, e.Action)
	dst = appendString(dst, e.Category)
	dst = appendString(dst, e.Outcome)
	return appendSecret(dst, e)
}

// AppendAD appends the additional data that binds a sealed payload to its
// row: account id, seq, times, action, category and outcome. Changing any
// of these clear columns makes the payload fail to decrypt.
func AppendAD(dst []byte, r *stele.EventRow) []byte {
	dst = append(dst, "stele-event-v1"...)
	dst = binary.BigEndian.AppendUint64(dst, uint64(r.AccountID))
	dst = binary.BigEndian.AppendUint64(dst, uint64(r.Seq))
	dst = binary.BigEndian.AppendUint64(dst, uint64(r.Time))
	dst = binary.BigEndian.AppendUint64(dst, uint64(r.ReceivedAt))
	dst = appendString(dst, r.Action)
	dst = appendString(dst, r.Category)
	return appendString(dst, r.Outcome)
}

// Micros returns t as Unix microseconds; the zero time is 0.
func Micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// Time returns the UTC time of Unix microseconds us.
func Time(us int64) time.Time { return time.UnixMicro(us).UTC() }

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendRef(dst []byte, r *stele.Ref, withEmail bool) []byte {
	if r == nil {
		r = &stele.Ref{}
	}
	dst = appendString(dst, r.Type)
	dst = appendString(dst, r.ID)
	dst = appendString(dst, r.Name)
	if withEmail {
		dst = appendString(dst, r.Email)
	}
	return dst
}

func appendMetadata(dst []byte, m map[string]any) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(m)))
	if len(m) == 0 {
		return dst
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		dst = appendString(dst, k)
		switch v := m[k].(type) {
		case string:
			dst = append(dst, kindString)
			dst = appendString(dst, v)
		case json.Number:
			dst = append(dst, kindNumber)
			dst = appendString(dst, string(v))
		case bool:
			if v {
				dst = append(dst, kindTrue)
			} else {
				dst = append(dst, kindFalse)
			}
		case nil:
			dst = append(dst, kindNull)
		default:
			// Validation admits only the kinds above; anything else is a
			// programming error, and silently dropping it would lose data.
			panic(fmt.Sprintf("record: metadata %q has unsupported type %T", k, v))
		}
	}
	return dst
}

// decoder reads a payload encoding from s, the part not yet read.
type decoder struct {
	s   string
	err error
}

func (d *decoder) string() string {
	if d.err != nil {
		return ""
	}
	n, k := d.uvarint()
	if d.err != nil || n > uint64(len(d.s)-k) {
		d.err = ErrCorrupt
		return ""
	}
	s := d.s[k : k+int(n)]
	d.s = d.s[k+int(n):]
	return s
}

// uvarint reads a minimally encoded uvarint without consuming it.
func (d *decoder) uvarint() (uint64, int) {
	// The conversion of at most ten bytes is made on the stack.
	n, k := binary.Uvarint([]byte(d.s[:min(len(d.s), binary.MaxVarintLen64)]))
	if k <= 0 || k != uvarintLen(n) {
		d.err = ErrCorrupt
		return 0, 0
	}
	return n, k
}

func uvarintLen(n uint64) int {
	k := 1
	for n >= 0x80 {
		n >>= 7
		k++
	}
	return k
}

func (d *decoder) ref(withEmail bool) *stele.Ref {
	r := stele.Ref{Type: d.string(), ID: d.string(), Name: d.string()}
	if withEmail {
		r.Email = d.string()
	}
	if r == (stele.Ref{}) {
		return nil
	}
	return &r
}

func (d *decoder) metadata() map[string]any {
	if d.err != nil {
		return nil
	}
	n, k := d.uvarint()
	if d.err != nil || n > uint64(len(d.s)) {
		d.err = ErrCorrupt
		return nil
	}
	d.s = d.s[k:]
	if n == 0 {
		return nil
	}
	m := make(map[string]any, n)
	prev := ""
	for i := range n {
		key := d.string()
		// Keys are written sorted and unique; accepting any other order
		// would let two encodings stand for one event.
		if d.err != nil || len(d.s) == 0 || (i > 0 && key <= prev) {
			d.err = ErrCorrupt
			return nil
		}
		prev = key
		kind := d.s[0]
		d.s = d.s[1:]
		switch kind {
		case kindString:
			m[key] = d.string()
		case kindNumber:
			m[key] = json.Number(d.string())
		case kindTrue:
			m[key] = true
		case kindFalse:
			m[key] = false
		case kindNull:
			m[key] = nil
		default:
			d.err = ErrCorrupt
			return nil
		}
	}
	return m
}
