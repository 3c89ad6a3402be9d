//! The write-ahead log file: Raft's persistent state, crash-safe.
//!
//! One append-only file, `raft.wal`, in the data directory. It starts with
//! the 8-byte magic `RAFTKV01`, then records:
//!
//! ```text
//! u32 LE  payload length
//! u32 LE  CRC-32 (IEEE) of the payload
//! payload: u8 kind, then
//!   kind 1, hard state: u64 term, u8 has_vote, u64 vote, u64 commit
//!   kind 2, entry:      u64 index, u64 term, the command bytes (rest)
//!   kind 3, truncate:   u64 from (drop every entry with index >= from)
//! ```
//!
//! All integers are little-endian. A batch of records is written with one
//! `write` and made durable with one `fdatasync` (group commit). Truncation
//! after a conflict is itself a record, so it is as crash-safe as an append.
//!
//! Replay applies records in order and tells a torn tail from damage, as
//! etcd's WAL does:
//! - a torn tail is an incomplete last record (its header or payload runs
//!   past the end of the file, and no valid record follows), or a tail of
//!   zero bytes: it is cut off. A write torn by a crash was never
//!   acknowledged, since nothing is acknowledged before its fsync.
//! - anything else is damage: a complete record that fails its checksum or
//!   makes no sense, or a broken record with valid records after it. The
//!   node refuses to start and names the file and offset
//!   ([`Error::WalDamaged`]): cutting the log there would silently forget
//!   acknowledged entries and votes.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};

use crate::error::{Error, Result};
use crate::types::{Entry, HardState, LogIndex};

const MAGIC: &[u8; 8] = b"RAFTKV01";
const FILE_NAME: &str = "raft.wal";
const HEADER_LEN: usize = 8;
const KIND_HARD_STATE: u8 = 1;
const KIND_ENTRY: u8 = 2;
const KIND_TRUNCATE: u8 = 3;
/// Larger records are treated as corrupt rather than allocated.
const MAX_RECORD_LEN: usize = 64 << 20;

/// What replay found in the file.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Recovered {
    /// The last hard state written, or the default.
    pub hard_state: HardState,
    /// The log, dense from index 1.
    pub entries: Vec<Entry>,
    /// Bytes cut off the end because the last record was torn or corrupt.
    pub dropped_bytes: u64,
}

/// How the log reaches stable storage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Every batch is fdatasynced before `persist` returns (Raft Figure 2).
    Fsync,
    /// Bug `lazy-fsync`: batches are written at once and fdatasynced by a
    /// background thread every [`LAZY_SYNC_INTERVAL`], so a write can be
    /// acknowledged before it is on stable storage. The page cache survives
    /// `kill -9`; a power loss does not.
    Lazy,
    /// Bug `volatile-state`: nothing is read or written.
    Volatile,
}

/// How often the `lazy-fsync` bug syncs the log.
pub const LAZY_SYNC_INTERVAL: Duration = Duration::from_secs(1);

/// The open log file.
#[derive(Debug)]
pub struct Wal {
    path: PathBuf,
    /// `None` when running with the `volatile-state` bug.
    file: Option<File>,
    buffer: Vec<u8>,
    /// Set with the `lazy-fsync` bug: stops the background syncer on drop.
    lazy: Option<Arc<AtomicBool>>,
}

impl Drop for Wal {
    fn drop(&mut self) {
        if let Some(stop) = &self.lazy {
            stop.store(true, Ordering::Relaxed);
        }
    }
}

