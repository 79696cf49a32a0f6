package lazyfs

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// FS is a mounted lazy file system.
type FS struct {
	dir    string
	server *fuse.Server
	conn   uint32 // the FUSE connection's number, for fusectl
	// unmounted is set by the first Unmount; only tests call it, from one
	// goroutine.
	unmounted bool

	mu     sync.Mutex
	root   *inode
	inodes map[uint64]*inode // every inode that is or may come back
	next   uint64            // the next inode number
	dead   bool              // cut, and not yet restored: changes fail
	// trigger, when set, is asked before each operation that changes the
	// file system whether to cut there; cut is closed when it did.
	trigger func(Op) bool
	cut     chan struct{}
	// kernel holds the go-fuse inodes the kernel may cache pages of.
	kernelMu sync.Mutex
	kernel   map[*fs.Inode]bool
}

// inode is a file or a directory.
type inode struct {
	ino               uint64
	mode, durableMode uint32 // type and permissions
	mtime             time.Time
	data              *content // a file's
	// A directory's entries, as the program sees them and as they were
	// when it was last synced.
	entries, durableEntries map[string]*inode
	// The directory and name of the link the inode was last given, for
	// the paths of operations.
	parent *inode
	name   string
}

func (n *inode) isDir() bool { return n.mode&syscall.S_IFMT == syscall.S_IFDIR }

// path returns the inode's path from the root, as it was last linked.
func (n *inode) path() string {
	if n.parent == nil {
		return "/"
	}
	return path.Join(n.parent.path(), n.name)
}

// OpKind is a kind of operation that changes the file system.
type OpKind int

const (
	OpWrite OpKind = iota + 1
	OpTruncate
	OpSync    // fsync or fdatasync of a file
	OpSyncDir // fsync of a directory
	OpCreate
	OpMkdir
	OpUnlink
	OpRmdir
	OpRename
)

func (k OpKind) String() string {
	switch k {
	case OpWrite:
		return "write"
	case OpTruncate:
		return "truncate"
	case OpSync:
		return "sync"
	case OpSyncDir:
		return "syncdir"
	case OpCreate:
		return "create"
	case OpMkdir:
		return "mkdir"
	case OpUnlink:
		return "unlink"
	case OpRmdir:
		return "rmdir"
	case OpRename:
		return "rename"
	}
	return fmt.Sprintf("OpKind(%d)", int(k))
}

// Op is an operation about to change the file system, as CutWhen's
// predicate sees it.
type Op struct {
	Kind OpKind
	// Path is the file's path from the mount's root ("/stele.db-wal"):
	// the file written, truncated or synced, the name created or
	// removed, the name a rename moves.
	Path string
	// Off and Len are a write's range; Off is a truncation's new size.
	Off, Len int64
	// Unsynced is the bytes of the file's pages changed since it was
	// last synced, before this operation.
	Unsynced int64
	// Pid is the thread that asked for the operation (see Process).
	Pid int
}

// Process returns the process of the thread that asked for the operation,
// or 0 if it has gone.
func (op Op) Process() int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", op.Pid))
	if err != nil || op.Pid == 0 {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "Tgid:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return 0
}

// Mount mounts a new, empty lazy file system on dir, which must exist.
// It needs /dev/fuse, and root or the fusermount helper.
func Mount(dir string) (*FS, error) {
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return nil, fmt.Errorf("lazyfs: %w", err)
	}
	f := &FS{dir: dir, inodes: map[uint64]*inode{}, next: 2, kernel: map[*fs.Inode]bool{}}
	f.root = &inode{ino: 1, mode: syscall.S_IFDIR | 0o755, entries: map[string]*inode{}, durableEntries: map[string]*inode{}, mtime: time.Now()}
	f.root.durableMode = f.root.mode
	f.inodes[1] = f.root
	// The kernel asks again about every name and every file's attributes
	// each time a program uses them, rather than trust what it was told
	// before a cut.
	var zero time.Duration
	opts := &fs.Options{
		EntryTimeout: &zero, AttrTimeout: &zero, NegativeTimeout: &zero,
		RootStableAttr: &fs.StableAttr{Ino: 1},
		MountOptions: fuse.MountOptions{
			FsName: "lazyfs", Name: "lazyfs",
			// As root, mount(2) directly: no fusermount helper needed.
			DirectMount: os.Geteuid() == 0,
			// Without extended attributes the kernel stops asking for
			// security.capability before writes.
			DisableXAttrs: true,
		},
	}
	server, err := fs.Mount(dir, &node{fs: f, n: f.root}, opts)
	if err != nil {
		return nil, fmt.Errorf("lazyfs: mount %s: %w", dir, err)
	}
	f.server = server
	// go-fuse opens /dev/fuse without O_CLOEXEC: a server the test starts
	// would inherit the connection and, should the test die, keep it open
	// with nobody to answer, every process on the mount waiting for ever.
	if err := closeFUSEOnExec(); err != nil {
		f.Unmount()
		return nil, err
	}
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		f.Unmount()
		return nil, fmt.Errorf("lazyfs: %w", err)
	}
	f.conn = unix.Minor(st.Dev)
	return f, nil
}

func closeFUSEOnExec() error {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return fmt.Errorf("lazyfs: %w", err)
	}
	for _, e := range fds {
		if target, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && target == "/dev/fuse" {
			fd, _ := strconv.Atoi(e.Name())
			syscall.CloseOnExec(fd)
		}
	}
	return nil
}

