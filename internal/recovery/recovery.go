// Package recovery turns a panic in one request, or in one round of a
// background job, into an error of that request or round, so that one
// tenant's data can never take the process down for the others. What it
// keeps of a panic is its kind and where it happened, never its value:
// a value may quote the event, the query or a key that caused it.
//
// A stack overflow or an out-of-memory is fatal, not a panic: no recover
// catches it. Code that walks stored or user data loops instead of
// recursing, so that no input can overflow the stack.
package recovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
)

// maxFrames bounds the stack a Panic keeps.
const maxFrames = 24

// Panic is a recovered panic as an error.
type Panic struct {
	// Kind is the runtime's own message for a runtime error ("index out of
	// range [3] with length 2", "invalid memory address or nil pointer
	// dereference"), which never quotes data; for any other value only its
	// type ("string", "*errors.errorString").
	Kind string
	// Stack is where it happened, innermost frame first: "function
	// file.go:line", without arguments (they are data too).
	Stack []string
}

func (p *Panic) Error() string { return "panic: " + p.Kind }

// New describes v, a value recover returned. Call it in the deferred
// function that recovered, so that its stack is the panic's.
func New(v any) *Panic {
	p := &Panic{Kind: fmt.Sprintf("%T", v)}
	var re runtime.Error
	if err, ok := v.(error); ok && errors.As(err, &re) {
		p.Kind = re.Error()
	}
	_, self, _, _ := runtime.Caller(0)
	pcs := make([]uintptr, 64)
	n := runtime.Callers(2, pcs)
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		// The frames of the runtime and of this file are how the panic got
		// here, not where it happened.
		if !strings.HasPrefix(f.Function, "runtime.") && f.File != self {
			p.Stack = append(p.Stack, fmt.Sprintf("%s %s:%d", f.Function, filepath.Base(f.File), f.Line))
		}
		if !more || len(p.Stack) == maxFrames {
			break
		}
	}
	return p
}

// Call runs fn and returns its error, or a *Panic if it panicked.
func Call(fn func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = New(v)
		}
	}()
	return fn()
}

// Log logs err with msg and args, at level; a *Panic within it is logged
// at error level whatever level says, with its kind and stack.
func Log(logger *slog.Logger, level slog.Level, msg string, err error, args ...any) {
	if logger == nil {
		return
	}
	var p *Panic
	if errors.As(err, &p) {
		level = slog.LevelError
		args = append(args, "panic", p.Kind, "stack", strings.Join(p.Stack, " < "))
	} else {
		args = append(args, "err", err)
	}
	logger.Log(context.Background(), level, msg, args...)
}

// Handler wraps h so that a panic in it ends only its own request: it is
// logged with the method and path (never the query string or the body,
// which carry event data), and answered by fail when nothing was written
// yet; once the response has started, the connection is cut instead, so
// that a client never takes a truncated body (an export, say) for a
// whole one.
func Handler(logger *slog.Logger, h http.Handler, fail func(w http.ResponseWriter, r *http.Request)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tw := &trackingWriter{ResponseWriter: w}
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			Log(logger, slog.LevelError, "panic in request", New(v), "method", r.Method, "path", r.URL.Path)
			if tw.started {
				panic(http.ErrAbortHandler)
			}
			fail(w, r)
		}()
		h.ServeHTTP(tw, r)
	})
}

// trackingWriter notes whether the response has started.
type trackingWriter struct {
	http.ResponseWriter
	started bool
}

func (w *trackingWriter) WriteHeader(code int) {
	if code >= 200 { // informational responses do not start it
		w.started = true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *trackingWriter) Write(b []byte) (int, error) {
	w.started = true
	return w.ResponseWriter.Write(b)
}

// Flush passes flushes on, so that streamed exports still show progress.
func (w *trackingWriter) Flush() {
	w.started = true
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *trackingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
