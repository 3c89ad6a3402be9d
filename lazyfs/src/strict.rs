//! Strict mode: directory entries are held until their directory's fsync.
//!
//! The backing directory stays the live view of every name. Each directory
//! changed since its last fsync (or since the mount) has a snapshot of its
//! durable listing (name -> backing object), taken before its first change.
//! An object that leaves the live listing of a directory whose snapshot
//! names it is kept in a hidden stash directory in the backing root (a hard
//! link for a file, the directory itself for an `rmdir`), so that a power
//! loss can put it back. A power loss makes every changed directory hold
//! its snapshot again and empties the stash. The crash model and its edge
//! cases are in docs/disk.md ("Strict mode").

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat, renameat, AtFlags, OFlag};
use nix::sys::stat::{fstatat, mkdirat, Mode, SFlag};
use nix::unistd::{linkat, unlinkat, UnlinkatFlags};

use crate::fs::{proc_path, Key};

/// The stash's name in the backing root. The mount never shows it, and a
/// mount (either mode) removes one left behind by a process that died.
pub(crate) const STASH: &str = ".faultline-lazyfs-stash";

/// One name of a directory listing: the backing object it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    key: Key,
    dir: bool,
}

/// A directory's durable listing, as of its last fsync.
struct Snapshot {
    /// `O_PATH` descriptor of the directory (it may be in the stash).
    fd: OwnedFd,
    entries: BTreeMap<OsString, Entry>,
}

/// An object kept in the stash for a durable listing that names it.
struct Stashed {
    /// Its name in the stash.
    name: OsString,
    dir: bool,
    /// Its path (relative to the root) when it was stashed, for reports.
    was: PathBuf,
}

/// The strict-mode state of one mount.
pub(crate) struct Strict {
    root_key: Key,
    /// The backing root's canonical path.
    root_path: PathBuf,
    /// The stash directory, made on first use and removed once empty.
    stash: Option<OwnedFd>,
    next: u64,
    /// Directories changed since their last fsync: their durable listing.
    durable: HashMap<Key, Snapshot>,
    /// Objects only the stash may still hold, by backing identity.
    stashed: HashMap<Key, Stashed>,
}

/// What restoring the durable listings did.
pub(crate) struct Restored {
    /// Names removed or put back, in directories that survive.
    pub(crate) entries: usize,
}

fn key_of(st: &nix::sys::stat::FileStat) -> Key {
    (st.st_dev, st.st_ino)
}

fn is_dir(mode: u32) -> bool {
    SFlag::from_bits_truncate(mode) & SFlag::S_IFMT == SFlag::S_IFDIR
}

fn io_err(e: Errno) -> io::Error {
    io::Error::from(e)
}

