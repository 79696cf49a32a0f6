package main

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"time"

	"github.com/stele-audit/stele/internal/alert"
	"github.com/stele-audit/stele/internal/notify"
)

// alertFlags are serve's settings of alert delivery.
type alertFlags struct {
	publicURL string
	smtpURL   string
	giveUp    time.Duration
	retryMax  time.Duration
	private   bool
}

func (f *alertFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.publicURL, "public-url", "", "the console's public base URL, for the links in alerts (default: the listen address)")
	fs.StringVar(&f.smtpURL, "smtp-url", "", "mail server of email alerts: smtp://[USER@]HOST[:PORT]?from=ADDRESS[&tls=starttls|tls|none]; the password only as STELE_SMTP_PASSWORD")
	fs.DurationVar(&f.giveUp, "alert-give-up", notify.DefaultBackoff.GiveUpAfter, "how long an alert delivery is retried before it fails and alert.delivery_failed is recorded")
	fs.DurationVar(&f.retryMax, "alert-retry-max", notify.DefaultBackoff.Max, "the longest wait between two attempts of an alert delivery")
	fs.BoolVar(&f.private, "alert-private-destinations", false, "let webhooks and Slack URLs reach private and loopback addresses (receivers on your own network; off, a tenant cannot aim Stele at it)")
}

// alerting is serve's alert rules at work: the service the API and the
// console manage rules with, and the leader job "alerts".
type alerting struct {
	rules *alert.Service
	stop  func()
}

// startAlerting checks the delivery settings and starts the evaluator and
// the deliverer on whichever node leads "alerts". base is the listen URL.
func startAlerting(ctx context.Context, a *app, f alertFlags, base string, logger *slog.Logger) (*alerting, error) {
	var smtp notify.SMTPConfig
	if f.smtpURL != "" {
		var err error
		if smtp, err = notify.ParseSMTPURL(f.smtpURL, os.Getenv("STELE_SMTP_PASSWORD")); err != nil {
			return nil, err
		}
	}
	console := f.publicURL
	if console == "" {
		console = base
	}
	policy := notify.URLPolicy{AllowLoopbackHTTP: f.private, AllowPrivateNetworks: f.private}
	n, err := notify.New(notify.Config{ConsoleURL: console, SMTP: smtp, URLPolicy: policy})
	if err != nil {
		return nil, err
	}
	backoff := notify.Backoff{First: min(notify.DefaultBackoff.First, f.retryMax), Max: f.retryMax, GiveUpAfter: f.giveUp}
	rules := &alert.Service{Store: a.db, Sealer: a.keyring, Audit: a.audit, Policy: policy, Notifier: n, Changed: a.alerts.Invalidate}
	ev := &alert.Evaluator{Store: a.db, Sealer: a.keyring, Accounts: a.db, Events: a.search, Audit: a.audit, Matcher: a.alerts, Logger: logger,
		Retention: a.search}
	dl := &alert.Deliverer{Store: a.db, Sealer: a.keyring, Accounts: a.db, Events: a.search, Notifier: n, Audit: a.audit,
		Backoff: backoff, Logger: logger}
	jctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.leader.Lead(jctx, "alerts", alert.Job(ev, dl))
	}()
	return &alerting{rules: rules, stop: func() { cancel(); <-done }}, nil
}
