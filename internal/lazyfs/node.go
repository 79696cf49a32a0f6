package lazyfs

import (
	"context"
	"maps"
	"slices"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// node is the go-fuse face of an inode. Every method takes the file
// system's one lock: operations are memory copies, and one lock keeps a
// cut between two of them, never inside one.
type node struct {
	fs.Inode
	fs *FS
	n  *inode
}

var (
	_ fs.NodeOnAdder     = (*node)(nil)
	_ fs.NodeOnForgetter = (*node)(nil)
	_ fs.NodeGetattrer   = (*node)(nil)
	_ fs.NodeSetattrer   = (*node)(nil)
	_ fs.NodeLookuper    = (*node)(nil)
	_ fs.NodeReaddirer   = (*node)(nil)
	_ fs.NodeCreater     = (*node)(nil)
	_ fs.NodeMkdirer     = (*node)(nil)
	_ fs.NodeUnlinker    = (*node)(nil)
	_ fs.NodeRmdirer     = (*node)(nil)
	_ fs.NodeRenamer     = (*node)(nil)
	_ fs.NodeOpener      = (*node)(nil)
	_ fs.NodeReader      = (*node)(nil)
	_ fs.NodeWriter      = (*node)(nil)
	_ fs.NodeFsyncer     = (*node)(nil)
	_ fs.NodeFlusher     = (*node)(nil)
	_ fs.NodeReleaser    = (*node)(nil)
	_ fs.NodeAllocater   = (*node)(nil)
	_ fs.NodeStatfser    = (*node)(nil)
)

// OnAdd and OnForget keep the set of inodes the kernel may cache. They are
// called inside go-fuse, sometimes while a method below holds the file
// system's lock, hence their own.
func (nd *node) OnAdd(ctx context.Context) {
	nd.fs.kernelMu.Lock()
	nd.fs.kernel[nd.EmbeddedInode()] = true
	nd.fs.kernelMu.Unlock()
}

func (nd *node) OnForget() {
	nd.fs.kernelMu.Lock()
	delete(nd.fs.kernel, nd.EmbeddedInode())
	nd.fs.kernelMu.Unlock()
}

func (nd *node) lock() func() {
	nd.fs.mu.Lock()
	return nd.fs.mu.Unlock
}

func (f *FS) attr(n *inode, out *fuse.Attr) {
	out.Ino = n.ino
	out.Mode = n.mode
	out.Nlink = 1
	if n.isDir() {
		out.Nlink = 2
	} else {
		out.Size = uint64(n.data.size)
		out.Blocks = (out.Size + 511) / 512
	}
	out.Blksize = pageSize
	out.SetTimes(&n.mtime, &n.mtime, &n.mtime)
}

func (nd *node) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	defer nd.lock()()
	nd.fs.attr(nd.n, &out.Attr)
	return 0
}

func (nd *node) Setattr(ctx context.Context, fh fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	defer nd.lock()()
	n := nd.n
	if nd.fs.dead {
		return syscall.EIO
	}
	if size, ok := in.GetSize(); ok {
		if n.isDir() {
			return syscall.EISDIR
		}
		if errno := nd.fs.begin(ctx, Op{Kind: OpTruncate, Path: n.path(), Off: int64(size), Unsynced: unsynced(n)}); errno != 0 {
			return errno
		}
		n.data.truncate(int64(size))
		n.mtime = time.Now()
	}
	if mode, ok := in.GetMode(); ok {
		n.mode = n.mode&syscall.S_IFMT | mode&0o7777
	}
	if mtime, ok := in.GetMTime(); ok {
		n.mtime = mtime
	}
	nd.fs.attr(n, &out.Attr)
	return 0
}

func unsynced(n *inode) int64 {
	if n.data == nil {
		return 0
	}
	b, _ := n.data.unsynced()
	return b
}

// child returns the go-fuse inode of c, found under nd.
func (nd *node) child(ctx context.Context, c *inode, out *fuse.EntryOut) *fs.Inode {
	nd.fs.attr(c, &out.Attr)
	return nd.NewInode(ctx, &node{fs: nd.fs, n: c}, fs.StableAttr{Mode: c.mode & syscall.S_IFMT, Ino: c.ino})
}

