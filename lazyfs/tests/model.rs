//! Random sequences of file operations against the mount and against a model
//! of what is durable; after power losses (and a remount) every file holds
//! what the model says.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write;

use common::io::*;
use common::TestMount;
use lazyfs::Options;
use nix::fcntl::OFlag;
use proptest::prelude::*;

const NAMES: [&str; 5] = ["a", "b", "d0/c", "d0/a", "d1/e"];
const DIRS: [&str; 2] = ["d0", "d1"];

#[derive(Debug, Clone)]
enum Op {
    Write {
        f: usize,
        off: u32,
        len: u32,
        byte: u8,
    },
    Append {
        f: usize,
        len: u32,
        byte: u8,
    },
    Truncate {
        f: usize,
        size: u32,
    },
    Fsync {
        f: usize,
    },
    Fdatasync {
        f: usize,
    },
    SyncWrite {
        f: usize,
        off: u32,
        len: u32,
        byte: u8,
        dsync: bool,
    },
    Rename {
        from: usize,
        to: usize,
    },
    Unlink {
        f: usize,
    },
    Mkdir {
        d: usize,
    },
    MmapWrite {
        f: usize,
        off: u32,
        byte: u8,
        msync: bool,
    },
    PowerLoss,
}

fn op() -> impl Strategy<Value = Op> {
    let f = 0..NAMES.len();
    let off = 0u32..12_000;
    let len = 1u32..6_000;
    prop_oneof![
        6 => (f.clone(), off.clone(), len.clone(), any::<u8>()).prop_map(|(f, off, len, byte)| Op::Write { f, off, len, byte }),
        2 => (f.clone(), len.clone(), any::<u8>()).prop_map(|(f, len, byte)| Op::Append { f, len, byte }),
        2 => (f.clone(), 0u32..14_000).prop_map(|(f, size)| Op::Truncate { f, size }),
        3 => f.clone().prop_map(|f| Op::Fsync { f }),
        2 => f.clone().prop_map(|f| Op::Fdatasync { f }),
        1 => (f.clone(), off.clone(), len.clone(), any::<u8>(), any::<bool>()).prop_map(|(f, off, len, byte, dsync)| Op::SyncWrite { f, off, len, byte, dsync }),
        2 => (f.clone(), f.clone()).prop_map(|(from, to)| Op::Rename { from, to }),
        1 => f.clone().prop_map(|f| Op::Unlink { f }),
        2 => (0..DIRS.len()).prop_map(|d| Op::Mkdir { d }),
        2 => (f, off, any::<u8>(), any::<bool>()).prop_map(|(f, off, byte, msync)| Op::MmapWrite { f, off, byte, msync }),
        1 => Just(Op::PowerLoss),
    ]
}

/// A file as the model sees it: its contents now and as of its last sync.
#[derive(Debug, Clone, Default)]
struct File {
    now: Vec<u8>,
    durable: Vec<u8>,
}

#[derive(Debug, Default)]
struct Model {
    dirs: BTreeSet<String>,
    files: BTreeMap<String, File>,
}

impl Model {
    fn parent_exists(&self, name: &str) -> bool {
        match name.split_once('/') {
            Some((d, _)) => self.dirs.contains(d),
            None => true,
        }
    }
}

fn write_at(buf: &mut Vec<u8>, off: usize, data: &[u8]) {
    if buf.len() < off + data.len() {
        buf.resize(off + data.len(), 0);
    }
    buf[off..off + data.len()].copy_from_slice(data);
}

