//! Random sequences of file and directory operations against the mount and
//! against a model of what is durable, in both modes; after power losses (and
//! a remount) every directory lists and every file holds what the model says.

mod common;

use std::collections::BTreeMap;
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
    Rmdir {
        d: usize,
    },
    /// An fsync of the root (`d == DIRS.len()`) or of `DIRS[d]`.
    FsyncDir {
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
        1 => (0..DIRS.len()).prop_map(|d| Op::Rmdir { d }),
        3 => (0..=DIRS.len()).prop_map(|d| Op::FsyncDir { d }),
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

/// What a name names: a file or a directory, by identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Obj {
    File(usize),
    Dir(usize),
}

/// A directory: its entries now and as of its last fsync.
#[derive(Debug, Clone, Default)]
struct Dir {
    live: BTreeMap<String, Obj>,
    durable: BTreeMap<String, Obj>,
}

const ROOT: usize = 0;

#[derive(Debug)]
struct Model {
    strict: bool,
    /// Every directory ever made, by identity (0 is the root).
    dirs: Vec<Dir>,
    /// Every file ever made, by identity.
    files: Vec<File>,
}

impl Model {
    fn new(strict: bool) -> Model {
        Model {
            strict,
            dirs: vec![Dir::default()],
            files: Vec::new(),
        }
    }

    /// The directory a path's parent is now, and the path's last part.
    fn parent<'a>(&self, path: &'a str) -> Option<(usize, &'a str)> {
        match path.split_once('/') {
            Some((d, name)) => match self.dirs[ROOT].live.get(d) {
                Some(Obj::Dir(id)) => Some((*id, name)),
                _ => None,
            },
            None => Some((ROOT, path)),
        }
    }

    /// The file a path names now.
    fn file(&self, path: &str) -> Option<usize> {
        let (dir, name) = self.parent(path)?;
        match self.dirs[dir].live.get(name) {
            Some(Obj::File(id)) => Some(*id),
            _ => None,
        }
    }

    /// The file a path names, made (empty) if missing; None if its parent
    /// is missing.
    fn file_or_new(&mut self, path: &str) -> Option<usize> {
        let (dir, name) = self.parent(path)?;
        if let Some(Obj::File(id)) = self.dirs[dir].live.get(name) {
            return Some(*id);
        }
        self.files.push(File::default());
        let id = self.files.len() - 1;
        self.dirs[dir].live.insert(name.to_string(), Obj::File(id));
        Some(id)
    }

    /// Default mode: every directory operation is durable at once.
    fn settle(&mut self) {
        if !self.strict {
            for d in &mut self.dirs {
                d.durable = d.live.clone();
            }
        }
    }

    /// What a power loss does; returns the directory entries it undoes
    /// (counted in the directories that remain).
    fn power_loss(&mut self) -> usize {
        for file in &mut self.files {
            file.now = file.durable.clone();
        }
        let mut remain = vec![ROOT];
        remain.extend(self.dirs[ROOT].durable.values().filter_map(|o| match o {
            Obj::Dir(id) => Some(*id),
            Obj::File(_) => None,
        }));
        let mut undone = 0;
        for id in remain {
            let d = &self.dirs[id];
            let gone = d.live.iter().filter(|(n, o)| d.durable.get(*n) != Some(o));
            let back = d.durable.iter().filter(|(n, o)| d.live.get(*n) != Some(o));
            undone += gone.count() + back.count();
        }
        for d in &mut self.dirs {
            d.durable.clone_into(&mut d.live);
        }
        undone
    }
}

fn write_at(buf: &mut Vec<u8>, off: usize, data: &[u8]) {
    if buf.len() < off + data.len() {
        buf.resize(off + data.len(), 0);
    }
    buf[off..off + data.len()].copy_from_slice(data);
}

fn fsync_dir(path: &std::path::Path) {
    fs::File::open(path).unwrap().sync_all().unwrap();
}

