package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/export"
	"github.com/stele-audit/stele/internal/integrity"
	"github.com/stele-audit/stele/internal/ledger"
	"github.com/stele-audit/stele/internal/record"
	"golang.org/x/mod/sumdb/note"
)

func runVerify(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlags("verify", "verify [--data DIR | --db URL] [--account A]\n       stele verify --url U --key K [--public-key K] [--state FILE] [--samples N]\n       stele verify BUNDLE --public-key K")
	var sf storeFlags
	sf.register(fs)
	var cf clientFlags
	cf.register(fs)
	publicKey := fs.String("public-key", "", "the checkpoint verifier key to trust (default: the local signing key's, or the one in --state)")
	account := fs.String("account", "", "verify only this account (with --data)")
	statePath := fs.String("state", defaultStatePath(), "file keeping the last checkpoint trusted per log (with --url)")
	samples := fs.Int("samples", 5, "events to spot-check for inclusion (with --url)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	// The command line decides between a store and a server; STELE_URL and
	// STELE_KEY in the environment, as a client session keeps them, only
	// when it names neither.
	local := givenOnCommandLine(args, "data") || givenOnCommandLine(args, "db")
	remote := givenOnCommandLine(args, "url") || givenOnCommandLine(args, "key")
	switch {
	case len(pos) == 1:
		return verifyBundle(pos[0], *publicKey, *asJSON, out)
	case remote || !local && cf.key != "":
		err := verifyRemote(ctx, cf, *publicKey, *statePath, *samples, out)
		recordRemoteVerify(ctx, cf, err)
		return err
	}
	return verifyStore(ctx, sf, *publicKey, *account, *asJSON, out)
}

func verifierOf(key string) (note.Verifier, error) {
	v, err := note.NewVerifier(strings.TrimSpace(key))
	if err != nil {
		return nil, &stele.Error{Code: stele.EINVALID, Message: "--public-key is not a note verifier key (stele checkpoint public-key prints one)",
			Details: []stele.FieldError{{Field: "public-key", Rule: "format"}}}
	}
	return v, nil
}

var errVerifyFailed = errors.New("verification failed")

func verifyStore(ctx context.Context, sf storeFlags, publicKey, account string, asJSON bool, out io.Writer) error {
	a, err := openApp(ctx, sf, newLogger("warn"))
	if err != nil {
		return err
	}
	defer a.Close()
	verifier := a.checkpoints.Key.Verifier
	if publicKey != "" {
		if verifier, err = verifierOf(publicKey); err != nil {
			return err
		}
	}
	v := &integrity.StoreVerifier{Accounts: a.db, Events: a.db, Store: a.db, Keys: a.keyring, Verifier: verifier}
	var names []string
	if account != "" {
		names = []string{account}
	}
	rep, err := v.Verify(ctx, names...)
	if err != nil {
		return err
	}
	if asJSON {
		if rep.Failures == nil {
			rep.Failures = []integrity.Failure{}
		}
		printJSON(out, rep)
	} else {
		for _, f := range rep.Failures {
			fmt.Fprintln(out, "FAIL", f)
		}
		fmt.Fprintf(out, "%d accounts, %d events, %d checkpoints, %d events purged under signed statements: %d failures\n",
			rep.Accounts, rep.Events, rep.Checkpoints, rep.Purged, len(rep.Failures))
	}
	outcome := stele.OutcomeSuccess
	if !rep.OK() {
		outcome = stele.OutcomeFailure
	}
	target := stele.SystemAccount
	if account != "" {
		target = account
	}
	if rerr := a.record(ctx, stele.Event{Account: target, Action: "audit_log.verified", Outcome: outcome,
		Description: "Verified the store's tamper evidence from the command line",
		Metadata: map[string]any{"mode": "store", "events": fmt.Sprint(rep.Events), "checkpoints": fmt.Sprint(rep.Checkpoints),
			"failures": fmt.Sprint(len(rep.Failures))}}); rerr != nil {
		a.logger.Warn("record verification", "err", rerr)
	}
	if !rep.OK() {
		return errVerifyFailed
	}
	return nil
}

func verifyBundle(path, publicKey string, asJSON bool, out io.Writer) error {
	if publicKey == "" {
		return &stele.Error{Code: stele.EINVALID, Message: "--public-key is required to verify a bundle",
			Details: []stele.FieldError{{Field: "public-key", Rule: "required"}}}
	}
	verifier, err := verifierOf(publicKey)
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	b, err := export.DecodeBundle(f)
	if err != nil {
		return err
	}
	rep, err := export.VerifyBundle(b, verifier)
	if err != nil {
		fmt.Fprintln(out, "FAIL", err)
		return errVerifyFailed
	}
	if asJSON {
		printJSON(out, rep)
	} else {
		for _, f := range rep.Failures {
			fmt.Fprintf(out, "FAIL event %d (seq %d): %s\n", f.Index, f.Seq, f.Detail)
		}
		fmt.Fprintf(out, "bundle of %s: checkpoint %s size %d, %d events, %d failures\n", rep.Account, rep.Origin, rep.Size, rep.Events, len(rep.Failures))
	}
	if len(rep.Failures) > 0 {
		return errVerifyFailed
	}
	return nil
}

// verifyState is what verify --url remembers: per log origin, the verifier
// key it trusts and the last checkpoint it verified.
type verifyState struct {
	Logs map[string]trustedLog `json:"logs"`
}

type trustedLog struct {
	PublicKey string `json:"public_key"`
	Size      int64  `json:"size"`
	Root      string `json:"root"`
	Note      string `json:"note"`
}

func defaultStatePath() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "verify-state.json"
	}
	return filepath.Join(dir, "stele", "verify-state.json")
}

