//! Per-node lazy disks for `power`, `powercycle` and `corrupt`: the node's
//! data directory is a lazyfs mount (docs/disk.md) of a backing directory,
//! which holds exactly what the node synced.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use lazyfs::{LazyFs, Mount, Options};
use serde::{Deserialize, Serialize};

use crate::rng::Rng;
use crate::{Error, NodeId, Result};

/// What a power loss dropped on one node's disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskLoss {
    /// Files that had unsynced writes.
    pub files: usize,
    /// Unsynced bytes dropped.
    pub bytes: u64,
    /// Directory entries undone (strict mode only; 0 by default).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub entries: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// How `corrupt` damaged a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CorruptKind {
    /// One bit flipped: `length` is 1 (the byte at `offset`).
    Bitflip,
    /// `length` bytes cut off the end: the file now ends at `offset`.
    Truncate,
}

impl CorruptKind {
    /// Every kind, as `--nemesis corrupt:KIND` names them.
    pub const ALL: [CorruptKind; 2] = [CorruptKind::Bitflip, CorruptKind::Truncate];

    /// `bitflip` or `truncate`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            CorruptKind::Bitflip => "bitflip",
            CorruptKind::Truncate => "truncate",
        }
    }
}

/// One corrupted file, as the `corrupt` history event describes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Corruption {
    /// The node whose disk was damaged.
    pub node: NodeId,
    /// The file, relative to the node's data directory.
    pub path: String,
    /// The byte flipped, or the new end of the file.
    pub offset: u64,
    /// Bytes touched: 1 for a bit flip, the bytes cut for a truncation.
    pub length: u64,
    /// `bitflip` or `truncate`.
    pub kind: CorruptKind,
}

struct Disk {
    backing: PathBuf,
    mountpoint: PathBuf,
    mount: Mutex<Option<Mount>>,
}

/// One lazyfs mount per node, mounted on the node's data directory.
/// Dropping it unmounts every disk; a `kill -9` of the harness unmounts
/// them too (lazyfs mounts with fusermount3's auto_unmount).
pub struct Disks {
    disks: Vec<Disk>,
    corruptible: Vec<String>,
}

impl std::fmt::Debug for Disks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Disks")
            .field("nodes", &self.disks.len())
            .field("corruptible", &self.corruptible)
            .finish()
    }
}

fn disk_error(node: NodeId, detail: impl std::fmt::Display) -> Error {
    Error::Disk {
        node,
        detail: detail.to_string(),
    }
}

impl Disks {
    /// Mounts, for node i, `dirs[i].0` (the backing directory) on
    /// `dirs[i].1` (its data directory), creating both. `corruptible`:
    /// globs (`*` and `?` within one path segment) of the files, relative
    /// to the data directory, that `corrupt` may damage. `options`: lazyfs's
    /// mode (default or strict).
    ///
    /// # Errors
    /// `Disk` naming the node and the directory that could not be made or
    /// mounted (the disks mounted so far are unmounted).
    pub fn mount(
        dirs: Vec<(PathBuf, PathBuf)>,
        corruptible: Vec<String>,
        options: Options,
    ) -> Result<Self> {
        let mut disks = Vec::with_capacity(dirs.len());
        for (i, (backing, mountpoint)) in dirs.into_iter().enumerate() {
            let node = NodeId(i);
            for dir in [&backing, &mountpoint] {
                std::fs::create_dir_all(dir).map_err(|e| {
                    disk_error(node, format!("cannot create {}: {e}", dir.display()))
                })?;
            }
            let mount =
                LazyFs::mount(&backing, &mountpoint, options).map_err(|e| disk_error(node, e))?;
            disks.push(Disk {
                backing,
                mountpoint,
                mount: Mutex::new(Some(mount)),
            });
        }
        Ok(Self { disks, corruptible })
    }

