package integrity

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/client"
	"github.com/stele-audit/stele/internal/ledger"
	"golang.org/x/mod/sumdb/note"
)

// RemoteVerifier checks a live server through its API without trusting it
// (stele verify --url): the account's latest checkpoint must be signed by
// the key the verifier trusts and extend the last checkpoint it trusted,
// and a sample of recent events must be included in it, each leaf hash
// recomputed from the event as the server sent it.
type RemoteVerifier struct {
	API *client.Client
	// Samples is how many of the latest 200 events to check for inclusion.
	Samples int
}

// RemoteReport is what a remote verification found.
type RemoteReport struct {
	Origin string // the log's origin line
	Size   int64  // the size of the checkpoint verified
	// Trusted is the size of the checkpoint trusted before, which the new
	// one was checked to extend; 0 when none was.
	Trusted int64
	// Signature is why the checkpoint was refused as not signed by the
	// trusted key; Consistency why it does not extend the trusted one.
	// Nothing further is checked after either.
	Signature, Consistency error
	// Listing is why no events could be listed to sample.
	Listing error
	Events  []EventCheck // the events sampled, in the order checked
}

// EventCheck is the inclusion check of one sampled event. Seq is -1 when
// the event could not be read.
type EventCheck struct {
	ID  string
	Seq int64
	Err error
}

// OK reports whether every check passed.
func (r *RemoteReport) OK() bool { return r.Failures() == 0 }

// Failures counts the checks that failed: the signature, the consistency,
// the listing, and each sampled event's inclusion.
func (r *RemoteReport) Failures() int {
	n := 0
	for _, err := range []error{r.Signature, r.Consistency, r.Listing} {
		if err != nil {
			n++
		}
	}
	for _, e := range r.Events {
		if e.Err != nil {
			n++
		}
	}
	return n
}

// sampleWindow is how many of the newest events the sample is drawn from.
const sampleWindow = 200

// Verify verifies the log of the client key's account against state. The
// verifier key is publicKey, or when that is "" the one state keeps for
// the log (so it is required the first time a log is verified). When every
// check passes, the checkpoint becomes the log's trusted one in state; the
// caller saves it. An error means the verification could not run (the
// server unreachable, no key to trust); a failed one is in the report.
func (v *RemoteVerifier) Verify(ctx context.Context, state *TrustState, publicKey string) (*RemoteReport, error) {
	cp, err := v.API.Checkpoint(ctx)
	if err != nil {
		return nil, err
	}
	if state.Logs == nil {
		state.Logs = map[string]TrustedLog{}
	}
	trusted, known := state.Logs[cp.Origin]
	if publicKey == "" {
		publicKey = trusted.PublicKey
	}
	if publicKey == "" {
		return nil, &stele.Error{Code: stele.EINVALID, Message: "a checkpoint verifier key is required the first time a log is verified (stele checkpoint public-key prints it)",
			Details: []stele.FieldError{{Field: "public-key", Rule: "required"}}}
	}
	verifier, err := note.NewVerifier(strings.TrimSpace(publicKey))
	if err != nil {
		return nil, &stele.Error{Code: stele.EINVALID, Message: "the public key is not a note verifier key (stele checkpoint public-key prints one)",
			Details: []stele.FieldError{{Field: "public-key", Rule: "format"}}}
	}
	rep := &RemoteReport{Origin: cp.Origin, Size: cp.Size}
	body, err := ledger.OpenCheckpoint([]byte(cp.Note), verifier)
	if err == nil && body.Origin != cp.Origin {
		err = fmt.Errorf("the signed checkpoint is of %q, not of %q as the server said", body.Origin, cp.Origin)
	}
	if err != nil {
		rep.Signature = err
		return rep, nil
	}
	rep.Size = body.Size
	if known && trusted.Size > 0 {
		rep.Trusted = trusted.Size
		root, err := base64.StdEncoding.DecodeString(trusted.Root)
		if err != nil || len(root) != len(ledger.Hash{}) {
			rep.Consistency = errors.New("the trusted root in the state is not a base64 SHA-256 hash")
			return rep, nil
		}
		if rep.Consistency = v.checkExtends(ctx, trusted.Size, ledger.Hash(root), body); rep.Consistency != nil {
			return rep, nil
		}
	}
	v.sample(ctx, verifier, body, rep)
	if rep.OK() {
		state.Logs[body.Origin] = TrustedLog{PublicKey: publicKey, Size: body.Size, Root: base64.StdEncoding.EncodeToString(body.Root[:]), Note: cp.Note}
	}
	return rep, nil
}

