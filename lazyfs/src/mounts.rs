//! Finding and removing lazyfs mounts from /proc/self/mountinfo.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Error, FS_TYPE};

const MOUNTINFO: &str = "/proc/self/mountinfo";

/// One line of /proc/self/mountinfo, the parts that matter here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    /// Where it is mounted.
    pub mountpoint: PathBuf,
    /// File system type, e.g. `fuse.faultline-lazyfs`.
    pub fs_type: String,
    /// Mount source, e.g. `lazyfs:/path/to/backing`.
    pub source: String,
    /// The device's minor number: for FUSE, the connection's number in
    /// /sys/fs/fuse/connections.
    pub minor: u32,
}

/// Undoes mountinfo's octal escapes (`\040` for a space, ...).
fn unescape(field: &str) -> OsString {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    OsString::from_vec(out)
}

/// Parses mountinfo text; `line` numbers in errors are 1-based.
pub(crate) fn parse_mountinfo(text: &str) -> Result<Vec<MountEntry>, String> {
    let mut entries = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(' ').collect();
        let sep = fields.iter().position(|f| *f == "-");
        let minor = fields
            .get(2)
            .and_then(|d| d.split_once(':'))
            .and_then(|(_, m)| m.parse().ok());
        match (fields.get(4), sep, minor) {
            (Some(mp), Some(sep), Some(minor)) if sep >= 6 && fields.len() >= sep + 3 => entries
                .push(MountEntry {
                    mountpoint: PathBuf::from(unescape(mp)),
                    fs_type: fields[sep + 1].to_string(),
                    source: unescape(fields[sep + 2]).to_string_lossy().into_owned(),
                    minor,
                }),
            _ => return Err(format!("line {}: not a mountinfo line: {line:?}", n + 1)),
        }
    }
    Ok(entries)
}

fn read_mountinfo() -> Result<Vec<MountEntry>, Error> {
    let text = std::fs::read_to_string(MOUNTINFO).map_err(|source| Error::MountInfo {
        path: MOUNTINFO.into(),
        source,
    })?;
    parse_mountinfo(&text).map_err(|detail| Error::MountInfo {
        path: MOUNTINFO.into(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, detail),
    })
}

pub(crate) fn is_mounted(mountpoint: &Path) -> Result<bool, Error> {
    Ok(read_mountinfo()?
        .iter()
        .any(|m| m.mountpoint == mountpoint && m.fs_type == FS_TYPE))
}

/// Whether the mount at `mountpoint` has lost its FUSE server: it answers
/// "not connected" (ENOTCONN), or "connection aborted" (ECONNABORTED) to a
/// request that was in flight when the last holder of the FUSE device went.
pub fn is_dead(mountpoint: &Path) -> bool {
    matches!(
        std::fs::metadata(mountpoint),
        Err(err) if matches!(err.raw_os_error(), Some(nix::libc::ENOTCONN | nix::libc::ECONNABORTED))
    )
}

/// The lazyfs mounts at or below `under`, deepest first (the order to
/// unmount them in).
pub fn lazyfs_mounts_under(under: &Path) -> Result<Vec<MountEntry>, Error> {
    let under = under.canonicalize().unwrap_or_else(|_| under.to_path_buf());
    let mut found: Vec<MountEntry> = read_mountinfo()?
        .into_iter()
        .filter(|m| m.fs_type == FS_TYPE && m.mountpoint.starts_with(&under))
        .collect();
    found.sort_by(|a, b| b.mountpoint.cmp(&a.mountpoint));
    Ok(found)
}

/// The shell command that removes a leftover mount by hand.
pub(crate) fn unmount_command(mountpoint: &Path) -> String {
    format!("fusermount3 -u -z '{}'", mountpoint.display())
}

/// Reaps this process's exited fusermount3 children: fuser starts one per
/// mount (the auto_unmount watcher) and never waits for it.
pub(crate) fn reap_fusermount() {
    let me = std::process::id() as i32;
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return;
    };
    for e in dir.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid ...
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = &stat[open + 1..close];
        let mut rest = stat[close + 1..].split_whitespace();
        let (state, ppid) = (rest.next(), rest.next().and_then(|p| p.parse::<i32>().ok()));
        if comm == "fusermount3" && state == Some("Z") && ppid == Some(me) {
            let _ = nix::sys::wait::waitpid(
                nix::unistd::Pid::from_raw(pid),
                Some(nix::sys::wait::WaitPidFlag::WNOHANG),
            );
        }
    }
}

