// Package audit builds and records the events Stele writes about its own
// actions — keys and users created, settings changed, the log exported or
// verified, sign-ins, purges — in the log of the account they concern (and
// in _system's where an operator must see them too). Every such event is
// made by one method of Recorder, named for what happened, so that the
// same action reads the same whether the CLI, the console or the API did
// it, and no call site builds an event by hand.
package audit

import (
	"context"
	"log/slog"
	"os"

	"github.com/stele-audit/stele"
)

// Sink stores Stele's own events (ingest.Service.Record): validated like a
// producer's, never throttled.
type Sink interface {
	Record(ctx context.Context, events ...stele.Event) ([]stele.Receipt, error)
}

// Actor is who did what a Recorder records, and from where.
type Actor struct {
	Ref       *stele.Ref
	IP        string
	UserAgent string
}

// CLI is the operator at the command line: the user the stele process runs
// as.
func CLI() Actor {
	name := os.Getenv("USER")
	if name == "" {
		name = "operator"
	}
	return Actor{Ref: &stele.Ref{Type: "operator", ID: "cli:" + name, Name: name + " (stele CLI)"}}
}

// User is a console user, at ip with userAgent.
func User(u *stele.User, ip, userAgent string) Actor {
	return Actor{Ref: UserRef(u), IP: ip, UserAgent: userAgent}
}

// UserRef is how an event names a console user.
func UserRef(u *stele.User) *stele.Ref {
	return &stele.Ref{Type: "user", ID: u.ID, Name: u.Name, Email: u.Email}
}

// Key is an API key's holder, at ip with userAgent.
func Key(p *stele.Principal, ip, userAgent string) Actor {
	return Actor{Ref: &stele.Ref{Type: "api_key", ID: p.KeyID}, IP: ip, UserAgent: userAgent}
}

// System is Stele itself: a background job.
func System() Actor {
	return Actor{Ref: &stele.Ref{Type: "system", ID: "stele", Name: "Stele"}}
}

// Recorder records Stele's own events through Sink.
type Recorder struct {
	Sink   Sink
	Logger *slog.Logger // for Log; slog.Default() when nil
}

// record fills in the actor, ip and user agent of events where they are
// unset, and stores them together.
func (r *Recorder) record(ctx context.Context, a Actor, events ...stele.Event) error {
	for i := range events {
		e := &events[i]
		if e.Actor == nil {
			e.Actor = a.Ref
		}
		if e.IP == "" {
			e.IP = a.IP
		}
		if e.UserAgent == "" {
			e.UserAgent = a.UserAgent
		}
	}
	_, err := r.Sink.Record(ctx, events...)
	return err
}

// Log logs err, a failure to record, without the event: callers whose
// action has already happened (a sign-in, an export sent) must not fail it
// because its record could not be kept, but it must be seen.
func (r *Recorder) Log(action string, err error) {
	if err == nil {
		return
	}
	l := r.Logger
	if l == nil {
		l = slog.Default()
	}
	l.Error("record Stele's own event", "action", action, "err", err)
}

// both returns e for the account it names and, unless that is _system,
// a copy for _system: an operator sees every account's configuration
// changes in one place.
func both(e stele.Event) []stele.Event {
	if e.Account == stele.SystemAccount {
		return []stele.Event{e}
	}
	sys := e
	sys.Account = stele.SystemAccount
	return []stele.Event{e, sys}
}

// name is how a description names the actor.
func (a Actor) name() string {
	switch r := a.Ref; {
	case r == nil:
		return "someone"
	case r.Email != "":
		return r.Email
	case r.Name != "":
		return r.Name
	default:
		return r.ID
	}
}