/// Applies `op` to the mount and to the model.
fn apply(t: &TestMount, m: &mut Model, op: &Op) {
    match *op {
        Op::Write { f, off, len, byte }
        | Op::SyncWrite {
            f, off, len, byte, ..
        } => {
            let name = NAMES[f];
            if !m.parent_exists(name) {
                return;
            }
            let data = vec![byte; len as usize];
            // A new file's entry is durable at once; its data is not.
            let file = m.files.entry(name.to_string()).or_default();
            write_at(&mut file.now, off as usize, &data);
            if let Op::SyncWrite { dsync, .. } = *op {
                let flag = if dsync { OFlag::O_DSYNC } else { OFlag::O_SYNC };
                pwrite_flags(&t.p(name), off as u64, &data, flag.bits());
                file.durable = file.now.clone();
            } else {
                pwrite(&t.p(name), off as u64, &data);
            }
        }
        Op::Append { f, len, byte } => {
            let name = NAMES[f];
            if !m.parent_exists(name) {
                return;
            }
            let data = vec![byte; len as usize];
            let file = m.files.entry(name.to_string()).or_default();
            file.now.extend_from_slice(&data);
            let mut h = fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(t.p(name))
                .unwrap();
            h.write_all(&data).unwrap();
        }
        Op::Truncate { f, size } => {
            if let Some(file) = m.files.get_mut(NAMES[f]) {
                file.now.resize(size as usize, 0);
                truncate(&t.p(NAMES[f]), size as u64);
            }
        }
        Op::Fsync { f } | Op::Fdatasync { f } => {
            if let Some(file) = m.files.get_mut(NAMES[f]) {
                file.durable = file.now.clone();
                if matches!(op, Op::Fsync { .. }) {
                    fsync(&t.p(NAMES[f]));
                } else {
                    fdatasync(&t.p(NAMES[f]));
                }
            }
        }
        Op::Rename { from, to } => {
            let (from, to) = (NAMES[from], NAMES[to]);
            if from != to && m.files.contains_key(from) && m.parent_exists(to) {
                // The file carries its held writes along; a replaced file is gone.
                let file = m.files.remove(from).unwrap();
                m.files.insert(to.to_string(), file);
                fs::rename(t.p(from), t.p(to)).unwrap();
            }
        }
        Op::Unlink { f } => {
            if m.files.remove(NAMES[f]).is_some() {
                fs::remove_file(t.p(NAMES[f])).unwrap();
            }
        }
        Op::Mkdir { d } => {
            if m.dirs.insert(DIRS[d].to_string()) {
                fs::create_dir(t.p(DIRS[d])).unwrap();
            }
        }
        Op::MmapWrite {
            f,
            off,
            byte,
            msync,
        } => {
            if let Some(file) = m.files.get_mut(NAMES[f]) {
                if !file.now.is_empty() {
                    let at = off as usize % file.now.len();
                    file.now[at] = byte;
                    // msync is an fsync of the whole file.
                    if msync {
                        file.durable = file.now.clone();
                    }
                    mmap_write(&t.p(NAMES[f]), at, &[byte], msync);
                }
            }
        }
        Op::PowerLoss => {
            for file in m.files.values_mut() {
                file.now = file.durable.clone();
            }
            t.mount().power_loss().unwrap();
        }
    }
}

/// Every name the mount has, with its contents, against the model's.
fn check(t: &TestMount, m: &Model, after: &str) -> Result<(), TestCaseError> {
    let mut seen = BTreeMap::new();
    let mut dirs = BTreeSet::new();
    for e in fs::read_dir(&t.mnt).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().into_string().unwrap();
        if e.file_type().unwrap().is_dir() {
            for e2 in fs::read_dir(e.path()).unwrap() {
                let e2 = e2.unwrap();
                let n2 = format!("{name}/{}", e2.file_name().into_string().unwrap());
                seen.insert(n2, fs::read(e2.path()).unwrap());
            }
            dirs.insert(name);
        } else {
            seen.insert(name, fs::read(e.path()).unwrap());
        }
    }
    prop_assert_eq!(&dirs, &m.dirs, "directories after {}", after);
    let names: Vec<&String> = seen.keys().collect();
    let want: Vec<&String> = m.files.keys().collect();
    prop_assert_eq!(names, want, "names after {}", after);
    for (name, file) in &m.files {
        let got = &seen[name];
        prop_assert!(
            *got == file.now,
            "{} after {}: {} bytes, model has {} (first difference at {:?})",
            name,
            after,
            got.len(),
            file.now.len(),
            got.iter().zip(&file.now).position(|(a, b)| a != b)
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn after_power_losses_every_file_holds_what_was_synced(ops in proptest::collection::vec(op(), 1..32)) {
        let Some(mut t) = TestMount::new("after_power_losses_every_file_holds_what_was_synced") else {
            return Ok(());
        };
        let mut m = Model::default();
        for (i, op) in ops.iter().enumerate() {
            apply(&t, &mut m, op);
            check(&t, &m, &format!("op {i} {op:?}"))?;
        }
        apply(&t, &mut m, &Op::PowerLoss);
        check(&t, &m, "the final power loss")?;
        t.remount(Options::default());
        check(&t, &m, "a remount")?;
        // The backing directory holds exactly the durable state.
        for (name, file) in &m.files {
            prop_assert_eq!(&fs::read(t.backing.join(name)).unwrap(), &file.durable, "backing {}", name);
        }
    }
}