// VerifyTrusted verifies against the trust kept in the state file at path
// (LoadTrustState), and moves the trust on there when every check passed.
// The report is nil when the verification could not run; with an error
// that is not, the checks ran but the new trust was not saved.
func (v *RemoteVerifier) VerifyTrusted(ctx context.Context, path, publicKey string) (*RemoteReport, error) {
	state, err := LoadTrustState(path)
	if err != nil {
		return nil, err
	}
	rep, err := v.Verify(ctx, state, publicKey)
	if err != nil || !rep.OK() {
		return rep, err
	}
	return rep, state.Save(path)
}

// checkExtends proves that the tree of size old with root oldRoot is a
// prefix of the signed tree now.
func (v *RemoteVerifier) checkExtends(ctx context.Context, old int64, oldRoot ledger.Hash, now ledger.CheckpointBody) error {
	if now.Size < old {
		return fmt.Errorf("rollback: the log shrank from %d to %d events", old, now.Size)
	}
	p, err := v.API.ConsistencyProof(ctx, old, now.Size)
	if err != nil {
		return err
	}
	return ledger.VerifyConsistency(old, now.Size, oldRoot, now.Root, p.Hashes)
}

// sample checks a few random events of the newest ones for inclusion in
// the verified checkpoint cp.
func (v *RemoteVerifier) sample(ctx context.Context, verifier note.Verifier, cp ledger.CheckpointBody, rep *RemoteReport) {
	if v.Samples <= 0 {
		return
	}
	page, err := v.API.Events(ctx, "", sampleWindow, "")
	if err != nil {
		rep.Listing = err
		return
	}
	events := page.Events
	rand.Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })
	for i := range events[:min(v.Samples, len(events))] {
		listed := &events[i]
		check := EventCheck{ID: listed.ID, Seq: -1}
		ep, err := v.API.EventWithProof(ctx, listed.ID)
		if err == nil {
			check.Seq = ep.Event.Seq
			err = v.checkEvent(ctx, verifier, cp, listed, ep)
		}
		check.Err = err
		rep.Events = append(rep.Events, check)
	}
}

// checkEvent checks that the event, as listed and as served with its
// proof, is included in the tree of cp. The proof may lead to a newer
// checkpoint, signed since: that one must then extend cp.
func (v *RemoteVerifier) checkEvent(ctx context.Context, verifier note.Verifier, cp ledger.CheckpointBody, listed *stele.Event, ep *client.EventProof) error {
	if ep.Event.ID != listed.ID {
		return fmt.Errorf("the server answered with event %q", ep.Event.ID)
	}
	proofCP, err := ledger.OpenCheckpoint([]byte(ep.Checkpoint), verifier)
	if err != nil {
		return fmt.Errorf("the proof's checkpoint: %w", err)
	}
	if proofCP.Origin != cp.Origin {
		return fmt.Errorf("the proof's checkpoint is of another log (%s)", proofCP.Origin)
	}
	if proofCP.Size != cp.Size {
		if err := v.checkExtends(ctx, cp.Size, cp.Root, proofCP); err != nil {
			return err
		}
	}
	if err := CheckEventIncluded(&ep.Event, ep.Proof.LeafHash, ep.Proof.Hashes, proofCP); err != nil {
		return err
	}
	// The list is what people read: it must show the event that is logged.
	if err := CheckEventIncluded(listed, ep.Proof.LeafHash, ep.Proof.Hashes, proofCP); err != nil {
		return fmt.Errorf("as listed: %w", err)
	}
	return nil
}
