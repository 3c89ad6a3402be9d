//! A lazy file system for crash tests: a FUSE mount that passes every
//! operation through to a backing directory, but holds what was written to a
//! file since its last `fsync`/`fdatasync` in memory until that sync, as
//! LazyFS does for Jepsen. [`Mount::power_loss`] drops what is held, so the
//! files hold exactly what was synced. In strict mode ([`Options::strict`])
//! directory entries are held too: after a power loss each directory lists
//! exactly the entries it had at its last fsync.
//!
//! The crash model, its edge cases and the figures are in docs/disk.md.
//!
//! ```no_run
//! # fn main() -> Result<(), lazyfs::Error> {
//! use lazyfs::{LazyFs, Options};
//! let mount = LazyFs::mount("/tmp/n1-disk".as_ref(), "/tmp/n1".as_ref(), Options::default())?;
//! // ... run the node on /tmp/n1, SIGKILL it ...
//! let lost = mount.power_loss()?;
//! println!("dropped {} bytes in {} files", lost.bytes, lost.files);
//! mount.unmount()?;
//! # Ok(()) }
//! ```

mod fs;
mod held;
mod mounts;
mod strict;
pub mod watcher;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fuser::{Config, INodeNo, MountOption, SessionACL};
use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;

pub use mounts::{
    cleanup_stale_mounts, is_dead, lazyfs_mounts_under, remove_dead_mounts, MountEntry,
};
pub use watcher::Watcher;

/// The file system type of every lazyfs mount, as listed in
/// `/proc/self/mountinfo`.
pub const FS_TYPE: &str = "fuse.faultline-lazyfs";
const SUBTYPE: &str = "faultline-lazyfs";

/// What went wrong, naming the path concerned.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("lazyfs: backing directory {path}: {source}")]
    Backing {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("lazyfs: cannot mount on {path}: {source} (needs /dev/fuse and fusermount3, from Debian's fuse3)")]
    Mount {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("lazyfs: cannot unmount {path}: {detail}; remove it with `{command}`")]
    Unmount {
        path: PathBuf,
        detail: String,
        command: String,
    },
    #[error("lazyfs: power loss on {path}: {source}")]
    PowerLoss {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("lazyfs: cannot read {path}: {source}")]
    MountInfo {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// How a mount behaves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// Strict mode: also drop, at a power loss, the directory entries
    /// changed since their directory's last fsync (docs/disk.md, "Strict
    /// mode").
    pub strict: bool,
}

impl Options {
    /// Default mode: file contents as of their last sync, directory
    /// operations durable at once.
    pub fn new() -> Options {
        Options::default()
    }

    /// Strict mode: file contents as of their last sync, and each
    /// directory's entries as of its last fsync.
    pub fn strict() -> Options {
        Options { strict: true }
    }
}

/// What one file lost in a power loss.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileLoss {
    /// The file's path relative to the mount's root (as it is now in the
    /// backing directory; it may end in " (deleted)" for a file that has no
    /// name any more).
    pub path: PathBuf,
    /// Bytes written since the last sync and dropped.
    pub bytes: u64,
}

/// What a power loss dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PowerLossReport {
    /// Files that had unsynced writes or size changes.
    pub files: usize,
    /// Unsynced bytes dropped (written bytes; a held truncation counts 0).
    pub bytes: u64,
    /// Directory entries undone (always 0 in default mode): names added
    /// since their directory's last fsync and removed, plus names removed
    /// since and put back, counted in the directories that remain (a
    /// directory that goes counts as one name, not with its contents; a
    /// rename in one directory counts 2).
    pub entries: usize,
    /// Per file, by path.
    pub lost: Vec<FileLoss>,
}

/// The lazy file system.
pub struct LazyFs;

impl LazyFs {
    /// Mounts `backing` on `mountpoint` (both existing directories) and
    /// serves it from a background thread until the [`Mount`] is unmounted
    /// or dropped. The mount uses fusermount3's auto_unmount, so it never
    /// outlives this process, even after a `kill -9`.
    pub fn mount(backing: &Path, mountpoint: &Path, opts: Options) -> Result<Mount, Error> {
        mounts::reap_fusermount();
        let backing_err = |source| Error::Backing {
            path: backing.to_path_buf(),
            source,
        };
        let backing_abs = backing.canonicalize().map_err(backing_err)?;
        if !backing_abs.is_dir() {
            return Err(backing_err(std::io::Error::new(
                std::io::ErrorKind::NotADirectory,
                "not a directory",
            )));
        }
        let root = open(
            &backing_abs,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| backing_err(e.into()))?;
        strict::remove_leftover(&backing_abs).map_err(backing_err)?;
        let state = fs::State::new(root, backing_abs.clone(), opts.strict).map_err(backing_err)?;
        let state = Arc::new(Mutex::new(state));
        let filesystem = fs::LazyFs {
            state: Arc::clone(&state),
        };
        let mut config = Config::default();
        config.mount_options = vec![
            MountOption::FSName(format!("lazyfs:{}", backing_abs.display())),
            MountOption::Subtype(SUBTYPE.to_string()),
            MountOption::AutoUnmount,
            MountOption::DefaultPermissions,
            MountOption::RW,
        ];
        config.acl = if nix::unistd::geteuid().is_root() {
            SessionACL::All
        } else {
            SessionACL::RootAndOwner
        };
        let mount_err = |source| Error::Mount {
            path: mountpoint.to_path_buf(),
            source,
        };
        let mountpoint_abs = mountpoint.canonicalize().map_err(mount_err)?;
        let session = fuser::Session::new(filesystem, &mountpoint_abs, &config)
            .and_then(fuser::Session::spawn)
            .map_err(mount_err)?;
        Ok(Mount {
            session: Some(session),
            state,
            backing: backing_abs,
            mountpoint: mountpoint_abs,
        })
    }
}

