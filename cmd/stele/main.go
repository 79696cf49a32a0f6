// Command stele is the Stele audit log service: the server, its admin
// commands, and clients for its API. This package only wires things together.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/stele-audit/stele"
)

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, out io.Writer) error
}

func commands() []command {
	return []command{
		{"init", "make a new store and its keys (SQLite or PostgreSQL), and its first operator", runInit},
		{"serve", "run the HTTP API (and, with --demo, fill an empty store with demo activity)", runServe},
		{"accounts", "create, list, change and delete accounts: accounts create|list|set|delete", runAccounts},
		{"keys", "create, list and revoke API keys: keys create|list|revoke", runKeys},
		{"users", "create and list console users: users create|list", runUsers},
		{"retention", "purge events older than their account's retention: retention run", runRetention},
		{"crypto", "rotate keys and re-encrypt: crypto rotate|reencrypt", runCrypto},
		{"ingest", "send JSON Lines events to a server", runIngest},
		{"query", "query a server's events", runQuery},
		{"demo", "fill the local store with 30 days of realistic activity", runDemo},
		{"loadgen", "drive a server's ingest API and report throughput and latency", runLoadgen},
		{"checkpoint", "print the checkpoint verifier key, or sign checkpoints now: checkpoint public-key|sign", runCheckpoint},
		{"verify", "check a store, a live server or an exported bundle for tampering", runVerify},
		{"export", "export events; --format bundle writes a verifiable bundle", runExport},
		{"streams", "forward events to a SIEM: streams create|list|show|update|delete|replay", runStreams},
		{"alerts", "manage a server's alert rules: alerts create|list|update|delete|test|history|templates", runAlerts},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "stele:", describe(err))
		}
		os.Exit(exitCode(err))
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(out)
		if len(args) == 0 {
			return stele.Errorf(stele.EINVALID, "a command is required")
		}
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], out)
		}
	}
	usage(os.Stderr)
	return stele.Errorf(stele.EINVALID, "unknown command %q", args[0])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Stele: an encrypted, tamper-evident audit log service.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: stele COMMAND [flags]")
	fmt.Fprintln(w)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-11s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'stele COMMAND --help' for a command's flags. Every flag may also be set")
	fmt.Fprintln(w, "as an environment variable: --retention-days as STELE_RETENTION_DAYS.")
}

// subcommand is one verb of a command group: accounts create, keys revoke.
type subcommand struct {
	name string
	run  func(ctx context.Context, args []string, out io.Writer) error
}

// dispatch runs the subcommand args[0] of group, or prints usage for help.
func dispatch(ctx context.Context, group, usage string, subs []subcommand, args []string, out io.Writer) error {
	names := make([]string, len(subs))
	for i, sc := range subs {
		names[i] = sc.name
	}
	if len(args) == 0 {
		return stele.Errorf(stele.EINVALID, "usage: stele %s %s ...", group, strings.Join(names, "|"))
	}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprintln(out, usage)
		return nil
	}
	for _, sc := range subs {
		if sc.name == args[0] {
			return sc.run(ctx, args[1:], out)
		}
	}
	return stele.Errorf(stele.EINVALID, "unknown %s command %q (%s)", group, args[0], strings.Join(names, ", "))
}

// describe renders an error for a person at a terminal, with field details.
func describe(err error) string {
	var e *stele.Error
	if !errors.As(err, &e) {
		return err.Error()
	}
	var b strings.Builder
	b.WriteString(e.Message)
	for _, d := range e.Details {
		fmt.Fprintf(&b, "\n  %s: %s", d.Field, d.Rule)
		if d.Message != "" && !strings.Contains(e.Message, d.Message) {
			fmt.Fprintf(&b, " (%s)", d.Message)
		}
	}
	return b.String()
}

func exitCode(err error) int {
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case stele.ErrorCode(err) == stele.EINVALID:
		return 2
	default:
		return 1
	}
}
