//go:build linux && (amd64 || arm64) && cgo && !stele_nowalbuf

/*
** walbuf: a VFS that gathers the writes of a WAL file into one write.
**
** SQLite writes each WAL frame as two writes, its 24-byte header and its
** page, so a commit of a hundred pages makes two hundred write system
** calls; on the virtual machines Stele runs on a system call costs more
** than copying the page. This VFS passes every file through to the
** default VFS except WAL files, whose consecutive writes it copies into a
** buffer and writes at once: when a write does not follow the last one,
** when the buffer is full, and before anything that reads the file, syncs
** it, truncates it, asks its size or closes it.
**
** It also syncs a WAL with fdatasync rather than the default VFS's fsync
** (this build of SQLite has no HAVE_FDATASYNC): the WAL's data, and its
** size when it grew, is what a commit needs on disk, and fsync would also
** write the inode's new modification time through the file system's
** journal at every commit. The first sync of each open WAL goes through
** the default VFS, which then also syncs the directory of a new WAL file.
**
** A commit is durable only once SQLite has synced the WAL, which flushes
** the buffer first, and other connections only read frames that a commit
** has published after that sync. That holds when the connection commits
** with synchronous=FULL (as Stele's writer does): with synchronous=NORMAL a
** commit publishes frames without a sync, and they could still sit in the
** buffer. Use this VFS only for connections with synchronous=FULL: the
** writer's connections refuse to open otherwise (requireFullSync).
*/
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include "walbuf.h"

typedef struct walbuf_file walbuf_file;
struct walbuf_file {
	sqlite3_file base;    /* pMethods: walbuf_methods */
	sqlite3_file *real;   /* the default VFS's file, after this struct */
	char *buf;            /* cap bytes, or NULL */
	sqlite3_int64 off;    /* file offset of buf[0] */
	int len;              /* bytes in buf */
	int fd;               /* a descriptor of our own for fdatasync, or -1 */
	int synced;           /* the default VFS has synced the file once */
};

static sqlite3_vfs *walbuf_root; /* the default VFS this one wraps */
static sqlite3_vfs walbuf_vfs;
static int walbuf_cap;

/* Counts of WAL writes SQLite asked for, writes made and fdatasyncs, for
** tests. */
static long long walbuf_asked, walbuf_made, walbuf_datasyncs;

void walbuf_counts(long long *asked, long long *made, long long *datasyncs) {
	*asked = __atomic_load_n(&walbuf_asked, __ATOMIC_RELAXED);
	*made = __atomic_load_n(&walbuf_made, __ATOMIC_RELAXED);
	*datasyncs = __atomic_load_n(&walbuf_datasyncs, __ATOMIC_RELAXED);
}

static int walbuf_flush(walbuf_file *f) {
	int rc;
	if (f->len == 0) return SQLITE_OK;
	__atomic_fetch_add(&walbuf_made, 1, __ATOMIC_RELAXED);
	rc = f->real->pMethods->xWrite(f->real, f->buf, f->len, f->off);
	/* Failed or not, the buffer is done with: SQLite sees the error (from
	** this call's caller) and abandons the transaction, whose frames it
	** writes again if it retries; kept, they could be written later over
	** newer frames. */
	f->len = 0;
	return rc;
}

static int walbuf_close(sqlite3_file *p) {
	walbuf_file *f = (walbuf_file*)p;
	int rc = walbuf_flush(f);
	int rc2 = f->real->pMethods->xClose(f->real);
	if (f->fd >= 0) close(f->fd);
	f->fd = -1;
	free(f->buf);
	f->buf = 0;
	return rc != SQLITE_OK ? rc : rc2;
}

static int walbuf_read(sqlite3_file *p, void *out, int n, sqlite3_int64 off) {
	walbuf_file *f = (walbuf_file*)p;
	if (f->len > 0 && off < f->off + f->len && off + n > f->off) {
		int rc = walbuf_flush(f);
		if (rc != SQLITE_OK) return rc;
	}
	return f->real->pMethods->xRead(f->real, out, n, off);
}

static int walbuf_write(sqlite3_file *p, const void *in, int n, sqlite3_int64 off) {
	walbuf_file *f = (walbuf_file*)p;
	int rc;
	__atomic_fetch_add(&walbuf_asked, 1, __ATOMIC_RELAXED);
	if (f->len > 0 && off == f->off + f->len && f->len + n <= walbuf_cap) {
		memcpy(f->buf + f->len, in, n);
		f->len += n;
		return SQLITE_OK;
	}
	rc = walbuf_flush(f);
	if (rc != SQLITE_OK) return rc;
	if (n > walbuf_cap / 2) {
		__atomic_fetch_add(&walbuf_made, 1, __ATOMIC_RELAXED);
		return f->real->pMethods->xWrite(f->real, in, n, off);
	}
	memcpy(f->buf, in, n);
	f->off = off;
	f->len = n;
	return SQLITE_OK;
}

