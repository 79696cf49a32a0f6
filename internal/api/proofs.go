package api

import (
	"context"
	"encoding/base64"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/audit"
	"github.com/stele-audit/stele/internal/integrity"
	"github.com/stele-audit/stele/internal/ledger"
)

// Hashes in proof and checkpoint answers are standard base64, like the
// root line of a checkpoint.

type inclusionJSON struct {
	Seq      int64    `json:"seq"`
	Size     int64    `json:"size"`
	LeafHash string   `json:"leaf_hash"`
	Root     string   `json:"root"`
	Proof    []string `json:"proof"`
}

type consistencyJSON struct {
	From     int64    `json:"from"`
	To       int64    `json:"to"`
	FromRoot string   `json:"from_root"`
	ToRoot   string   `json:"to_root"`
	Proof    []string `json:"proof"`
}

type checkpointJSON struct {
	Origin string `json:"origin"`
	Size   int64  `json:"size"`
	Root   string `json:"root"`
	Note   string `json:"note"`
}

func b64(h ledger.Hash) string { return base64.StdEncoding.EncodeToString(h[:]) }

func b64s(hs []ledger.Hash) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = b64(h)
	}
	return out
}

func inclusionOf(p *integrity.InclusionProof) inclusionJSON {
	return inclusionJSON{Seq: p.Seq, Size: p.Size, LeafHash: b64(p.LeafHash), Root: b64(p.Root), Proof: b64s(p.Hashes)}
}

// intParam parses a non-negative integer query parameter; def when absent.
func intParam(r *http.Request, name string, def int64) (int64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, &stele.Error{Code: stele.EINVALID, Message: name + " must be a whole number ≥ 0",
			Details: []stele.FieldError{{Field: name, Rule: "integer"}}}
	}
	return n, nil
}

// readPrincipal checks that p may read tamper evidence here and returns
// the principal whose account it reads (readTarget).
func (s *Server) readPrincipal(w http.ResponseWriter, r *http.Request, p *stele.Principal) (*stele.Principal, bool) {
	if err := requireScope(p, stele.ScopeEventsRead); err != nil {
		s.writeError(w, r, err)
		return nil, false
	}
	if s.Checkpoints == nil {
		s.writeError(w, r, stele.Errorf(stele.EUNAVAILABLE, "tamper evidence is not configured on this server"))
		return nil, false
	}
	t, err := s.readTarget(r, p)
	if err != nil {
		s.writeError(w, r, err)
		return nil, false
	}
	return t, true
}

// latestCheckpoint returns the account's latest checkpoint, signing one if
// it has none yet.
func (s *Server) latestCheckpoint(ctx context.Context, p *stele.Principal) (*stele.Checkpoint, error) {
	c, err := s.Checkpoints.Store.LatestCheckpoint(ctx, p.AccountID)
	if stele.ErrorCode(err) == stele.ENOTFOUND {
		return s.Checkpoints.Sign(ctx, &stele.Account{ID: p.AccountID, Name: p.Account})
	}
	return c, err
}

// handleCheckpoint serves the latest checkpoint of the key's account, or
// the one of ?size=N, as the signed note (text/plain), or as JSON when the
// client accepts application/json.
func (s *Server) handleCheckpoint(w http.ResponseWriter, r *http.Request, reader *stele.Principal) {
	p, ok := s.readPrincipal(w, r, reader)
	if !ok {
		return
	}
	var (
		c   *stele.Checkpoint
		err error
	)
	if r.URL.Query().Has("size") {
		size, perr := intParam(r, "size", 0)
		if perr != nil {
			s.writeError(w, r, perr)
			return
		}
		c, err = s.Checkpoints.Store.CheckpointAt(r.Context(), p.AccountID, size)
	} else {
		c, err = s.latestCheckpoint(r.Context(), p)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if acceptsJSON(r) {
		writeJSON(w, http.StatusOK, checkpointJSON{Origin: s.Checkpoints.Origin(p.Account), Size: c.Size, Root: b64(c.Root), Note: string(c.Note)})
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	w.Write(c.Note)
}

func acceptsJSON(r *http.Request) bool {
	if r.URL.Query().Get("format") == "json" {
		return true
	}
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		if mt, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && mt == "application/json" {
			return true
		}
	}
	return false
}

func (s *Server) handleInclusionProof(w http.ResponseWriter, r *http.Request, reader *stele.Principal) {
	p, ok := s.readPrincipal(w, r, reader)
	if !ok {
		return
	}
	if !r.URL.Query().Has("seq") {
		s.writeError(w, r, &stele.Error{Code: stele.EINVALID, Message: "seq is required", Details: []stele.FieldError{{Field: "seq", Rule: "required"}}})
		return
	}
	seq, err := intParam(r, "seq", 0)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	size, err := s.sizeParam(r, p, "size")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	proof, err := integrity.ProveInclusion(r.Context(), s.Checkpoints.Events, p.AccountID, seq, size)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, inclusionOf(proof))
	s.noteRead(r, reader, p, audit.View{Kind: audit.ViewInclusion, Query: fmt.Sprintf("seq:%d size:%d", seq, proof.Size), Results: 1})
}

