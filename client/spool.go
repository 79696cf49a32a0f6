package client

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/stele-audit/stele"
)

// The spool is a directory of segment files, NNNNNNNNNNNNNNNNNNNN.seg, each a
// sequence of records:
//
//	length (4 bytes, big endian) · CRC-32C of the data (4 bytes) · data
//
// where the data is one event's JSON as the API takes it, idempotency key
// included. A process writes only to segments it created, so a record torn
// by a crash can only be at the end of a segment of an earlier run. The
// file "head" names the first record not yet delivered ("SEGMENT OFFSET");
// it is rewritten after each delivered batch without a sync: a head that
// lags sends a few events again, and their idempotency keys keep them
// from being stored twice.

const (
	frameHeader  = 8
	segmentBytes = 4 << 20
)

var (
	errSpoolFull = errors.New("stele client: the spool is full")
	castagnoli   = crc32.MakeTable(crc32.Castagnoli)
)

// SpoolError is a spool record that could not be read back whole (a write
// torn by a crash, or damage on disk): it is skipped, never sent.
type SpoolError struct {
	File   string
	Offset int64
	Bytes  int64 // skipped
	Reason string
}

func (e *SpoolError) Error() string {
	return fmt.Sprintf("stele client: spool %s at offset %d: %s; %d bytes skipped", e.File, e.Offset, e.Reason, e.Bytes)
}

type spool struct {
	dir      string
	maxBytes int64
	report   func(error)
	wake     chan struct{} // something was appended

	mu      sync.Mutex
	segs    []int64         // segment numbers, oldest first
	sizes   map[int64]int64 // bytes of each segment
	w       *os.File        // the segment this process writes
	wseg    int64
	rseg    int64 // the head: segment and offset of the next record to send
	roff    int64
	rf      *os.File // open on rseg
	bytes   int64    // not yet delivered
	records int      // not yet delivered, as far as their headers tell
	roomCh  chan struct{}
	lock    *os.File // held while the spool is open (lockSpool)
}

// spoolPos is where a read ended: the head once its events are delivered.
type spoolPos struct {
	seg, off int64
	records  int
}

func openSpool(dir string, maxBytes int64, report func(error)) (*spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("stele client: spool: %w", err)
	}
	lock, err := lockSpool(dir)
	if err != nil {
		return nil, err
	}
	s := &spool{dir: dir, maxBytes: maxBytes, report: report, wake: make(chan struct{}, 1), sizes: map[int64]int64{}, roomCh: make(chan struct{}), lock: lock}
	names, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	if err != nil {
		s.close()
		return nil, fmt.Errorf("stele client: spool: %w", err)
	}
	for _, name := range names {
		n, err := strconv.ParseInt(strings.TrimSuffix(filepath.Base(name), ".seg"), 10, 64)
		if err != nil {
			continue
		}
		fi, err := os.Stat(name)
		if err != nil {
			s.close()
			return nil, fmt.Errorf("stele client: spool: %w", err)
		}
		s.segs = append(s.segs, n)
		s.sizes[n] = fi.Size()
	}
	slices.Sort(s.segs)
	if b, err := os.ReadFile(filepath.Join(dir, "head")); err == nil {
		var seg, off int64
		if _, err := fmt.Sscan(string(b), &seg, &off); err == nil && off >= 0 {
			s.rseg, s.roff = seg, off
		}
	}
	// Segments before the head were delivered.
	for len(s.segs) > 0 && s.segs[0] < s.rseg {
		os.Remove(s.segPath(s.segs[0]))
		delete(s.sizes, s.segs[0])
		s.segs = s.segs[1:]
	}
	if len(s.segs) == 0 || s.segs[0] != s.rseg {
		s.roff = 0
		if len(s.segs) > 0 {
			s.rseg = s.segs[0]
		}
	}
	for _, n := range s.segs {
		from := int64(0)
		if n == s.rseg {
			from = min(s.roff, s.sizes[n])
		}
		s.bytes += s.sizes[n] - from
		s.records += countFrames(s.segPath(n), from, s.sizes[n])
	}
	if len(s.segs) > 0 {
		s.wseg = s.segs[len(s.segs)-1] + 1
	} else {
		s.wseg = max(s.rseg, 1)
		s.rseg, s.roff = s.wseg, 0
	}
	return s, nil
}

