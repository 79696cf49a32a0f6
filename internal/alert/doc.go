// Package alert is Stele's alert rules at work: the service that saves
// rules (their query parsed, their destinations checked and sealed under
// the account's data key, every change recorded in the account's log), the
// Matcher the ingest path consults for every event so that the commit that
// stores an event also stores what rules it matched, the Evaluator that
// turns those matches into firings (thresholds, windows, groups,
// cooldowns), and the Deliverer that sends each firing to each destination
// through internal/notify at least once.
//
// The path of one alert: ingest.Service.append asks the Matcher which
// enabled rules of its account an event matches; the writer's commit
// stores one alert_matches row per (rule, event) beside the event. The
// evaluator, one node at a time (stele.Leadership job "alerts"), reads new
// matches in seq order per account, keeps each rule's window per group, and
// stores each firing with its deliveries and its new cursor in one
// transaction; then it records alert.fired. The deliverer sends the due
// deliveries, each destination on its own goroutine, and retries with
// notify.Backoff until it gives up and records alert.delivery_failed.
package alert