// sizeParam returns a tree size parameter, by default the latest checkpoint's.
func (s *Server) sizeParam(r *http.Request, p *stele.Principal, name string) (int64, error) {
	if r.URL.Query().Has(name) {
		return intParam(r, name, 0)
	}
	c, err := s.latestCheckpoint(r.Context(), p)
	if err != nil {
		return 0, err
	}
	return c.Size, nil
}

func (s *Server) handleConsistencyProof(w http.ResponseWriter, r *http.Request, reader *stele.Principal) {
	p, ok := s.readPrincipal(w, r, reader)
	if !ok {
		return
	}
	from, err := intParam(r, "from", 0)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	to, err := s.sizeParam(r, p, "to")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	proof, err := integrity.ProveConsistency(r.Context(), s.Checkpoints.Events, p.AccountID, from, to)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, consistencyJSON{From: proof.From, To: proof.To, FromRoot: b64(proof.FromRoot), ToRoot: b64(proof.ToRoot), Proof: b64s(proof.Hashes)})
	s.noteRead(r, reader, p, audit.View{Kind: audit.ViewConsistency, Query: fmt.Sprintf("from:%d to:%d", proof.From, proof.To), Results: 0})
}

// writeEventWithProof answers GET /v1/events/{id}?proof=true: the event,
// its inclusion proof against the latest checkpoint (signed now if the
// event is newer than it), and that checkpoint's signed note.
func (s *Server) writeEventWithProof(w http.ResponseWriter, r *http.Request, reader, p *stele.Principal, e *stele.Event) bool {
	if _, ok := s.readPrincipal(w, r, reader); !ok {
		return false
	}
	ctx := r.Context()
	c, err := s.latestCheckpoint(ctx, p)
	if err == nil && c.Size <= e.Seq {
		c, err = s.Checkpoints.Sign(ctx, &stele.Account{ID: p.AccountID, Name: p.Account})
	}
	if err != nil {
		s.writeError(w, r, err)
		return false
	}
	proof, err := integrity.ProveInclusion(ctx, s.Checkpoints.Events, p.AccountID, e.Seq, c.Size)
	if err != nil {
		s.writeError(w, r, err)
		return false
	}
	writeJSON(w, http.StatusOK, map[string]any{"event": e, "proof": inclusionOf(proof), "checkpoint": string(c.Note)})
	return true
}

// handleExportBundle serves GET /v1/export?format=bundle: a verifiable
// bundle (see internal/export/bundle.go), streamed.
func (s *Server) handleExportBundle(w http.ResponseWriter, r *http.Request, p *stele.Principal, q stele.Query) {
	if s.Checkpoints == nil {
		s.writeError(w, r, stele.Errorf(stele.EUNAVAILABLE, "tamper evidence is not configured on this server"))
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="stele-bundle.json"`)
	account := &stele.Account{ID: p.AccountID, Name: p.Account}
	n, err := integrity.WriteBundle(r.Context(), w, s.Checkpoints, s.Search, account, q)
	if err != nil {
		s.Logger.Warn("bundle export ended early", "account", p.Account, "events", n, "err", err)
	}
	s.recordExport(r, p, q, "bundle", n, err)
}
