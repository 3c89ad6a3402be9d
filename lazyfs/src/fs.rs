//! The FUSE file system: every operation passes through to the backing
//! directory, except that file contents and sizes changed since the file's
//! last sync are held in memory ([`Held`]) until `fsync`/`fdatasync`.
//!
//! Inodes are tracked as `O_PATH` descriptors of the backing files, so a
//! renamed file keeps its identity (and its held writes) without any path
//! bookkeeping. Held state is keyed by the backing file's (device, inode),
//! not by the FUSE inode, so it outlives the kernel forgetting an inode.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo, LockOwner,
    OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty,
    ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow, WriteFlags,
};
use nix::fcntl::{openat, OFlag, AT_FDCWD};
use nix::sys::stat::{fstatat, FileStat, Mode, SFlag};
use nix::unistd::UnlinkatFlags;

use crate::held::Held;
use crate::strict::Strict;

/// Entries and attributes are never cached by the kernel: what a power
/// loss drops must not be served afterwards.
const TTL: Duration = Duration::ZERO;
const ROOT: u64 = 1;

/// A backing file's identity: (device, inode).
pub(crate) type Key = (u64, u64);

struct Node {
    /// `O_PATH` descriptor of the backing file or directory.
    fd: OwnedFd,
    key: Key,
    lookups: u64,
}

struct Handle {
    file: File,
    key: Key,
    /// Opened with O_SYNC or O_DSYNC: every write is a synced write.
    sync_writes: bool,
}

struct DirEntry {
    name: OsString,
    kind: FileType,
    ino: u64,
}

/// A file with unsynced changes.
pub(crate) struct HeldFile {
    pub(crate) held: Held,
    /// `O_PATH` descriptor of the backing file: where the held state is
    /// written on sync, and how its current path is found for reports.
    pub(crate) fd: OwnedFd,
}

#[derive(Default)]
pub(crate) struct State {
    nodes: HashMap<u64, Node>,
    by_key: HashMap<Key, u64>,
    next_ino: u64,
    files: HashMap<u64, Handle>,
    dirs: HashMap<u64, Vec<DirEntry>>,
    next_fh: u64,
    pub(crate) held: HashMap<Key, HeldFile>,
    /// Strict mode's durable directory listings, if strict.
    pub(crate) strict: Option<Strict>,
}

impl State {
    /// The state of a mount whose root is the directory `root` (an `O_PATH`
    /// descriptor of `root_path`, canonical); `strict` holds directory
    /// entries too.
    pub(crate) fn new(root: OwnedFd, root_path: PathBuf, strict: bool) -> io::Result<State> {
        let st = stat_fd(&root).map_err(io::Error::from)?;
        let key = (st.st_dev, st.st_ino);
        let mut state = State {
            next_ino: ROOT + 1,
            next_fh: 1,
            strict: strict.then(|| Strict::new(key, root_path)),
            ..State::default()
        };
        state.by_key.insert(key, ROOT);
        state.nodes.insert(
            ROOT,
            Node {
                fd: root,
                key,
                lookups: 1,
            },
        );
        Ok(state)
    }

    /// Strict mode: the parts an operation on the entries of `parent`
    /// needs (the strict state, the root, the parent's identity and
    /// descriptor); None in default mode.
    fn strict_parts(
        &mut self,
        parent: INodeNo,
    ) -> Result<Option<(&mut Strict, &OwnedFd, Key, &OwnedFd)>, Errno> {
        let State { nodes, strict, .. } = self;
        let Some(strict) = strict.as_mut() else {
            return Ok(None);
        };
        let root = &nodes[&ROOT].fd;
        let p = nodes.get(&parent.0).ok_or(Errno::ENOENT)?;
        Ok(Some((strict, root, p.key, &p.fd)))
    }

    /// Whether `name` in `parent` is strict mode's hidden stash.
    fn hidden(&self, parent: INodeNo, name: &OsStr) -> bool {
        match (&self.strict, self.nodes.get(&parent.0)) {
            (Some(strict), Some(p)) => strict.hides(p.key, name),
            _ => false,
        }
    }

    /// Before a name is added to `parent`: strict mode records the
    /// parent's durable listing. The stash's name cannot be taken.
    fn before_add(&mut self, parent: INodeNo, name: &OsStr) -> Result<(), Errno> {
        if self.hidden(parent, name) {
            return Err(Errno::EPERM);
        }
        if let Some((strict, _, key, fd)) = self.strict_parts(parent)? {
            strict.touch(key, fd).map_err(io_errno)?;
        }
        Ok(())
    }

