package ledger

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// A checkpoint body is the C2SP tlog-checkpoint format:
//
//	<origin>\n<decimal tree size>\n<base64 root hash>\n
//
// signed as a C2SP signed note. Stele adds no extension lines. The origin
// names one account's log: OriginPrefix + "/" + account name.

// DefaultOriginPrefix is the origin prefix when none is configured.
const DefaultOriginPrefix = "stele.local"

// Origin returns the origin line of an account's checkpoints.
func Origin(prefix, account string) string {
	if prefix == "" {
		prefix = DefaultOriginPrefix
	}
	return prefix + "/" + account
}

// CheckpointBody is a parsed checkpoint body.
type CheckpointBody struct {
	Origin string
	Size   int64
	Root   Hash
}

// ErrFormat is returned for text that is not a valid checkpoint, purge
// statement or signed note.
var ErrFormat = errors.New("ledger: malformed")

// FormatCheckpoint returns the body of a checkpoint.
func FormatCheckpoint(c CheckpointBody) string {
	return fmt.Sprintf("%s\n%d\n%s\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Root[:]))
}

// ParseCheckpoint parses a checkpoint body. Extension lines after the root
// are allowed by C2SP and ignored.
func ParseCheckpoint(text string) (CheckpointBody, error) {
	var c CheckpointBody
	if !strings.HasSuffix(text, "\n") {
		return c, fmt.Errorf("%w checkpoint: no final newline", ErrFormat)
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < 3 {
		return c, fmt.Errorf("%w checkpoint: %d lines, want at least 3", ErrFormat, len(lines))
	}
	for _, l := range lines[3:] {
		if l == "" {
			return c, fmt.Errorf("%w checkpoint: empty extension line", ErrFormat)
		}
	}
	c.Origin = lines[0]
	if c.Origin == "" || strings.ContainsAny(c.Origin, " \t") {
		return c, fmt.Errorf("%w checkpoint: bad origin line", ErrFormat)
	}
	size, err := parseSize(lines[1])
	if err != nil {
		return c, fmt.Errorf("%w checkpoint: size: %v", ErrFormat, err)
	}
	c.Size = size
	root, err := parseHash(lines[2])
	if err != nil {
		return c, fmt.Errorf("%w checkpoint: root: %v", ErrFormat, err)
	}
	c.Root = root
	return c, nil
}

// parseSize parses a canonical decimal: no sign, no leading zeros.
func parseSize(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != s {
		return 0, fmt.Errorf("%q is not a canonical decimal size", s)
	}
	return n, nil
}

// parseHash parses a hash in its one canonical encoding: the decoder skips
// carriage returns and newlines even in strict mode, so the text must be
// what encoding the hash gives back.
func parseHash(s string) (Hash, error) {
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != len(Hash{}) || base64.StdEncoding.EncodeToString(b) != s {
		return Hash{}, fmt.Errorf("%q is not a base64 SHA-256 hash", s)
	}
	return Hash(b), nil
}

// SignCheckpoint returns the signed note of a checkpoint.
func SignCheckpoint(signer note.Signer, c CheckpointBody) ([]byte, error) {
	msg, err := note.Sign(&note.Note{Text: FormatCheckpoint(c)}, signer)
	if err != nil {
		return nil, fmt.Errorf("ledger: sign checkpoint: %w", err)
	}
	return msg, nil
}

// ErrSignature is returned for a note without a valid signature by the
// expected key.
var ErrSignature = errors.New("ledger: signature invalid")

// OpenCheckpoint verifies a signed checkpoint note with verifier (or any
// of the more keys trusted, after a change of signing key) and parses its
// body.
func OpenCheckpoint(msg []byte, verifier note.Verifier, more ...note.Verifier) (CheckpointBody, error) {
	n, err := openNote(msg, append([]note.Verifier{verifier}, more...))
	if err != nil {
		return CheckpointBody{}, err
	}
	return ParseCheckpoint(n.Text)
}

func openNote(msg []byte, verifiers []note.Verifier) (*note.Note, error) {
	n, err := note.Open(msg, note.VerifierList(verifiers...))
	if err == nil {
		return n, nil
	}
	var unknown *note.UnverifiedNoteError
	var invalid *note.InvalidSignatureError
	switch {
	case errors.As(err, &unknown):
		names := make([]string, len(verifiers))
		for i, v := range verifiers {
			names[i] = v.Name()
		}
		return nil, fmt.Errorf("%w: not signed by %s", ErrSignature, strings.Join(names, " or "))
	case errors.As(err, &invalid):
		return nil, fmt.Errorf("%w: %v", ErrSignature, err)
	case err.Error() == "malformed note": // note keeps its sentinel unexported
		return nil, fmt.Errorf("%w note: %v", ErrFormat, err)
	}
	return nil, fmt.Errorf("%w: %v", ErrSignature, err)
}

// A purge statement is a signed note whose body is
//
//	stele.purge/v1\n<origin>\n<N>\n<base64 root of the tree of size N>\n<RFC 3339 time>\n
//
// It says: the events of the origin's log below seq N were deleted by a
// retention purge at that time, and the tree of size N had that root. Its
// second line is an origin, never a decimal, so it cannot pass for a checkpoint.

// PurgeHeader is the first line of a purge statement.
const PurgeHeader = "stele.purge/v1"

// PurgeBody is a parsed purge statement.
type PurgeBody struct {
	Origin string
	Below  int64
	Root   Hash // root of the tree of size Below
	Time   time.Time
}

// FormatPurge returns the body of a purge statement.
func FormatPurge(p PurgeBody) string {
	return fmt.Sprintf("%s\n%s\n%d\n%s\n%s\n", PurgeHeader, p.Origin, p.Below,
		base64.StdEncoding.EncodeToString(p.Root[:]), p.Time.UTC().Format(time.RFC3339Nano))
}

// ParsePurge parses a purge statement body.
func ParsePurge(text string) (PurgeBody, error) {
	var p PurgeBody
	lines := strings.Split(text, "\n")
	if len(lines) != 6 || lines[5] != "" || lines[0] != PurgeHeader {
		return p, fmt.Errorf("%w purge statement", ErrFormat)
	}
	p.Origin = lines[1]
	if p.Origin == "" {
		return p, fmt.Errorf("%w purge statement: empty origin", ErrFormat)
	}
	var err error
	if p.Below, err = parseSize(lines[2]); err != nil {
		return p, fmt.Errorf("%w purge statement: %v", ErrFormat, err)
	}
	if p.Root, err = parseHash(lines[3]); err != nil {
		return p, fmt.Errorf("%w purge statement: %v", ErrFormat, err)
	}
	if p.Time, err = time.Parse(time.RFC3339Nano, lines[4]); err != nil {
		return p, fmt.Errorf("%w purge statement: time: %v", ErrFormat, err)
	}
	return p, nil
}

// SignPurge returns the signed note of a purge statement.
func SignPurge(signer note.Signer, p PurgeBody) ([]byte, error) {
	msg, err := note.Sign(&note.Note{Text: FormatPurge(p)}, signer)
	if err != nil {
		return nil, fmt.Errorf("ledger: sign purge statement: %w", err)
	}
	return msg, nil
}

// OpenPurge verifies a signed purge statement and parses its body.
func OpenPurge(msg []byte, verifier note.Verifier, more ...note.Verifier) (PurgeBody, error) {
	n, err := openNote(msg, append([]note.Verifier{verifier}, more...))
	if err != nil {
		return PurgeBody{}, err
	}
	return ParsePurge(n.Text)
}
