package search

import (
	"context"
	"crypto/hmac"
	"encoding/base64"
	"encoding/binary"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/record"
	"github.com/stele-audit/stele/internal/seal"
)

// A cursor says where the last page stopped: the (time, seq) of its last
// event, so that a page continues there whatever arrives in between. It is
// opaque to clients and carries a MAC, under the account's cursor key
// (seal.AccountKeys.CursorMAC), of its content, the account and the query:
// a server continues only what it issued, for that account and query.
// What the MAC binds of the query is what stays the same across its
// pages: its terms, and its time bounds as written (after:24h parses to
// another instant on each page).
//
// The format, in unpadded base64url: the version (2), the index key version
// of the MAC (uvarint), the time in Unix microseconds (varint), the seq
// (uvarint), and the first cursorMACSize bytes of the MAC.

const (
	cursorFormat  = 2
	cursorMACSize = 16 // 128 bits: a forgery is a guess against the server
)

func cursorError(rule, why string) *stele.Error {
	msg := "cursor " + why + "; start again from the first page, without cursor"
	return &stele.Error{Code: stele.EINVALID, Message: msg,
		Details: []stele.FieldError{{Field: "cursor", Rule: rule, Message: msg}}}
}

var (
	errCursorFormat = cursorError("format", "is not one this server issues")
	errCursorMAC    = cursorError("mac", "was not issued for this account and query, or was changed")
)

// encodeCursor returns the cursor after (t, seq) for account's query q.
func encodeCursor(keys *seal.AccountKeys, accountID int64, q stele.Query, t, seq int64) string {
	version := keys.IndexVersion()
	b := make([]byte, 0, 1+3*binary.MaxVarintLen64+cursorMACSize)
	b = append(b, cursorFormat)
	b = binary.AppendUvarint(b, uint64(version))
	b = binary.AppendVarint(b, t)
	b = binary.AppendUvarint(b, uint64(seq))
	mac, _ := keys.CursorMAC(version, cursorMessage(accountID, q, b))
	return base64.RawURLEncoding.EncodeToString(append(b, mac[:cursorMACSize]...))
}

// position checks a cursor for account's query q and returns where it
// continues. A cursor made under an index key version these keys lack was
// made by a node that has seen a rotation this one has not: the keys are
// read again once.
func (s *Service) position(ctx context.Context, account *stele.Account, keys *seal.AccountKeys, q stele.Query, cursor string) (t, seq int64, err error) {
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || len(b) < 1+cursorMACSize || b[0] != cursorFormat {
		return 0, 0, errCursorFormat
	}
	content, mac := b[:len(b)-cursorMACSize], b[len(b)-cursorMACSize:]
	version, n := binary.Uvarint(content[1:])
	if n <= 0 || version > 1<<31 {
		return 0, 0, errCursorFormat
	}
	rest := content[1+n:]
	t, n = binary.Varint(rest)
	if n <= 0 {
		return 0, 0, errCursorFormat
	}
	useq, m := binary.Uvarint(rest[n:])
	if m <= 0 || n+m != len(rest) || useq > 1<<62 {
		return 0, 0, errCursorFormat
	}
	want, ok := keys.CursorMAC(int(version), cursorMessage(account.ID, q, content))
	if !ok {
		s.keys.Forget(account.ID)
		if keys, err = s.keys.Account(ctx, account.ID); err != nil {
			return 0, 0, err
		}
		want, ok = keys.CursorMAC(int(version), cursorMessage(account.ID, q, content))
	}
	if !ok || !hmac.Equal(want[:cursorMACSize], mac) {
		return 0, 0, errCursorMAC
	}
	return t, int64(useq), nil
}

// cursorMessage is what a cursor's MAC covers: a label, the account, the
// cursor's content, and the query in a form that stays the same across its
// pages. Strings are length-prefixed, so no two queries share a form.
func cursorMessage(accountID int64, q stele.Query, content []byte) []byte {
	b := make([]byte, 0, 128)
	b = append(b, "stele cursor v2\x00"...)
	b = binary.BigEndian.AppendUint64(b, uint64(accountID))
	b = appendBytes(b, content)
	b = appendTerms(b, q.Terms)
	b = appendBound(b, q.AfterAgo, q.After.IsZero(), record.Micros(q.After))
	return appendBound(b, q.BeforeAgo, q.Before.IsZero(), record.Micros(q.Before))
}

// appendTerms appends terms as the cursor's MAC covers them: a group
// (whose Field says it is one) is followed by its alternatives, each a
// count of terms and the terms.
func appendTerms(b []byte, terms []stele.Term) []byte {
	b = binary.AppendUvarint(b, uint64(len(terms)))
	for _, t := range terms {
		b = appendBytes(b, []byte(t.Field))
		if t.Negate {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
		if t.Field == stele.FieldGroup {
			b = binary.AppendUvarint(b, uint64(len(t.Any)))
			for _, c := range t.Any {
				b = appendTerms(b, c)
			}
			continue
		}
		b = binary.AppendUvarint(b, uint64(len(t.Values)))
		for _, v := range t.Values {
			b = appendBytes(b, []byte(v))
		}
	}
	return b
}

// appendBound appends a time bound: as written when it is relative to
// now, else its instant.
func appendBound(b []byte, ago string, none bool, us int64) []byte {
	switch {
	case ago != "":
		return appendBytes(append(b, 'r'), []byte(ago))
	case none:
		return append(b, '-')
	default:
		return binary.AppendVarint(append(b, 'a'), us)
	}
}

func appendBytes(b, s []byte) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}
