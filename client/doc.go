// Package client is the Go client of Stele's HTTP API: it sends events and
// reads them back, exports them, and fetches the signed checkpoint and the
// proofs that let a caller check the log without trusting the server.
//
// A Client is made once with the server's URL and an API key and is safe
// for concurrent use. A platform records its activity with Record, which
// buffers the event and returns; batches leave by size and by time, are
// retried when Stele is unreachable, and Close sends what is left:
//
//	c, err := client.New("https://stele.example", os.Getenv("STELE_KEY"))
//	c.Record(ctx, client.RoleChanged(admin, user, "viewer", "admin"))
//	defer c.Close(ctx)
//	for e, err := range c.Query(ctx, "action:user.* outcome:failure") { … }
//
// What the recorder promises in an outage (fail-open, fail-closed, the
// spool), the middleware and the verification of receipts are described
// in docs/INTEGRATING.md. Send stores events synchronously and returns
// their receipts.
//
// Errors the API answers with come back as a *StatusError that wraps the
// API's *stele.Error (its code, message and field details), so
// errors.As(err, &steleErr) and stele.ErrorCode(err) work on them; network
// failures are returned wrapped with the request they belong to. The client
// sets no timeout of its own: give each call a context with a deadline, or
// WithHTTPClient a client that has one.
//
// Proofs and checkpoints are returned as the server sent them;
// VerifyReceipt, OpenCheckpoint and VerifyInclusion check them against a
// checkpoint verifier key the caller trusts.
package client
