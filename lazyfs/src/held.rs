//! What a file holds in memory between two syncs: the writes and size
//! changes made since its last `fsync`/`fdatasync`, over the backing file
//! that holds exactly the durable contents.

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// The unsynced state of one file. The backing file is left untouched until
/// [`Held::apply`]; reads merge it with the held writes.
#[derive(Debug, Clone)]
pub(crate) struct Held {
    /// The backing file's size, i.e. the durable size.
    durable_size: u64,
    /// The size the file has now (after held writes and truncations).
    size: u64,
    /// The smallest size the file had since its last sync: backing bytes
    /// at or past it were cut off and read as zeros unless written again.
    floor: u64,
    /// Written bytes, as non-overlapping, non-adjacent runs by offset.
    runs: BTreeMap<u64, Vec<u8>>,
}

impl Held {
    /// A file with nothing held yet, whose backing file has `durable_size` bytes.
    pub(crate) fn new(durable_size: u64) -> Held {
        Held {
            durable_size,
            size: durable_size,
            floor: durable_size,
            runs: BTreeMap::new(),
        }
    }

    /// The size the file has now.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// Bytes held in memory (written and not yet synced).
    pub(crate) fn held_bytes(&self) -> u64 {
        self.runs.values().map(|r| r.len() as u64).sum()
    }

    /// Whether a sync would change the backing file.
    pub(crate) fn is_clean(&self) -> bool {
        self.runs.is_empty() && self.size == self.durable_size && self.floor == self.durable_size
    }

    /// Records a write of `data` at `offset`, merging it with the runs it
    /// overlaps or touches. A write that extends a run (the common case:
    /// appends) grows that run in place.
    pub(crate) fn write(&mut self, offset: u64, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let end = offset + data.len() as u64;
        // The run that starts at or before `offset` and reaches it, if any.
        let base = self
            .runs
            .range(..=offset)
            .next_back()
            .filter(|(&o, r)| o + r.len() as u64 >= offset)
            .map(|(&o, _)| o);
        let (start, mut buf) = match base {
            Some(o) => (o, self.runs.remove(&o).expect("found above")),
            None => (offset, Vec::new()),
        };
        let at = (offset - start) as usize;
        if buf.len() < at + data.len() {
            buf.resize(at + data.len(), 0);
        }
        buf[at..at + data.len()].copy_from_slice(data);
        // Runs that start inside the write or right at its end: their part
        // past the end is kept.
        let later: Vec<u64> = self.runs.range(offset..=end).map(|(&o, _)| o).collect();
        for o in later {
            let r = self.runs.remove(&o).expect("listed above");
            let r_end = o + r.len() as u64;
            if r_end > end {
                buf.extend_from_slice(&r[(end - o) as usize..]);
            }
        }
        self.runs.insert(start, buf);
        self.size = self.size.max(end);
    }

    /// Records a size change (truncate or extend).
    pub(crate) fn set_size(&mut self, size: u64) {
        self.size = size;
        self.floor = self.floor.min(size);
        // Cut the runs past the new size.
        let past: Vec<u64> = self.runs.range(size..).map(|(&o, _)| o).collect();
        for o in past {
            self.runs.remove(&o);
        }
        if let Some((&o, r)) = self.runs.range_mut(..size).next_back() {
            let keep = (size - o) as usize;
            if r.len() > keep {
                r.truncate(keep);
            }
        }
    }

    /// Reads up to `len` bytes at `offset` as the file is now: the backing
    /// file's durable bytes below the floor, zeros elsewhere, the held
    /// writes on top.
    pub(crate) fn read(&self, backing: &File, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        if offset >= self.size {
            return Ok(Vec::new());
        }
        let end = self.size.min(offset + len as u64);
        let mut buf = vec![0u8; (end - offset) as usize];
        let visible = self.floor.min(self.durable_size).min(end);
        if visible > offset {
            read_full(backing, &mut buf[..(visible - offset) as usize], offset)?;
        }
        let first = self
            .runs
            .range(..offset)
            .next_back()
            .map(|(&o, _)| o)
            .unwrap_or(offset);
        for (&o, r) in self.runs.range(first..end) {
            let r_end = o + r.len() as u64;
            let from = o.max(offset);
            let to = r_end.min(end);
            if from < to {
                buf[(from - offset) as usize..(to - offset) as usize]
                    .copy_from_slice(&r[(from - o) as usize..(to - o) as usize]);
            }
        }
        Ok(buf)
    }