/// Detaches the mount at `mountpoint`: `fusermount3 -u -z` (works for the
/// mount's owner), else umount2(MNT_DETACH) (root).
pub(crate) fn unmount(mountpoint: &Path) -> Result<(), String> {
    let fusermount = Command::new("fusermount3")
        .args(["-u", "-z", "-q", "--"])
        .arg(mountpoint)
        .output();
    if matches!(&fusermount, Ok(out) if out.status.success()) {
        return Ok(());
    }
    match nix::mount::umount2(mountpoint, nix::mount::MntFlags::MNT_DETACH) {
        Ok(()) => Ok(()),
        Err(e) => Err(match fusermount {
            Ok(out) => format!(
                "fusermount3: {}; umount2: {e}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            Err(f) => format!("cannot run fusermount3: {f}; umount2: {e}"),
        }),
    }
}

const FUSECTL: &str = "/sys/fs/fuse/connections";

/// Aborts a FUSE connection through fusectl (mounting fusectl first when it
/// is not, which needs root): requests waiting on a dead server fail at once
/// instead of hanging, which frees processes stuck on the mount. Best effort.
pub(crate) fn abort_connection(minor: u32) {
    let abort = Path::new(FUSECTL).join(minor.to_string()).join("abort");
    if !abort.exists() && Path::new(FUSECTL).is_dir() {
        let _ = nix::mount::mount(
            Some("fusectl"),
            FUSECTL,
            Some("fusectl"),
            nix::mount::MsFlags::empty(),
            None::<&str>,
        );
    }
    let _ = std::fs::write(abort, "1");
}

/// Unmounts the lazyfs mounts at or below `under` whose server is dead
/// (see [`is_dead`]), aborting each one's connection first, and returns
/// their mount points. Live mounts are left alone, so this is safe while
/// other processes serve mounts there.
///
/// # Errors
/// The mounts cannot be listed, or a dead mount cannot be removed (naming
/// the command that removes it by hand).
pub fn remove_dead_mounts(under: &Path) -> Result<Vec<PathBuf>, Error> {
    remove_mounts(under, is_dead)
}

/// Unmounts every lazyfs mount left at or below `under` (by a run that
/// died before it could unmount, or a mount leaked by a bug) and returns
/// their mount points. Each mount's FUSE connection is aborted first, so
/// nothing stays blocked on it. Call it before mounting anything there: it
/// does not tell a live mount of this process from a stale one. A mount
/// that cannot be removed is an error that names the command to remove it
/// by hand.
pub fn cleanup_stale_mounts(under: &Path) -> Result<Vec<PathBuf>, Error> {
    remove_mounts(under, |_| true)
}

/// Aborts and unmounts each lazyfs mount at or below `under` that `remove`
/// picks; returns their mount points, or the first that cannot be removed.
fn remove_mounts(under: &Path, remove: impl Fn(&Path) -> bool) -> Result<Vec<PathBuf>, Error> {
    let mut removed = Vec::new();
    for m in lazyfs_mounts_under(under)? {
        if !remove(&m.mountpoint) {
            continue;
        }
        abort_connection(m.minor);
        if let Err(detail) = unmount(&m.mountpoint) {
            return Err(Error::Unmount {
                command: unmount_command(&m.mountpoint),
                path: m.mountpoint,
                detail,
            });
        }
        removed.push(m.mountpoint);
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_lines_give_mountpoint_type_and_source_with_escapes_undone() {
        let text = "22 1 0:21 / /proc rw,nosuid - proc proc rw\n\
                    90 22 0:50 / /tmp/run\\040one/n1 rw,nosuid,nodev,relatime shared:5 - fuse.faultline-lazyfs lazyfs:/tmp/disk rw,user_id=0\n";
        let got = parse_mountinfo(text).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].mountpoint, PathBuf::from("/tmp/run one/n1"));
        assert_eq!(got[1].fs_type, FS_TYPE);
        assert_eq!(got[1].source, "lazyfs:/tmp/disk");
        assert_eq!(got[1].minor, 50);
    }

    #[test]
    fn a_malformed_mountinfo_line_is_an_error_naming_its_line() {
        let err = parse_mountinfo("22 1 0:21 / /proc rw - proc proc rw\ngarbage\n").unwrap_err();
        assert!(err.starts_with("line 2:"), "{err}");
    }
}
