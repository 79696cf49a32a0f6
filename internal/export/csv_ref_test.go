package export

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/stele-audit/stele"
)

// refCSV is the CSV row writer as it was with encoding/csv and
// json.Marshal: AppendCSV must write exactly its bytes.
func refCSV(t *testing.T, e *stele.Event) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.UseCRLF = true
	iso := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02T15:04:05.000000Z")
	}
	a, tg, s := ref(e.Actor), ref(e.Target), ref(e.Source)
	r := []string{e.ID, strconv.FormatInt(e.Seq, 10), iso(e.Time), iso(e.ReceivedAt), e.Account, e.Action, e.Category, e.Outcome,
		a.Type, a.ID, a.Name, a.Email, tg.Type, tg.ID, tg.Name, s.Type, s.ID, s.Name,
		e.IP, e.UserAgent, e.RequestID, e.Description, "", e.IdempotencyKey}
	if len(e.Metadata) > 0 {
		b, err := json.Marshal(e.Metadata)
		if err != nil {
			t.Fatal(err)
		}
		r[22] = string(b)
	}
	for i := range r {
		r[i] = Neutralise(r[i])
	}
	if err := w.Write(r); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	return buf.Bytes()
}

// TestAppendCSVMatchesEncodingCSV compares rows of random awkward strings.
func TestAppendCSVMatchesEncodingCSV(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	atoms := []string{"", "a", "plain text", " ", "\t", "\u00a0", "\u2028", "\u3000x", "=1+1", "+", "-5", "@SUM", "\r", "\n", "\r\n",
		"\"", "\"\"", ",", "\\.", "\\", "<b>&</b>", "é", "日本", "\xff", "'", "{", "\x00", "\x1f", "\x7f", "\u2029", "\ufeff"}
	str := func() string {
		var b []byte
		for range rng.IntN(4) {
			b = append(b, atoms[rng.IntN(len(atoms))]...)
		}
		return string(b)
	}
	r := func() *stele.Ref {
		if rng.IntN(4) == 0 {
			return nil
		}
		return &stele.Ref{Type: str(), ID: str(), Name: str(), Email: str()}
	}
	for i := range 5000 {
		e := &stele.Event{ID: str(), Seq: rng.Int64N(1 << 40), Account: str(), Action: str(), Category: str(), Outcome: str(),
			Actor: r(), Target: r(), Source: r(), IP: str(), UserAgent: str(), RequestID: str(), Description: str(), IdempotencyKey: str()}
		if rng.IntN(3) > 0 {
			e.Time = time.UnixMicro(rng.Int64N(4e15)).In(time.FixedZone("x", 3600))
			e.ReceivedAt = time.UnixMicro(rng.Int64N(4e15))
		}
		if rng.IntN(2) == 0 {
			e.Metadata = map[string]any{}
			for range rng.IntN(5) {
				var v any
				switch rng.IntN(5) {
				case 0:
					v = str()
				case 1:
					v = json.Number([]string{"0", "-1.5e3", "12345678901234567890", "", "1E+2"}[rng.IntN(5)])
				case 2:
					v = rng.IntN(2) == 0
				case 3:
					v = nil
				default:
					v = "region-" + strconv.Itoa(rng.IntN(100))
				}
				e.Metadata[str()] = v
			}
		}
		want := refCSV(t, e)
		got, err := AppendCSV(nil, e)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("event %d:\n got  %q\n want %q", i, got, want)
		}
	}
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.UseCRLF = true
	w.Write(CSVHeader)
	w.Flush()
	if got := CSVHead(); string(got) != bom+buf.String() {
		t.Fatalf("head %q", got)
	}
}

func BenchmarkAppendCSV(b *testing.B) {
	e := &stele.Event{ID: "evt_0000000100000042", Seq: 42, Account: "acme", Action: "user.login", Category: "authentication", Outcome: "success",
		Time: time.Now(), ReceivedAt: time.Now(),
		Actor:       &stele.Ref{Type: "user", ID: "u_7", Name: "User 7", Email: "user7@acme.example"},
		Target:      &stele.Ref{Type: "resource", ID: "r_1", Name: "Resource"},
		IP:          "203.0.0.7",
		UserAgent:   "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
		Description: "User 7 did user.login on resource 1",
		Metadata:    map[string]any{"request": "req-42", "region": "eu-west-1"}}
	var dst []byte
	for b.Loop() {
		dst, _ = AppendCSV(dst[:0], e)
	}
}
