// Package stream is the upper half of streams (issue 17): the service that
// creates, changes and deletes an account's streams — validating their
// query and destination, sealing the destination's secrets, recording each
// change in the account's log — and the Forwarder, the background job that
// reads each enabled stream's events after its durable cursor and hands
// them to internal/forward's senders, moving the cursor only once a batch
// is sent. docs/STREAMS.md describes what a user sees of both.
package stream
