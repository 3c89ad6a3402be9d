//! Everything passes through to the backing directory while nothing fails.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;

use common::io::*;
use common::TestMount;

#[test]
fn files_and_directories_pass_through_to_the_backing_directory() {
    let Some(t) = TestMount::new("files_and_directories_pass_through_to_the_backing_directory")
    else {
        return;
    };
    fs::write(t.p("a"), b"hello").unwrap();
    assert_eq!(fs::read(t.p("a")).unwrap(), b"hello");
    assert_eq!(fs::metadata(t.p("a")).unwrap().len(), 5);

    fs::create_dir(t.p("d")).unwrap();
    assert!(
        t.backing.join("d").is_dir(),
        "mkdir reaches the backing directory at once"
    );
    fs::rename(t.p("a"), t.p("d/b")).unwrap();
    assert!(!t.p("a").exists());
    assert_eq!(fs::read(t.p("d/b")).unwrap(), b"hello");
    assert!(
        t.backing.join("d/b").exists(),
        "rename reaches the backing directory at once"
    );

    let mut names: Vec<String> = fs::read_dir(t.p("d"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["b"]);

    truncate(&t.p("d/b"), 2);
    assert_eq!(fs::read(t.p("d/b")).unwrap(), b"he");
    truncate(&t.p("d/b"), 4);
    assert_eq!(fs::read(t.p("d/b")).unwrap(), b"he\0\0");
    assert_eq!(fs::metadata(t.p("d/b")).unwrap().len(), 4);

    fs::remove_file(t.p("d/b")).unwrap();
    assert!(!t.backing.join("d/b").exists());
    fs::remove_dir(t.p("d")).unwrap();
    assert!(!t.backing.join("d").exists());
}

#[test]
fn unsynced_writes_are_read_back_but_stay_out_of_the_backing_file() {
    let Some(t) = TestMount::new("unsynced_writes_are_read_back_but_stay_out_of_the_backing_file")
    else {
        return;
    };
    pwrite(&t.p("f"), 0, b"0123456789");
    pwrite(&t.p("f"), 4, b"ab");
    assert_eq!(fs::read(t.p("f")).unwrap(), b"0123ab6789");
    assert_eq!(fs::metadata(t.p("f")).unwrap().size(), 10);
    assert_eq!(
        fs::metadata(t.backing.join("f")).unwrap().len(),
        0,
        "held, not written"
    );
    assert_eq!(t.mount().held_bytes(), 10);
    fsync(&t.p("f"));
    assert_eq!(fs::read(t.backing.join("f")).unwrap(), b"0123ab6789");
    assert_eq!(t.mount().held_bytes(), 0);
}

#[test]
fn mmap_reads_and_writes_work() {
    let Some(t) = TestMount::new("mmap_reads_and_writes_work") else {
        return;
    };
    let data: Vec<u8> = (0..3 * 4096 + 17).map(|i| (i % 251) as u8).collect();
    fs::write(t.p("m"), &data).unwrap();
    assert_eq!(mmap_read(&t.p("m")), data);
    mmap_write(&t.p("m"), 4095, b"XYZ", false);
    let mut want = data.clone();
    want[4095..4098].copy_from_slice(b"XYZ");
    assert_eq!(fs::read(t.p("m")).unwrap(), want);
    assert_eq!(mmap_read(&t.p("m")), want);
}

#[test]
fn symlinks_hard_links_and_permissions_pass_through() {
    let Some(t) = TestMount::new("symlinks_hard_links_and_permissions_pass_through") else {
        return;
    };
    fs::write(t.p("f"), b"x").unwrap();
    std::os::unix::fs::symlink("f", t.p("s")).unwrap();
    assert_eq!(fs::read_link(t.p("s")).unwrap().to_str(), Some("f"));
    assert_eq!(fs::read(t.p("s")).unwrap(), b"x");
    fs::hard_link(t.p("f"), t.p("h")).unwrap();
    assert_eq!(fs::metadata(t.p("f")).unwrap().nlink(), 2);
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(t.p("f"), fs::Permissions::from_mode(0o640)).unwrap();
    assert_eq!(
        fs::metadata(t.backing.join("f")).unwrap().mode() & 0o777,
        0o640
    );
}
