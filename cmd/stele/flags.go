package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/client"
)

// newFlags returns a FlagSet for a subcommand whose --help prints usage.
// The flag package writes its usage into the set's own buffer, on --help
// and on every error alike: parse prints it for --help only, and returns
// any other problem as an error that main prints once.
func newFlags(name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(new(bytes.Buffer))
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: stele %s\n\nFlags (each also read from STELE_<FLAG>):\n", usage)
		fs.PrintDefaults()
	}
	return fs
}

// usageError is a problem with a command line: EINVALID, which exits 2,
// with a pointer to the command's help.
func usageError(fs *flag.FlagSet, err error) error {
	return stele.Errorf(stele.EINVALID, "%v (stele %s --help lists the flags)", err, fs.Name())
}

// parse parses args into fs, letting flags follow positional arguments
// (`accounts create acme --type team`), after applying STELE_* environment
// fallbacks; command-line flags win over the environment.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name := "STELE_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok && envErr == nil {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = stele.Errorf(stele.EINVALID, "%s is not a valid --%s: %v", name, f.Name, err)
			}
		}
	})
	if envErr != nil {
		return nil, envErr
	}
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				if b, ok := fs.Output().(*bytes.Buffer); ok {
					os.Stdout.Write(b.Bytes())
				}
				return nil, err
			}
			return nil, usageError(fs, err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

// givenOnCommandLine reports whether args set the flag name, as -name,
// --name, or either with =value, as opposed to the environment setting it.
func givenOnCommandLine(args []string, name string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		a = strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		if a == name || strings.HasPrefix(a, name+"=") {
			return true
		}
	}
	return false
}

// multiFlag is a flag given once per value: --webhook A --webhook B.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// storeFlags are the flags of commands that open the local store.
type storeFlags struct {
	data   string
	db     string
	keysDB string
}

func (s *storeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&s.data, "data", "stele-data", "data directory (database, master key, signing key)")
	fs.StringVar(&s.db, "db", "", "database: sqlite:PATH (default DATA/stele.db) or a postgres:// URL; STELE_DATABASE_URL is read too")
	fs.StringVar(&s.keysDB, "keys-db", "", "key store, apart from the events: sqlite:PATH (default keys.db beside the database) or a postgres:// URL "+
		"(default: the database's name with _keys, on its server, created on first start); STELE_KEYS_DATABASE_URL is read too")
}

// clientFlags are the flags of commands that talk to a server.
type clientFlags struct {
	url string
	key string
}

func (c *clientFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.url, "url", "http://127.0.0.1:8080", "server URL")
	fs.StringVar(&c.key, "key", "", "API key")
}

// localOrRemote decides whether a command that can work on the local store
// or on a server works on a server: the command line decides (a flag of
// the local store — localFlags — or --url/--key given), and only when it
// names neither does an API key in the environment (STELE_KEY, as the
// README's tour exports it) choose the server. Naming both is an error.
func localOrRemote(args []string, c clientFlags, localFlags ...string) (remote bool, err error) {
	var local []string
	for _, f := range localFlags {
		if givenOnCommandLine(args, f) {
			local = append(local, "--"+f)
		}
	}
	remoteCLI := givenOnCommandLine(args, "url") || givenOnCommandLine(args, "key")
	switch {
	case len(local) > 0 && remoteCLI:
		return false, stele.Errorf(stele.EINVALID, "%s names the local store and --url/--key a server: give one or the other", strings.Join(local, ", "))
	case remoteCLI:
		return true, nil
	case len(local) > 0:
		return false, nil
	default:
		return c.key != "", nil
	}
}

// localOrRemoteHelp is what the help of a command that does both says.
const localOrRemoteHelp = "Works on the local store when --data, --db or --account is given, on a server when --url or --key\n" +
	"is; with neither, on the server of STELE_URL when STELE_KEY is set, else on the local store."

// client returns a client of the server the flags name.
func (c clientFlags) client() (*client.Client, error) {
	if c.key == "" {
		return nil, &stele.Error{Code: stele.EINVALID, Message: "an API key is required with a server (--url " + c.url + "): --key or STELE_KEY",
			Details: []stele.FieldError{{Field: "key", Rule: "required"}}}
	}
	// A server that takes a request and never answers is given up on; an
	// export that streams for longer is not cut short.
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = time.Minute
	return client.New(c.url, c.key, client.WithTransport(t), client.WithUserAgent("stele-cli"))
}

func printJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printJSONList prints a list as printJSON does, none as [] rather than null.
func printJSONList[T any](out io.Writer, list []T) error {
	if list == nil {
		list = []T{}
	}
	return printJSON(out, list)
}

// listConfig is the configuration of "X list --account NAME [--json]".
type listConfig struct {
	store   storeFlags
	account string
	json    bool
}

// parseList parses the flags of cmd, which lists an account's what.
func parseList(cmd, what string, args []string) (listConfig, error) {
	fs := newFlags(cmd, cmd+" --account NAME [--json]")
	var c listConfig
	c.store.register(fs)
	fs.StringVar(&c.account, "account", "", "the account whose "+what+" to list")
	fs.BoolVar(&c.json, "json", false, "print JSON")
	_, err := parse(fs, args)
	return c, err
}

// listForAccount prints the account's items from load as a JSON array
// (never null) or as a table of header and one row of cells per item.
func listForAccount[T any](ctx context.Context, c listConfig, out io.Writer,
	load func(ctx context.Context, a *app, accountID int64) ([]T, error), header []string, row func(T) []any) error {
	a, acct, err := openAppFor(ctx, c.store, c.account)
	if err != nil {
		return err
	}
	defer a.Close()
	items, err := load(ctx, a, acct.ID)
	if err != nil {
		return err
	}
	if c.json {
		if items == nil {
			items = []T{}
		}
		return printJSON(out, items)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, it := range items {
		cells := row(it)
		for i, c := range cells {
			if i > 0 {
				fmt.Fprint(tw, "\t")
			}
			fmt.Fprint(tw, c)
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

// bind makes a command of the parser of its flags into a configuration and
// the runner of that configuration.
func bind[C any](parse func(args []string) (C, error), run func(C, context.Context, io.Writer) error) func(context.Context, []string, io.Writer) error {
	return func(ctx context.Context, args []string, out io.Writer) error {
		cfg, err := parse(args)
		if err != nil {
			return err
		}
		return run(cfg, ctx, out)
	}
}