    /// Before `name` in `parent` goes or is replaced: strict mode keeps a
    /// file its parent's durable listing names.
    fn before_remove(&mut self, parent: INodeNo, name: &OsStr) -> Result<(), Errno> {
        if let Some((strict, root, key, fd)) = self.strict_parts(parent)? {
            strict.keep(root, key, fd, name).map_err(io_errno)?;
        }
        Ok(())
    }

    /// Strict mode, before a rename: records both listings and keeps what
    /// their durable listings name and the rename takes away.
    fn before_rename(
        &mut self,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
    ) -> Result<Option<Renaming>, Errno> {
        let Some(to) = self.strict_parts(newparent)?.map(|(_, _, key, _)| key) else {
            return Ok(None);
        };
        let Some((strict, root, from, from_fd)) = self.strict_parts(parent)? else {
            return Ok(None);
        };
        let kind = |fd: &OwnedFd, name: &OsStr| {
            fstatat(fd, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)
                .ok()
                .map(|st| {
                    (
                        (st.st_dev, st.st_ino),
                        kind_of(st.st_mode) == FileType::Directory,
                    )
                })
        };
        let src = kind(from_fd, name);
        strict.keep(root, from, from_fd, name).map_err(io_errno)?;
        let exchange = flags.bits() & nix::libc::RENAME_EXCHANGE != 0;
        let noreplace = flags.bits() & nix::libc::RENAME_NOREPLACE != 0;
        let Some((strict, root, _, to_fd)) = self.strict_parts(newparent)? else {
            return Ok(None);
        };
        let dst = kind(to_fd, newname);
        strict.touch(to, to_fd).map_err(io_errno)?;
        let mut stashed = None;
        if dst.is_some() && !noreplace {
            let both_dirs = src.is_some_and(|s| s.1) && dst.is_some_and(|d| d.1);
            if both_dirs && !exchange {
                stashed = strict
                    .keep_replaced_dir(root, to, to_fd, newname)
                    .map_err(io_errno)?;
            } else {
                strict.keep(root, to, to_fd, newname).map_err(io_errno)?;
            }
        }
        Ok(Some(Renaming {
            src,
            dst: if exchange { dst } else { None },
            from,
            to,
            name: name.to_os_string(),
            stashed,
        }))
    }

    /// Strict mode, after a rename: a directory moved to another parent is
    /// durable there at once; a directory set aside for a rename that
    /// failed goes back.
    fn after_rename(&mut self, r: Option<Renaming>, ok: bool, newparent: INodeNo, newname: &OsStr) {
        let Some(r) = r else { return };
        let Ok(Some((strict, _, _, to_fd))) = self.strict_parts(newparent) else {
            return;
        };
        if !ok {
            if let Some(key) = r.stashed {
                strict.unstash(key, to_fd, newname);
            }
            return;
        }
        if let Some((key, true)) = r.src {
            strict.moved_dir(key, r.from, r.to, newname);
        }
        if let Some((key, true)) = r.dst {
            strict.moved_dir(key, r.to, r.from, &r.name);
        }
    }

    /// Makes the directory entries as of each directory's last fsync the
    /// only ones (strict mode); returns the names removed or put back.
    pub(crate) fn restore_entries(&mut self) -> io::Result<usize> {
        let State { nodes, strict, .. } = self;
        let Some(strict) = strict.as_mut() else {
            return Ok(0);
        };
        Ok(strict.restore(&nodes[&ROOT].fd)?.entries)
    }

    /// Every inode number the kernel may still have cached.
    pub(crate) fn inodes(&self) -> Vec<u64> {
        self.nodes.keys().copied().collect()
    }

    fn node(&self, ino: INodeNo) -> Result<&Node, Errno> {
        self.nodes.get(&ino.0).ok_or(Errno::ENOENT)
    }

