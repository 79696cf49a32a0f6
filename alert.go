package stele

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// What a threshold may count per: the actor (id, or email when the event
// names none), the ip, or the source.
const (
	GroupByActor  = "actor"
	GroupByIP     = "ip"
	GroupBySource = "source"
)

// Limits on an alert rule.
const (
	MaxAlertRules       = 100 // per account
	MaxAlertRuleName    = 200
	MaxAlertQuery       = 1000
	MaxAlertCount       = 100_000
	MinAlertWindow      = time.Second
	MaxAlertWindow      = 7 * 24 * time.Hour
	MaxAlertCooldown    = 7 * 24 * time.Hour
	MaxAlertFiringSeqs  = 20 // triggering events a firing keeps, the newest
	AlertRuleIDPrefix   = "rul_"
	AlertFiringIDPrefix = "alr_"
)

// AlertThreshold is "at least Count matching events within Window", counted
// per GroupBy when it is set.
type AlertThreshold struct {
	Count   int
	Window  time.Duration
	GroupBy string
}

// AlertRule is an account's rule: a query in the query language, an
// optional threshold, a cooldown and its destinations. The query is
// checked by the service that saves the rule (it parses it); the
// destinations are sealed by it under the account's data key, so that the
// store holds them as one opaque blob and the root knows nothing of them.
type AlertRule struct {
	ID string
	// Key is a small number the store gives the rule when it is created,
	// never given to another: matches name their rule by it, so that the
	// rows written with every matching event stay small.
	Key       int64
	AccountID int64
	Name      string
	Query     string
	Threshold *AlertThreshold
	// Cooldown is the least time between two firings of the rule (for
	// the same group, when it counts per group); zero for none.
	Cooldown time.Duration
	Enabled  bool
	// Destinations are the rule's destinations, sealed.
	Destinations string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Validate checks the fields the root knows the rules of and returns an
// EINVALID *Error with one detail per problem, naming the field and the
// rule it broke.
func (r *AlertRule) Validate() error {
	var out []FieldError
	add := func(field, rule, format string, args ...any) {
		out = append(out, FieldError{Field: field, Rule: rule, Message: field + ": " + fmt.Sprintf(format, args...)})
	}
	switch n := strings.TrimSpace(r.Name); {
	case n == "":
		add("name", "required", "a rule needs a name")
	case len(r.Name) > MaxAlertRuleName:
		add("name", "max_length", "the name is %d bytes long; the limit is %d", len(r.Name), MaxAlertRuleName)
	case !utf8.ValidString(r.Name) || strings.ContainsAny(r.Name, "\r\n\x00"):
		add("name", "text", "the name must be one line of UTF-8 text")
	}
	switch {
	case strings.TrimSpace(r.Query) == "":
		add("query", "required", "a rule needs a query (action:user.role_changed, for one)")
	case len(r.Query) > MaxAlertQuery:
		add("query", "max_length", "the query is %d bytes long; the limit is %d", len(r.Query), MaxAlertQuery)
	}
	if t := r.Threshold; t != nil {
		if t.Count < 1 || t.Count > MaxAlertCount {
			add("threshold.count", "range", "the count must be from 1 to %d", MaxAlertCount)
		}
		if t.Window < MinAlertWindow || t.Window > MaxAlertWindow {
			add("threshold.window", "range", "the window must be from %s to %s (like 10m)", MinAlertWindow, MaxAlertWindow)
		}
		switch t.GroupBy {
		case "", GroupByActor, GroupByIP, GroupBySource:
		default:
			add("threshold.group_by", "one_of", "group_by is actor, ip or source, not %q", clipText(t.GroupBy, 32))
		}
	}
	if r.Cooldown < 0 || r.Cooldown > MaxAlertCooldown {
		add("cooldown", "range", "the cooldown must be from 0 to %s", MaxAlertCooldown)
	}
	if r.Destinations == "" {
		add("destinations", "required", "a rule needs at least one destination")
	}
	if len(out) == 0 {
		return nil
	}
	return &Error{Code: EINVALID, Message: "invalid alert rule: " + out[0].Message, Details: out}
}

// LongestWindow is the rule's window, or zero without a threshold.
func (r *AlertRule) LongestWindow() time.Duration {
	if r.Threshold == nil {
		return 0
	}
	return r.Threshold.Window
}

func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// AlertMatch is one event matching one enabled rule, written by the commit
// that stores the event: the outbox's first half. Group is the blind-index
// token of the value the rule counts per (0 when it counts no group, or the
// event lacks the field). Time is the event's time in Unix microseconds.
type AlertMatch struct {
	AccountID int64
	Rule      int64 // the rule's Key
	Seq       int64
	Time      int64
	Group     int64
}

// AlertFiring is one firing of a rule, as the evaluator stored it with its
// deliveries. It keeps a copy of the rule as it was (name, query,
// threshold, sealed destinations), so that its deliveries and the rule's
// history read the same after the rule changes or goes.
type AlertFiring struct {
	ID        string
	AccountID int64
	RuleID    string
	RuleName  string
	Query     string
	Threshold *AlertThreshold
	// Destinations is the rule's sealed destinations when it fired.
	Destinations string
	Count        int
	// Group is the token of the group's value (0 for none); GroupValue
	// is filled in by the service from the triggering events, for people.
	Group int64
	// Seqs are the newest triggering events, at most MaxAlertFiringSeqs,
	// oldest first; LastSeq is the newest match counted.
	Seqs    []int64
	LastSeq int64
	// WindowStart and WindowEnd bound the counted events' times (Unix µs),
	// zero for a rule without a threshold.
	WindowStart, WindowEnd int64
	FiredAt                time.Time
	// Recorded is set once alert.fired is in the account's log.
	Recorded bool
}

// Delivery states.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
)

