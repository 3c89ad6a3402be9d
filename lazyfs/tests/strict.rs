//! Strict mode: a directory's entries survive a power loss as of the
//! directory's last fsync.

mod common;

use std::fs;
use std::path::Path;

use common::io::*;
use common::TestMount;
use lazyfs::Options;

const STASH: &str = ".faultline-lazyfs-stash";

fn strict(name: &str) -> Option<TestMount> {
    TestMount::with(name, Options::strict())
}

/// fsync of a directory through the mount (FUSE delivers it as FSYNCDIR).
fn fsync_dir(path: &Path) {
    fs::File::open(path).unwrap().sync_all().unwrap();
}

fn names(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    out.sort();
    out
}

#[test]
fn a_file_fsynced_in_a_directory_never_fsynced_vanishes_with_its_data() {
    let Some(t) = strict("a_file_fsynced_in_a_directory_never_fsynced_vanishes_with_its_data")
    else {
        return;
    };
    pwrite(&t.p("wal"), 0, b"synced data");
    fsync(&t.p("wal"));
    assert_eq!(fs::read(t.p("wal")).unwrap(), b"synced data");
    let r = t.mount().power_loss().unwrap();
    assert_eq!(r.entries, 1, "{r:?}");
    assert_eq!(r.files, 0, "{r:?}");
    assert!(!t.p("wal").exists());
    assert!(names(&t.backing).is_empty(), "{:?}", names(&t.backing));
}

#[test]
fn a_file_survives_once_its_directory_is_fsynced_with_its_synced_contents() {
    let Some(t) = strict("a_file_survives_once_its_directory_is_fsynced_with_its_synced_contents")
    else {
        return;
    };
    pwrite(&t.p("wal"), 0, b"synced");
    fsync(&t.p("wal"));
    fsync_dir(&t.mnt);
    pwrite(&t.p("wal"), 6, b" and not");
    pwrite(&t.p("new"), 0, b"entry never synced");
    let r = t.mount().power_loss().unwrap();
    assert_eq!((r.entries, r.files, r.bytes), (1, 2, 8 + 18), "{r:?}");
    assert_eq!(names(&t.mnt), ["wal"]);
    assert_eq!(fs::read(t.p("wal")).unwrap(), b"synced");
}

#[test]
fn the_entry_of_a_created_file_is_durable_but_empty_after_an_fsync_of_its_directory_alone() {
    let Some(t) = strict(
        "the_entry_of_a_created_file_is_durable_but_empty_after_an_fsync_of_its_directory_alone",
    ) else {
        return;
    };
    pwrite(&t.p("f"), 0, b"data never synced");
    fsync_dir(&t.mnt);
    let r = t.mount().power_loss().unwrap();
    assert_eq!((r.entries, r.files), (0, 1), "{r:?}");
    assert_eq!(fs::read(t.p("f")).unwrap(), b"");
}

#[test]
fn a_rename_not_followed_by_an_fsync_of_the_directory_brings_the_old_name_back() {
    let Some(t) =
        strict("a_rename_not_followed_by_an_fsync_of_the_directory_brings_the_old_name_back")
    else {
        return;
    };
    // The usual atomic replace: write tmp, fsync it, rename over the old.
    pwrite(&t.p("conf"), 0, b"v1");
    fsync(&t.p("conf"));
    fsync_dir(&t.mnt);
    pwrite(&t.p("conf.tmp"), 0, b"v2");
    fsync(&t.p("conf.tmp"));
    fs::rename(t.p("conf.tmp"), t.p("conf")).unwrap();
    assert_eq!(fs::read(t.p("conf")).unwrap(), b"v2");
    let r = t.mount().power_loss().unwrap();
    // conf names another file again (2: out, in).
    assert_eq!(r.entries, 2, "{r:?}");
    assert_eq!(names(&t.mnt), ["conf"]);
    assert_eq!(fs::read(t.p("conf")).unwrap(), b"v1");
    // Synced, the rename holds.
    pwrite(&t.p("conf.tmp"), 0, b"v3");
    fsync(&t.p("conf.tmp"));
    fs::rename(t.p("conf.tmp"), t.p("conf")).unwrap();
    fsync_dir(&t.mnt);
    t.mount().power_loss().unwrap();
    assert_eq!(names(&t.mnt), ["conf"]);
    assert_eq!(fs::read(t.p("conf")).unwrap(), b"v3");
}

