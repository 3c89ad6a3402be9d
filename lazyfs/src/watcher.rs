//! A watcher process that removes a program's lazyfs mounts once the
//! program is gone, however it died.
//!
//! fusermount3's `auto_unmount` does this too, but it decides once, when
//! its socket to the server closes: a check that races the kernel's abort of
//! the connection can find the mount still busy, and the mount stays
//! (observed about once in a hundred `kill -9`s under load). The watcher
//! instead polls until every mount under its directory is gone, for up to
//! [`ORPHAN_GRACE`].
//!
//! The watcher is the program itself, started again with [`WATCH_ENV`] set:
//! a binary that calls [`Watcher::spawn`] must call [`serve_if_asked`]
//! first thing in `main`. It holds no FUSE device (it is started before any
//! mount), reads its standard input until the end (the parent's death closes
//! the pipe), then unmounts every lazyfs mount under its directory whose
//! server is dead.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use crate::mounts::{lazyfs_mounts_under, remove_dead_mounts, unmount_command};

/// Set (to the directory to watch) in the watcher's environment only.
pub const WATCH_ENV: &str = "FAULTLINE_LAZYFS_WATCH";

/// How long an orphaned watcher keeps trying before it names what is left.
pub const ORPHAN_GRACE: Duration = Duration::from_secs(10);

const POLL: Duration = Duration::from_millis(20);

/// A running watcher. Dropping it closes the pipe and waits (briefly) for
/// the watcher to exit: unmount first, and it finds nothing to do.
#[derive(Debug)]
pub struct Watcher {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Watcher {
    /// Starts this program again as the watcher of the lazyfs mounts at or
    /// below `under`. Call it before mounting anything.
    ///
    /// # Errors
    /// The program cannot be found or started.
    pub fn spawn(under: &Path) -> std::io::Result<Watcher> {
        let exe = std::env::current_exe()?;
        let mut child = Command::new(exe)
            .env(WATCH_ENV, under)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            // Its own process group: a Ctrl-C at the terminal reaches the
            // program, which unmounts, and not the watcher.
            .process_group(0)
            .spawn()?;
        let stdin = child.stdin.take();
        Ok(Watcher { child, stdin })
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + ORPHAN_GRACE + Duration::from_secs(1);
        loop {
            match self.child.try_wait() {
                Ok(None) if Instant::now() < deadline => std::thread::sleep(POLL),
                Ok(None) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return;
                }
                _ => return,
            }
        }
    }
}

/// In a watcher started by [`Watcher::spawn`]: waits for the parent to go,
/// removes its mounts and returns the exit code to leave with. Elsewhere:
/// `None`, at once.
#[must_use]
pub fn serve_if_asked() -> Option<ExitCode> {
    let under = PathBuf::from(std::env::var_os(WATCH_ENV)?);
    // Only the end of input matters; whatever is read is discarded.
    let mut sink = [0u8; 64];
    let mut stdin = std::io::stdin().lock();
    while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
    Some(match remove_orphans(&under, ORPHAN_GRACE) {
        Ok(()) => ExitCode::SUCCESS,
        Err(left) => {
            for mountpoint in left {
                eprintln!(
                    "lazyfs: a mount outlived its server: {}; remove it with `{}`",
                    mountpoint.display(),
                    unmount_command(&mountpoint)
                );
            }
            ExitCode::FAILURE
        }
    })
}

/// Unmounts every lazyfs mount at or below `under` whose server is dead,
/// until none is left or `grace` has passed; a live mount is waited for
/// (its server may still be dying). Returns the mounts left at the end.
fn remove_orphans(under: &Path, grace: Duration) -> Result<(), Vec<PathBuf>> {
    let deadline = Instant::now() + grace;
    loop {
        let Ok(mounts) = lazyfs_mounts_under(under) else {
            return Err(vec![under.to_path_buf()]);
        };
        if mounts.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(mounts.into_iter().map(|m| m.mountpoint).collect());
        }
        // One that cannot be removed yet is tried again until the deadline.
        let _ = remove_dead_mounts(under);
        std::thread::sleep(POLL);
    }
}