func (nd *node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	defer nd.lock()()
	c := nd.n.entries[name]
	if c == nil {
		return nil, syscall.ENOENT
	}
	return nd.child(ctx, c, out), 0
}

func (nd *node) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	defer nd.lock()()
	var list []fuse.DirEntry
	for _, name := range slices.Sorted(maps.Keys(nd.n.entries)) {
		c := nd.n.entries[name]
		list = append(list, fuse.DirEntry{Name: name, Mode: c.mode, Ino: c.ino})
	}
	return fs.NewListDirStream(list), 0
}

// link begins an operation that adds name to the directory.
func (nd *node) link(ctx context.Context, kind OpKind, name string) syscall.Errno {
	if !nd.n.isDir() {
		return syscall.ENOTDIR
	}
	if errno := nd.fs.begin(ctx, Op{Kind: kind, Path: pathIn(nd.n, name)}); errno != 0 {
		return errno
	}
	if nd.n.entries[name] != nil {
		return syscall.EEXIST
	}
	return 0
}

func pathIn(dir *inode, name string) string {
	if p := dir.path(); p != "/" {
		return p + "/" + name
	}
	return "/" + name
}

func (nd *node) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	defer nd.lock()()
	if errno := nd.link(ctx, OpCreate, name); errno != 0 {
		return nil, nil, 0, errno
	}
	c := nd.fs.newInode(syscall.S_IFREG|mode&0o7777, nd.n, name)
	nd.n.entries[name] = c
	nd.n.mtime = c.mtime
	return nd.child(ctx, c, out), nil, 0, 0
}

func (nd *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	defer nd.lock()()
	if errno := nd.link(ctx, OpMkdir, name); errno != 0 {
		return nil, errno
	}
	c := nd.fs.newInode(syscall.S_IFDIR|mode&0o7777, nd.n, name)
	nd.n.entries[name] = c
	nd.n.mtime = c.mtime
	return nd.child(ctx, c, out), 0
}

func (nd *node) Unlink(ctx context.Context, name string) syscall.Errno {
	defer nd.lock()()
	if errno := nd.fs.begin(ctx, Op{Kind: OpUnlink, Path: pathIn(nd.n, name)}); errno != 0 {
		return errno
	}
	c := nd.n.entries[name]
	switch {
	case c == nil:
		return syscall.ENOENT
	case c.isDir():
		return syscall.EISDIR
	}
	delete(nd.n.entries, name)
	nd.n.mtime = time.Now()
	return 0
}

func (nd *node) Rmdir(ctx context.Context, name string) syscall.Errno {
	defer nd.lock()()
	if errno := nd.fs.begin(ctx, Op{Kind: OpRmdir, Path: pathIn(nd.n, name)}); errno != 0 {
		return errno
	}
	c := nd.n.entries[name]
	switch {
	case c == nil:
		return syscall.ENOENT
	case !c.isDir():
		return syscall.ENOTDIR
	case len(c.entries) > 0:
		return syscall.ENOTEMPTY
	}
	delete(nd.n.entries, name)
	nd.n.mtime = time.Now()
	return 0
}

// Rename flags of renameat2.
const (
	renameNoReplace = 1
	renameExchange  = 2
)

func (nd *node) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	defer nd.lock()()
	if errno := nd.fs.begin(ctx, Op{Kind: OpRename, Path: pathIn(nd.n, name)}); errno != 0 {
		return errno
	}
	to := newParent.(*node).n
	c, old := nd.n.entries[name], to.entries[newName]
	switch {
	case c == nil:
		return syscall.ENOENT
	case flags&^(renameNoReplace|renameExchange) != 0:
		return syscall.EINVAL
	case flags&renameExchange != 0:
		if old == nil {
			return syscall.ENOENT
		}
		nd.n.entries[name], to.entries[newName] = old, c
		old.parent, old.name = nd.n, name
		c.parent, c.name = to, newName
		return 0
	case old != nil && flags&renameNoReplace != 0:
		return syscall.EEXIST
	case old != nil && old.isDir() && !c.isDir():
		return syscall.EISDIR
	case old != nil && !old.isDir() && c.isDir():
		return syscall.ENOTDIR
	case old != nil && old.isDir() && len(old.entries) > 0:
		return syscall.ENOTEMPTY
	}
	delete(nd.n.entries, name)
	to.entries[newName] = c
	c.parent, c.name = to, newName
	nd.n.mtime, to.mtime = time.Now(), time.Now()
	return 0
}