    fn disk(&self, node: NodeId) -> Result<&Disk> {
        self.disks.get(node.index()).ok_or(Error::UnknownNode {
            node,
            nodes: self.disks.len(),
        })
    }

    /// The node's backing directory: its durable state.
    ///
    /// # Errors
    /// `UnknownNode`.
    pub fn backing(&self, node: NodeId) -> Result<&Path> {
        Ok(&self.disk(node)?.backing)
    }

    /// Drops every write the node did not sync. Call it after the node was
    /// SIGKILLed.
    ///
    /// # Errors
    /// `Disk` when the disk is unmounted or lazyfs fails.
    pub fn power_loss(&self, node: NodeId) -> Result<DiskLoss> {
        let disk = self.disk(node)?;
        let guard = disk.mount.lock().unwrap_or_else(|p| p.into_inner());
        let mount = guard
            .as_ref()
            .ok_or_else(|| disk_error(node, "not mounted"))?;
        let report = mount.power_loss().map_err(|e| disk_error(node, e))?;
        Ok(DiskLoss {
            files: report.files,
            bytes: report.bytes,
            entries: report.entries,
        })
    }

    /// Damages the durable copy of the newest non-empty corruptible file of
    /// a stopped node, seeded (see [`damage`]): a bit flip, or a cut of the
    /// file's end; `kind` chooses, else the seed does. What the node wrote
    /// and did not sync is flushed first (as a clean shutdown would), so
    /// that the damage is the only fault.
    ///
    /// # Errors
    /// `Disk` when no corruptible file exists yet, or a file cannot be
    /// read or written.
    pub fn corrupt(
        &self,
        node: NodeId,
        seed: u64,
        kind: Option<CorruptKind>,
    ) -> Result<Corruption> {
        let disk = self.disk(node)?;
        let guard = disk.mount.lock().unwrap_or_else(|p| p.into_inner());
        let mount = guard
            .as_ref()
            .ok_or_else(|| disk_error(node, "not mounted"))?;
        // Newest as the node last saw its files (through the mount, before
        // the flush, which would touch them in directory order).
        let mut files = Vec::new();
        list_files(&disk.mountpoint, Path::new(""), &mut files).map_err(|e| disk_error(node, e))?;
        sync_tree(&disk.mountpoint).map_err(|e| disk_error(node, e))?;
        let newest = files
            .into_iter()
            .filter(|(rel, len, _)| *len > 0 && self.is_corruptible(rel))
            .max_by(|a, b| a.2.cmp(&b.2).then_with(|| b.0.cmp(&a.0)));
        let Some((rel, _, _)) = newest else {
            return Err(disk_error(
                node,
                format!(
                    "no non-empty file matching {:?} in {}",
                    self.corruptible,
                    disk.backing.display()
                ),
            ));
        };
        let path = disk.backing.join(&rel);
        let len = std::fs::metadata(&path)
            .map(|meta| meta.len())
            .map_err(|e| disk_error(node, format!("{}: {e}", path.display())))?;
        if len == 0 {
            return Err(disk_error(node, format!("{} is empty", path.display())));
        }
        let mut rng = Rng::new(seed);
        let corruption = damage(&path, len, &mut rng, kind)
            .map_err(|e| disk_error(node, format!("{}: {e}", path.display())))?;
        // The kernel may cache the old bytes or size: make it forget
        // (nothing is held any more, so nothing is dropped).
        mount.power_loss().map_err(|e| disk_error(node, e))?;
        let (offset, length, kind) = corruption;
        Ok(Corruption {
            node,
            path: rel,
            offset,
            length,
            kind,
        })
    }

    fn is_corruptible(&self, rel: &str) -> bool {
        self.corruptible.iter().any(|glob| glob_match(glob, rel))
    }

    /// Unmounts every disk; returns what went wrong (each naming the
    /// command that removes the mount by hand).
    pub fn unmount_all(&self) -> Vec<String> {
        let mut errors = Vec::new();
        for disk in &self.disks {
            let mount = disk.mount.lock().unwrap_or_else(|p| p.into_inner()).take();
            if let Some(mount) = mount {
                if let Err(e) = mount.unmount() {
                    errors.push(e.to_string());
                }
            }
        }
        errors
    }
}