// Dir returns the directory the file system is mounted on.
func (f *FS) Dir() string { return f.dir }

// Unmount unmounts the file system; every file on it must be closed. If
// one is not (a test failed half-way), it aborts the connection, so that
// no process can wait on it any more, and detaches the mount.
func (f *FS) Unmount() error {
	if f.unmounted {
		return nil
	}
	f.unmounted = true
	err := f.server.Unmount()
	if err == nil {
		f.server.Wait()
		return nil
	}
	err = fmt.Errorf("lazyfs: unmount %s: %w", f.dir, err)
	if aerr := f.abort(); aerr != nil {
		return errors.Join(err, aerr)
	}
	if derr := syscall.Unmount(f.dir, syscall.MNT_DETACH); derr != nil {
		return errors.Join(err, fmt.Errorf("lazyfs: detach %s: %w", f.dir, derr))
	}
	f.server.Wait()
	return err
}

// abort aborts the FUSE connection through the fusectl file system,
// mounting it where it is not.
func (f *FS) abort() error {
	const ctl = "/sys/fs/fuse/connections"
	if entries, err := os.ReadDir(ctl); err == nil && len(entries) == 0 {
		if err := syscall.Mount("fusectl", ctl, "fusectl", 0, ""); err != nil {
			return fmt.Errorf("lazyfs: mount fusectl: %w", err)
		}
	}
	abort := fmt.Sprintf("%s/%d/abort", ctl, f.conn)
	if _, err := os.Stat(abort); errors.Is(err, os.ErrNotExist) {
		return nil // the connection has ended
	}
	if err := os.WriteFile(abort, []byte("1"), 0); err != nil {
		return fmt.Errorf("lazyfs: abort the connection: %w", err)
	}
	return nil
}

// Cut cuts the power now: whatever was not durable is lost, and every
// change fails with EIO until Restore.
func (f *FS) Cut() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cutLocked()
}

// CutWhen arms a cut before the first operation for which match returns
// true; that operation fails, as every later change does until Restore. The
// channel is closed once the cut has happened. match is called with the
// file system's lock held, one operation at a time, and must not use the
// file system. Arming again replaces the previous trigger.
func (f *FS) CutWhen(match func(Op) bool) <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.trigger = match
	f.cut = make(chan struct{})
	return f.cut
}

// Restore powers the file system on again with what the cut left, and
// has the kernel forget the pages it cached, so that every read sees that.
func (f *FS) Restore() error {
	f.mu.Lock()
	f.dropLocked()
	f.mu.Unlock()
	f.kernelMu.Lock()
	cached := slices.Collect(maps.Keys(f.kernel))
	f.kernelMu.Unlock()
	// Still dead: pages of shared mappings that the kernel writes back
	// as it drops them fail, as they would have at the cut. The lock is
	// not held, as those writes come through this file system.
	var errs []error
	for _, k := range cached {
		if errno := k.NotifyContent(0, 0); errno != 0 && errno != syscall.ENOENT {
			errs = append(errs, fmt.Errorf("invalidate inode %d: %w", k.StableAttr().Ino, errno))
		}
	}
	f.mu.Lock()
	f.dead = false
	f.mu.Unlock()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("lazyfs: restore: %w", err)
	}
	return nil
}

// Drop loses everything not durable and goes on at once: Cut and then
// Restore, for a test whose programs have stopped writing.
func (f *FS) Drop() error {
	f.Cut()
	return f.Restore()
}

// cutLocked cuts the power. Until Restore drops what was not durable,
// reads still see the state before the cut: the processes still running
// (which the test kills) fail on their next change, rather than read a
// file changing under them, or fault on a page of a mapping that cannot
// be read.
func (f *FS) cutLocked() {
	if f.cut != nil {
		close(f.cut)
		f.cut, f.trigger = nil, nil
	}
	f.dead = true
}

// dropLocked forgets what is not durable.
func (f *FS) dropLocked() {
	for _, n := range f.inodes {
		n.mode = n.durableMode
		if n.data != nil {
			n.data.drop()
		}
		if n.isDir() {
			n.entries = maps.Clone(n.durableEntries)
		}
	}
	// What the durable names no longer reach is gone for good.
	reached := map[uint64]*inode{}
	var walk func(dir *inode)
	walk = func(dir *inode) {
		reached[dir.ino] = dir
		for name, c := range dir.entries {
			if reached[c.ino] != nil {
				continue // a second name, or a loop of renamed directories
			}
			c.parent, c.name = dir, name
			if c.isDir() {
				walk(c)
			} else {
				reached[c.ino] = c
			}
		}
	}
	walk(f.root)
	f.inodes = reached
}

// begin starts an operation that changes the file system: it fails if
// the power is off, and cuts it if the trigger picks op.
func (f *FS) begin(ctx context.Context, op Op) syscall.Errno {
	if f.dead {
		return syscall.EIO
	}
	if c, ok := ctx.(*fuse.Context); ok {
		op.Pid = int(c.Caller.Pid)
	}
	if f.trigger != nil && f.trigger(op) {
		f.cutLocked()
		return syscall.EIO
	}
	return 0
}

func (f *FS) newInode(mode uint32, parent *inode, name string) *inode {
	n := &inode{ino: f.next, mode: mode, durableMode: mode, mtime: time.Now(), parent: parent, name: name}
	f.next++
	if n.isDir() {
		n.entries, n.durableEntries = map[string]*inode{}, map[string]*inode{}
	} else {
		n.data = newContent()
	}
	f.inodes[n.ino] = n
	return n
}