func verifyRemote(ctx context.Context, cf clientFlags, publicKey, statePath string, samples int, out io.Writer) error {
	c, err := newClient(cf)
	if err != nil {
		return err
	}
	state := verifyState{Logs: map[string]trustedLog{}}
	if b, err := os.ReadFile(statePath); err == nil {
		if err := json.Unmarshal(b, &state); err != nil {
			return fmt.Errorf("state file %s: %w", statePath, err)
		}
		if state.Logs == nil {
			state.Logs = map[string]trustedLog{}
		}
	}
	var cp struct {
		Origin string `json:"origin"`
		Note   string `json:"note"`
	}
	if err := c.do(ctx, "GET", "/v1/checkpoint?format=json", nil, &cp); err != nil {
		return err
	}
	trusted, known := state.Logs[cp.Origin]
	if publicKey == "" {
		publicKey = trusted.PublicKey
	}
	if publicKey == "" {
		return &stele.Error{Code: stele.EINVALID, Message: "--public-key is required the first time a log is verified",
			Details: []stele.FieldError{{Field: "public-key", Rule: "required"}}}
	}
	verifier, err := verifierOf(publicKey)
	if err != nil {
		return err
	}
	body, err := ledger.OpenCheckpoint([]byte(cp.Note), verifier)
	if err != nil {
		fmt.Fprintln(out, "FAIL checkpoint:", err)
		return errVerifyFailed
	}
	if known && trusted.Size > 0 {
		if err := checkConsistent(ctx, c, trusted, body); err != nil {
			fmt.Fprintf(out, "FAIL checkpoint %d is not consistent with the trusted checkpoint %d: %v\n", body.Size, trusted.Size, err)
			return errVerifyFailed
		}
		fmt.Fprintf(out, "checkpoint %d is consistent with the trusted checkpoint %d\n", body.Size, trusted.Size)
	}
	failures := spotCheck(ctx, c, verifier, body, samples, out)
	if failures > 0 {
		return errVerifyFailed
	}
	state.Logs[body.Origin] = trustedLog{PublicKey: publicKey, Size: body.Size, Root: base64.StdEncoding.EncodeToString(body.Root[:]), Note: cp.Note}
	if err := os.MkdirAll(filepath.Dir(statePath), 0o700); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(state, "", "  ")
	if err := os.WriteFile(statePath, append(b, '\n'), 0o600); err != nil {
		return err
	}
	fmt.Fprintf(out, "OK: %s at size %d is signed, consistent with what was trusted before, and includes the events checked\n", body.Origin, body.Size)
	return nil
}

// checkConsistent proves that the trusted checkpoint is a prefix of the new one.
func checkConsistent(ctx context.Context, c *apiClient, trusted trustedLog, now ledger.CheckpointBody) error {
	if now.Size < trusted.Size {
		return fmt.Errorf("rollback: the log shrank from %d to %d events", trusted.Size, now.Size)
	}
	old, err := base64.StdEncoding.DecodeString(trusted.Root)
	if err != nil || len(old) != 32 {
		return errors.New("the state file's root is not a hash")
	}
	var p struct {
		Proof []string `json:"proof"`
	}
	if err := c.do(ctx, "GET", fmt.Sprintf("/v1/proofs/consistency?from=%d&to=%d", trusted.Size, now.Size), nil, &p); err != nil {
		return err
	}
	proof, err := hashesOf(p.Proof)
	if err != nil {
		return err
	}
	return ledger.VerifyConsistency(trusted.Size, now.Size, ledger.Hash(old), now.Root, proof)
}