impl Drop for Disks {
    fn drop(&mut self) {
        let _ = self.unmount_all();
    }
}

/// The length of a file without its trailing zero bytes: where its data
/// ends when the rest is preallocated space (etcd preallocates each WAL
/// file to 64 MB). Reads backwards from the end, in blocks.
fn data_length(file: &std::fs::File, len: u64) -> std::io::Result<u64> {
    use std::os::unix::fs::FileExt;
    const BLOCK: u64 = 1 << 16;
    let mut buf = vec![0u8; BLOCK as usize];
    let mut end = len;
    while end > 0 {
        let start = end.saturating_sub(BLOCK);
        let chunk = &mut buf[..(end - start) as usize];
        file.read_exact_at(chunk, start)?;
        if let Some(last) = chunk.iter().rposition(|&b| b != 0) {
            return Ok(start + last as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

/// Damages the file at `path` (`len` bytes), seeded, within its data (the
/// bytes before its trailing zeros, or the whole file if it is all zeros):
/// - a bit flip: one bit of one byte of the data;
/// - a truncation: the file is cut at a random point of its data, from its
///   first byte to its last (so at least one byte of data, and every
///   trailing zero, goes).
///
/// `kind` chooses the damage, else the seed does. Returns (offset, length,
/// kind): the byte flipped and 1, or the new end and the bytes cut.
fn damage(
    path: &Path,
    len: u64,
    rng: &mut Rng,
    kind: Option<CorruptKind>,
) -> std::io::Result<(u64, u64, CorruptKind)> {
    use std::os::unix::fs::FileExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)?;
    let below = |rng: &mut Rng, bound: u64| rng.next_u64() % bound.max(1);
    let drawn = if rng.below(2) == 0 {
        CorruptKind::Bitflip
    } else {
        CorruptKind::Truncate
    };
    let data = match data_length(&file, len)? {
        0 => len,
        data => data,
    };
    let result = match kind.unwrap_or(drawn) {
        CorruptKind::Bitflip => {
            let offset = below(rng, data);
            let bit = rng.below(8);
            let mut byte = [0u8];
            file.read_exact_at(&mut byte, offset)?;
            byte[0] ^= 1 << bit;
            file.write_all_at(&byte, offset)?;
            (offset, 1, CorruptKind::Bitflip)
        }
        CorruptKind::Truncate => {
            let end = below(rng, data);
            file.set_len(end)?;
            (end, len - end, CorruptKind::Truncate)
        }
    };
    file.sync_all()?;
    Ok(result)
}

/// fsyncs every regular file and directory under `dir`, `dir` included
/// (through the mount): in strict mode a directory's entries are durable
/// only once the directory is synced.
fn sync_tree(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            sync_tree(&entry.path())?;
        } else if kind.is_file() {
            std::fs::File::open(entry.path())?.sync_all()?;
        }
    }
    std::fs::File::open(dir)?.sync_all()
}

/// Regular files under `root/rel`: (path relative to root, length, mtime).
fn list_files(
    root: &Path,
    rel: &Path,
    out: &mut Vec<(String, u64, SystemTime)>,
) -> std::io::Result<()> {
    for entry in std::fs::read_dir(root.join(rel))? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let child = rel.join(entry.file_name());
        if kind.is_dir() {
            list_files(root, &child, out)?;
        } else if kind.is_file() {
            let meta = entry.metadata()?;
            let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            out.push((child.to_string_lossy().into_owned(), meta.len(), modified));
        }
    }
    Ok(())
}

