// Package client is the Go client of Stele's HTTP API: it sends events and
// reads them back, exports them, and fetches the signed checkpoint and the
// proofs that let a caller check the log without trusting the server.
//
// A Client is made once with the server's URL and an API key and is safe
// for concurrent use:
//
//	c, err := client.New("https://stele.example", os.Getenv("STELE_KEY"))
//	receipts, err := c.Send(ctx, stele.Event{Action: "user.login", Actor: &stele.Ref{ID: "u_1"}})
//	for e, err := range c.All(ctx, "action:user.* outcome:failure", 0) { … }
//
// Errors the API answers with come back as a *StatusError that wraps the
// API's *stele.Error (its code, message and field details), so
// errors.As(err, &steleErr) and stele.ErrorCode(err) work on them; network
// failures are returned wrapped with the request they belong to. The client
// sets no timeout of its own: give each call a context with a deadline, or
// WithHTTPClient a client that has one.
//
// Proofs and checkpoints are returned as the server sent them; checking them
// against a trusted checkpoint verifier key is the caller's part (stele
// verify --url does it).
package client