/// Applies `op` to the mount and to the model.
fn apply(t: &TestMount, m: &mut Model, op: &Op) -> Result<(), TestCaseError> {
    match *op {
        Op::Write { f, off, len, byte }
        | Op::SyncWrite {
            f, off, len, byte, ..
        } => {
            let name = NAMES[f];
            let Some(id) = m.file_or_new(name) else {
                return Ok(());
            };
            let data = vec![byte; len as usize];
            let file = &mut m.files[id];
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
            let Some(id) = m.file_or_new(name) else {
                return Ok(());
            };
            let data = vec![byte; len as usize];
            m.files[id].now.extend_from_slice(&data);
            let mut h = fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(t.p(name))
                .unwrap();
            h.write_all(&data).unwrap();
        }
        Op::Truncate { f, size } => {
            if let Some(id) = m.file(NAMES[f]) {
                m.files[id].now.resize(size as usize, 0);
                truncate(&t.p(NAMES[f]), size as u64);
            }
        }
        Op::Fsync { f } | Op::Fdatasync { f } => {
            if let Some(id) = m.file(NAMES[f]) {
                let file = &mut m.files[id];
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
            let (Some(id), Some((to_dir, to_name))) = (m.file(from), m.parent(to)) else {
                return Ok(());
            };
            if from == to {
                return Ok(());
            }
            // Two names of one file (strict mode can leave them): rename
            // does nothing.
            if m.file(to) != Some(id) {
                let (from_dir, from_name) = m.parent(from).unwrap();
                m.dirs[from_dir].live.remove(from_name);
                m.dirs[to_dir]
                    .live
                    .insert(to_name.to_string(), Obj::File(id));
            }
            fs::rename(t.p(from), t.p(to)).unwrap();
        }
        Op::Unlink { f } => {
            if m.file(NAMES[f]).is_some() {
                let (dir, name) = m.parent(NAMES[f]).unwrap();
                m.dirs[dir].live.remove(name);
                fs::remove_file(t.p(NAMES[f])).unwrap();
            }
        }
        Op::Mkdir { d } => {
            if !m.dirs[ROOT].live.contains_key(DIRS[d]) {
                m.dirs.push(Dir::default());
                let id = m.dirs.len() - 1;
                m.dirs[ROOT].live.insert(DIRS[d].to_string(), Obj::Dir(id));
                fs::create_dir(t.p(DIRS[d])).unwrap();
            }
        }
        Op::Rmdir { d } => {
            if let Some(Obj::Dir(id)) = m.dirs[ROOT].live.get(DIRS[d]) {
                if m.dirs[*id].live.is_empty() {
                    m.dirs[ROOT].live.remove(DIRS[d]);
                    fs::remove_dir(t.p(DIRS[d])).unwrap();
                }
            }
        }
        Op::FsyncDir { d } => {
            let (id, path) = if d == DIRS.len() {
                (Some(ROOT), t.mnt.clone())
            } else {
                let id = match m.dirs[ROOT].live.get(DIRS[d]) {
                    Some(Obj::Dir(id)) => Some(*id),
                    _ => None,
                };
                (id, t.p(DIRS[d]))
            };
            if let Some(id) = id {
                let dir = &mut m.dirs[id];
                dir.durable = dir.live.clone();
                fsync_dir(&path);
            }
        }
        Op::MmapWrite {
            f,
            off,
            byte,
            msync,
        } => {
            if let Some(id) = m.file(NAMES[f]) {
                let file = &mut m.files[id];
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
            let entries = m.power_loss();
            let report = t.mount().power_loss().unwrap();
            prop_assert_eq!(report.entries, entries, "directory entries undone");
        }
    }
    m.settle();
    Ok(())
}

/// A directory's listing through `root`: names, and for each a file's
/// contents or None for a directory.
fn listing(root: &std::path::Path) -> BTreeMap<String, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    for e in fs::read_dir(root).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().into_string().unwrap();
        if e.file_type().unwrap().is_dir() {
            out.insert(name.clone(), None);
            for e2 in fs::read_dir(e.path()).unwrap() {
                let e2 = e2.unwrap();
                let n2 = format!("{name}/{}", e2.file_name().into_string().unwrap());
                out.insert(n2, Some(fs::read(e2.path()).unwrap()));
            }
        } else {
            out.insert(name, Some(fs::read(e.path()).unwrap()));
        }
    }
    out
}

/// The model's view now, as `listing` gives it.
fn model_listing(
    m: &Model,
    contents: impl Fn(&File) -> &Vec<u8>,
) -> BTreeMap<String, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    for (name, obj) in &m.dirs[ROOT].live {
        match obj {
            Obj::File(id) => {
                out.insert(name.clone(), Some(contents(&m.files[*id]).clone()));
            }
            Obj::Dir(id) => {
                out.insert(name.clone(), None);
                for (n2, o2) in &m.dirs[*id].live {
                    let Obj::File(f) = o2 else {
                        unreachable!("directories are made in the root only")
                    };
                    out.insert(format!("{name}/{n2}"), Some(contents(&m.files[*f]).clone()));
                }
            }
        }
    }
    out
}

/// Every name the mount has, with its contents, against the model's.
fn check(t: &TestMount, m: &Model, after: &str) -> Result<(), TestCaseError> {
    let seen = listing(&t.mnt);
    let want = model_listing(m, |f| &f.now);
    let names: Vec<&String> = seen.keys().collect();
    let want_names: Vec<&String> = want.keys().collect();
    prop_assert_eq!(names, want_names, "names after {}", after);
    for (name, want) in &want {
        let got = &seen[name];
        prop_assert!(
            got == want,
            "{} after {}: {:?} bytes, model has {:?} (first difference at {:?})",
            name,
            after,
            got.as_ref().map(Vec::len),
            want.as_ref().map(Vec::len),
            got.iter()
                .flatten()
                .zip(want.iter().flatten())
                .position(|(a, b)| a != b)
        );
    }
    Ok(())
}

fn run(name: &str, opts: Options, ops: &[Op]) -> Result<(), TestCaseError> {
    let Some(mut t) = TestMount::with(name, opts) else {
        return Ok(());
    };
    let mut m = Model::new(opts.strict);
    for (i, op) in ops.iter().enumerate() {
        apply(&t, &mut m, op)?;
        check(&t, &m, &format!("op {i} {op:?}"))?;
    }
    apply(&t, &mut m, &Op::PowerLoss)?;
    check(&t, &m, "the final power loss")?;
    t.remount(opts);
    check(&t, &m, "a remount")?;
    // Unmounted, the backing directory holds exactly the durable state
    // (and no stash).
    drop(t.mount.take());
    prop_assert_eq!(
        listing(&t.backing),
        model_listing(&m, |f| &f.durable),
        "the backing directory"
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn after_power_losses_every_file_holds_what_was_synced(ops in proptest::collection::vec(op(), 1..32)) {
        run("after_power_losses_every_file_holds_what_was_synced", Options::default(), &ops)?;
    }

    #[test]
    fn in_strict_mode_after_power_losses_every_directory_lists_what_was_synced(ops in proptest::collection::vec(op(), 1..32)) {
        run(
            "in_strict_mode_after_power_losses_every_directory_lists_what_was_synced",
            Options::strict(),
            &ops,
        )?;
    }
}
