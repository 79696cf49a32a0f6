// Package notify delivers one alert to one destination: a webhook signed
// with HMAC-SHA-256, a Slack-compatible incoming webhook, or email over SMTP
// with STARTTLS. It also holds what a webhook's receiver needs to check a
// delivery ([VerifyWebhook]), the validation of destinations as alert rules
// carry them, the classification of delivery errors into retryable and
// permanent, and the retry policy ([Backoff]).
//
// The rules, their evaluation, the persistent outbox and its delivery loop
// are not here: they call [Notifier.Deliver] once per attempt, keep the
// delivery id across attempts, and ask [Backoff.Next] when to try again.
//
// Nothing in this package logs. Errors it returns are safe to record and
// show: they never carry a secret, a password, a URL's path or query (a
// Slack URL's path is its credential), or an event's data.
package notify