#[test]
fn a_renamed_file_comes_back_under_its_old_name_with_its_durable_contents() {
    let Some(t) = strict("a_renamed_file_comes_back_under_its_old_name_with_its_durable_contents")
    else {
        return;
    };
    pwrite(&t.p("old"), 0, b"durable");
    fsync(&t.p("old"));
    fsync_dir(&t.mnt);
    fs::rename(t.p("old"), t.p("new")).unwrap();
    pwrite(&t.p("new"), 0, b"DURABLE, not synced");
    let r = t.mount().power_loss().unwrap();
    assert_eq!(r.entries, 2, "{r:?}");
    assert_eq!(r.lost.len(), 1, "{r:?}");
    assert_eq!(r.lost[0].path, Path::new("new"));
    assert_eq!(names(&t.mnt), ["old"]);
    assert_eq!(fs::read(t.p("old")).unwrap(), b"durable");
}

#[test]
fn a_rename_across_directories_synced_at_the_target_only_leaves_both_names() {
    let Some(t) = strict("a_rename_across_directories_synced_at_the_target_only_leaves_both_names")
    else {
        return;
    };
    fs::create_dir(t.p("a")).unwrap();
    fs::create_dir(t.p("b")).unwrap();
    fsync_dir(&t.mnt);
    pwrite(&t.p("a/f"), 0, b"contents");
    fsync(&t.p("a/f"));
    fsync_dir(&t.p("a"));
    fs::rename(t.p("a/f"), t.p("b/f")).unwrap();
    fsync_dir(&t.p("b"));
    let r = t.mount().power_loss().unwrap();
    assert_eq!(r.entries, 1, "{r:?}");
    // Each directory lists what it had at its last fsync: one file, two
    // names.
    assert_eq!(fs::read(t.p("a/f")).unwrap(), b"contents");
    assert_eq!(fs::read(t.p("b/f")).unwrap(), b"contents");
    assert_eq!(
        std::os::unix::fs::MetadataExt::nlink(&fs::metadata(t.p("a/f")).unwrap()),
        2
    );
}

#[test]
fn an_unlinked_file_comes_back_with_its_durable_contents() {
    let Some(t) = strict("an_unlinked_file_comes_back_with_its_durable_contents") else {
        return;
    };
    pwrite(&t.p("seg"), 0, b"durable");
    fsync(&t.p("seg"));
    fsync_dir(&t.mnt);
    pwrite(&t.p("seg"), 7, b"+held");
    fs::remove_file(t.p("seg")).unwrap();
    assert!(!t.p("seg").exists());
    assert_eq!(names(&t.mnt), Vec::<String>::new(), "the stash is hidden");
    assert!(
        t.backing.join(STASH).is_dir(),
        "the file is kept in the stash"
    );
    let r = t.mount().power_loss().unwrap();
    assert_eq!(r.entries, 1, "{r:?}");
    assert_eq!(r.lost.len(), 1, "{r:?}");
    assert_eq!(r.lost[0].path, Path::new("seg (deleted)"));
    assert_eq!(fs::read(t.p("seg")).unwrap(), b"durable");
    assert!(!t.backing.join(STASH).exists(), "the stash is gone");
}

#[test]
fn an_unlink_made_durable_by_an_fsync_of_the_directory_empties_the_stash() {
    let Some(t) = strict("an_unlink_made_durable_by_an_fsync_of_the_directory_empties_the_stash")
    else {
        return;
    };
    pwrite(&t.p("seg"), 0, b"durable");
    fsync_dir(&t.mnt);
    fs::remove_file(t.p("seg")).unwrap();
    assert!(t.backing.join(STASH).is_dir());
    fsync_dir(&t.mnt);
    assert!(!t.backing.join(STASH).exists());
    let r = t.mount().power_loss().unwrap();
    assert_eq!(r.entries, 0, "{r:?}");
    assert!(!t.p("seg").exists());
}

#[test]
fn a_directory_made_and_not_synced_vanishes_with_everything_in_it() {
    let Some(t) = strict("a_directory_made_and_not_synced_vanishes_with_everything_in_it") else {
        return;
    };
    fs::create_dir(t.p("d")).unwrap();
    fs::create_dir(t.p("d/sub")).unwrap();
    pwrite(&t.p("d/sub/f"), 0, b"synced file");
    fsync(&t.p("d/sub/f"));
    fsync_dir(&t.p("d/sub"));
    fsync_dir(&t.p("d"));
    let r = t.mount().power_loss().unwrap();
    assert_eq!(r.entries, 1, "{r:?}");
    assert!(names(&t.mnt).is_empty());
    assert!(names(&t.backing).is_empty(), "{:?}", names(&t.backing));
}