    /// Makes the held state durable: writes it to the backing file (opened
    /// for writing) and returns the clean state that follows.
    pub(crate) fn apply(&self, backing: &File) -> io::Result<()> {
        if self.floor < self.durable_size {
            backing.set_len(self.floor)?;
        }
        for (&o, r) in &self.runs {
            backing.write_all_at(r, o)?;
        }
        let now = backing.metadata()?.len();
        if now != self.size {
            backing.set_len(self.size)?;
        }
        Ok(())
    }
}

/// Reads exactly `buf.len()` bytes at `offset`; bytes past the backing
/// file's end (it may be shorter than recorded) read as zeros.
fn read_full(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => {
                buf[done..].fill(0);
                return Ok(());
            }
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::io::Write;

    fn backing(contents: &[u8]) -> (tempfile::TempDir, File) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        File::create(&path).unwrap().write_all(contents).unwrap();
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        (dir, f)
    }

    fn read_all(h: &Held, f: &File) -> Vec<u8> {
        h.read(f, 0, h.size() as usize + 10).unwrap()
    }

    #[test]
    fn a_held_write_is_read_back_but_not_written_to_the_backing_file() {
        let (_d, f) = backing(b"hello world");
        let mut h = Held::new(11);
        h.write(6, b"WORLD!");
        assert_eq!(read_all(&h, &f), b"hello WORLD!");
        assert_eq!(h.size(), 12);
        assert_eq!(h.held_bytes(), 6);
        let mut disk = vec![0u8; 20];
        let n = f.read_at(&mut disk, 0).unwrap();
        assert_eq!(&disk[..n], b"hello world");
    }

    #[test]
    fn a_truncate_then_extend_reads_zeros_where_the_old_bytes_were() {
        let (_d, f) = backing(b"abcdefgh");
        let mut h = Held::new(8);
        h.set_size(2);
        h.set_size(6);
        assert_eq!(read_all(&h, &f), b"ab\0\0\0\0");
        h.apply(&f).unwrap();
        let mut disk = vec![0u8; 10];
        let n = f.read_at(&mut disk, 0).unwrap();
        assert_eq!(&disk[..n], b"ab\0\0\0\0");
    }

    #[test]
    fn overlapping_and_touching_writes_merge_into_one_run() {
        let (_d, f) = backing(b"");
        let mut h = Held::new(0);
        h.write(4, b"efgh");
        h.write(0, b"abcd");
        h.write(2, b"XY");
        assert_eq!(h.runs.len(), 1);
        assert_eq!(read_all(&h, &f), b"abXYefgh");
    }

    /// A plain in-memory file as the reference.
    #[derive(Debug, Clone)]
    enum Op {
        Write(u64, Vec<u8>),
        SetSize(u64),
        Apply,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u64..64, proptest::collection::vec(any::<u8>(), 0..24)).prop_map(|(o, d)| Op::Write(o, d)),
            2 => (0u64..80).prop_map(Op::SetSize),
            1 => Just(Op::Apply),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn reads_and_applies_match_a_plain_buffer(
            initial in proptest::collection::vec(any::<u8>(), 0..48),
            ops in proptest::collection::vec(op(), 0..24),
        ) {
            let (_d, f) = backing(&initial);
            let mut model = initial.clone();
            let mut h = Held::new(initial.len() as u64);
            for op in ops {
                match op {
                    Op::Write(o, d) => {
                        let end = o as usize + d.len();
                        if !d.is_empty() {
                            if model.len() < end {
                                model.resize(end, 0);
                            }
                            model[o as usize..end].copy_from_slice(&d);
                        }
                        h.write(o, &d);
                    }
                    Op::SetSize(n) => {
                        model.resize(n as usize, 0);
                        h.set_size(n);
                    }
                    Op::Apply => {
                        h.apply(&f).unwrap();
                        h = Held::new(f.metadata().unwrap().len());
                        prop_assert!(h.is_clean());
                    }
                }
                prop_assert_eq!(read_all(&h, &f), model.clone());
                let mid = model.len() as u64 / 3;
                let part = h.read(&f, mid, 7).unwrap();
                let want_end = (mid as usize + 7).min(model.len());
                prop_assert_eq!(part, model[mid as usize..want_end].to_vec());
            }
        }
    }
}
