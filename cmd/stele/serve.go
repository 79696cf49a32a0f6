package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/api"
	"github.com/stele-audit/stele/internal/audit"
	"github.com/stele-audit/stele/internal/ingest"
	"github.com/stele-audit/stele/internal/integrity"
)

// serveConfig is the configuration of stele serve.
type serveConfig struct {
	store           storeFlags
	addr            string
	demo            bool
	logLevel        string
	checkpointEvery time.Duration
	retentionEvery  time.Duration
	tlsCert, tlsKey string
	debugAddr       string
	metricsToken    string
	alerts          alertFlags
	types           []stele.AccountType
	// acceptNewOrigin lets a signing key or origin prefix other than the
	// store's checkpoints' take over (checkSigner).
	acceptNewOrigin bool
}

func runServe(ctx context.Context, args []string, out io.Writer) error {
	return bind(parseServe, serveConfig.run)(ctx, args, out)
}

func parseServe(args []string) (serveConfig, error) {
	fs := newFlags("serve", "serve [--addr 127.0.0.1:8080] [--data DIR] [--db URL] [--demo]")
	var c serveConfig
	c.store.register(fs)
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8080", "listen address")
	fs.BoolVar(&c.demo, "demo", false, "fill an empty store with 30 days of realistic demo activity")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.DurationVar(&c.checkpointEvery, "checkpoint-interval", integrity.DefaultInterval, "how often to sign checkpoints of the accounts that received events")
	fs.StringVar(&c.tlsCert, "tls-cert", "", "serve HTTPS with this certificate file (PEM); needs --tls-key")
	fs.StringVar(&c.tlsKey, "tls-key", "", "the private key file (PEM) of --tls-cert")
	fs.StringVar(&c.debugAddr, "debug-addr", "", "serve Go's pprof profiles on this address (off by default; keep it on loopback)")
	readTypes := accountTypesFlag(fs)
	fs.DurationVar(&c.retentionEvery, "retention-interval", time.Hour, "how often to purge events older than their account's retention")
	c.alerts.register(fs)
	fs.BoolVar(&c.acceptNewOrigin, "accept-new-origin", false, "sign checkpoints with this signing key and origin prefix although the store's are signed by another: changes the key verifiers must trust (docs/INTEGRITY.md)")
	fs.StringVar(&c.metricsToken, "metrics-token", "", "require this bearer token on GET /metrics (give it as STELE_METRICS_TOKEN, not on the command line)")
	if _, err := parse(fs, args); err != nil {
		return c, err
	}
	if (c.tlsCert == "") != (c.tlsKey == "") {
		return c, stele.Errorf(stele.EINVALID, "--tls-cert and --tls-key go together")
	}
	var err error
	c.types, err = readTypes()
	return c, err
}

func (c serveConfig) tls() bool { return c.tlsCert != "" }