impl Wal {
    /// Opens (or creates) the log in `dir` and replays it.
    ///
    /// With [`Durability::Volatile`], nothing is read or written: the node
    /// starts empty on every start (bug `volatile-state`).
    ///
    /// # Errors
    /// The directory or file cannot be created, read or repaired, or the log
    /// is damaged before its end ([`Error::WalDamaged`]).
    pub fn open(dir: &Path, durability: Durability) -> Result<(Wal, Recovered)> {
        let path = dir.join(FILE_NAME);
        // Bug volatile-state: Raft Figure 2 requires term, vote and log on
        // stable storage; this keeps them in memory only.
        if durability == Durability::Volatile {
            warn!("bug volatile-state: term, vote and log are not persisted");
            return Ok((
                Wal {
                    path,
                    file: None,
                    buffer: Vec::new(),
                    lazy: None,
                },
                Recovered::default(),
            ));
        }
        fs::create_dir_all(dir).map_err(|source| Error::DataDir {
            path: dir.to_path_buf(),
            source,
        })?;
        let wal_error = |source| Error::Wal {
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(wal_error)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(wal_error)?;
        let recovered = if bytes.len() < MAGIC.len() {
            // New, or torn before the magic was complete.
            file.set_len(0).map_err(wal_error)?;
            file.write_all(MAGIC).map_err(wal_error)?;
            file.sync_all().map_err(wal_error)?;
            sync_dir(dir);
            Recovered {
                dropped_bytes: bytes.len() as u64,
                ..Recovered::default()
            }
        } else if &bytes[..MAGIC.len()] != MAGIC {
            return Err(wal_error(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "not a raftkv log file (bad magic)",
            )));
        } else {
            let (recovered, valid_len) =
                replay(&bytes).map_err(|Damage { offset, reason }| Error::WalDamaged {
                    path: path.clone(),
                    offset: offset as u64,
                    reason,
                })?;
            if valid_len < bytes.len() {
                warn!(
                    "log {} ends in a torn record at byte {valid_len}; cutting off {} bytes",
                    path.display(),
                    bytes.len() - valid_len
                );
                file.set_len(valid_len as u64).map_err(wal_error)?;
                file.sync_all().map_err(wal_error)?;
            }
            recovered
        };
        info!(
            "replayed log: term {}, {} entries, commit index {}",
            recovered.hard_state.term,
            recovered.entries.len(),
            recovered.hard_state.commit
        );
        let lazy = if durability == Durability::Lazy {
            warn!(
                "bug lazy-fsync: writes are acknowledged before they are synced; the log is synced every {}s",
                LAZY_SYNC_INTERVAL.as_secs_f64()
            );
            let stop = Arc::new(AtomicBool::new(false));
            let syncer = file.try_clone().map_err(|source| Error::Wal {
                path: path.clone(),
                source,
            })?;
            spawn_lazy_syncer(syncer, Arc::clone(&stop));
            Some(stop)
        } else {
            None
        };
        Ok((
            Wal {
                path,
                file: Some(file),
                buffer: Vec::new(),
                lazy,
            },
            recovered,
        ))
    }

    /// Durably records a truncation, new entries and a hard state, in that
    /// order, with one write and one fdatasync.
    ///
    /// # Errors
    /// The write or the sync failed; the node must stop, as Raft cannot
    /// promise anything it has not persisted.
    pub fn persist(
        &mut self,
        truncate_from: Option<LogIndex>,
        entries: &[Entry],
        hard_state: Option<HardState>,
    ) -> Result<()> {
        let Some(file) = self.file.as_mut() else {
            // Bug volatile-state: nothing reaches the disk.
            return Ok(());
        };
        self.buffer.clear();
        if let Some(from) = truncate_from {
            let mut payload = vec![KIND_TRUNCATE];
            payload.extend_from_slice(&from.to_le_bytes());
            push_record(&mut self.buffer, &payload);
        }
        for entry in entries {
            let mut payload = Vec::with_capacity(17 + entry.data.len());
            payload.push(KIND_ENTRY);
            payload.extend_from_slice(&entry.index.to_le_bytes());
            payload.extend_from_slice(&entry.term.to_le_bytes());
            payload.extend_from_slice(&entry.data);
            push_record(&mut self.buffer, &payload);
        }
        if let Some(hard_state) = hard_state {
            let mut payload = vec![KIND_HARD_STATE];
            payload.extend_from_slice(&hard_state.term.to_le_bytes());
            payload.push(u8::from(hard_state.vote.is_some()));
            payload.extend_from_slice(&hard_state.vote.unwrap_or(0).to_le_bytes());
            payload.extend_from_slice(&hard_state.commit.to_le_bytes());
            push_record(&mut self.buffer, &payload);
        }
        if self.buffer.is_empty() {
            return Ok(());
        }
        let wal_error = |source| Error::Wal {
            path: self.path.clone(),
            source,
        };
        file.write_all(&self.buffer).map_err(wal_error)?;
        if self.lazy.is_some() {
            // Bug lazy-fsync: the batch is in the page cache only; the
            // background syncer makes it durable within a second.
            return Ok(());
        }
        // Raft Figure 2: persistent state is on stable storage before
        // responding to RPCs. fdatasync covers the appended data and size.
        file.sync_data().map_err(wal_error)
    }
}

/// Bug lazy-fsync: fdatasyncs `file` every [`LAZY_SYNC_INTERVAL`] until
/// `stop` is set.
fn spawn_lazy_syncer(file: File, stop: Arc<AtomicBool>) {
    std::thread::Builder::new()
        .name("lazy-fsync".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(LAZY_SYNC_INTERVAL);
                if let Err(error) = file.sync_data() {
                    warn!("bug lazy-fsync: background sync failed: {error}");
                }
            }
        })
        .expect("a thread can be started at node start");
}

