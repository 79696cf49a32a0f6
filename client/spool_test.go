package client_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stele-audit/stele/client"
)

// spoolWhileDown records events with Stele down into a spool, and closes
// the client as a producer that stops would: they stay in the spool.
func spoolWhileDown(t *testing.T, s *liveServer, dir string, from, n int) {
	t.Helper()
	c := s.client(t, client.WithSpool(dir, 0), client.WithBatchSize(10), client.WithFlushInterval(10*time.Millisecond),
		client.WithBackoff(5*time.Millisecond, 20*time.Millisecond))
	recordN(t, c, from, n)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	err := c.Close(ctx)
	if err == nil || !strings.Contains(err.Error(), "kept in the spool") || strings.Contains(err.Error(), "lost") {
		t.Fatalf("Close while Stele is down: %v", err)
	}
	if c.Dropped() != 0 {
		t.Fatalf("dropped %d with a spool", c.Dropped())
	}
}

func TestSpoolReplaysInOrderAfterProducerRestart(t *testing.T) {
	s := startLive(t)
	dir := t.TempDir()
	s.stop()
	spoolWhileDown(t, s, dir, 0, 35)
	spoolWhileDown(t, s, dir, 35, 10) // a second run adds to what the first kept
	s.start()

	// The next run sends the spool before anything it records itself.
	c := s.client(t, client.WithSpool(dir, 0), client.WithBatchSize(10))
	recordN(t, c, 45, 3)
	flush(t, c)
	checkStoredInOrder(t, s, seq(0, 48))
	if err := c.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	if len(segs) > 1 {
		t.Fatalf("delivered segments left behind: %v", segs)
	}
	// Nothing is sent twice by a later run.
	c2 := s.client(t, client.WithSpool(dir, 0))
	flush(t, c2)
	checkStoredInOrder(t, s, seq(0, 48))
}

func TestSpoolSkipsAndReportsTornRecord(t *testing.T) {
	s := startLive(t)
	dir := t.TempDir()
	s.stop()
	spoolWhileDown(t, s, dir, 0, 20)
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	slices.Sort(segs)
	if len(segs) == 0 {
		t.Fatal("no spool segment")
	}
	// Damage record 3 of the first segment (a flipped byte) and tear the
	// last one: its header promises more than the file holds, as after a
	// crash in the middle of a write.
	b, err := os.ReadFile(segs[0])
	if err != nil {
		t.Fatal(err)
	}
	off := 0
	for range 3 {
		off += 8 + int(binary.BigEndian.Uint32(b[off:]))
	}
	b[off+8+5] ^= 0x20
	last := off
	for last < len(b) {
		n := 8 + int(binary.BigEndian.Uint32(b[last:]))
		if last+n >= len(b) {
			break
		}
		last += n
	}
	b = b[:last+8+10] // the last record's header and ten bytes of it
	if err := os.WriteFile(segs[0], b, 0o600); err != nil {
		t.Fatal(err)
	}
	s.start()

	errs := newErrorLog()
	c := s.client(t, client.WithSpool(dir, 0), client.WithErrorHandler(errs.handle))
	flush(t, c)
	want := slices.Delete(seq(0, 20), 3, 4)
	want = want[:len(want)-1]
	checkStoredInOrder(t, s, want)
	var reasons []string
	for _, err := range errs.all() {
		var se *client.SpoolError
		if !errors.As(err, &se) {
			t.Fatalf("reported %v", err)
		}
		reasons = append(reasons, se.Reason)
	}
	if len(reasons) != 2 || !strings.Contains(reasons[0], "checksum") || !strings.Contains(reasons[1], "torn") {
		t.Fatalf("spool errors %q, want a checksum and a torn record", reasons)
	}
}

func TestSpoolIsBounded(t *testing.T) {
	s := startLive(t)
	dir := t.TempDir()
	s.stop()
	c := s.client(t, client.WithSpool(dir, 64<<10), client.WithBatchSize(10), client.WithBufferSize(20), client.FailClosed(),
		client.WithFlushInterval(time.Millisecond), client.WithBackoff(time.Millisecond, 5*time.Millisecond))
	full := false
	for i := range 2000 { // about 150 bytes each: more than 64 KiB
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		err := c.Record(ctx, login(i))
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			full = true
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !full {
		t.Fatal("Record never blocked on a full spool and buffer")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	c.Close(ctx)
	size := int64(0)
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	for _, p := range segs {
		fi, _ := os.Stat(p)
		size += fi.Size()
	}
	if size > 64<<10 || size < 32<<10 {
		t.Fatalf("spool of %d bytes, want at most 64 KiB", size)
	}
}

// spooledRecords counts the whole records in a spool's segments.
func spooledRecords(dir string) int {
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	n := 0
	for _, p := range segs {
		b, _ := os.ReadFile(p)
		for off := 0; off+8 <= len(b); n++ {
			off += 8 + int(binary.BigEndian.Uint32(b[off:]))
			if off > len(b) {
				break
			}
		}
	}
	return n
}

// TestSpoolSurvivesProducerKilled: a producer killed (SIGKILL) after its
// events reached the spool loses none of them; the next run sends them.
func TestSpoolSurvivesProducerKilled(t *testing.T) {
	if dir := os.Getenv("STELE_CLIENT_SPOOL_CHILD"); dir != "" {
		c, err := client.New(os.Getenv("STELE_CLIENT_SPOOL_URL"), os.Getenv("STELE_CLIENT_SPOOL_KEY"), client.WithSpool(dir, 0),
			client.WithBatchSize(7), client.WithFlushInterval(time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		recordN(t, c, 0, 40)
		for deadline := time.Now().Add(20 * time.Second); spooledRecords(dir) < 40; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				os.Stdout.WriteString("not spooled in 20s\n")
				select {}
			}
		}
		os.Stdout.WriteString("spooled\n")
		select {} // until killed, never closed
	}
	s := startLive(t)
	dir := t.TempDir()
	s.stop()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSpoolSurvivesProducerKilled$")
	cmd.Env = append(os.Environ(), "STELE_CLIENT_SPOOL_CHILD="+dir, "STELE_CLIENT_SPOOL_URL="+s.URL(), "STELE_CLIENT_SPOOL_KEY="+s.keys["all"])
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	cmd.Process.Kill()
	cmd.Wait()
	if line != "spooled\n" {
		t.Fatalf("the producer said %q", line)
	}
	s.start()
	c := s.client(t, client.WithSpool(dir, 0))
	flush(t, c)
	checkStoredInOrder(t, s, seq(0, 40))
}

// TestSpoolBelongsToOneClient: a second Client on a spool directory in use
// is refused with a clear error; once the first closes, the directory is
// free again.
func TestSpoolBelongsToOneClient(t *testing.T) {
	s := startLive(t)
	dir := t.TempDir()
	first := s.client(t, client.WithSpool(dir, 0))
	if _, err := client.New(s.URL(), s.keys["all"], client.WithSpool(dir, 0)); err == nil || !strings.Contains(err.Error(), "in use by another Client") {
		t.Fatalf("a second Client on the spool: %v", err)
	}
	if err := first.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	second := s.client(t, client.WithSpool(dir, 0))
	if err := second.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
}
