// Package users makes console users: it checks a new user, hashes their
// password with argon2id, stores them and records user.created in their
// account's log — the same way for `stele users create`, the console's
// Users page, the operator made on first start and the demo's users.
package users

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/mail"
	"strings"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/audit"
)

// New checks a new user of account and returns it with its password
// hashed, and the password: the one given, or a generated one when empty.
// It stores nothing (Service.Create does).
func New(account *stele.Account, email, name string, role stele.Role, password string) (*stele.User, string, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email || len(email) > 320 {
		return nil, "", &stele.Error{Code: stele.EINVALID, Message: "enter a valid email address",
			Details: []stele.FieldError{{Field: "email", Rule: "format"}}}
	}
	if _, err := stele.ParseRole(string(role)); err != nil {
		return nil, "", err
	}
	if password == "" {
		password = NewPassword()
	}
	if len(password) < MinPasswordLen {
		return nil, "", &stele.Error{Code: stele.EINVALID, Message: fmt.Sprintf("a password has at least %d characters", MinPasswordLen),
			Details: []stele.FieldError{{Field: "password", Rule: "min_length"}}}
	}
	name = strings.TrimSpace(name)
	if name == "" {
		name, _, _ = strings.Cut(email, "@")
	}
	u := &stele.User{ID: "u_" + strings.ToLower(rand.Text()[:16]), AccountID: account.ID, Account: account.Name,
		Email: email, Name: clip(name, 200), Role: role, PasswordHash: HashPassword(password)}
	return u, password, nil
}

// clip cuts s to at most n bytes without splitting a character.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// Service creates users in Store and records each in its account's log.
type Service struct {
	Store stele.UserStore
	Audit *audit.Recorder
}

// Create makes a user of account (New), stores it and records that by
// created it, and returns it with its password. A user stored but not
// recorded is returned with an *audit.RecordError: callers that must not
// go on unrecorded fail, the others log it (audit.Recorder.Log).
func (s *Service) Create(ctx context.Context, by audit.Actor, account *stele.Account, email, name string, role stele.Role, password string) (*stele.User, string, error) {
	u, password, err := New(account, email, name, role, password)
	if err != nil {
		return nil, "", err
	}
	if err := s.Store.CreateUser(ctx, u); err != nil {
		return nil, "", err
	}
	return u, password, s.Audit.UserCreated(ctx, by, u)
}

// OperatorEmail is the email of the operator made on first start.
const OperatorEmail = "operator@stele.local"

// EnsureOperator makes the first operator, an owner of the operator
// account sys, on a store that has no users, and returns it with its
// generated password, made by by. On a store with users, or when another
// node sharing the store made the operator at the same moment, it returns
// a nil user.
func (s *Service) EnsureOperator(ctx context.Context, by audit.Actor, sys *stele.Account) (*stele.User, string, error) {
	n, err := s.Store.CountUsers(ctx)
	if err != nil || n > 0 {
		return nil, "", err
	}
	u, password, err := s.Create(ctx, by, sys, OperatorEmail, "Operator", stele.RoleOwner, "")
	if u == nil && stele.ErrorCode(err) == stele.ECONFLICT {
		return nil, "", nil
	}
	return u, password, err
}