// run opens the store, prepares it (demo activity, the first operator),
// serves the API and the console until ctx ends, with the background jobs,
// and shuts down.
func (c serveConfig) run(ctx context.Context, out io.Writer) error {
	ingest.TuneGC()
	logger := newLogger(c.logLevel)
	if c.metricsToken == "" && !loopback(c.addr) {
		logger.Warn("GET /metrics is not authenticated and names accounts; set STELE_METRICS_TOKEN", "addr", c.addr)
	}
	a, err := openAppIn(ctx, c.store, storeIfMissing, nil, logger)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.checkSigner(ctx, c.acceptNewOrigin); err != nil {
		return err
	}
	// A node whose master key unwraps nothing would answer every request
	// with an error: it does not start.
	if err := a.checkKeys(ctx); err != nil {
		return stele.Errorf(stele.EINVALID, "the master key does not unwrap this store's account keys (%v): it is not the key the store was made with. "+
			"Set STELE_MASTER_KEY or STELE_MASTER_KEY_FILE to that key (stele init printed it or wrote it to its --keys-dir; on SQLite it is DATA/master.key)", err)
	}
	// Reads hide what the retention job purges by these types' days; set
	// before anything reads.
	a.search.SetRetention(c.types, nil)
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", c.addr, err)
	}
	base := "http://" + ln.Addr().String()
	if c.tls() {
		base = "https://" + ln.Addr().String()
	}
	demoKey, err := c.prepare(ctx, a, out, base)
	if err != nil {
		ln.Close()
		return err
	}
	a.streams = newServeStreams(a)
	alerting, err := startAlerting(ctx, a, c.alerts, base, logger)
	if err != nil {
		ln.Close()
		return err
	}
	defer alerting.stop()
	quotas := ingest.NewQuotas(a.db, ingest.QuotaConfig{Types: c.types})
	a.ingest.SetQuotas(quotas)
	srv := &api.Server{
		Ingest: a.ingest, Search: a.search, Accounts: a.db, APIKeys: a.db, Logger: logger,
		Ready: a.readiness().Ready, Checkpoints: a.checkpoints, Audit: a.audit, Streams: a.streams.service,
		Alerts: alerting.rules,
	}
	con, err := newConsole(a, logger, c.tls(), c.types, alerting.rules)
	if err != nil {
		ln.Close()
		return err
	}
	// Reads of the log (audit_log.viewed) are recorded off the requests'
	// path, by the ingest path.
	reads := audit.NewReads(a.audit, audit.ReadsConfig{})
	srv.Reads, con.Reads = reads, reads
	jobs := startJobs(ctx, a, c, quotas, con, reads)
	// The last checkpoint is signed once nothing more is served, and the
	// last reads are recorded.
	defer jobs.stop()
	defer reads.Close()
	httpSrv := &http.Server{
		Handler:           jobs.handler(withConsole(con, srv.Handler()), c.metricsToken),
		ConnState:         jobs.metrics.ConnState,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	if c.debugAddr != "" {
		go serveDebug(c.debugAddr, logger)
	}
	printWelcome(out, base, c.store, demoKey)
	errc := make(chan error, 1)
	go func() {
		if c.tls() {
			errc <- httpSrv.ServeTLS(ln, c.tlsCert, c.tlsKey)
			return
		}
		errc <- httpSrv.Serve(ln)
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	if err := httpSrv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// prepare fills an empty store with demo activity (--demo), makes the
// first operator on a store without users, and gives the demo account its
// console users, printing what is shown once; it returns the demo key.
func (c serveConfig) prepare(ctx context.Context, a *app, out io.Writer, base string) (string, error) {
	var demoKey string
	if c.demo {
		var err error
		if demoKey, err = seedDemo(ctx, a, out); err != nil {
			return "", err
		}
	}
	if err := ensureOperator(ctx, a, out, base); err != nil {
		return "", err
	}
	if c.demo {
		if err := seedDemoUsers(ctx, a, out, base); err != nil {
			return "", err
		}
	}
	return demoKey, nil
}

// serveDebug serves pprof on its own listener, never on the API's.
func serveDebug(addr string, logger *slog.Logger) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	logger.Warn("serving pprof", "addr", addr, "err", srv.ListenAndServe())
}

func printWelcome(out io.Writer, base string, sf storeFlags, demoKey string) {
	if sf.shared() {
		fmt.Fprintf(out, "Stele is listening on %s (store: %s)\n\n", base, sf.place())
	} else {
		fmt.Fprintf(out, "Stele is listening on %s (data in %s)\n\n", base, sf.data)
	}
	if demoKey != "" {
		fmt.Fprintf(out, "Demo read/write key for account acme (shown once; acme has no ingest quota, for stele loadgen):\n  export STELE_URL=%s STELE_KEY=%s\n\n", base, demoKey)
		fmt.Fprintf(out, "Try (after go build -o stele ./cmd/stele, in another terminal with the export above):\n  ./stele query 'action:user.login_failed'\n  ./stele query '(actor:ada@acme.io OR actor:source-scanner) -category:system'\n  ./stele query --help   # the query language, with more examples\n")
		fmt.Fprintf(out, "  curl -H \"Authorization: Bearer $STELE_KEY\" '%s/v1/events?q=actor:ada@acme.io&limit=5'\n\n", base)
		return
	}
	fmt.Fprintf(out, "Next steps%s:\n", storeShell(sf))
	fmt.Fprintf(out, "  stele accounts create acme --type team %s\n", sf.place().Args())
	fmt.Fprintf(out, "  stele keys create --account acme --scopes events:write,events:read %s\n", sf.place().Args())
	fmt.Fprintf(out, "  curl -H \"Authorization: Bearer KEY\" -H 'Content-Type: application/json' \\\n    -d '{\"action\":\"user.login\",\"actor\":{\"id\":\"u_1\",\"email\":\"ada@acme.io\"}}' %s/v1/events\n\n", base)
}

// loopback reports whether addr listens on a loopback interface only.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