func hashesOf(ss []string) ([]ledger.Hash, error) {
	out := make([]ledger.Hash, len(ss))
	for i, s := range ss {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(b) != 32 {
			return nil, fmt.Errorf("proof hash %q is not base64 SHA-256", s)
		}
		out[i] = ledger.Hash(b)
	}
	return out, nil
}

// spotCheck fetches a few random recent events with their inclusion proofs,
// recomputes each leaf hash from the event, and checks it against the
// checkpoint. It returns the number of failures.
func spotCheck(ctx context.Context, c *apiClient, verifier note.Verifier, cp ledger.CheckpointBody, n int, out io.Writer) int {
	var page struct {
		Events []stele.Event `json:"events"`
	}
	if err := c.do(ctx, "GET", "/v1/events?limit=200", nil, &page); err != nil {
		fmt.Fprintln(out, "FAIL listing events:", err)
		return 1
	}
	rand.Shuffle(len(page.Events), func(i, j int) { page.Events[i], page.Events[j] = page.Events[j], page.Events[i] })
	failures := 0
	for _, listed := range page.Events[:min(n, len(page.Events))] {
		var resp struct {
			Event      stele.Event `json:"event"`
			Checkpoint string      `json:"checkpoint"`
			Proof      struct {
				Size  int64    `json:"size"`
				Proof []string `json:"proof"`
			} `json:"proof"`
		}
		if err := getJSON(ctx, c, "/v1/events/"+listed.ID+"?proof=true", &resp); err != nil {
			fmt.Fprintf(out, "FAIL event %s: %v\n", listed.ID, err)
			failures++
			continue
		}
		if err := checkEventProof(ctx, c, verifier, cp, &resp.Event, resp.Checkpoint, resp.Proof.Proof); err != nil {
			fmt.Fprintf(out, "FAIL event %s (seq %d): %v\n", listed.ID, resp.Event.Seq, err)
			failures++
			continue
		}
		fmt.Fprintf(out, "event %s (seq %d) is included\n", listed.ID, resp.Event.Seq)
	}
	return failures
}

// getJSON decodes a JSON answer keeping numbers exact (json.Number), as the
// canonical encoding of metadata needs.
func getJSON(ctx context.Context, c *apiClient, path string, v any) error {
	resp, err := c.get(ctx, path, "")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	return dec.Decode(v)
}

func checkEventProof(ctx context.Context, c *apiClient, verifier note.Verifier, cp ledger.CheckpointBody, e *stele.Event, noteText string, proofText []string) error {
	evCP, err := ledger.OpenCheckpoint([]byte(noteText), verifier)
	if err != nil {
		return fmt.Errorf("the proof's checkpoint: %w", err)
	}
	if evCP.Origin != cp.Origin {
		return fmt.Errorf("the proof's checkpoint is of another log (%s)", evCP.Origin)
	}
	// The proof may be against a newer checkpoint than the one verified:
	// it must extend it.
	if evCP.Size != cp.Size {
		older := trustedLog{Size: cp.Size, Root: base64.StdEncoding.EncodeToString(cp.Root[:])}
		if err := checkConsistent(ctx, c, older, evCP); err != nil {
			return err
		}
	}
	proof, err := hashesOf(proofText)
	if err != nil {
		return err
	}
	leaf := ledger.LeafHash(record.AppendCanonical(nil, e))
	return ledger.VerifyInclusion(leaf, e.Seq, evCP.Size, proof, evCP.Root)
}

// recordRemoteVerify records a verification of a live server in the
// verified account's own log, through the API with the key used to verify,
// when that key may write events. A verify that could not run (the server
// unreachable) verified nothing and is not recorded.
func recordRemoteVerify(ctx context.Context, cf clientFlags, verr error) {
	outcome, result := stele.OutcomeSuccess, "passed"
	switch {
	case errors.Is(verr, errVerifyFailed):
		outcome, result = stele.OutcomeFailure, "failed"
	case verr != nil:
		return
	}
	c, err := newClient(cf)
	if err != nil {
		return
	}
	actor := operatorActor()
	if rest, ok := strings.CutPrefix(cf.key, "stele_"); ok && len(rest) > 20 {
		actor = &stele.Ref{Type: "api_key", ID: rest[:20], Name: actor.Name}
	}
	body, _ := json.Marshal(map[string]any{
		"action": "audit_log.verified", "outcome": outcome, "actor": actor,
		"description": "stele verify --url checked the signed checkpoint, its consistency and sample inclusion proofs: " + result,
		"metadata":    map[string]any{"mode": "url", "result": result, "server": c.base},
	})
	var receipts any
	if err := c.do(ctx, "POST", "/v1/events", body, &receipts); err != nil {
		fmt.Fprintf(os.Stderr, "stele: the verification was not recorded in the log: %s\n", describe(err))
	}
}