#[test]
fn an_rmdir_not_synced_brings_the_directory_back_with_its_durable_entries() {
    let Some(t) = strict("an_rmdir_not_synced_brings_the_directory_back_with_its_durable_entries")
    else {
        return;
    };
    fs::create_dir(t.p("d")).unwrap();
    pwrite(&t.p("d/f"), 0, b"kept");
    fsync(&t.p("d/f"));
    fsync_dir(&t.p("d"));
    fsync_dir(&t.mnt);
    fs::remove_file(t.p("d/f")).unwrap();
    fs::remove_dir(t.p("d")).unwrap();
    assert!(!t.p("d").exists());
    let r = t.mount().power_loss().unwrap();
    assert_eq!(r.entries, 2, "{r:?}");
    assert_eq!(names(&t.mnt), ["d"]);
    assert_eq!(names(&t.p("d")), ["f"]);
    assert_eq!(fs::read(t.p("d/f")).unwrap(), b"kept");
}

#[test]
fn rmdir_of_a_directory_that_is_not_empty_still_fails() {
    let Some(t) = strict("rmdir_of_a_directory_that_is_not_empty_still_fails") else {
        return;
    };
    fs::create_dir(t.p("d")).unwrap();
    pwrite(&t.p("d/f"), 0, b"x");
    fsync_dir(&t.mnt);
    let err = fs::remove_dir(t.p("d")).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(nix::libc::ENOTEMPTY), "{err}");
    assert_eq!(names(&t.p("d")), ["f"]);
}

#[test]
fn a_directory_moved_to_another_directory_is_durable_there_at_once() {
    let Some(t) = strict("a_directory_moved_to_another_directory_is_durable_there_at_once") else {
        return;
    };
    fs::create_dir(t.p("a")).unwrap();
    fs::create_dir(t.p("a/d")).unwrap();
    pwrite(&t.p("a/d/f"), 0, b"x");
    fsync(&t.p("a/d/f"));
    fsync_dir(&t.p("a/d"));
    fsync_dir(&t.p("a"));
    fsync_dir(&t.mnt);
    fs::rename(t.p("a/d"), t.p("moved")).unwrap();
    // A directory made since its parent's fsync has no durable name to
    // move: it goes.
    fs::create_dir(t.p("a/new")).unwrap();
    fs::rename(t.p("a/new"), t.p("new")).unwrap();
    t.mount().power_loss().unwrap();
    assert_eq!(names(&t.mnt), ["a", "moved"]);
    assert!(names(&t.p("a")).is_empty());
    assert_eq!(fs::read(t.p("moved/f")).unwrap(), b"x");
}

#[test]
fn a_directory_renamed_in_its_directory_gets_its_old_name_back() {
    let Some(t) = strict("a_directory_renamed_in_its_directory_gets_its_old_name_back") else {
        return;
    };
    fs::create_dir(t.p("d")).unwrap();
    pwrite(&t.p("d/f"), 0, b"x");
    fsync(&t.p("d/f"));
    fsync_dir(&t.p("d"));
    fsync_dir(&t.mnt);
    fs::rename(t.p("d"), t.p("e")).unwrap();
    pwrite(&t.p("e/g"), 0, b"new");
    let r = t.mount().power_loss().unwrap();
    assert_eq!(r.entries, 3, "{r:?}");
    assert_eq!(names(&t.mnt), ["d"]);
    assert_eq!(names(&t.p("d")), ["f"]);
}

#[test]
fn hard_links_and_symlinks_not_synced_are_dropped() {
    let Some(t) = strict("hard_links_and_symlinks_not_synced_are_dropped") else {
        return;
    };
    pwrite(&t.p("f"), 0, b"x");
    fsync(&t.p("f"));
    fsync_dir(&t.mnt);
    fs::hard_link(t.p("f"), t.p("link")).unwrap();
    std::os::unix::fs::symlink("f", t.p("sym")).unwrap();
    let r = t.mount().power_loss().unwrap();
    assert_eq!(r.entries, 2, "{r:?}");
    assert_eq!(names(&t.mnt), ["f"]);
    assert_eq!(
        std::os::unix::fs::MetadataExt::nlink(&fs::metadata(t.p("f")).unwrap()),
        1
    );
}

#[test]
fn the_stash_cannot_be_seen_or_named_through_the_mount() {
    let Some(t) = strict("the_stash_cannot_be_seen_or_named_through_the_mount") else {
        return;
    };
    pwrite(&t.p("f"), 0, b"x");
    fsync_dir(&t.mnt);
    fs::remove_file(t.p("f")).unwrap();
    assert!(t.backing.join(STASH).is_dir());
    assert!(names(&t.mnt).is_empty());
    assert!(!t.p(STASH).exists());
    let err = fs::create_dir(t.p(STASH)).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(nix::libc::EPERM), "{err}");
    let err = fs::remove_dir(t.p(STASH)).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(nix::libc::ENOENT), "{err}");
}

