package seal

// Blind indexes: which event fields are blind-indexed and how their values
// are normalised before tokenising, so that ingest and search always
// compute the same tokens for the same value.

import (
	"net/netip"
	"strings"

	"github.com/stele-audit/stele"
)

// Tokenizer computes blind-index tokens with an account's index keys: Token
// with the current key version, Tokens with every version.
type Tokenizer interface {
	Token(field stele.Field, value string) int64
	Tokens(field stele.Field, value string) []int64
}

// Token domains. The actor's email has its own, so an id can never match an
// email by accident.
const (
	actorEmail  stele.Field = "actor.email"
	idempotency stele.Field = "idempotency_key"
)

// RowTokens holds the tokens of one event, 0 where the field is absent.
type RowTokens struct {
	Actor, ActorEmail, Target, Source, IP int64
}

// EventTokens returns the tokens of e's blind-indexed fields.
func EventTokens(k Tokenizer, e *stele.Event) RowTokens {
	var r RowTokens
	if e.Actor != nil {
		r.Actor = token(k, stele.FieldActor, e.Actor.ID)
		r.ActorEmail = token(k, actorEmail, NormalizeEmail(e.Actor.Email))
	}
	if e.Target != nil {
		r.Target = token(k, stele.FieldTarget, e.Target.ID)
	}
	if e.Source != nil {
		r.Source = token(k, stele.FieldSource, e.Source.ID)
	}
	r.IP = token(k, stele.FieldIP, NormalizeIP(e.IP))
	return r
}

func token(k Tokenizer, f stele.Field, v string) int64 {
	if v == "" {
		return 0
	}
	return k.Token(f, v)
}

// QueryTokens returns every token a stored event could carry for value in
// field: for actor, both as an id and as an email; for all, under every key
// version.
func QueryTokens(k Tokenizer, f stele.Field, value string) []int64 {
	switch f {
	case stele.FieldActor:
		toks := k.Tokens(stele.FieldActor, value)
		if strings.Contains(value, "@") {
			toks = append(toks, k.Tokens(actorEmail, NormalizeEmail(value))...)
		}
		return toks
	case stele.FieldIP:
		return k.Tokens(f, NormalizeIP(value))
	default:
		return k.Tokens(f, value)
	}
}

// IdempotencyToken returns the token under which an idempotency key is
// remembered, 0 for no key. It is computed under the account's oldest index
// key version, so that a key rotation does not make a replay look new.
func IdempotencyToken(k Tokenizer, key string) int64 {
	if key == "" {
		return 0
	}
	return k.Tokens(idempotency, key)[0]
}

// NormalizeEmail lowercases an email, so that lookups ignore case.
func NormalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// NormalizeIP returns the canonical text of an IP address (IPv4-mapped IPv6
// addresses as IPv4), or s unchanged if it is not one.
func NormalizeIP(s string) string {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return s
	}
	return a.Unmap().String()
}
