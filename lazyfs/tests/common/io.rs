//! Small file operations the tests drive the mount with.
#![allow(dead_code)]

use std::fs::{File, OpenOptions};
use std::num::NonZeroUsize;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

use nix::sys::mman::{mmap, msync, munmap, MapFlags, MsFlags, ProtFlags};

/// Writes `data` at `offset` (creating the file), without syncing.
pub fn pwrite(path: &Path, offset: u64, data: &[u8]) {
    let f = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .open(path)
        .unwrap();
    f.write_all_at(data, offset).unwrap();
}

/// Writes `data` at `offset` through a file opened with extra `flags`
/// (O_SYNC, O_DSYNC).
pub fn pwrite_flags(path: &Path, offset: u64, data: &[u8], flags: i32) {
    let f = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .custom_flags(flags)
        .open(path)
        .unwrap();
    f.write_all_at(data, offset).unwrap();
}

pub fn fsync(path: &Path) {
    File::open(path).unwrap().sync_all().unwrap();
}

pub fn fdatasync(path: &Path) {
    OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .sync_data()
        .unwrap();
}

pub fn truncate(path: &Path, size: u64) {
    OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(size)
        .unwrap();
}

/// Writes `data` at `offset` through a shared writable mapping of the
/// whole file (which must be long enough), then msyncs it if `sync`.
pub fn mmap_write(path: &Path, offset: usize, data: &[u8], sync: bool) {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let len = f.metadata().unwrap().len() as usize;
    assert!(
        offset + data.len() <= len,
        "mmap_write past the end of {}",
        path.display()
    );
    let size = NonZeroUsize::new(len).expect("non-empty file");
    // No safe API exists for a shared mapping: its memory can change under
    // the program (here, through the file system under test).
    // SAFETY: the mapping covers the file's length, is used only inside this
    // block and unmapped before it ends; no other code maps the file now.
    unsafe {
        let p = mmap(
            None,
            size,
            ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
            MapFlags::MAP_SHARED,
            &f,
            0,
        )
        .unwrap();
        let bytes = std::slice::from_raw_parts_mut(p.as_ptr().cast::<u8>(), len);
        bytes[offset..offset + data.len()].copy_from_slice(data);
        if sync {
            msync(p, len, MsFlags::MS_SYNC).unwrap();
        }
        munmap(p, len).unwrap();
    }
}

/// Reads a whole file through a shared read-only mapping.
pub fn mmap_read(path: &Path) -> Vec<u8> {
    let f = File::open(path).unwrap();
    let len = f.metadata().unwrap().len() as usize;
    let Some(size) = NonZeroUsize::new(len) else {
        return Vec::new();
    };
    // No safe API exists for a shared mapping (see mmap_write).
    // SAFETY: read-only, the file's length, unmapped before the block ends.
    unsafe {
        let p = mmap(
            None,
            size,
            ProtFlags::PROT_READ,
            MapFlags::MAP_SHARED,
            &f,
            0,
        )
        .unwrap();
        let out = std::slice::from_raw_parts(p.as_ptr().cast::<u8>(), len).to_vec();
        munmap(p, len).unwrap();
        out
    }
}