#[test]
fn unmounting_leaves_the_backing_directory_with_the_durable_entries_only() {
    let Some(mut t) =
        strict("unmounting_leaves_the_backing_directory_with_the_durable_entries_only")
    else {
        return;
    };
    pwrite(&t.p("kept"), 0, b"k");
    fsync(&t.p("kept"));
    pwrite(&t.p("gone"), 0, b"g");
    fsync_dir(&t.mnt);
    fs::remove_file(t.p("gone")).unwrap();
    pwrite(&t.p("new"), 0, b"n");
    t.mount.take().unwrap().unmount().unwrap();
    assert_eq!(names(&t.backing), ["gone", "kept"]);
    assert_eq!(fs::read(t.backing.join("kept")).unwrap(), b"k");
    assert_eq!(fs::read(t.backing.join("gone")).unwrap(), b"");
    t.remount_after_unmount(Options::strict());
    assert_eq!(names(&t.mnt), ["gone", "kept"]);
}

#[test]
fn a_stash_left_by_a_dead_mount_is_removed_at_the_next_mount() {
    let Some(mut t) = strict("a_stash_left_by_a_dead_mount_is_removed_at_the_next_mount") else {
        return;
    };
    t.mount.take().unwrap().unmount().unwrap();
    fs::create_dir(t.backing.join(STASH)).unwrap();
    fs::write(t.backing.join(STASH).join("1"), b"left over").unwrap();
    t.remount_after_unmount(Options::default());
    assert!(!t.backing.join(STASH).exists());
    assert!(names(&t.mnt).is_empty());
}

#[test]
fn strict_mode_keeps_mmap_and_held_writes_as_in_default_mode() {
    let Some(t) = strict("strict_mode_keeps_mmap_and_held_writes_as_in_default_mode") else {
        return;
    };
    for name in ["synced", "unsynced"] {
        pwrite(&t.p(name), 0, &[b'.'; 8192]);
        fsync(&t.p(name));
    }
    fsync_dir(&t.mnt);
    mmap_write(&t.p("synced"), 4096, b"kept", true);
    mmap_write(&t.p("unsynced"), 4096, b"lost", false);
    let r = t.mount().power_loss().unwrap();
    assert_eq!((r.files, r.entries), (1, 0), "{r:?}");
    assert_eq!(&fs::read(t.p("synced")).unwrap()[4096..4100], b"kept");
    assert_eq!(mmap_read(&t.p("unsynced")), vec![b'.'; 8192]);
}

#[test]
fn a_durable_directory_replaced_by_a_rename_comes_back() {
    let Some(t) = strict("a_durable_directory_replaced_by_a_rename_comes_back") else {
        return;
    };
    fs::create_dir(t.p("old")).unwrap();
    fsync_dir(&t.mnt);
    let ino = |p: &Path| std::os::unix::fs::MetadataExt::ino(&fs::metadata(p).unwrap());
    let durable = ino(&t.backing.join("old"));
    fs::create_dir(t.p("new")).unwrap();
    fs::rename(t.p("new"), t.p("old")).unwrap();
    assert_ne!(ino(&t.backing.join("old")), durable);
    let r = t.mount().power_loss().unwrap();
    assert_eq!(r.entries, 2, "{r:?}");
    assert_eq!(names(&t.mnt), ["old"]);
    assert_eq!(ino(&t.backing.join("old")), durable);
}

#[test]
fn a_directory_with_no_durable_name_replaced_by_a_rename_is_gone_for_good() {
    let Some(t) = strict("a_directory_with_no_durable_name_replaced_by_a_rename_is_gone_for_good")
    else {
        return;
    };
    fs::create_dir(t.p("t")).unwrap();
    pwrite(&t.p("t/x"), 0, b"x");
    fsync_dir(&t.p("t"));
    fs::remove_file(t.p("t/x")).unwrap();
    fs::create_dir(t.p("s")).unwrap();
    fs::rename(t.p("s"), t.p("t")).unwrap();
    let r = t.mount().power_loss().unwrap();
    assert_eq!(r.entries, 1, "{r:?}");
    assert!(names(&t.mnt).is_empty());
    assert!(names(&t.backing).is_empty(), "{:?}", names(&t.backing));
}