static int walbuf_truncate(sqlite3_file *p, sqlite3_int64 size) {
	walbuf_file *f = (walbuf_file*)p;
	int rc = walbuf_flush(f);
	if (rc != SQLITE_OK) return rc;
	return f->real->pMethods->xTruncate(f->real, size);
}

static int walbuf_sync(sqlite3_file *p, int flags) {
	walbuf_file *f = (walbuf_file*)p;
	int rc = walbuf_flush(f);
	if (rc != SQLITE_OK) return rc;
	if (f->synced && f->fd >= 0) {
		__atomic_fetch_add(&walbuf_datasyncs, 1, __ATOMIC_RELAXED);
		if (fdatasync(f->fd) != 0) return SQLITE_IOERR_FSYNC;
		return SQLITE_OK;
	}
	rc = f->real->pMethods->xSync(f->real, flags);
	if (rc == SQLITE_OK) f->synced = 1;
	return rc;
}

static int walbuf_size(sqlite3_file *p, sqlite3_int64 *size) {
	walbuf_file *f = (walbuf_file*)p;
	int rc = walbuf_flush(f);
	if (rc != SQLITE_OK) return rc;
	return f->real->pMethods->xFileSize(f->real, size);
}

static int walbuf_lock(sqlite3_file *p, int l) {
	walbuf_file *f = (walbuf_file*)p;
	return f->real->pMethods->xLock(f->real, l);
}

static int walbuf_unlock(sqlite3_file *p, int l) {
	walbuf_file *f = (walbuf_file*)p;
	return f->real->pMethods->xUnlock(f->real, l);
}

static int walbuf_reserved(sqlite3_file *p, int *out) {
	walbuf_file *f = (walbuf_file*)p;
	return f->real->pMethods->xCheckReservedLock(f->real, out);
}

static int walbuf_control(sqlite3_file *p, int op, void *arg) {
	walbuf_file *f = (walbuf_file*)p;
	int rc = walbuf_flush(f);
	if (rc != SQLITE_OK) return rc;
	return f->real->pMethods->xFileControl(f->real, op, arg);
}

static int walbuf_sector(sqlite3_file *p) {
	walbuf_file *f = (walbuf_file*)p;
	return f->real->pMethods->xSectorSize(f->real);
}

static int walbuf_device(sqlite3_file *p) {
	walbuf_file *f = (walbuf_file*)p;
	return f->real->pMethods->xDeviceCharacteristics(f->real);
}

/* A WAL file has no shared memory and is not memory-mapped; these pass
** through for completeness, flushing first where they could read. */
static int walbuf_shm_map(sqlite3_file *p, int pg, int sz, int extend, void volatile **pp) {
	walbuf_file *f = (walbuf_file*)p;
	if (f->real->pMethods->iVersion < 2) return SQLITE_IOERR;
	return f->real->pMethods->xShmMap(f->real, pg, sz, extend, pp);
}

static int walbuf_shm_lock(sqlite3_file *p, int off, int n, int flags) {
	walbuf_file *f = (walbuf_file*)p;
	if (f->real->pMethods->iVersion < 2) return SQLITE_IOERR;
	return f->real->pMethods->xShmLock(f->real, off, n, flags);
}

static void walbuf_shm_barrier(sqlite3_file *p) {
	walbuf_file *f = (walbuf_file*)p;
	if (f->real->pMethods->iVersion >= 2) f->real->pMethods->xShmBarrier(f->real);
}

static int walbuf_shm_unmap(sqlite3_file *p, int del) {
	walbuf_file *f = (walbuf_file*)p;
	if (f->real->pMethods->iVersion < 2) return SQLITE_OK;
	return f->real->pMethods->xShmUnmap(f->real, del);
}

static int walbuf_fetch(sqlite3_file *p, sqlite3_int64 off, int n, void **pp) {
	walbuf_file *f = (walbuf_file*)p;
	int rc;
	*pp = 0;
	if (f->real->pMethods->iVersion < 3) return SQLITE_OK;
	rc = walbuf_flush(f);
	if (rc != SQLITE_OK) return rc;
	return f->real->pMethods->xFetch(f->real, off, n, pp);
}

static int walbuf_unfetch(sqlite3_file *p, sqlite3_int64 off, void *ptr) {
	walbuf_file *f = (walbuf_file*)p;
	if (f->real->pMethods->iVersion < 3) return SQLITE_OK;
	return f->real->pMethods->xUnfetch(f->real, off, ptr);
}

static const sqlite3_io_methods walbuf_methods = {
	3,
	walbuf_close, walbuf_read, walbuf_write, walbuf_truncate, walbuf_sync, walbuf_size,
	walbuf_lock, walbuf_unlock, walbuf_reserved, walbuf_control, walbuf_sector, walbuf_device,
	walbuf_shm_map, walbuf_shm_lock, walbuf_shm_barrier, walbuf_shm_unmap,
	walbuf_fetch, walbuf_unfetch,
};