/// A mounted lazy file system, served in a background thread. Dropping it
/// unmounts (errors ignored); [`Mount::unmount`] reports them.
pub struct Mount {
    session: Option<fuser::BackgroundSession>,
    state: Arc<Mutex<fs::State>>,
    backing: PathBuf,
    mountpoint: PathBuf,
}

impl std::fmt::Debug for Mount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mount")
            .field("backing", &self.backing)
            .field("mountpoint", &self.mountpoint)
            .finish()
    }
}

impl Mount {
    /// Where the file system is mounted (canonical).
    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }

    /// The backing directory (canonical). It holds exactly the durable
    /// state, except in strict mode while mounted: there its names are the
    /// live ones (the durable ones come back at a power loss or unmount),
    /// and it holds a hidden stash (`.faultline-lazyfs-stash`).
    pub fn backing(&self) -> &Path {
        &self.backing
    }

    /// Bytes currently held in memory, not yet synced.
    pub fn held_bytes(&self) -> u64 {
        let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.held.values().map(|h| h.held.held_bytes()).sum()
    }

    /// Drops every unsynced write and size change (and in strict mode every
    /// directory entry change since the directory's last fsync), as a power
    /// loss would, and makes the kernel forget what it cached. Call it while no process
    /// has files open on the mount (after the node was SIGKILLed): pages a
    /// dead process dirtied through mmap are first pushed to the file system
    /// (`syncfs`) and dropped with the rest, since nothing synced them.
    pub fn power_loss(&self) -> Result<PowerLossReport, Error> {
        let err = |source| Error::PowerLoss {
            path: self.mountpoint.clone(),
            source,
        };
        // Dirty pages in the kernel (mmap writes never msync'ed) arrive as
        // plain writes: held, then dropped below.
        let dir = File::open(&self.mountpoint).map_err(err)?;
        nix::unistd::syncfs(&dir).map_err(|e| err(e.into()))?;
        drop(dir);
        let mut report = PowerLossReport::default();
        self.drop_held(&mut report);
        report.entries = {
            let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            st.restore_entries().map_err(err)?
        };
        // Without keep_cache the kernel drops a file's pages at each open
        // anyway; invalidate now too, for mappings that outlived the node.
        let inodes = {
            let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            st.inodes()
        };
        if let Some(session) = &self.session {
            let notifier = session.notifier();
            for ino in inodes {
                // ENOENT (the kernel forgot the inode) is fine.
                let _ = notifier.inval_inode(INodeNo(ino), 0, 0);
            }
        }
        // An invalidation writes back any page still dirty: drop that too.
        self.drop_held(&mut report);
        Ok(report)
    }

    fn drop_held(&self, report: &mut PowerLossReport) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let held = std::mem::take(&mut st.held);
        for (key, h) in held {
            if h.held.is_clean() {
                continue;
            }
            let bytes = h.held.held_bytes();
            let mut path = std::fs::read_link(fs::proc_path(&h.fd))
                .ok()
                .map(|p| {
                    p.strip_prefix(&self.backing)
                        .map(Path::to_path_buf)
                        .unwrap_or(p)
                })
                .unwrap_or_default();
            // Strict mode: a file only the stash holds is named as it was.
            if let Some(was) = st.strict.as_ref().and_then(|s| s.was(key, &path)) {
                let mut name = was.into_os_string();
                name.push(" (deleted)");
                path = PathBuf::from(name);
            }
            report.files += 1;
            report.bytes += bytes;
            report.lost.push(FileLoss { path, bytes });
        }
        report.lost.sort_by(|a, b| a.path.cmp(&b.path));
    }

    /// Unmounts and waits until the mount is gone. Files must be closed.
    /// What was not synced is lost, as in a power loss: held writes, and in
    /// strict mode the directory entry changes (the backing directory is
    /// left holding exactly the durable state).
    pub fn unmount(mut self) -> Result<(), Error> {
        self.unmount_inner()
    }

    fn unmount_inner(&mut self) -> Result<(), Error> {
        let Some(session) = self.session.take() else {
            return Ok(());
        };
        let restored = {
            let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            st.restore_entries()
        };
        // fusermount3's auto_unmount only acts once this process is gone (it
        // unmounts when the mount answers ENOTCONN), and fuser leaves the
        // unmount to it: unmount here first, then let the session end.
        let unmounted = mounts::unmount(&self.mountpoint);
        let result = match unmounted {
            Ok(()) => session.umount_and_join(),
            // Joining would wait for an unmount that is not coming.
            Err(detail) => Err(std::io::Error::other(detail)),
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let still = mounts::is_mounted(&self.mountpoint).unwrap_or(false);
            if !still {
                break;
            }
            if Instant::now() > deadline {
                return Err(Error::Unmount {
                    path: self.mountpoint.clone(),
                    detail: match result {
                        Err(e) => e.to_string(),
                        Ok(()) => "still mounted 5 s after unmounting".to_string(),
                    },
                    command: mounts::unmount_command(&self.mountpoint),
                });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        // The watcher exits once its socket is closed and the mount gone;
        // reap it (or it is reaped at the next mount or unmount).
        std::thread::sleep(Duration::from_millis(5));
        mounts::reap_fusermount();
        restored.map(drop).map_err(|source| Error::Backing {
            path: self.backing.clone(),
            source,
        })
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = self.unmount_inner();
    }
}
