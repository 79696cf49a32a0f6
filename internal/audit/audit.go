// Package audit builds and records the events Stele writes about its own
// actions — keys and users created, settings changed, the log exported or
// verified, sign-ins, purges — in the log of the account they concern (and
// in _system's where an operator must see them too). Every such event is
// made by one method of Recorder, named for what happened, so that the
// same action reads the same whether the CLI, the console or the API did
// it, and no call site builds an event by hand.
//
// A method returns an error when the event could not be recorded, as a
// *RecordError. Callers whose action must not happen unrecorded (the CLI's
// admin commands) fail with it; callers whose action has already happened
// (a sign-in, an export sent) hand it to Log.
package audit

import (
	"context"
	"errors"
	"log/slog"
	"os"

	"github.com/stele-audit/stele"
)

// Sink stores Stele's own events: ingest.Service.Record, which validates
// them like a producer's and never throttles them, or a client.Client,
// which sends them to a server's API under its key's account.
type Sink interface {
	Record(ctx context.Context, events ...stele.Event) ([]stele.Receipt, error)
}

// SinkFunc is a function used as a Sink: client.Client.Send, say.
type SinkFunc func(ctx context.Context, events ...stele.Event) ([]stele.Receipt, error)

// Record calls f.
func (f SinkFunc) Record(ctx context.Context, events ...stele.Event) ([]stele.Receipt, error) {
	return f(ctx, events...)
}

// Actor is who did what a Recorder records, and from where.
type Actor struct {
	Ref       *stele.Ref
	IP        string
	UserAgent string
	// Attempted is what someone typed to sign in as when no event can carry
	// it as an email: it is kept in the metadata instead (see Attempt).
	Attempted string
	// via is the way in: "cli", "console", "api" or "system".
	via string
}

// CLI is the operator at the command line: the user the stele process runs
// as.
func CLI() Actor {
	return Actor{Ref: &stele.Ref{Type: "operator", ID: "cli:" + cliUser(), Name: cliName()}, via: "cli"}
}

// CLIKey is the operator at the command line acting through a server's
// API with the key keyID (stele verify --url).
func CLIKey(keyID string) Actor {
	return Actor{Ref: &stele.Ref{Type: "api_key", ID: keyID, Name: cliName()}, via: "cli"}
}

func cliUser() string {
	if name := os.Getenv("USER"); name != "" {
		return name
	}
	return "operator"
}

func cliName() string { return cliUser() + " (stele CLI)" }

// User is a console user, at ip with userAgent.
func User(u *stele.User, ip, userAgent string) Actor {
	return Actor{Ref: UserRef(u), IP: ip, UserAgent: userAgent, via: "console"}
}

// UserRef is how an event names a console user.
func UserRef(u *stele.User) *stele.Ref {
	return &stele.Ref{Type: "user", ID: u.ID, Name: u.Name, Email: u.Email}
}

// Key is an API key's holder, at ip with userAgent.
func Key(p *stele.Principal, ip, userAgent string) Actor {
	return Actor{Ref: &stele.Ref{Type: "api_key", ID: p.KeyID}, IP: ip, UserAgent: userAgent, via: "api"}
}

// System is Stele itself: a background job.
func System() Actor {
	return Actor{Ref: &stele.Ref{Type: "system", ID: "stele", Name: "Stele"}, via: "system"}
}

// job is one of Stele's background jobs, by its id and name.
func job(id, name string) Actor {
	return Actor{Ref: &stele.Ref{Type: "system", ID: "stele:" + id, Name: name}, via: "system"}
}

// name is how a description names the actor.
func (a Actor) name() string {
	switch r := a.Ref; {
	case r == nil:
		return "someone"
	case r.Type == "api_key" && r.ID != "":
		return "API key " + r.ID
	case r.Email != "":
		return r.Email
	case r.Name != "":
		return r.Name
	default:
		return r.ID
	}
}

// Recorder records Stele's own events through Sink.
type Recorder struct {
	Sink   Sink
	Logger *slog.Logger // for Log; slog.Default() when nil
}

// RecordError is a failure to record one of Stele's own events: the action
// it describes happened, its record was not kept.
type RecordError struct {
	Action  string
	Account string
	Err     error
}

func (e *RecordError) Error() string { return "record " + e.Action + ": " + e.Err.Error() }
func (e *RecordError) Unwrap() error { return e.Err }

// record fills in the actor, ip and user agent of events where they are
// unset, and stores them together: all of them or none.
func (r *Recorder) record(ctx context.Context, a Actor, events ...stele.Event) error {
	if len(events) == 0 {
		return nil
	}
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
	if _, err := r.Sink.Record(ctx, events...); err != nil {
		return &RecordError{Action: events[0].Action, Account: events[0].Account, Err: err}
	}
	return nil
}

// Log logs err, a failure to record, without the event: callers whose
// action has already happened (a sign-in, an export sent) must not fail it
// because its record could not be kept, but it must be seen. A nil err is
// nothing to log.
func (r *Recorder) Log(err error) {
	if err == nil {
		return
	}
	l := r.Logger
	if l == nil {
		l = slog.Default()
	}
	var re *RecordError
	if errors.As(err, &re) {
		l.Error("record Stele's own event", "action", re.Action, "account", re.Account, "err", re.Err)
		return
	}
	l.Error("record Stele's own event", "err", err)
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

// accountRef is how an event names an account as its target.
func accountRef(name string) *stele.Ref {
	return &stele.Ref{Type: "account", ID: name, Name: name}
}