/// Whether `path` matches `glob`: `*` is any run and `?` any one
/// character, never crossing a `/`; everything else matches itself.
#[must_use]
pub fn glob_match(glob: &str, path: &str) -> bool {
    fn go(g: &[char], p: &[char]) -> bool {
        match g.split_first() {
            None => p.is_empty(),
            Some(('*', rest)) => (0..=p.len())
                .take_while(|&i| i == 0 || p[i - 1] != '/')
                .any(|i| go(rest, &p[i..])),
            Some(('?', rest)) => {
                matches!(p.split_first(), Some((c, tail)) if *c != '/' && go(rest, tail))
            }
            Some((c, rest)) => {
                matches!(p.split_first(), Some((d, tail)) if d == c && go(rest, tail))
            }
        }
    }
    let g: Vec<char> = glob.chars().collect();
    let p: Vec<char> = path.chars().collect();
    go(&g, &p)
}

/// Per node, what a `power` event dropped, keyed by node name.
pub type Dropped = BTreeMap<NodeId, DiskLoss>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_within_one_path_segment() {
        assert!(glob_match("raft.wal", "raft.wal"));
        assert!(!glob_match("raft.wal", "raft.wal.tmp"));
        assert!(glob_match("member/wal/*.wal", "member/wal/0000-0000.wal"));
        assert!(!glob_match("member/*.wal", "member/wal/0.wal"));
        assert!(glob_match("member/snap/db", "member/snap/db"));
        assert!(glob_match("?.log", "a.log"));
        assert!(!glob_match("*", "a/b"));
    }

    /// A mounted disk in a temporary directory, or None (with one line
    /// saying why) where FUSE cannot mount; a failure when `CI` is set.
    fn disks(name: &str, corruptible: &[&str]) -> Option<(tempfile::TempDir, Disks)> {
        let dir = tempfile::tempdir().expect("tempdir");
        let why = if std::path::Path::new("/dev/fuse").exists() {
            let dirs = vec![(dir.path().join("n1.disk"), dir.path().join("n1"))];
            let globs = corruptible.iter().map(|g| (*g).to_owned()).collect();
            match Disks::mount(dirs, globs, Options::default()) {
                Ok(disks) => return Some((dir, disks)),
                Err(e) => e.to_string(),
            }
        } else {
            "/dev/fuse is missing".to_owned()
        };
        assert!(
            std::env::var_os("CI").is_none(),
            "{name}: FUSE is required when CI is set: {why}"
        );
        let line = format!("skipped {name}: {why}\n");
        let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
        None
    }

    #[test]
    fn a_power_loss_reports_and_drops_exactly_the_unsynced_bytes() {
        let Some((dir, disks)) = disks(
            "a_power_loss_reports_and_drops_exactly_the_unsynced_bytes",
            &[],
        ) else {
            return;
        };
        let file = dir.path().join("n1").join("log");
        std::fs::write(&file, b"synced").expect("write");
        std::fs::File::open(&file)
            .and_then(|f| f.sync_all())
            .expect("sync");
        let mut append = std::fs::OpenOptions::new()
            .append(true)
            .open(&file)
            .expect("open");
        std::io::Write::write_all(&mut append, b" and not").expect("append");
        drop(append);
        let loss = disks.power_loss(NodeId(0)).expect("power loss");
        assert_eq!(
            loss,
            DiskLoss {
                files: 1,
                bytes: 8,
                entries: 0
            }
        );
        assert_eq!(std::fs::read(&file).expect("read"), b"synced");
        assert!(disks.unmount_all().is_empty());
    }

    #[test]
    fn corrupt_damages_the_newest_matching_file_and_the_mount_shows_the_damage() {
        let Some((dir, disks)) = disks(
            "corrupt_damages_the_newest_matching_file_and_the_mount_shows_the_damage",
            &["wal/*.wal"],
        ) else {
            return;
        };
        let data = dir.path().join("n1");
        std::fs::create_dir(data.join("wal")).expect("mkdir");
        std::fs::write(data.join("wal/1.wal"), vec![7u8; 64]).expect("write");
        std::thread::sleep(std::time::Duration::from_millis(20));
        // Newest, but unsynced: flushed before the damage.
        std::fs::write(data.join("wal/2.wal"), vec![7u8; 64]).expect("write");
        std::fs::write(data.join("other"), vec![7u8; 64]).expect("write");
        let corruption = disks.corrupt(NodeId(0), 5, None).expect("corrupt");
        assert_eq!(corruption.path, "wal/2.wal");
        let seen = std::fs::read(data.join("wal/2.wal")).expect("read");
        let durable = std::fs::read(dir.path().join("n1.disk/wal/2.wal")).expect("read");
        assert_eq!(seen, durable, "the mount shows the durable, damaged copy");
        match corruption.kind {
            CorruptKind::Bitflip => {
                assert_eq!(seen.len(), 64);
                assert_ne!(seen[corruption.offset as usize], 7);
            }
            CorruptKind::Truncate => assert_eq!(seen.len() as u64, corruption.offset),
        }
        assert_eq!(
            std::fs::read(data.join("wal/1.wal")).expect("read"),
            vec![7u8; 64]
        );
        let none = Disks::corrupt(&disks, NodeId(0), 5, None);
        assert!(
            none.is_ok(),
            "the older file or the rest of this one is still there"
        );
        assert!(disks.unmount_all().is_empty());
    }

    #[test]
    fn damage_is_seeded_and_stays_inside_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut kinds = std::collections::BTreeSet::new();
        for seed in 0..20 {
            let path = dir.path().join(format!("f{seed}"));
            let original = vec![0xaau8; 100];
            std::fs::write(&path, &original).expect("write");
            let (offset, length, kind) =
                damage(&path, 100, &mut Rng::new(seed), None).expect("damage");
            let after = std::fs::read(&path).expect("read");
            match kind {
                CorruptKind::Bitflip => {
                    assert_eq!(length, 1);
                    assert_eq!(after.len(), 100);
                    let diff = after[offset as usize] ^ original[offset as usize];
                    assert_eq!(diff.count_ones(), 1, "seed {seed}");
                    let changed = after.iter().zip(&original).filter(|(a, b)| a != b).count();
                    assert_eq!(changed, 1);
                }
                CorruptKind::Truncate => {
                    assert!((1..=100).contains(&length));
                    assert_eq!(after.len() as u64, offset);
                    assert_eq!(offset + length, 100);
                }
            }
            kinds.insert(format!("{kind:?}"));
            let again = dir.path().join("again");
            std::fs::write(&again, &original).expect("write");
            let twice = damage(&again, 100, &mut Rng::new(seed), None).expect("damage");
            assert_eq!(twice, (offset, length, kind), "same seed, same damage");
        }
        assert_eq!(kinds.len(), 2, "both kinds come up in 20 seeds");
    }

    #[test]
    fn damage_lands_in_the_data_before_preallocated_zeros_and_takes_the_kind_asked() {
        let dir = tempfile::tempdir().expect("tempdir");
        // 300 bytes of data, then zeros to 1 MiB, as etcd preallocates its WAL.
        let mut original = vec![0x5au8; 300];
        original.resize(1 << 20, 0);
        let len = original.len() as u64;
        for seed in 0..20 {
            for kind in CorruptKind::ALL {
                let path = dir.path().join("wal");
                std::fs::write(&path, &original).expect("write");
                let (offset, length, got) =
                    damage(&path, len, &mut Rng::new(seed), Some(kind)).expect("damage");
                assert_eq!(got, kind);
                assert!(offset < 300, "seed {seed}: {kind:?} at {offset}");
                let after = std::fs::read(&path).expect("read");
                match kind {
                    CorruptKind::Bitflip => assert_ne!(after[offset as usize], 0x5a),
                    CorruptKind::Truncate => {
                        assert_eq!(after.len() as u64, offset);
                        assert_eq!(offset + length, len);
                    }
                }
            }
        }
    }
}