    fn attr(&self, ino: u64, st: &FileStat) -> FileAttr {
        let key = (st.st_dev, st.st_ino);
        let size = match self.held.get(&key) {
            Some(h) => h.held.size(),
            None => st.st_size as u64,
        };
        let time = |s: i64, ns: i64| {
            if s >= 0 {
                UNIX_EPOCH + Duration::new(s as u64, ns as u32)
            } else {
                UNIX_EPOCH
            }
        };
        FileAttr {
            ino: INodeNo(ino),
            size,
            blocks: size.div_ceil(512).max(st.st_blocks as u64),
            atime: time(st.st_atime, st.st_atime_nsec),
            mtime: time(st.st_mtime, st.st_mtime_nsec),
            ctime: time(st.st_ctime, st.st_ctime_nsec),
            crtime: UNIX_EPOCH,
            kind: kind_of(st.st_mode),
            perm: (st.st_mode & 0o7777) as u16,
            nlink: st.st_nlink as u32,
            uid: st.st_uid,
            gid: st.st_gid,
            rdev: st.st_rdev as u32,
            blksize: 4096,
            flags: 0,
        }
    }

    /// Looks `name` up in `parent` and counts one kernel reference to it.
    fn lookup_child(&mut self, parent: INodeNo, name: &OsStr) -> Result<FileAttr, Errno> {
        let parent_fd = &self.node(parent)?.fd;
        let fd = openat(
            parent_fd,
            name,
            OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(errno)?;
        let st = stat_fd(&fd).map_err(errno)?;
        let key = (st.st_dev, st.st_ino);
        let ino = match self.by_key.get(&key) {
            Some(&ino) => {
                self.nodes
                    .get_mut(&ino)
                    .expect("by_key and nodes agree")
                    .lookups += 1;
                ino
            }
            None => {
                let ino = self.next_ino;
                self.next_ino += 1;
                self.by_key.insert(key, ino);
                self.nodes.insert(
                    ino,
                    Node {
                        fd,
                        key,
                        lookups: 1,
                    },
                );
                ino
            }
        };
        Ok(self.attr(ino, &st))
    }

    /// The held state of a file, created (nothing held) on first use.
    fn held_mut(&mut self, key: Key, file: &impl AsFd) -> Result<&mut Held, Errno> {
        let held = match self.held.entry(key) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let st = stat_fd(file).map_err(errno)?;
                let fd = openat(
                    AT_FDCWD,
                    &proc_path(file),
                    OFlag::O_PATH | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .map_err(errno)?;
                e.insert(HeldFile {
                    held: Held::new(st.st_size as u64),
                    fd,
                })
            }
        };
        Ok(&mut held.held)
    }

    /// Makes a file's held state durable (fsync, fdatasync, synced writes).
    fn sync(&mut self, key: Key) -> Result<(), Errno> {
        let Some(h) = self.held.get(&key) else {
            return Ok(());
        };
        if !h.held.is_clean() {
            let file = File::options()
                .write(true)
                .open(proc_path(&h.fd))
                .map_err(io_errno)?;
            h.held.apply(&file).map_err(io_errno)?;
        }
        self.held.remove(&key);
        Ok(())
    }

    /// Drops the held state of a file that no longer has any name.
    fn forget_if_unlinked(&mut self, key: Key) {
        if let Some(h) = self.held.get(&key) {
            if stat_fd(&h.fd).map(|st| st.st_nlink == 0).unwrap_or(true) {
                self.held.remove(&key);
            }
        }
    }

    fn child_key(&self, parent: INodeNo, name: &OsStr) -> Option<Key> {
        let parent_fd = &self.node(parent).ok()?.fd;
        fstatat(parent_fd, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)
            .ok()
            .map(|st| (st.st_dev, st.st_ino))
    }

    fn new_handle(&mut self, file: File, key: Key, flags: i32) -> u64 {
        let fh = self.next_fh;
        self.next_fh += 1;
        let sync_writes = flags & libc_o_dsync() != 0;
        self.files.insert(
            fh,
            Handle {
                file,
                key,
                sync_writes,
            },
        );
        fh
    }
}

/// What a strict-mode rename needs to know once it is done.
struct Renaming {
    /// The source's identity and whether it is a directory.
    src: Option<(Key, bool)>,
    /// For an exchange, the target's.
    dst: Option<(Key, bool)>,
    from: Key,
    to: Key,
    name: OsString,
    /// A directory replaced by the rename, set aside in the stash.
    stashed: Option<Key>,
}

/// The file system served to the kernel.
pub(crate) struct LazyFs {
    pub(crate) state: Arc<Mutex<State>>,
}