fn sync_dir(dir: &Path) {
    // Makes the new file's directory entry durable; best effort.
    if let Ok(handle) = File::open(dir) {
        let _ = handle.sync_all();
    }
}

fn push_record(buffer: &mut Vec<u8>, payload: &[u8]) {
    let len = u32::try_from(payload.len())
        .expect("a record holds one command, far below 4 GiB: the HTTP body limit bounds it");
    buffer.extend_from_slice(&len.to_le_bytes());
    buffer.extend_from_slice(&crc32(payload).to_le_bytes());
    buffer.extend_from_slice(payload);
}

/// Damage before the end of the log: where, and what.
#[derive(Debug, PartialEq, Eq)]
struct Damage {
    offset: usize,
    reason: String,
}

/// Replays records after the magic; returns what they say and how many
/// leading bytes of the file are valid (fewer than all: a torn tail to cut
/// off), or the damage that makes the log unusable.
fn replay(bytes: &[u8]) -> std::result::Result<(Recovered, usize), Damage> {
    let mut recovered = Recovered::default();
    let mut offset = MAGIC.len();
    let damage = |offset: usize, reason: String| Err(Damage { offset, reason });
    while offset < bytes.len() {
        let Some(header) = bytes.get(offset..offset + HEADER_LEN) else {
            break; // an incomplete header at the very end: torn
        };
        let len = u32::from_le_bytes(header[..4].try_into().expect("slice of 4 bytes")) as usize;
        let checksum = u32::from_le_bytes(header[4..].try_into().expect("slice of 4 bytes"));
        if len == 0 {
            if bytes[offset..].iter().all(|&b| b == 0) {
                break; // a zero-filled tail: torn
            }
            return damage(offset, "a record of length 0 before the end".into());
        }
        let end = offset + HEADER_LEN + len;
        if len > MAX_RECORD_LEN || end > bytes.len() {
            if let Some(next) = next_valid_record(bytes, offset + 1) {
                return damage(
                    offset,
                    format!(
                        "a record of length {len} runs past the end of the file, \
                         yet a valid record starts at byte {next}"
                    ),
                );
            }
            break; // an incomplete last record: torn
        }
        let payload = &bytes[offset + HEADER_LEN..end];
        if crc32(payload) != checksum {
            return damage(offset, "a complete record fails its checksum".into());
        }
        if !apply_record(&mut recovered, payload) {
            return damage(offset, "a record is malformed or out of sequence".into());
        }
        offset = end;
    }
    recovered.dropped_bytes = (bytes.len() - offset) as u64;
    Ok((recovered, offset))
}

/// The first offset at or after `from` where a complete record with a good
/// checksum and a known kind starts, if any: evidence that a broken record
/// is not the last one.
fn next_valid_record(bytes: &[u8], from: usize) -> Option<usize> {
    (from..bytes.len().saturating_sub(HEADER_LEN)).find(|&at| {
        let header = &bytes[at..at + HEADER_LEN];
        let len = u32::from_le_bytes(header[..4].try_into().expect("slice of 4 bytes")) as usize;
        let checksum = u32::from_le_bytes(header[4..].try_into().expect("slice of 4 bytes"));
        (1..=MAX_RECORD_LEN).contains(&len)
            && bytes
                .get(at + HEADER_LEN..at + HEADER_LEN + len)
                .is_some_and(|payload| {
                    matches!(payload[0], KIND_HARD_STATE | KIND_ENTRY | KIND_TRUNCATE)
                        && crc32(payload) == checksum
                })
    })
}

/// Applies one checksummed record; false if it makes no sense here.
fn apply_record(recovered: &mut Recovered, payload: &[u8]) -> bool {
    let u64_at = |at: usize| {
        payload
            .get(at..at + 8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("slice of 8 bytes")))
    };
    match payload[0] {
        KIND_HARD_STATE if payload.len() == 26 => {
            let (Some(term), Some(vote), Some(commit)) = (u64_at(1), u64_at(10), u64_at(18)) else {
                return false;
            };
            let vote = (payload[9] == 1).then_some(vote);
            recovered.hard_state = HardState { term, vote, commit };
            true
        }
        KIND_ENTRY if payload.len() >= 17 => {
            let (Some(index), Some(term)) = (u64_at(1), u64_at(9)) else {
                return false;
            };
            let entries = &mut recovered.entries;
            if index == 0 || index > entries.len() as u64 + 1 {
                return false;
            }
            // Rewriting an index replaces it and everything after it.
            entries.truncate((index - 1) as usize);
            entries.push(Entry {
                index,
                term,
                data: payload[17..].to_vec(),
            });
            true
        }
        KIND_TRUNCATE if payload.len() == 9 => {
            let Some(from) = u64_at(1) else {
                return false;
            };
            if from == 0 {
                return false;
            }
            recovered
                .entries
                .truncate((from - 1).min(usize::MAX as u64) as usize);
            true
        }
        _ => false,
    }
}

