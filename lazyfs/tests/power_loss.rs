//! A power loss drops exactly what was not synced.

mod common;

use std::fs;
use std::path::PathBuf;

use common::io::*;
use common::TestMount;
use lazyfs::{FileLoss, Options};
use nix::fcntl::OFlag;

#[test]
fn a_power_loss_drops_unsynced_writes_and_keeps_fsynced_ones() {
    let Some(mut t) = TestMount::new("a_power_loss_drops_unsynced_writes_and_keeps_fsynced_ones")
    else {
        return;
    };
    pwrite(&t.p("wal"), 0, b"durable");
    fsync(&t.p("wal"));
    pwrite(&t.p("wal"), 7, b"+lost");
    pwrite(&t.p("other"), 0, b"never synced");
    let r = t.mount().power_loss().unwrap();
    assert_eq!(r.files, 2);
    assert_eq!(r.bytes, 5 + 12);
    assert_eq!(r.entries, 0);
    assert_eq!(
        r.lost,
        vec![
            FileLoss {
                path: PathBuf::from("other"),
                bytes: 12
            },
            FileLoss {
                path: PathBuf::from("wal"),
                bytes: 5
            },
        ]
    );
    assert_eq!(fs::read(t.p("wal")).unwrap(), b"durable");
    // Default mode: the entry of a created file is durable, its data not.
    assert_eq!(fs::read(t.p("other")).unwrap(), b"");
    t.remount(Options::default());
    assert_eq!(fs::read(t.p("wal")).unwrap(), b"durable");
    assert_eq!(fs::read(t.p("other")).unwrap(), b"");
}

#[test]
fn fdatasync_makes_writes_durable() {
    let Some(t) = TestMount::new("fdatasync_makes_writes_durable") else {
        return;
    };
    pwrite(&t.p("f"), 0, b"abc");
    fdatasync(&t.p("f"));
    pwrite(&t.p("f"), 0, b"X");
    let r = t.mount().power_loss().unwrap();
    assert_eq!((r.files, r.bytes), (1, 1));
    assert_eq!(fs::read(t.p("f")).unwrap(), b"abc");
}

#[test]
fn o_sync_and_o_dsync_writes_survive_a_power_loss() {
    let Some(t) = TestMount::new("o_sync_and_o_dsync_writes_survive_a_power_loss") else {
        return;
    };
    pwrite_flags(&t.p("s"), 0, b"sync", OFlag::O_SYNC.bits());
    pwrite_flags(&t.p("d"), 0, b"dsync", OFlag::O_DSYNC.bits());
    let r = t.mount().power_loss().unwrap();
    assert_eq!(r.files, 0, "{r:?}");
    assert_eq!(fs::read(t.p("s")).unwrap(), b"sync");
    assert_eq!(fs::read(t.p("d")).unwrap(), b"dsync");
}

#[test]
fn mmap_writes_survive_with_msync_and_are_dropped_without() {
    let Some(t) = TestMount::new("mmap_writes_survive_with_msync_and_are_dropped_without") else {
        return;
    };
    for name in ["synced", "unsynced"] {
        pwrite(&t.p(name), 0, &[b'.'; 8192]);
        fsync(&t.p(name));
    }
    mmap_write(&t.p("synced"), 4096, b"kept", true);
    mmap_write(&t.p("unsynced"), 4096, b"lost", false);
    assert_eq!(&fs::read(t.p("unsynced")).unwrap()[4096..4100], b"lost");
    let r = t.mount().power_loss().unwrap();
    assert_eq!(r.files, 1, "{r:?}");
    assert_eq!(r.lost[0].path, PathBuf::from("unsynced"));
    assert_eq!(&fs::read(t.p("synced")).unwrap()[4096..4100], b"kept");
    assert_eq!(fs::read(t.p("unsynced")).unwrap(), vec![b'.'; 8192]);
    assert_eq!(mmap_read(&t.p("unsynced")), vec![b'.'; 8192]);
}

#[test]
fn a_truncation_is_held_until_sync() {
    let Some(t) = TestMount::new("a_truncation_is_held_until_sync") else {
        return;
    };
    pwrite(&t.p("f"), 0, b"abcdef");
    fsync(&t.p("f"));
    truncate(&t.p("f"), 2);
    assert_eq!(fs::read(t.p("f")).unwrap(), b"ab");
    t.mount().power_loss().unwrap();
    assert_eq!(fs::read(t.p("f")).unwrap(), b"abcdef");
    truncate(&t.p("f"), 3);
    fsync(&t.p("f"));
    t.mount().power_loss().unwrap();
    assert_eq!(fs::read(t.p("f")).unwrap(), b"abc");
}

#[test]
fn a_renamed_file_carries_its_held_writes_and_an_unlinked_one_drops_them() {
    let Some(t) =
        TestMount::new("a_renamed_file_carries_its_held_writes_and_an_unlinked_one_drops_them")
    else {
        return;
    };
    pwrite(&t.p("tmp"), 0, b"new contents");
    fs::rename(t.p("tmp"), t.p("final")).unwrap();
    fsync(&t.p("final"));
    pwrite(&t.p("gone"), 0, b"held");
    fs::remove_file(t.p("gone")).unwrap();
    let r = t.mount().power_loss().unwrap();
    assert_eq!(r.files, 0, "{r:?}");
    assert_eq!(fs::read(t.p("final")).unwrap(), b"new contents");
    assert!(!t.p("tmp").exists());
    assert!(!t.p("gone").exists());
}