func (nd *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	defer nd.lock()()
	n := nd.n
	if flags&syscall.O_TRUNC != 0 && flags&syscall.O_ACCMODE != syscall.O_RDONLY {
		if errno := nd.fs.begin(ctx, Op{Kind: OpTruncate, Path: n.path(), Unsynced: unsynced(n)}); errno != 0 {
			return nil, 0, errno
		}
		n.data.truncate(0)
		n.mtime = time.Now()
	}
	// No FOPEN_KEEP_CACHE: each open drops the kernel's cached pages.
	return nil, 0, 0
}

func (nd *node) Read(ctx context.Context, fh fs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	defer nd.lock()()
	return fuse.ReadResultData(dest[:nd.n.data.read(dest, off)]), 0
}

func (nd *node) Write(ctx context.Context, fh fs.FileHandle, data []byte, off int64) (uint32, syscall.Errno) {
	defer nd.lock()()
	n := nd.n
	if errno := nd.fs.begin(ctx, Op{Kind: OpWrite, Path: n.path(), Off: off, Len: int64(len(data)), Unsynced: unsynced(n)}); errno != 0 {
		return 0, errno
	}
	// A write through a descriptor opened O_SYNC or O_DSYNC, or made
	// with RWF_SYNC or RWF_DSYNC, the kernel follows with an fsync.
	n.data.write(data, off)
	n.mtime = time.Now()
	return uint32(len(data)), 0
}

// Fsync makes a file's data and size, or a directory's entries, durable.
func (nd *node) Fsync(ctx context.Context, fh fs.FileHandle, flags uint32) syscall.Errno {
	defer nd.lock()()
	n := nd.n
	if n.isDir() {
		if errno := nd.fs.begin(ctx, Op{Kind: OpSyncDir, Path: n.path()}); errno != 0 {
			return errno
		}
		n.durableEntries = maps.Clone(n.entries)
	} else {
		if errno := nd.fs.begin(ctx, Op{Kind: OpSync, Path: n.path(), Unsynced: unsynced(n)}); errno != 0 {
			return errno
		}
		n.data.sync()
	}
	n.durableMode = n.mode
	return 0
}

// Allocate grows a file as fallocate does (its default mode and
// FALLOC_FL_KEEP_SIZE); punching holes is not supported.
func (nd *node) Allocate(ctx context.Context, fh fs.FileHandle, off uint64, size uint64, mode uint32) syscall.Errno {
	const keepSize = 1
	defer nd.lock()()
	n := nd.n
	if nd.fs.dead {
		return syscall.EIO
	}
	switch {
	case mode&^keepSize != 0:
		return syscall.EOPNOTSUPP
	case mode == keepSize || int64(off+size) <= n.data.size:
		return 0
	}
	if errno := nd.fs.begin(ctx, Op{Kind: OpTruncate, Path: n.path(), Off: int64(off + size), Unsynced: unsynced(n)}); errno != 0 {
		return errno
	}
	n.data.truncate(int64(off + size))
	return 0
}

// Flush answers ENOSYS, after which the kernel sends no more: writes
// reach the file system as they are made, so a close has nothing to flush,
// and a close never waits on the file system (a test process that dies
// holding files on its own mount could not answer).
func (nd *node) Flush(ctx context.Context, fh fs.FileHandle) syscall.Errno { return syscall.ENOSYS }

func (nd *node) Release(ctx context.Context, fh fs.FileHandle) syscall.Errno { return 0 }

func (nd *node) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	const blocks = 1 << 26 // 256 GiB of 4 KiB blocks: room that never runs out in a test
	out.Bsize, out.Frsize, out.NameLen = pageSize, pageSize, 255
	out.Blocks, out.Bfree, out.Bavail = blocks, blocks, blocks
	out.Files, out.Ffree = 1<<20, 1<<20
	return 0
}