// countFrames counts the records of a segment by their headers.
func countFrames(path string, from, size int64) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	n := 0
	var h [frameHeader]byte
	for off := from; off+frameHeader <= size; n++ {
		if _, err := f.ReadAt(h[:], off); err != nil {
			break
		}
		off += frameHeader + int64(binary.BigEndian.Uint32(h[:4]))
		if off > size {
			break
		}
	}
	return n
}

func (s *spool) segPath(n int64) string { return filepath.Join(s.dir, fmt.Sprintf("%020d.seg", n)) }

// pending reports whether the spool holds events not yet delivered.
func (s *spool) pending() bool {
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes > 0
}

func (s *spool) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.records
}

// room is closed when delivered events free room in the spool.
func (s *spool) room() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.roomCh
}

// append writes events to the spool and syncs them, all or none.
func (s *spool) append(events [][]byte) error {
	need := int64(0)
	for _, e := range events {
		need += frameHeader + int64(len(e))
	}
	buf := make([]byte, 0, need)
	for _, e := range events {
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(e)))
		buf = binary.BigEndian.AppendUint32(buf, crc32.Checksum(e, castagnoli))
		buf = append(buf, e...)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bytes+need > s.maxBytes {
		return errSpoolFull
	}
	if s.w != nil && s.sizes[s.wseg] >= segmentBytes {
		s.w.Close()
		s.w = nil
		s.wseg++
	}
	if s.w == nil {
		f, err := os.OpenFile(s.segPath(s.wseg), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return fmt.Errorf("stele client: spool: %w", err)
		}
		if d, err := os.Open(s.dir); err == nil { // the new file's name survives a crash
			d.Sync()
			d.Close()
		}
		s.w = f
		s.segs = append(s.segs, s.wseg)
		s.sizes[s.wseg] = 0
	}
	n, err := s.w.Write(buf)
	if err == nil {
		err = s.w.Sync()
	}
	s.sizes[s.wseg] += int64(n)
	if err != nil {
		// What was written is a torn record for the reader to skip; the
		// next append starts a segment of its own.
		s.bytes += int64(n)
		s.w.Close()
		s.w = nil
		s.wseg++
		return fmt.Errorf("stele client: spool: %w", err)
	}
	s.bytes += need
	s.records += len(events)
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return nil
}