// AlertDelivery is one firing for one of its destinations: the outbox's
// second half, sent at least once.
type AlertDelivery struct {
	ID          string
	AccountID   int64
	FiringID    string
	Destination int // index into the firing's destinations
	State       string
	Attempts    int
	NextAttempt time.Time
	// LastError is the last attempt's error, as notify words it: no
	// secret, no URL path, no event data.
	LastError string
	// Pending, for an email destination, lists the indexes of the
	// recipients still to send to (the others have the alert or refused
	// it for good); nil means all.
	Pending   []int
	CreatedAt time.Time
	UpdatedAt time.Time
}

// AlertRound is what one round of the evaluator stores at once: its
// firings with their deliveries, how far it has read each account's
// matches (the next seq to read), and which matches it no longer needs.
type AlertRound struct {
	Firings    []*AlertFiring
	Deliveries []*AlertDelivery
	Cursors    map[int64]int64
	// Prune deletes each account's matches below the seq (cursor) whose
	// event time is before BeforeTime.
	Prune []AlertPrune
}

// AlertPrune names the matches of an account a round drops.
type AlertPrune struct {
	AccountID  int64
	BeforeSeq  int64
	BeforeTime int64
}

// AlertStore keeps alert rules, their matches, firings and deliveries.
type AlertStore interface {
	// CreateAlertRule stores r, setting its key and times; ECONFLICT if its id
	// exists or the account has MaxAlertRules, ENOTFOUND if the account
	// does not exist.
	CreateAlertRule(ctx context.Context, r *AlertRule) error
	// AlertRule returns an account's rule; ENOTFOUND if the account has
	// no rule with id.
	AlertRule(ctx context.Context, accountID int64, id string) (*AlertRule, error)
	// AlertRules returns an account's rules, oldest first.
	AlertRules(ctx context.Context, accountID int64) ([]*AlertRule, error)
	// UpdateAlertRule replaces the rule's settings (not its id, account or
	// creation time), sets UpdatedAt, and returns the rule as it was;
	// ENOTFOUND if there is none.
	UpdateAlertRule(ctx context.Context, r *AlertRule) (*AlertRule, error)
	// DeleteAlertRule removes the rule and returns it as it was; ENOTFOUND
	// if there is none. Its firings stay, as history; its matches stay
	// until pruned (its key is never given again, so nothing reads them as
	// another rule's).
	DeleteAlertRule(ctx context.Context, accountID int64, id string) (*AlertRule, error)
	// EnabledAlertRules returns every account's enabled rules and the
	// rule generation they are current at.
	EnabledAlertRules(ctx context.Context) ([]*AlertRule, int64, error)
	// AlertRuleGeneration is a counter the store changes in the same
	// transaction as any change to a rule.
	AlertRuleGeneration(ctx context.Context) (int64, error)

	// AlertHeads returns the tree size (next seq) of each account.
	AlertHeads(ctx context.Context, accountIDs []int64) (map[int64]int64, error)
	// AlertMatches returns an account's matches with seq in [from, to),
	// by seq (an event's in the order they were stored), those of at
	// most limit events.
	AlertMatches(ctx context.Context, accountID, from, to int64, limit int) ([]AlertMatch, error)
	// RuleMatches returns a rule's matches with seq below beforeSeq and
	// time from sinceTime on, by seq: a window rebuilt.
	RuleMatches(ctx context.Context, accountID, ruleKey, beforeSeq, sinceTime int64) ([]AlertMatch, error)
	// AlertCursors returns the next seq to read of each account the
	// evaluator has read.
	AlertCursors(ctx context.Context) (map[int64]int64, error)
	// CommitAlertRound stores a round in one transaction.
	CommitAlertRound(ctx context.Context, r *AlertRound) error

	// AlertFiring returns one of an account's firings; ENOTFOUND if none.
	AlertFiring(ctx context.Context, accountID int64, id string) (*AlertFiring, error)
	// AlertFirings returns a rule's firings fired at since or later,
	// newest first, at most limit.
	AlertFirings(ctx context.Context, accountID int64, ruleID string, since time.Time, limit int) ([]*AlertFiring, error)
	// UnrecordedAlertFirings returns firings, of any account, whose
	// alert.fired is not yet recorded, oldest first, at most limit.
	UnrecordedAlertFirings(ctx context.Context, limit int) ([]*AlertFiring, error)
	// MarkAlertFiringRecorded sets a firing's Recorded.
	MarkAlertFiringRecorded(ctx context.Context, accountID int64, id string) error
	// PruneAlertHistory deletes an account's firings fired before before
	// (its retention cutoff) whose alert.fired is recorded and none of
	// whose deliveries is pending, with their deliveries, and returns how
	// many firings it deleted. A firing still owed to the log or to a
	// destination stays until it is not.
	PruneAlertHistory(ctx context.Context, accountID int64, before time.Time) (int64, error)

	// DueAlertDeliveries returns pending deliveries, of any account, whose
	// next attempt is at or before now, soonest first, at most limit.
	DueAlertDeliveries(ctx context.Context, now time.Time, limit int) ([]*AlertDelivery, error)
	// NextAlertDelivery returns when the soonest pending delivery is due,
	// and false when none is pending.
	NextAlertDelivery(ctx context.Context) (time.Time, bool, error)
	// UpdateAlertDelivery stores d's state, attempts, next attempt and
	// last error; ENOTFOUND if there is no such delivery.
	UpdateAlertDelivery(ctx context.Context, d *AlertDelivery) error
	// AlertDeliveries returns a firing's deliveries by destination.
	AlertDeliveries(ctx context.Context, accountID int64, firingID string) ([]*AlertDelivery, error)
}
