// Package lazyfs is a FUSE file system for tests that loses what was not
// synced when told to, as a machine losing power does. It is the idea of
// LazyFS (the file system Jepsen puts under databases), in Go, kept in
// memory: a program writes to it as to any file system, and a test cuts
// the power and then looks at what is left.
//
// # What survives a power cut
//
// The model is the one POSIX promises and a strict file system keeps, not
// the more forgiving one ext4 or XFS happen to give:
//
//   - A file's data and size survive once the file is synced: fsync or
//     fdatasync on any descriptor of it, or a write through a descriptor
//     opened with O_SYNC or O_DSYNC or made with RWF_SYNC or RWF_DSYNC (the
//     kernel follows each such write with an fsync). Everything written since the
//     last sync is lost, all of it: no write of the lost ones is kept,
//     whole or torn.
//   - sync_file_range never reaches a FUSE file system (it only starts the
//     kernel's writeback, and a FUSE file without a write-back cache has
//     none), so it makes nothing durable; neither do sync(2) and syncfs(2).
//     Their manual pages promise no durability either.
//   - A name in a directory — a created file, a new directory, an unlink,
//     a rename — survives once that directory is synced (fsync on a
//     descriptor of the directory). A file synced but never named in a
//     synced directory is lost; a rename between two directories is
//     durable in each only once each is synced, so a cut between the two
//     syncs can leave the file under both names or neither.
//   - A file's mode survives with its data; its times are not modelled.
//
// # A cut
//
// Cut makes every later change fail with EIO until Restore, so that the
// programs still running (which the test then kills) cannot change what
// is left: nothing written after a power cut reaches the disk. Until then
// they still read what they had, rather than see files change under them
// or fault on a mapped page that cannot be read. Restore drops everything
// not durable and invalidates the kernel's caches of every file, so that
// reads from then on, even through a descriptor open before the cut, see
// only the durable data. CutWhen cuts at a chosen moment: before the
// first change a predicate picks, which then fails.
//
// Mounting needs /dev/fuse and either root (the mount system call) or the
// fusermount helper.
package lazyfs