/// CRC-32 (IEEE 802.3, reflected, as zlib's `crc32`).
pub fn crc32(bytes: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut crc = i as u32;
            let mut bit = 0;
            while bit < 8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
                bit += 1;
            }
            table[i] = crc;
            i += 1;
        }
        table
    };
    let mut crc = !0u32;
    for &byte in bytes {
        crc = TABLE[((crc ^ u32::from(byte)) & 0xFF) as usize] ^ (crc >> 8);
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(index: LogIndex, term: u64, data: &str) -> Entry {
        Entry {
            index,
            term,
            data: data.as_bytes().to_vec(),
        }
    }

    fn hard(term: u64, vote: Option<u64>, commit: u64) -> HardState {
        HardState { term, vote, commit }
    }

    fn reopen(dir: &Path) -> Recovered {
        Wal::open(dir, Durability::Fsync)
            .expect("test log reopens")
            .1
    }

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn persisted_state_survives_reopen() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (mut wal, recovered) = Wal::open(dir.path(), Durability::Fsync).expect("new log opens");
        assert_eq!(recovered, Recovered::default());
        wal.persist(
            None,
            &[entry(1, 1, ""), entry(2, 1, "a")],
            Some(hard(1, Some(2), 1)),
        )
        .expect("persist");
        wal.persist(None, &[entry(3, 2, "b")], Some(hard(2, None, 3)))
            .expect("persist");
        drop(wal);
        let recovered = reopen(dir.path());
        assert_eq!(recovered.hard_state, hard(2, None, 3));
        assert_eq!(
            recovered.entries,
            vec![entry(1, 1, ""), entry(2, 1, "a"), entry(3, 2, "b")]
        );
    }

    #[test]
    fn truncation_record_drops_the_conflicting_suffix() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (mut wal, _) = Wal::open(dir.path(), Durability::Fsync).expect("new log opens");
        wal.persist(
            None,
            &[entry(1, 1, "a"), entry(2, 1, "b"), entry(3, 1, "c")],
            None,
        )
        .expect("persist");
        wal.persist(Some(2), &[entry(2, 3, "x")], Some(hard(3, None, 0)))
            .expect("persist");
        drop(wal);
        assert_eq!(
            reopen(dir.path()).entries,
            vec![entry(1, 1, "a"), entry(2, 3, "x")]
        );
    }

    #[test]
    fn torn_last_record_is_cut_off_and_never_misread() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (mut wal, _) = Wal::open(dir.path(), Durability::Fsync).expect("new log opens");
        wal.persist(None, &[entry(1, 1, "kept")], None)
            .expect("persist");
        wal.persist(None, &[entry(2, 1, "torn away")], None)
            .expect("persist");
        drop(wal);
        let path = dir.path().join(FILE_NAME);
        let full = fs::read(&path).expect("log reads");
        // Every possible tear inside the last record.
        let last_record = HEADER_LEN + 17 + "torn away".len();
        for cut in 1..last_record {
            fs::write(&path, &full[..full.len() - cut]).expect("log writes");
            let recovered = reopen(dir.path());
            assert_eq!(
                recovered.entries,
                vec![entry(1, 1, "kept")],
                "cut {cut} bytes"
            );
            assert_eq!(
                recovered.dropped_bytes,
                (last_record - cut) as u64,
                "cut {cut} bytes"
            );
            assert_eq!(
                reopen(dir.path()).dropped_bytes,
                0,
                "the first reopen repaired the file"
            );
        }
    }

    /// A log of three records: `kept`, `second`, `third`; returns the file
    /// bytes and the offsets where the records start.
    fn three_records(dir: &Path) -> (Vec<u8>, [usize; 3]) {
        let (mut wal, _) = Wal::open(dir, Durability::Fsync).expect("new log opens");
        wal.persist(
            None,
            &[
                entry(1, 1, "kept"),
                entry(2, 1, "second"),
                entry(3, 1, "third"),
            ],
            None,
        )
        .expect("persist");
        drop(wal);
        let bytes = fs::read(dir.join(FILE_NAME)).expect("log reads");
        let first = MAGIC.len();
        let second = first + HEADER_LEN + 17 + "kept".len();
        let third = second + HEADER_LEN + 17 + "second".len();
        (bytes, [first, second, third])
    }

    fn damaged_at(dir: &Path) -> (u64, String) {
        match Wal::open(dir, Durability::Fsync) {
            Err(Error::WalDamaged { offset, reason, .. }) => (offset, reason),
            other => panic!("expected WalDamaged, got {other:?}"),
        }
    }

    #[test]
    fn a_bit_flip_in_the_middle_of_the_log_is_refused_naming_the_offset() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (mut bytes, [_, second, _]) = three_records(dir.path());
        bytes[second + HEADER_LEN + 20] ^= 0x04; // inside "second"
        fs::write(dir.path().join(FILE_NAME), &bytes).expect("log writes");
        let (offset, reason) = damaged_at(dir.path());
        assert_eq!(offset, second as u64);
        assert!(reason.contains("checksum"), "{reason}");
        let message = Wal::open(dir.path(), Durability::Fsync)
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("raft.wal") && message.contains(&format!("byte {second}")),
            "{message}"
        );
        assert_eq!(
            fs::read(dir.path().join(FILE_NAME)).expect("log reads"),
            bytes,
            "a refused log is left as it was"
        );
    }

    #[test]
    fn a_complete_last_record_that_fails_its_checksum_is_damage_not_a_torn_tail() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (mut bytes, [_, _, third]) = three_records(dir.path());
        let last = bytes.len() - 1;
        bytes[last] ^= 0x40;
        fs::write(dir.path().join(FILE_NAME), &bytes).expect("log writes");
        assert_eq!(damaged_at(dir.path()).0, third as u64);
    }

    #[test]
    fn a_length_flipped_to_run_past_the_end_is_damage_when_valid_records_follow() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (mut bytes, [_, second, third]) = three_records(dir.path());
        bytes[second + 2] ^= 0x10; // the length field: now about a megabyte
        fs::write(dir.path().join(FILE_NAME), &bytes).expect("log writes");
        let (offset, reason) = damaged_at(dir.path());
        assert_eq!(offset, second as u64);
        assert!(reason.contains(&format!("byte {third}")), "{reason}");
    }

    #[test]
    fn a_zero_filled_tail_is_cut_off_like_a_torn_write() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (mut bytes, _) = three_records(dir.path());
        let len = bytes.len();
        bytes.extend_from_slice(&[0; 4096]);
        fs::write(dir.path().join(FILE_NAME), &bytes).expect("log writes");
        let recovered = reopen(dir.path());
        assert_eq!(recovered.entries.len(), 3);
        assert_eq!(recovered.dropped_bytes, 4096);
        assert_eq!(
            fs::metadata(dir.path().join(FILE_NAME)).expect("log").len(),
            len as u64
        );
    }

    #[test]
    fn lazy_fsync_bug_writes_at_once_and_acknowledges_before_the_sync() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (mut wal, _) = Wal::open(dir.path(), Durability::Lazy).expect("lazy log opens");
        wal.persist(None, &[entry(1, 1, "a")], Some(hard(1, None, 1)))
            .expect("persist");
        // Written to the file (the page cache) before persist returned: a
        // process crash loses nothing, only a power loss would.
        drop(wal);
        let recovered = reopen(dir.path());
        assert_eq!(recovered.entries, vec![entry(1, 1, "a")]);
        assert_eq!(recovered.hard_state, hard(1, None, 1));
    }

    #[test]
    fn volatile_state_bug_persists_nothing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (mut wal, _) = Wal::open(dir.path(), Durability::Volatile).expect("volatile log opens");
        wal.persist(None, &[entry(1, 1, "a")], Some(hard(5, Some(1), 1)))
            .expect("persist is a no-op");
        drop(wal);
        let (_, recovered) =
            Wal::open(dir.path(), Durability::Volatile).expect("volatile log opens");
        assert_eq!(recovered, Recovered::default());
        // The same calls without the bug are durable.
        let (mut wal, _) = Wal::open(dir.path(), Durability::Fsync).expect("log opens");
        wal.persist(None, &[entry(1, 1, "a")], Some(hard(5, Some(1), 1)))
            .expect("persist");
        drop(wal);
        assert_eq!(reopen(dir.path()).hard_state, hard(5, Some(1), 1));
    }

    #[test]
    fn file_that_is_not_a_log_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        fs::write(dir.path().join(FILE_NAME), b"something else entirely").expect("write");
        let error = Wal::open(dir.path(), Durability::Fsync).expect_err("bad magic is an error");
        assert!(error.to_string().contains("bad magic"), "{error}");
    }
}
