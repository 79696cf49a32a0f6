package lazyfs

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func syncDir(t *testing.T, dir string) {
	t.Helper()
	d, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		t.Fatal(err)
	}
}

// writeFile writes a file, syncs it if asked, and syncs its directory if
// asked.
func writeFile(t *testing.T, path string, data []byte, sync, dirSync bool) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if sync {
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if dirSync {
		syncDir(t, filepath.Dir(path))
	}
}

func drop(t *testing.T, f *FS) {
	t.Helper()
	if err := f.Drop(); err != nil {
		t.Fatal(err)
	}
}

func wantContent(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", filepath.Base(path), err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s holds %d bytes %.40q, want %d bytes %.40q", filepath.Base(path), len(got), got, len(want), want)
	}
}

func wantMissing(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s after the drop: %v, want it missing", filepath.Base(path), err)
	}
}

// pattern returns n bytes that differ from page to page.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i/pageSize) + byte(i%251)
	}
	return b
}

func TestUnsyncedWritesAreLostAndSyncedOnesStay(t *testing.T) {
	f := MountTest(t)
	p := filepath.Join(f.Dir(), "data")
	synced := pattern(3*pageSize+100, 1)
	writeFile(t, p, synced, true, true)

	// Overwrite part of it, extend it, and keep the descriptor open across
	// the drop: its reads must not come from the kernel's cache.
	h, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if _, err := h.WriteAt(bytes.Repeat([]byte("x"), 2*pageSize), pageSize/2); err != nil {
		t.Fatal(err)
	}
	// Read what was written, so that the kernel caches it, as a program
	// reads back what it wrote.
	cached := make([]byte, len(synced))
	if _, err := h.ReadAt(cached, 0); err != nil {
		t.Fatal(err)
	}
	// And a shared mapping, as SQLite's readers map the database: its
	// pages are read without asking the file system again.
	m, err := syscall.Mmap(int(h.Fd()), 0, len(synced), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(m)
	if m[pageSize] != 'x' {
		t.Fatalf("the mapping reads %q before the drop, not the write", m[pageSize])
	}
	drop(t, f)
	// Before anything opens the file again, which would clear the cache.
	if !bytes.Equal(m, synced) {
		t.Fatal("the mapping made before the drop still reads unsynced data")
	}
	got := make([]byte, len(synced)+10)
	n, err := h.ReadAt(got, 0)
	if n != len(synced) || !bytes.Equal(got[:n], synced) {
		t.Fatalf("the descriptor open across the drop reads %d bytes (%v), not the synced %d", n, err, len(synced))
	}
	wantContent(t, p, synced)

	// Written and synced through that descriptor: it stays.
	if _, err := h.WriteAt([]byte("kept"), 5); err != nil {
		t.Fatal(err)
	}
	if err := h.Sync(); err != nil {
		t.Fatal(err)
	}
	drop(t, f)
	want := bytes.Clone(synced)
	copy(want[5:], "kept")
	wantContent(t, p, want)
}

func TestFdatasyncAndSyncedWritesAreDurable(t *testing.T) {
	f := MountTest(t)
	dir := f.Dir()
	for _, name := range []string{"fdatasync", "o_dsync", "o_sync", "rwf_dsync"} {
		writeFile(t, filepath.Join(dir, name), nil, true, false)
	}
	syncDir(t, dir)

	h, err := os.OpenFile(filepath.Join(dir, "fdatasync"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Write([]byte("fdatasync")); err != nil {
		t.Fatal(err)
	}
	if err := unix.Fdatasync(int(h.Fd())); err != nil {
		t.Fatal(err)
	}
	h.Close()
	for name, flag := range map[string]int{"o_dsync": unix.O_DSYNC, "o_sync": unix.O_SYNC} {
		h, err := os.OpenFile(filepath.Join(dir, name), os.O_RDWR|flag, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.Write([]byte(name)); err != nil {
			t.Fatal(err)
		}
		h.Close()
	}
	h, err = os.OpenFile(filepath.Join(dir, "rwf_dsync"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := unix.Pwritev2(int(h.Fd()), [][]byte{[]byte("rwf_dsync")}, 0, unix.RWF_DSYNC); err != nil {
		t.Fatal(err)
	}
	h.Close()

	drop(t, f)
	for _, name := range []string{"fdatasync", "o_dsync", "o_sync", "rwf_dsync"} {
		wantContent(t, filepath.Join(dir, name), []byte(name))
	}
}

// sync_file_range never reaches the file system: it makes nothing durable.
func TestSyncFileRangeIsNotDurable(t *testing.T) {
	f := MountTest(t)
	p := filepath.Join(f.Dir(), "f")
	writeFile(t, p, nil, true, true)
	h, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if _, err := h.Write([]byte("ranged")); err != nil {
		t.Fatal(err)
	}
	if err := unix.SyncFileRange(int(h.Fd()), 0, 0, unix.SYNC_FILE_RANGE_WAIT_BEFORE|unix.SYNC_FILE_RANGE_WRITE|unix.SYNC_FILE_RANGE_WAIT_AFTER); err != nil {
		t.Fatal(err)
	}
	drop(t, f)
	wantContent(t, p, nil)
}

func TestANewFileNeedsItsDirectorySynced(t *testing.T) {
	f := MountTest(t)
	dir := filepath.Join(f.Dir(), "sub")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	syncDir(t, f.Dir())
	writeFile(t, filepath.Join(dir, "unnamed"), []byte("synced, but its name is not"), true, false)
	if err := os.Mkdir(filepath.Join(dir, "newdir"), 0o700); err != nil {
		t.Fatal(err)
	}
	drop(t, f)
	wantMissing(t, filepath.Join(dir, "unnamed"))
	wantMissing(t, filepath.Join(dir, "newdir"))
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
		t.Fatalf("the directory lists %v (%v) after the drop, want nothing", entries, err)
	}

	writeFile(t, filepath.Join(dir, "named"), []byte("synced, and so is its name"), true, true)
	drop(t, f)
	wantContent(t, filepath.Join(dir, "named"), []byte("synced, and so is its name"))

	// A directory made but its parent not synced is gone, with what is in it.
	if err := os.Mkdir(filepath.Join(f.Dir(), "lost"), 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(f.Dir(), "lost", "f"), []byte("x"), true, true)
	drop(t, f)
	wantMissing(t, filepath.Join(f.Dir(), "lost"))
}

// The write-a-temporary-file-and-rename pattern replaces a file durably
// only once the directory is synced after the rename.
func TestRenameIsDurableOnceTheDirectoryIsSynced(t *testing.T) {
	f := MountTest(t)
	dir := f.Dir()
	target, tmp := filepath.Join(dir, "config"), filepath.Join(dir, ".config.tmp")
	writeFile(t, target, []byte("old"), true, true)

	writeFile(t, tmp, []byte("new"), true, false)
	if err := os.Rename(tmp, target); err != nil {
		t.Fatal(err)
	}
	wantContent(t, target, []byte("new"))
	drop(t, f)
	wantContent(t, target, []byte("old"))
	wantMissing(t, tmp)

	writeFile(t, tmp, []byte("new"), true, false)
	if err := os.Rename(tmp, target); err != nil {
		t.Fatal(err)
	}
	syncDir(t, dir)
	drop(t, f)
	wantContent(t, target, []byte("new"))
	wantMissing(t, tmp)
}

func TestUnlinkIsUndoneUnlessTheDirectoryIsSynced(t *testing.T) {
	f := MountTest(t)
	p := filepath.Join(f.Dir(), "journal")
	writeFile(t, p, []byte("committed"), true, true)
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	drop(t, f)
	wantContent(t, p, []byte("committed"))

	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	syncDir(t, f.Dir())
	drop(t, f)
	wantMissing(t, p)
}

func TestTruncateIsDurableOnceSynced(t *testing.T) {
	f := MountTest(t)
	p := filepath.Join(f.Dir(), "wal")
	full := pattern(5*pageSize+7, 9)
	writeFile(t, p, full, true, true)
	if err := os.Truncate(p, 100); err != nil {
		t.Fatal(err)
	}
	drop(t, f)
	wantContent(t, p, full)

	h, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.Truncate(100); err != nil {
		t.Fatal(err)
	}
	if err := h.Sync(); err != nil {
		t.Fatal(err)
	}
	drop(t, f)
	wantContent(t, p, full[:100])
	// Grown again, it reads zeros where the cut data was.
	if err := h.Truncate(3 * pageSize); err != nil {
		t.Fatal(err)
	}
	if err := h.Sync(); err != nil {
		t.Fatal(err)
	}
	drop(t, f)
	wantContent(t, p, append(bytes.Clone(full[:100]), make([]byte, 3*pageSize-100)...))
}

// Between the cut and Restore, changes fail and reads see what the
// running programs had; after it, only what was synced.
func TestACutFailsEveryChangeUntilRestore(t *testing.T) {
	f := MountTest(t)
	p := filepath.Join(f.Dir(), "f")
	writeFile(t, p, []byte("synced"), true, true)
	h, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if _, err := h.WriteAt([]byte("SYNCED, not"), 0); err != nil {
		t.Fatal(err)
	}
	f.Cut()
	if _, err := h.WriteAt([]byte("after"), 0); !errors.Is(err, syscall.EIO) {
		t.Errorf("write after the cut: %v, want EIO", err)
	}
	if err := h.Sync(); !errors.Is(err, syscall.EIO) {
		t.Errorf("sync after the cut: %v, want EIO", err)
	}
	if err := os.WriteFile(filepath.Join(f.Dir(), "g"), nil, 0o600); !errors.Is(err, syscall.EIO) {
		t.Errorf("create after the cut: %v, want EIO", err)
	}
	if err := os.Remove(p); !errors.Is(err, syscall.EIO) {
		t.Errorf("unlink after the cut: %v, want EIO", err)
	}
	wantContent(t, p, []byte("SYNCED, not"))
	if err := f.Restore(); err != nil {
		t.Fatal(err)
	}
	wantContent(t, p, []byte("synced"))
	if _, err := h.WriteAt([]byte("after!"), 0); err != nil {
		t.Fatalf("write after Restore: %v", err)
	}
	wantContent(t, p, []byte("after!"))
}

func TestCutWhenCutsBeforeTheChosenOperation(t *testing.T) {
	f := MountTest(t)
	p := filepath.Join(f.Dir(), "log")
	writeFile(t, p, nil, true, true)
	writes := 0
	var seen Op
	cut := f.CutWhen(func(op Op) bool {
		if op.Kind == OpWrite && op.Path == "/log" {
			writes++
			seen = op
			return writes == 3
		}
		return false
	})
	h, err := os.OpenFile(p, os.O_RDWR|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	for i, rec := range []string{"one;", "two;", "three;"} {
		_, err := h.Write([]byte(rec))
		if i < 2 {
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				if err := h.Sync(); err != nil {
					t.Fatal(err)
				}
			}
			continue
		}
		if !errors.Is(err, syscall.EIO) {
			t.Fatalf("the third write: %v, want EIO", err)
		}
	}
	select {
	case <-cut:
	default:
		t.Fatal("the trigger did not report the cut")
	}
	if seen.Off != 8 || seen.Len != 6 || seen.Unsynced != pageSize || seen.Process() != os.Getpid() {
		t.Errorf("the cut write was %+v from process %d; want offset 8, 6 bytes, one unsynced page, from this process", seen, seen.Process())
	}
	if err := f.Restore(); err != nil {
		t.Fatal(err)
	}
	// The first write was synced; the second was not.
	wantContent(t, p, []byte("one;"))
}

// A server the test starts must not inherit the FUSE connection: should
// the test die, it would keep the connection open with nobody to answer.
func TestStartedProcessesDoNotInheritTheConnection(t *testing.T) {
	MountTest(t)
	out, err := exec.Command("ls", "-l", "/proc/self/fd").CombinedOutput()
	if err != nil {
		t.Fatalf("ls: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "/dev/fuse") {
		t.Fatalf("a started process holds /dev/fuse:\n%s", out)
	}
}

// A test that fails with a file still open must not leave a mount, nor a
// process that waits on it for ever.
func TestUnmountWithAFileOpenAbortsTheConnection(t *testing.T) {
	f := MountTest(t)
	h, err := os.Create(filepath.Join(f.Dir(), "held"))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := f.Unmount(); err == nil {
		t.Fatal("unmount with a file open succeeded")
	}
	mounts, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(mounts), f.Dir()) {
		t.Fatalf("%s is still mounted", f.Dir())
	}
	if _, err := h.Write([]byte("x")); !errors.Is(err, syscall.ENOTCONN) {
		t.Fatalf("a write to the held file: %v, want ENOTCONN", err)
	}
}