impl LazyFs {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic in one operation must not take the whole mount down.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn errno(e: nix::errno::Errno) -> Errno {
    Errno::from_i32(e as i32)
}

fn io_errno(e: io::Error) -> Errno {
    Errno::from_i32(e.raw_os_error().unwrap_or(nix::libc::EIO))
}

fn libc_o_dsync() -> i32 {
    // O_SYNC is O_DSYNC plus a bit on Linux: testing O_DSYNC catches both.
    OFlag::O_DSYNC.bits()
}

pub(crate) fn proc_path(fd: &impl AsFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_fd().as_raw_fd()))
}

fn stat_fd(fd: &impl AsFd) -> nix::Result<FileStat> {
    fstatat(
        fd,
        "",
        nix::fcntl::AtFlags::AT_EMPTY_PATH | nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
}

fn kind_of(mode: u32) -> FileType {
    match SFlag::from_bits_truncate(mode) & SFlag::S_IFMT {
        SFlag::S_IFDIR => FileType::Directory,
        SFlag::S_IFLNK => FileType::Symlink,
        SFlag::S_IFCHR => FileType::CharDevice,
        SFlag::S_IFBLK => FileType::BlockDevice,
        SFlag::S_IFIFO => FileType::NamedPipe,
        SFlag::S_IFSOCK => FileType::Socket,
        _ => FileType::RegularFile,
    }
}

/// The flags a backing file is opened with: the caller's, less those this
/// file system carries out itself (truncation and sync are held; appends
/// arrive with their offsets from the kernel).
fn backing_flags(flags: i32) -> OFlag {
    let strip = OFlag::O_CREAT
        | OFlag::O_EXCL
        | OFlag::O_TRUNC
        | OFlag::O_APPEND
        | OFlag::O_SYNC
        | OFlag::O_DSYNC
        | OFlag::O_DIRECT
        | OFlag::O_NOCTTY;
    let mut f = OFlag::from_bits_truncate(flags) & !strip;
    // The kernel reads through any handle to fill its page cache: a
    // write-only handle is opened read-write when allowed.
    if f & OFlag::O_ACCMODE == OFlag::O_WRONLY {
        f = (f & !OFlag::O_ACCMODE) | OFlag::O_RDWR;
    }
    f | OFlag::O_CLOEXEC
}

fn open_backing(
    dir: &impl AsFd,
    name: &Path,
    flags: i32,
    create: Option<Mode>,
) -> nix::Result<File> {
    let mut f = backing_flags(flags);
    if let Some(_mode) = create {
        f |= OFlag::O_CREAT | (OFlag::from_bits_truncate(flags) & OFlag::O_EXCL);
    }
    let mode = create.unwrap_or(Mode::empty());
    let fd = match openat(dir, name, f, mode) {
        Err(nix::errno::Errno::EACCES)
            if f & OFlag::O_ACCMODE != OFlag::from_bits_truncate(flags) & OFlag::O_ACCMODE =>
        {
            let f = (f & !OFlag::O_ACCMODE) | (OFlag::from_bits_truncate(flags) & OFlag::O_ACCMODE);
            openat(dir, name, f, mode)?
        }
        r => r?,
    };
    Ok(File::from(fd))
}

impl Filesystem for LazyFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let mut st = self.lock();
        if st.hidden(parent, name) {
            return reply.error(Errno::ENOENT);
        }
        match st.lookup_child(parent, name) {
            Ok(attr) => reply.entry(&TTL, &attr, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        if ino.0 == ROOT {
            return;
        }
        let mut st = self.lock();
        if let Some(node) = st.nodes.get_mut(&ino.0) {
            node.lookups = node.lookups.saturating_sub(nlookup);
            if node.lookups == 0 {
                let key = node.key;
                st.nodes.remove(&ino.0);
                st.by_key.remove(&key);
            }
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, fh: Option<FileHandle>, reply: ReplyAttr) {
        let st = self.lock();
        let stat = match fh.and_then(|fh| st.files.get(&fh.0)) {
            Some(h) => stat_fd(&h.file),
            None => match st.node(ino) {
                Ok(n) => stat_fd(&n.fd),
                Err(e) => return reply.error(e),
            },
        };
        match stat {
            Ok(s) => reply.attr(&TTL, &st.attr(ino.0, &s)),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let mut st = self.lock();
        let result = (|| -> Result<FileAttr, Errno> {
            let fd = st.node(ino)?.fd.try_clone().map_err(io_errno)?;
            if let Some(mode) = mode {
                std::fs::set_permissions(
                    proc_path(&fd),
                    std::fs::Permissions::from_mode(mode & 0o7777),
                )
                .map_err(io_errno)?;
            }
            if uid.is_some() || gid.is_some() {
                nix::unistd::fchownat(
                    &fd,
                    "",
                    uid.map(nix::unistd::Uid::from_raw),
                    gid.map(nix::unistd::Gid::from_raw),
                    nix::fcntl::AtFlags::AT_EMPTY_PATH | nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
                )
                .map_err(errno)?;
            }
            if let Some(size) = size {
                let s = stat_fd(&fd).map_err(errno)?;
                if kind_of(s.st_mode) == FileType::Directory {
                    return Err(Errno::EISDIR);
                }
                let key = (s.st_dev, s.st_ino);
                let file_fd = match fh.and_then(|fh| st.files.get(&fh.0)) {
                    Some(h) => h.file.as_fd().try_clone_to_owned().map_err(io_errno)?,
                    None => fd.try_clone().map_err(io_errno)?,
                };
                st.held_mut(key, &file_fd)?.set_size(size);
            }
            if atime.is_some() || mtime.is_some() {
                let ts = |t: Option<TimeOrNow>| match t {
                    None => nix::sys::time::TimeSpec::UTIME_OMIT,
                    Some(TimeOrNow::Now) => nix::sys::time::TimeSpec::UTIME_NOW,
                    Some(TimeOrNow::SpecificTime(t)) => {
                        let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
                        nix::sys::time::TimeSpec::from_duration(d)
                    }
                };
                nix::sys::stat::utimensat(
                    AT_FDCWD,
                    &proc_path(&fd),
                    &ts(atime),
                    &ts(mtime),
                    nix::sys::stat::UtimensatFlags::FollowSymlink,
                )
                .map_err(errno)?;
            }
            let s = stat_fd(&fd).map_err(errno)?;
            Ok(st.attr(ino.0, &s))
        })();
        match result {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(e) => reply.error(e),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        let st = self.lock();
        match st.node(ino) {
            Ok(n) => match nix::fcntl::readlinkat(&n.fd, "") {
                Ok(target) => reply.data(target.as_bytes()),
                Err(e) => reply.error(errno(e)),
            },
            Err(e) => reply.error(e),
        }
    }

    fn mknod(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        rdev: u32,
        reply: ReplyEntry,
    ) {
        let mut st = self.lock();
        let result = (|| {
            st.before_add(parent, name)?;
            let parent_fd = &st.node(parent)?.fd;
            nix::sys::stat::mknodat(
                parent_fd,
                name,
                SFlag::from_bits_truncate(mode) & SFlag::S_IFMT,
                Mode::from_bits_truncate(mode),
                rdev as u64,
            )
            .map_err(errno)?;
            st.lookup_child(parent, name)
        })();
        match result {
            Ok(attr) => reply.entry(&TTL, &attr, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn mkdir(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        let mut st = self.lock();
        let result = (|| {
            st.before_add(parent, name)?;
            let parent_fd = &st.node(parent)?.fd;
            nix::sys::stat::mkdirat(parent_fd, name, Mode::from_bits_truncate(mode))
                .map_err(errno)?;
            st.lookup_child(parent, name)
        })();
        match result {
            Ok(attr) => reply.entry(&TTL, &attr, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let mut st = self.lock();
        if st.hidden(parent, name) {
            return reply.error(Errno::ENOENT);
        }
        let key = st.child_key(parent, name);
        let result = st.before_remove(parent, name).and_then(|()| {
            let p = st.node(parent)?;
            nix::unistd::unlinkat(&p.fd, name, UnlinkatFlags::NoRemoveDir).map_err(errno)
        });
        if let Some(key) = key {
            st.forget_if_unlinked(key);
        }
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let mut st = self.lock();
        if st.hidden(parent, name) {
            return reply.error(Errno::ENOENT);
        }
        let result = match st.strict_parts(parent) {
            Ok(Some((strict, root, key, fd))) => {
                strict.rmdir(root, key, fd, name).map(|_| ()).map_err(errno)
            }
            Ok(None) => st.node(parent).and_then(|p| {
                nix::unistd::unlinkat(&p.fd, name, UnlinkatFlags::RemoveDir).map_err(errno)
            }),
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn symlink(
        &self,
        _req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        let mut st = self.lock();
        let result = (|| {
            st.before_add(parent, link_name)?;
            let parent_fd = &st.node(parent)?.fd;
            nix::unistd::symlinkat(target, parent_fd, link_name).map_err(errno)?;
            st.lookup_child(parent, link_name)
        })();
        match result {
            Ok(attr) => reply.entry(&TTL, &attr, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let mut st = self.lock();
        if st.hidden(parent, name) {
            return reply.error(Errno::ENOENT);
        }
        if st.hidden(newparent, newname) {
            return reply.error(Errno::EPERM);
        }
        let replaced = st.child_key(newparent, newname);
        let prepared = st.before_rename(parent, name, newparent, newname, flags);
        let moved_back = match prepared {
            Ok(p) => p,
            Err(e) => return reply.error(e),
        };
        let result = (|| {
            let from = &st.node(parent)?.fd;
            let to = &st.node(newparent)?.fd;
            if flags.is_empty() {
                nix::fcntl::renameat(from, name, to, newname).map_err(errno)
            } else {
                nix::fcntl::renameat2(
                    from,
                    name,
                    to,
                    newname,
                    nix::fcntl::RenameFlags::from_bits_truncate(flags.bits()),
                )
                .map_err(errno)
            }
        })();
        st.after_rename(moved_back, result.is_ok(), newparent, newname);
        if let Some(key) = replaced {
            st.forget_if_unlinked(key);
        }
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn link(
        &self,
        _req: &Request,
        ino: INodeNo,
        newparent: INodeNo,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        let mut st = self.lock();
        let result = (|| {
            st.before_add(newparent, newname)?;
            let path = proc_path(&st.node(ino)?.fd);
            let to = &st.node(newparent)?.fd;
            nix::unistd::linkat(
                AT_FDCWD,
                &path,
                to,
                newname,
                nix::fcntl::AtFlags::AT_SYMLINK_FOLLOW,
            )
            .map_err(errno)?;
            st.lookup_child(newparent, newname)
        })();
        match result {
            Ok(attr) => reply.entry(&TTL, &attr, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let mut st = self.lock();
        let result = (|| {
            let node = st.node(ino)?;
            let key = node.key;
            let file =
                open_backing(&AT_FDCWD, &proc_path(&node.fd), flags.0, None).map_err(errno)?;
            Ok(st.new_handle(file, key, flags.0))
        })();
        match result {
            // No keep_cache and no direct_io: the kernel drops its page
            // cache of a file at each open, and mmap keeps working.
            Ok(fh) => reply.opened(FileHandle(fh), FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let st = self.lock();
        let Some(h) = st.files.get(&fh.0) else {
            return reply.error(Errno::EBADF);
        };
        let result = match st.held.get(&h.key) {
            Some(held) => held.held.read(&h.file, offset, size as usize),
            None => {
                let len = h.file.metadata().map(|m| m.len());
                len.and_then(|len| Held::new(len).read(&h.file, offset, size as usize))
            }
        };
        match result {
            Ok(data) => reply.data(&data),
            Err(e) => reply.error(io_errno(e)),
        }
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let mut st = self.lock();
        let result = (|| {
            let h = st.files.get(&fh.0).ok_or(Errno::EBADF)?;
            let (key, synced) = (h.key, h.sync_writes || flags.0 & libc_o_dsync() != 0);
            let fd = h.file.as_fd().try_clone_to_owned().map_err(io_errno)?;
            st.held_mut(key, &fd)?.write(offset, data);
            if synced {
                st.sync(key)?;
            }
            Ok(())
        })();
        match result {
            Ok(()) => reply.written(data.len() as u32),
            Err(e) => reply.error(e),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        // close() is not a sync.
        reply.ok();
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        let mut st = self.lock();
        if let Some(h) = st.files.remove(&fh.0) {
            st.forget_if_unlinked(h.key);
        }
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        let mut st = self.lock();
        let result = match st.files.get(&fh.0) {
            Some(h) => {
                let key = h.key;
                st.sync(key)
            }
            None => Err(Errno::EBADF),
        };
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        let mut st = self.lock();
        let result = (|| {
            let node = st.node(ino)?;
            let mut entries = vec![
                DirEntry {
                    name: ".".into(),
                    kind: FileType::Directory,
                    ino: ino.0,
                },
                DirEntry {
                    name: "..".into(),
                    kind: FileType::Directory,
                    ino: ROOT,
                },
            ];
            for e in std::fs::read_dir(proc_path(&node.fd)).map_err(io_errno)? {
                let e = e.map_err(io_errno)?;
                if st.hidden(ino, &e.file_name()) {
                    continue;
                }
                let ft = e.file_type().map_err(io_errno)?;
                entries.push(DirEntry {
                    name: e.file_name(),
                    kind: FileType::from_std(ft).unwrap_or(FileType::RegularFile),
                    ino: std::os::unix::fs::DirEntryExt::ino(&e),
                });
            }
            let fh = st.next_fh;
            st.next_fh += 1;
            st.dirs.insert(fh, entries);
            Ok(fh)
        })();
        match result {
            Ok(fh) => reply.opened(FileHandle(fh), FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let st = self.lock();
        let Some(entries) = st.dirs.get(&fh.0) else {
            return reply.error(Errno::EBADF);
        };
        for (i, e) in entries.iter().enumerate().skip(offset as usize) {
            if reply.add(INodeNo(e.ino), (i + 1) as u64, e.kind, &e.name) {
                break;
            }
        }
        reply.ok();
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        self.lock().dirs.remove(&fh.0);
        reply.ok();
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        // Default mode: directory operations are durable at once.
        // Strict mode: the directory's live listing becomes durable.
        let mut st = self.lock();
        let unlinked = match st.strict_parts(ino) {
            Ok(Some((strict, root, key, _))) => {
                strict.synced(key);
                strict.collect(root)
            }
            Ok(None) => Vec::new(),
            Err(e) => return reply.error(e),
        };
        for key in unlinked {
            st.forget_if_unlinked(key);
        }
        reply.ok();
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        let st = self.lock();
        let root = &st.nodes[&ROOT].fd;
        match nix::sys::statvfs::statvfs(&proc_path(root)) {
            Ok(s) => reply.statfs(
                s.blocks(),
                s.blocks_free(),
                s.blocks_available(),
                s.files(),
                s.files_free(),
                s.block_size() as u32,
                s.name_max() as u32,
                s.fragment_size() as u32,
            ),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn access(&self, _req: &Request, _ino: INodeNo, _mask: fuser::AccessFlags, reply: ReplyEmpty) {
        // The kernel checks permissions itself (default_permissions).
        reply.ok();
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let mut st = self.lock();
        let result = (|| {
            st.before_add(parent, name)?;
            let parent_fd = &st.node(parent)?.fd;
            let file = open_backing(
                parent_fd,
                Path::new(name),
                flags,
                Some(Mode::from_bits_truncate(mode & 0o7777)),
            )
            .map_err(errno)?;
            let mut attr = st.lookup_child(parent, name)?;
            let s = stat_fd(&file).map_err(errno)?;
            let key = (s.st_dev, s.st_ino);
            if flags & OFlag::O_TRUNC.bits() != 0 && attr.size > 0 {
                st.held_mut(key, &file)?.set_size(0);
                attr.size = 0;
            }
            let fh = st.new_handle(file, key, flags);
            Ok((attr, fh))
        })();
        match result {
            Ok((attr, fh)) => reply.created(
                &TTL,
                &attr,
                Generation(0),
                FileHandle(fh),
                FopenFlags::empty(),
            ),
            Err(e) => reply.error(e),
        }
    }

    fn fallocate(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        const KEEP_SIZE: i32 = 1; // FALLOC_FL_KEEP_SIZE
        let mut st = self.lock();
        let result = (|| {
            let h = st.files.get(&fh.0).ok_or(Errno::EBADF)?;
            match mode {
                // Space is not held back: only the size change is.
                KEEP_SIZE => Ok(()),
                0 => {
                    let key = h.key;
                    let fd = h.file.as_fd().try_clone_to_owned().map_err(io_errno)?;
                    let held = st.held_mut(key, &fd)?;
                    let end = offset + length;
                    if end > held.size() {
                        held.set_size(end);
                    }
                    Ok(())
                }
                _ => Err(Errno::from_i32(nix::libc::EOPNOTSUPP)),
            }
        })();
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }
}
