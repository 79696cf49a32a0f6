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
	"github.com/stele-audit/stele/internal/ingest"
	"github.com/stele-audit/stele/internal/integrity"
)

func runServe(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlags("serve", "serve [--addr 127.0.0.1:8080] [--data DIR] [--db URL] [--demo]")
	var sf storeFlags
	sf.register(fs)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	demo := fs.Bool("demo", false, "fill an empty store with 30 days of realistic demo activity")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	checkpointEvery := fs.Duration("checkpoint-interval", integrity.DefaultInterval, "how often to sign checkpoints of the accounts that received events")
	tlsCert := fs.String("tls-cert", "", "serve HTTPS with this certificate file (PEM); needs --tls-key")
	tlsKey := fs.String("tls-key", "", "the private key file (PEM) of --tls-cert")
	debugAddr := fs.String("debug-addr", "", "serve Go's pprof profiles on this address (off by default; keep it on loopback)")
	readTypes := accountTypesFlag(fs)
	retentionEvery := fs.Duration("retention-interval", time.Hour, "how often to purge events older than their account's retention")
	var af alertFlags
	af.register(fs)
	metricsToken := fs.String("metrics-token", "", "require this bearer token on GET /metrics (give it as STELE_METRICS_TOKEN, not on the command line)")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	types, err := readTypes()
	if err != nil {
		return err
	}
	logger := newLogger(*logLevel)
	if *metricsToken == "" && !loopback(*addr) {
		logger.Warn("GET /metrics is not authenticated and names accounts; set STELE_METRICS_TOKEN", "addr", *addr)
	}
	a, err := openApp(ctx, sf, logger)
	if err != nil {
		return err
	}
	defer a.Close()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	tls := *tlsCert != "" || *tlsKey != ""
	if tls && (*tlsCert == "" || *tlsKey == "") {
		ln.Close()
		return stele.Errorf(stele.EINVALID, "--tls-cert and --tls-key go together")
	}
	base := "http://" + ln.Addr().String()
	if tls {
		base = "https://" + ln.Addr().String()
	}
	var demoKey string
	if *demo {
		if demoKey, err = seedDemo(ctx, a, out); err != nil {
			ln.Close()
			return err
		}
	}
	if err := ensureOperator(ctx, a, out, base); err != nil {
		ln.Close()
		return err
	}
	if *demo {
		if err := seedDemoUsers(ctx, a, out, base); err != nil {
			ln.Close()
			return err
		}
	}
	alerting, err := startAlerting(ctx, a, af, base, logger)
	if err != nil {
		ln.Close()
		return err
	}
	defer alerting.stop()
	srv := &api.Server{
		Ingest: a.ingest, Search: a.search, Accounts: a.db, APIKeys: a.db, Logger: logger,
		Ready: a.db.Ping, Checkpoints: a.checkpoints, Alerts: alerting.rules,
	}
	stopSigning := startCheckpointJob(ctx, a.leader, a.checkpoints, *checkpointEvery)
	quotas := ingest.NewQuotas(a.db, ingest.QuotaConfig{Types: types})
	a.ingest.SetQuotas(quotas)
	handler, err := withConsole(ctx, a, logger, tls, types, alerting.rules, srv.Handler())
	if err != nil {
		ln.Close()
		return err
	}
	jobs := startJobs(ctx, a, sf, types, quotas, *retentionEvery)
	defer jobs.stop()
	httpSrv := &http.Server{
		Handler:           jobs.handler(handler, *metricsToken),
		ConnState:         jobs.metrics.ConnState,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	if *debugAddr != "" {
		go serveDebug(*debugAddr, logger)
	}
	printWelcome(out, base, sf, demoKey)
	errc := make(chan error, 1)
	go func() {
		if tls {
			errc <- httpSrv.ServeTLS(ln, *tlsCert, *tlsKey)
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
	stopSigning()
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	if err := httpSrv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
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
	fmt.Fprintf(out, "Stele is listening on %s (data in %s)\n\n", base, sf.data)
	if demoKey != "" {
		fmt.Fprintf(out, "Demo read/write key for account acme (shown once; acme has no ingest quota, for stele loadgen):\n  export STELE_URL=%s STELE_KEY=%s\n\n", base, demoKey)
		fmt.Fprintf(out, "Try (after go build -o stele ./cmd/stele, in another terminal with the export above):\n  ./stele query 'action:user.login_failed'\n  ./stele query 'category:user_management after:7d'\n")
		fmt.Fprintf(out, "  curl -H \"Authorization: Bearer $STELE_KEY\" '%s/v1/events?q=action:user.role_changed&limit=5'\n\n", base)
		return
	}
	fmt.Fprintf(out, "Next steps:\n  stele accounts create acme --type team --data %s\n", sf.data)
	fmt.Fprintf(out, "  stele keys create --account acme --scopes events:write,events:read --data %s\n", sf.data)
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