// read returns up to max events from the head, and the position after
// them. Torn records are reported and skipped.
func (s *spool) read(max int) ([][]byte, spoolPos) {
	s.mu.Lock()
	var torn []error
	defer func() {
		s.mu.Unlock()
		for _, err := range torn {
			s.report(err)
		}
	}()
	pos := spoolPos{seg: s.rseg, off: s.roff}
	var out [][]byte
	size := 0
	for len(out) < max && size < stele.MaxBodyBytes {
		end, ok := s.sizes[pos.seg]
		if !ok || pos.off >= end {
			next, more := s.after(pos.seg)
			if !more || len(out) > 0 {
				break // a new segment starts a read of its own
			}
			pos = spoolPos{seg: next, records: pos.records}
			continue
		}
		f, err := s.reader(pos.seg)
		if err != nil {
			torn = append(torn, &SpoolError{File: s.segPath(pos.seg), Offset: pos.off, Bytes: end - pos.off, Reason: err.Error()})
			pos.off = end
			continue
		}
		var h [frameHeader]byte
		if end-pos.off < frameHeader {
			torn = append(torn, &SpoolError{File: f.Name(), Offset: pos.off, Bytes: end - pos.off, Reason: "a record's header is cut short"})
			pos.off = end
			continue
		}
		if _, err := f.ReadAt(h[:], pos.off); err != nil {
			torn = append(torn, &SpoolError{File: f.Name(), Offset: pos.off, Bytes: end - pos.off, Reason: err.Error()})
			pos.off = end
			continue
		}
		n := int64(binary.BigEndian.Uint32(h[:4]))
		if n > end-pos.off-frameHeader {
			torn = append(torn, &SpoolError{File: f.Name(), Offset: pos.off, Bytes: end - pos.off, Reason: "a record is cut short (torn write)"})
			pos.off = end
			continue
		}
		data := make([]byte, n)
		if _, err := f.ReadAt(data, pos.off+frameHeader); err != nil && err != io.EOF {
			torn = append(torn, &SpoolError{File: f.Name(), Offset: pos.off, Bytes: end - pos.off, Reason: err.Error()})
			pos.off = end
			continue
		}
		at := pos.off
		pos.off += frameHeader + n
		pos.records++
		if crc32.Checksum(data, castagnoli) != binary.BigEndian.Uint32(h[4:]) {
			torn = append(torn, &SpoolError{File: f.Name(), Offset: at, Bytes: frameHeader + n, Reason: "a record's checksum does not match"})
			continue
		}
		out = append(out, data)
		size += len(data) + 1
	}
	if len(out) == 0 && pos.seg == s.rseg && pos.off == s.roff {
		s.bytes, s.records = 0, 0 // nothing left to read, whatever the count said
	}
	return out, pos
}

// after returns the segment that follows seg, if any.
func (s *spool) after(seg int64) (int64, bool) {
	for _, n := range s.segs {
		if n > seg {
			return n, true
		}
	}
	return 0, false
}

// reader returns the spool's file open on segment seg.
func (s *spool) reader(seg int64) (*os.File, error) {
	if s.rf != nil && s.rf.Name() == s.segPath(seg) {
		return s.rf, nil
	}
	if s.rf != nil {
		s.rf.Close()
		s.rf = nil
	}
	f, err := os.Open(s.segPath(seg))
	if err != nil {
		return nil, err
	}
	s.rf = f
	return f, nil
}

// commit moves the head to pos, its events delivered: segments wholly
// behind it are removed.
func (s *spool) commit(pos spoolPos) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.segs) > 0 && s.segs[0] < pos.seg {
		n := s.segs[0]
		from := int64(0)
		if n == s.rseg {
			from = s.roff
		}
		s.bytes -= s.sizes[n] - from
		if s.rf != nil && s.rf.Name() == s.segPath(n) {
			s.rf.Close()
			s.rf = nil
		}
		if n == s.wseg && s.w != nil {
			s.w.Close()
			s.w = nil
			s.wseg++
		}
		os.Remove(s.segPath(n))
		delete(s.sizes, n)
		s.segs = s.segs[1:]
		s.rseg, s.roff = pos.seg, 0
	}
	s.bytes -= pos.off - s.roff
	s.rseg, s.roff = pos.seg, pos.off
	s.records = max(s.records-pos.records, 0)
	if s.bytes < 0 {
		s.bytes = 0
	}
	tmp := filepath.Join(s.dir, "head.tmp")
	if err := os.WriteFile(tmp, fmt.Appendf(nil, "%d %d\n", s.rseg, s.roff), 0o600); err == nil {
		os.Rename(tmp, filepath.Join(s.dir, "head"))
	}
	close(s.roomCh)
	s.roomCh = make(chan struct{})
}

func (s *spool) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	if s.w != nil {
		err = s.w.Close()
		s.w = nil
	}
	if s.rf != nil {
		s.rf.Close()
		s.rf = nil
	}
	if s.lock != nil {
		s.lock.Close() // lets the flock go
		s.lock = nil
	}
	return err
}