/* walbuf_open opens every file but a WAL as the default VFS would, in
** place; a WAL file it opens after its own header and wraps. */
static int walbuf_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *p, int flags, int *outFlags) {
	walbuf_file *f = (walbuf_file*)p;
	int rc;
	(void)vfs;
	if (!(flags & SQLITE_OPEN_WAL)) return walbuf_root->xOpen(walbuf_root, name, p, flags, outFlags);
	memset(f, 0, sizeof(*f));
	f->real = (sqlite3_file*)&f[1];
	f->buf = malloc(walbuf_cap);
	if (!f->buf) return SQLITE_NOMEM;
	rc = walbuf_root->xOpen(walbuf_root, name, f->real, flags, outFlags);
	if (rc != SQLITE_OK) {
		/* The default VFS leaves pMethods NULL when it fails, so SQLite will
		** not call xClose: free the buffer here. */
		free(f->buf);
		f->buf = 0;
		return rc;
	}
	/* The same file (fdatasync syncs the file, whichever descriptor);
	** without it every sync goes through the default VFS. */
	f->fd = name ? open(name, O_RDWR | O_CLOEXEC) : -1;
	f->base.pMethods = &walbuf_methods;
	return SQLITE_OK;
}

static int walbuf_delete(sqlite3_vfs *v, const char *n, int s) { (void)v; return walbuf_root->xDelete(walbuf_root, n, s); }
static int walbuf_access(sqlite3_vfs *v, const char *n, int fl, int *o) { (void)v; return walbuf_root->xAccess(walbuf_root, n, fl, o); }
static int walbuf_full(sqlite3_vfs *v, const char *n, int no, char *o) { (void)v; return walbuf_root->xFullPathname(walbuf_root, n, no, o); }
static void *walbuf_dlopen(sqlite3_vfs *v, const char *n) { (void)v; return walbuf_root->xDlOpen(walbuf_root, n); }
static void walbuf_dlerror(sqlite3_vfs *v, int n, char *m) { (void)v; walbuf_root->xDlError(walbuf_root, n, m); }
static void (*walbuf_dlsym(sqlite3_vfs *v, void *h, const char *s))(void) { (void)v; return walbuf_root->xDlSym(walbuf_root, h, s); }
static void walbuf_dlclose(sqlite3_vfs *v, void *h) { (void)v; walbuf_root->xDlClose(walbuf_root, h); }
static int walbuf_random(sqlite3_vfs *v, int n, char *o) { (void)v; return walbuf_root->xRandomness(walbuf_root, n, o); }
static int walbuf_sleep(sqlite3_vfs *v, int us) { (void)v; return walbuf_root->xSleep(walbuf_root, us); }
static int walbuf_time(sqlite3_vfs *v, double *t) { (void)v; return walbuf_root->xCurrentTime(walbuf_root, t); }
static int walbuf_lasterr(sqlite3_vfs *v, int n, char *m) { (void)v; return walbuf_root->xGetLastError(walbuf_root, n, m); }
static int walbuf_time64(sqlite3_vfs *v, sqlite3_int64 *t) { (void)v; return walbuf_root->xCurrentTimeInt64(walbuf_root, t); }

/* walbuf_register registers the VFS as name, wrapping the default VFS,
** with a buffer of cap bytes per WAL file. It returns SQLITE_ERROR when
** SQLite is not linked in or its default VFS is older than version 2. */
int walbuf_register(const char *name, int cap) {
	sqlite3_vfs *root;
	if (!sqlite3_vfs_find || !sqlite3_vfs_register) return SQLITE_ERROR;
	if (walbuf_root) return SQLITE_OK;
	root = sqlite3_vfs_find(0);
	if (!root || root->iVersion < 2 || cap <= 0) return SQLITE_ERROR;
	walbuf_root = root;
	walbuf_cap = cap;
	walbuf_vfs.iVersion = 2;
	walbuf_vfs.szOsFile = (int)sizeof(walbuf_file) + root->szOsFile;
	walbuf_vfs.mxPathname = root->mxPathname;
	walbuf_vfs.zName = name;
	walbuf_vfs.xOpen = walbuf_open;
	walbuf_vfs.xDelete = walbuf_delete;
	walbuf_vfs.xAccess = walbuf_access;
	walbuf_vfs.xFullPathname = walbuf_full;
	walbuf_vfs.xDlOpen = walbuf_dlopen;
	walbuf_vfs.xDlError = walbuf_dlerror;
	walbuf_vfs.xDlSym = walbuf_dlsym;
	walbuf_vfs.xDlClose = walbuf_dlclose;
	walbuf_vfs.xRandomness = walbuf_random;
	walbuf_vfs.xSleep = walbuf_sleep;
	walbuf_vfs.xCurrentTime = walbuf_time;
	walbuf_vfs.xGetLastError = walbuf_lasterr;
	walbuf_vfs.xCurrentTimeInt64 = walbuf_time64;
	return sqlite3_vfs_register(&walbuf_vfs, 0);
}
