//go:build linux && (amd64 || arm64) && cgo && !stele_nowalbuf

/*
** The parts of SQLite's VFS interface (sqlite3.h, public domain) that
** walbuf.c uses. They are declared here rather than included because the
** header lives inside the github.com/mattn/go-sqlite3 module, which cgo
** cannot reach from this package; the layouts are part of SQLite's stable
** ABI, versioned by the iVersion fields.
*/
#ifndef STELE_WALBUF_H
#define STELE_WALBUF_H

typedef long long int sqlite3_int64;
typedef struct sqlite3_file sqlite3_file;
typedef struct sqlite3_io_methods sqlite3_io_methods;
typedef struct sqlite3_vfs sqlite3_vfs;
typedef void (*sqlite3_syscall_ptr)(void);

struct sqlite3_file {
	const struct sqlite3_io_methods *pMethods;
};

struct sqlite3_io_methods {
	int iVersion;
	int (*xClose)(sqlite3_file*);
	int (*xRead)(sqlite3_file*, void*, int iAmt, sqlite3_int64 iOfst);
	int (*xWrite)(sqlite3_file*, const void*, int iAmt, sqlite3_int64 iOfst);
	int (*xTruncate)(sqlite3_file*, sqlite3_int64 size);
	int (*xSync)(sqlite3_file*, int flags);
	int (*xFileSize)(sqlite3_file*, sqlite3_int64 *pSize);
	int (*xLock)(sqlite3_file*, int);
	int (*xUnlock)(sqlite3_file*, int);
	int (*xCheckReservedLock)(sqlite3_file*, int *pResOut);
	int (*xFileControl)(sqlite3_file*, int op, void *pArg);
	int (*xSectorSize)(sqlite3_file*);
	int (*xDeviceCharacteristics)(sqlite3_file*);
	int (*xShmMap)(sqlite3_file*, int iPg, int pgsz, int, void volatile**);
	int (*xShmLock)(sqlite3_file*, int offset, int n, int flags);
	void (*xShmBarrier)(sqlite3_file*);
	int (*xShmUnmap)(sqlite3_file*, int deleteFlag);
	int (*xFetch)(sqlite3_file*, sqlite3_int64 iOfst, int iAmt, void **pp);
	int (*xUnfetch)(sqlite3_file*, sqlite3_int64 iOfst, void *p);
};

struct sqlite3_vfs {
	int iVersion;
	int szOsFile;
	int mxPathname;
	sqlite3_vfs *pNext;
	const char *zName;
	void *pAppData;
	int (*xOpen)(sqlite3_vfs*, const char *zName, sqlite3_file*, int flags, int *pOutFlags);
	int (*xDelete)(sqlite3_vfs*, const char *zName, int syncDir);
	int (*xAccess)(sqlite3_vfs*, const char *zName, int flags, int *pResOut);
	int (*xFullPathname)(sqlite3_vfs*, const char *zName, int nOut, char *zOut);
	void *(*xDlOpen)(sqlite3_vfs*, const char *zFilename);
	void (*xDlError)(sqlite3_vfs*, int nByte, char *zErrMsg);
	void (*(*xDlSym)(sqlite3_vfs*, void*, const char *zSymbol))(void);
	void (*xDlClose)(sqlite3_vfs*, void*);
	int (*xRandomness)(sqlite3_vfs*, int nByte, char *zOut);
	int (*xSleep)(sqlite3_vfs*, int microseconds);
	int (*xCurrentTime)(sqlite3_vfs*, double*);
	int (*xGetLastError)(sqlite3_vfs*, int, char *);
	int (*xCurrentTimeInt64)(sqlite3_vfs*, sqlite3_int64*);
	int (*xSetSystemCall)(sqlite3_vfs*, const char *zName, sqlite3_syscall_ptr);
	sqlite3_syscall_ptr (*xGetSystemCall)(sqlite3_vfs*, const char *zName);
	const char *(*xNextSystemCall)(sqlite3_vfs*, const char *zName);
};

#define SQLITE_OK 0
#define SQLITE_ERROR 1
#define SQLITE_NOMEM 7
#define SQLITE_IOERR 10
#define SQLITE_IOERR_WRITE (SQLITE_IOERR | (3<<8))
#define SQLITE_IOERR_FSYNC (SQLITE_IOERR | (4<<8))
#define SQLITE_OPEN_WAL 0x00080000

/*
** Defined by the SQLite that github.com/mattn/go-sqlite3 compiles into the
** program. Weak, so that cgo's trial link of this package alone succeeds;
** in the program they resolve to SQLite's (walbuf_register checks).
*/
extern sqlite3_vfs *sqlite3_vfs_find(const char *zVfsName) __attribute__((weak));
extern int sqlite3_vfs_register(sqlite3_vfs*, int makeDflt) __attribute__((weak));

int walbuf_register(const char *name, int cap);
void walbuf_counts(long long *asked, long long *made, long long *datasyncs);

#endif
