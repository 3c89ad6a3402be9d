//! What the FUSE tests share: a mount in a temporary directory that is
//! unmounted when the test ends (even on panic), or a one-line skip when
//! FUSE is not usable here (a failure when `CI` is set).
#![allow(dead_code)]

pub mod io;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use lazyfs::{LazyFs, Mount, Options};

/// A backing directory and a lazyfs mount of it. Field order matters: the
/// mount is dropped (unmounted) before the directories are removed.
pub struct TestMount {
    pub mount: Option<Mount>,
    pub backing: PathBuf,
    pub mnt: PathBuf,
    _dir: tempfile::TempDir,
}

impl TestMount {
    /// Mounts a fresh directory, or returns None after printing why the
    /// test `name` is skipped. Panics instead when `CI` is set.
    pub fn new(name: &str) -> Option<TestMount> {
        Self::with(name, Options::default())
    }

    pub fn with(name: &str, opts: Options) -> Option<TestMount> {
        let dir = tempfile::tempdir().expect("tempdir");
        let backing = dir.path().join("disk");
        let mnt = dir.path().join("mnt");
        std::fs::create_dir(&backing).unwrap();
        std::fs::create_dir(&mnt).unwrap();
        let why = if !Path::new("/dev/fuse").exists() {
            Some("/dev/fuse is missing".to_string())
        } else {
            match LazyFs::mount(&backing, &mnt, opts) {
                Ok(mount) => {
                    return Some(TestMount {
                        mount: Some(mount),
                        backing,
                        mnt,
                        _dir: dir,
                    })
                }
                Err(e) => Some(e.to_string()),
            }
        };
        let why = why.unwrap();
        if std::env::var_os("CI").is_some() {
            panic!("{name}: FUSE is required when CI is set: {why}");
        }
        // One line per test, even for a proptest that asks once per case.
        static SKIPPED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
        if SKIPPED
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_string())
        {
            // Straight to stderr: the test harness hides what eprintln!
            // prints in a passing test.
            let line = format!("skipped {name}: {why}\n");
            let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
        }
        None
    }

    /// Whether FUSE mounts work here; prints the skip line (or panics under
    /// `CI`) when they do not.
    pub fn usable(name: &str) -> bool {
        TestMount::new(name).is_some()
    }

    pub fn mount(&self) -> &Mount {
        self.mount.as_ref().expect("mounted")
    }

    /// A path inside the mount.
    pub fn p(&self, rel: &str) -> PathBuf {
        self.mnt.join(rel)
    }

    /// Unmounts and mounts the same backing directory again (what a node
    /// sees after a power loss and reboot).
    pub fn remount(&mut self, opts: Options) {
        self.mount
            .take()
            .expect("mounted")
            .unmount()
            .expect("unmount");
        self.mount = Some(LazyFs::mount(&self.backing, &self.mnt, opts).expect("remount"));
    }

    /// Mounts the backing directory again after the test unmounted it.
    pub fn remount_after_unmount(&mut self, opts: Options) {
        assert!(self.mount.is_none(), "still mounted");
        self.mount = Some(LazyFs::mount(&self.backing, &self.mnt, opts).expect("remount"));
    }
}