/// Removes a stash left behind in `root` (a process serving a strict mount
/// died before it could remove it).
pub(crate) fn remove_leftover(root: &Path) -> io::Result<()> {
    match std::fs::remove_dir_all(root.join(STASH)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

impl Strict {
    pub(crate) fn new(root_key: Key, root_path: PathBuf) -> Strict {
        Strict {
            root_key,
            root_path,
            stash: None,
            next: 0,
            durable: HashMap::new(),
            stashed: HashMap::new(),
        }
    }

    /// Whether `name` in directory `dir` is the hidden stash.
    pub(crate) fn hides(&self, dir: Key, name: &OsStr) -> bool {
        dir == self.root_key && name == STASH
    }

    /// The live listing of a directory, less the stash.
    fn list(&self, dir: Key, fd: &OwnedFd) -> io::Result<BTreeMap<OsString, Entry>> {
        let mut out = BTreeMap::new();
        for e in std::fs::read_dir(proc_path(fd))? {
            let name = e?.file_name();
            if self.hides(dir, &name) {
                continue;
            }
            let st = match fstatat(fd, name.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
                Ok(st) => st,
                // Gone since it was listed (cannot happen under the lock,
                // unless something else changes the backing directory).
                Err(Errno::ENOENT) => continue,
                Err(e) => return Err(io_err(e)),
            };
            out.insert(
                name,
                Entry {
                    key: key_of(&st),
                    dir: is_dir(st.st_mode),
                },
            );
        }
        Ok(out)
    }

    /// Records the durable listing of `dir` before its first change since
    /// its last fsync.
    pub(crate) fn touch(&mut self, dir: Key, fd: &OwnedFd) -> io::Result<()> {
        if self.durable.contains_key(&dir) {
            return Ok(());
        }
        let entries = self.list(dir, fd)?;
        let fd = fd.try_clone()?;
        self.durable.insert(dir, Snapshot { fd, entries });
        Ok(())
    }

    /// An fsync of `dir`: its live listing is durable.
    pub(crate) fn synced(&mut self, dir: Key) {
        self.durable.remove(&dir);
    }

    fn referenced(&self, dir: Key, key: Key) -> bool {
        self.durable
            .get(&dir)
            .is_some_and(|s| s.entries.values().any(|e| e.key == key))
    }

    fn stash_fd(&mut self, root: &OwnedFd) -> io::Result<&OwnedFd> {
        if self.stash.is_none() {
            match mkdirat(root, STASH, Mode::from_bits_truncate(0o700)) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(io_err(e)),
            }
            let fd = openat(
                root,
                STASH,
                OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(io_err)?;
            self.stash = Some(fd);
        }
        Ok(self.stash.as_ref().expect("made above"))
    }

    fn stash_name(&mut self) -> OsString {
        self.next += 1;
        OsString::from(format!("{}", self.next))
    }

    /// The path of `name` in the directory `fd`, relative to the root.
    fn rel_path(&self, fd: &OwnedFd, name: &OsStr) -> PathBuf {
        let dir = std::fs::read_link(proc_path(fd)).unwrap_or_default();
        dir.strip_prefix(&self.root_path)
            .map(Path::to_path_buf)
            .unwrap_or(dir)
            .join(name)
    }

    /// Before the entry `name` of `dir` goes away or is replaced (unlink,
    /// rename from or over it): if it is a file the durable listing of
    /// `dir` names, a hard link to it goes to the stash.
    pub(crate) fn keep(
        &mut self,
        root: &OwnedFd,
        dir: Key,
        fd: &OwnedFd,
        name: &OsStr,
    ) -> io::Result<()> {
        self.touch(dir, fd)?;
        let st = match fstatat(fd, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            // The operation fails the same way.
            Err(_) => return Ok(()),
        };
        let key = key_of(&st);
        if is_dir(st.st_mode) || self.stashed.contains_key(&key) || !self.referenced(dir, key) {
            return Ok(());
        }
        let sname = self.stash_name();
        let was = self.rel_path(fd, name);
        let stash = self.stash_fd(root)?;
        linkat(fd, name, stash, sname.as_os_str(), AtFlags::empty()).map_err(io_err)?;
        self.stashed.insert(
            key,
            Stashed {
                name: sname,
                dir: false,
                was,
            },
        );
        Ok(())
    }

    /// Removes the (empty) directory `name` of `dir`, as `rmdir` would, or
    /// moves it to the stash if the durable listing of `dir` names it.
    /// Returns the removed directory's identity.
    pub(crate) fn rmdir(
        &mut self,
        root: &OwnedFd,
        dir: Key,
        fd: &OwnedFd,
        name: &OsStr,
    ) -> Result<Key, Errno> {
        self.touch(dir, fd).map_err(to_errno)?;
        let st = fstatat(fd, name, AtFlags::AT_SYMLINK_NOFOLLOW)?;
        let key = key_of(&st);
        if !is_dir(st.st_mode) || !self.referenced(dir, key) {
            unlinkat(fd, name, UnlinkatFlags::RemoveDir)?;
            // Nothing durable names it: its own listing is moot.
            self.durable.remove(&key);
            return Ok(key);
        }
        self.stash_dir(root, fd, name, key)?;
        Ok(key)
    }

    /// Moves the empty directory `name` of `fd` (identity `key`) to the
    /// stash, failing as `rmdir` would if it is not empty.
    fn stash_dir(
        &mut self,
        root: &OwnedFd,
        fd: &OwnedFd,
        name: &OsStr,
        key: Key,
    ) -> Result<(), Errno> {
        let child = openat(
            fd,
            name,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        let empty = std::fs::read_dir(proc_path(&child))
            .map_err(to_errno)?
            .next()
            .is_none();
        if !empty {
            return Err(Errno::ENOTEMPTY);
        }
        let sname = self.stash_name();
        let was = self.rel_path(fd, name);
        let stash = self.stash_fd(root).map_err(to_errno)?;
        renameat(fd, name, stash, sname.as_os_str())?;
        self.stashed.insert(
            key,
            Stashed {
                name: sname,
                dir: true,
                was,
            },
        );
        Ok(())
    }

    /// Before a rename replaces the directory `name` of `dir` with another
    /// directory: if the durable listing of `dir` names it and it is empty,
    /// it goes to the stash first (put back by [`Strict::unstash`] if the
    /// rename then fails). Returns whether it was moved.
    pub(crate) fn keep_replaced_dir(
        &mut self,
        root: &OwnedFd,
        dir: Key,
        fd: &OwnedFd,
        name: &OsStr,
    ) -> io::Result<Option<Key>> {
        self.touch(dir, fd)?;
        let Ok(st) = fstatat(fd, name, AtFlags::AT_SYMLINK_NOFOLLOW) else {
            return Ok(None);
        };
        let key = key_of(&st);
        if !is_dir(st.st_mode) || self.stashed.contains_key(&key) || !self.referenced(dir, key) {
            return Ok(None);
        }
        // Not empty: the rename fails with ENOTEMPTY by itself.
        match self.stash_dir(root, fd, name, key) {
            Ok(()) => Ok(Some(key)),
            Err(_) => Ok(None),
        }
    }

    /// Puts a directory moved by [`Strict::keep_replaced_dir`] back.
    pub(crate) fn unstash(&mut self, key: Key, fd: &OwnedFd, name: &OsStr) {
        if let (Some(s), Some(stash)) = (self.stashed.remove(&key), &self.stash) {
            let _ = renameat(stash, s.name.as_os_str(), fd, name);
        }
    }

    /// After the directory `key` moved from `from` to `to` under `newname`:
    /// a move between directories is durable at once in both (a directory
    /// has one name), if the directory had a durable name at all.
    pub(crate) fn moved_dir(&mut self, key: Key, from: Key, to: Key, newname: &OsStr) {
        if from == to {
            return;
        }
        let mut had = false;
        for snap in self.durable.values_mut() {
            let before = snap.entries.len();
            snap.entries.retain(|_, e| e.key != key);
            had |= snap.entries.len() != before;
        }
        if had {
            if let Some(snap) = self.durable.get_mut(&to) {
                snap.entries
                    .insert(newname.to_os_string(), Entry { key, dir: true });
            }
        }
    }

    /// Where an object only the stash holds was (its path when it was
    /// stashed), if `path` (relative to the root) lies in the stash.
    pub(crate) fn was(&self, key: Key, path: &Path) -> Option<PathBuf> {
        if !path.starts_with(STASH) {
            return None;
        }
        self.stashed.get(&key).map(|s| s.was.clone())
    }

    /// Drops from the stash what no durable listing names any more (after
    /// an fsync of a directory). Returns the files unlinked.
    pub(crate) fn collect(&mut self, root: &OwnedFd) -> Vec<Key> {
        let mut unlinked = Vec::new();
        while !self.stashed.is_empty() {
            let named: HashSet<Key> = self
                .durable
                .values()
                .flat_map(|s| s.entries.values().map(|e| e.key))
                .collect();
            let garbage: Vec<Key> = self
                .stashed
                .keys()
                .filter(|k| !named.contains(k))
                .copied()
                .collect();
            if garbage.is_empty() {
                break;
            }
            for key in garbage {
                let s = self.stashed.remove(&key).expect("listed above");
                let Some(stash) = &self.stash else { continue };
                if s.dir {
                    // A stashed directory is held for nothing else: its
                    // own durable listing goes with it.
                    self.durable.remove(&key);
                    let path = proc_path(stash).join(&s.name);
                    let _ = std::fs::remove_dir_all(path);
                } else {
                    let _ = unlinkat(stash, s.name.as_os_str(), UnlinkatFlags::NoRemoveDir);
                    unlinked.push(key);
                }
            }
        }
        if self.stashed.is_empty() {
            self.remove_stash(root);
        }
        unlinked
    }

    fn remove_stash(&mut self, root: &OwnedFd) {
        if self.stash.take().is_some() {
            let _ = std::fs::remove_dir_all(proc_path(root).join(STASH));
        }
    }

    /// The power loss of the directory entries: every directory changed
    /// since its last fsync holds its durable listing again, and the stash
    /// goes. What no durable listing names is gone.
    pub(crate) fn restore(&mut self, root: &OwnedFd) -> io::Result<Restored> {
        let mut changed: HashMap<Key, usize> = HashMap::new();
        // Where each object moved out of a listing (or stashed) is now.
        let mut loc: HashMap<Key, OsString> = self
            .stashed
            .iter()
            .map(|(k, s)| (*k, s.name.clone()))
            .collect();
        let dirs: Vec<Key> = self.durable.keys().copied().collect();
        if !dirs.is_empty() {
            self.stash_fd(root)?;
        }
        // First out: every live name the durable listing lacks.
        for dir in &dirs {
            let snap = &self.durable[dir];
            let live = match self.list(*dir, &snap.fd) {
                Ok(live) => live,
                // A directory that no longer exists at all.
                Err(e) if e.raw_os_error() == Some(nix::libc::ENOENT) => continue,
                Err(e) => return Err(e),
            };
            for (name, e) in live {
                if snap.entries.get(&name) == Some(&e) {
                    continue;
                }
                *changed.entry(*dir).or_default() += 1;
                let stash = self.stash.as_ref().expect("made above");
                if !e.dir && loc.contains_key(&e.key) {
                    unlinkat(&snap.fd, name.as_os_str(), UnlinkatFlags::NoRemoveDir)
                        .map_err(io_err)?;
                } else {
                    self.next += 1;
                    let sname = OsString::from(format!("{}", self.next));
                    renameat(&snap.fd, name.as_os_str(), stash, sname.as_os_str())
                        .map_err(io_err)?;
                    loc.insert(e.key, sname);
                }
            }
        }
        // Then in: every durable name the live listing lacks.
        for dir in &dirs {
            let snap = &self.durable[dir];
            let stash = self.stash.as_ref().expect("made above");
            for (name, e) in &snap.entries {
                if fstatat(&snap.fd, name.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW).is_ok() {
                    continue;
                }
                let Some(from) = loc.get(&e.key) else {
                    // Nothing holds it any more (cannot happen: whatever a
                    // durable listing names is live or stashed).
                    continue;
                };
                let placed = if e.dir {
                    renameat(stash, from.as_os_str(), &snap.fd, name.as_os_str())
                } else {
                    linkat(
                        stash,
                        from.as_os_str(),
                        &snap.fd,
                        name.as_os_str(),
                        AtFlags::empty(),
                    )
                };
                match placed {
                    Ok(()) => {}
                    // A directory removed for good (replaced by a rename):
                    // nothing durable names it, its listing is moot.
                    Err(Errno::ENOENT) => continue,
                    Err(e) => return Err(io_err(e)),
                }
                if e.dir {
                    loc.remove(&e.key);
                }
                *changed.entry(*dir).or_default() += 1;
            }
        }
        // Count the directories that survive (not left in the stash).
        let stash_path = self.root_path.join(STASH);
        let mut entries = 0;
        for (dir, n) in changed {
            let Some(snap) = self.durable.get(&dir) else {
                continue;
            };
            let path = std::fs::read_link(proc_path(&snap.fd)).unwrap_or_default();
            if !path.starts_with(&stash_path) && !path.to_string_lossy().ends_with(" (deleted)") {
                entries += n;
            }
        }
        self.durable.clear();
        self.stashed.clear();
        self.remove_stash(root);
        Ok(Restored { entries })
    }
}

fn to_errno(e: io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(nix::libc::EIO))
}
