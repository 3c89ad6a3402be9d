//! Whole files written atomically: every file the store writes in one piece
//! (`results.json`, `test.json`, `suite.json`, `report.html`, `index.html`,
//! JUnit XML) goes through [`write_atomically`], so a reader (or
//! `faultline serve`) sees the old file or the new one, never half of one,
//! and a crash right after a write does not lose it.

use std::io::Write as _;
use std::path::Path;

use crate::error::{Error, Result};

/// Replaces `path` with `bytes` atomically and durably: the bytes go to a
/// temporary file with a unique name in the same directory, which is
/// synced, renamed over `path`, and then the directory is synced too.
///
/// The temporary file is removed when any step fails, and two writers (in
/// one process or several) never share a temporary file.
///
/// # Errors
/// `Write` naming `path` when the temporary file cannot be created,
/// written, synced or renamed, or the directory cannot be synced.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    write(path, bytes).map_err(|source| Error::Write {
        path: path.to_path_buf(),
        source,
    })
}

fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let name = path.file_name().map_or_else(
        || "file".to_owned(),
        |name| name.to_string_lossy().into_owned(),
    );
    // A hidden name that says whose it is; the random part keeps writers
    // apart. Dropping `tmp` on an early return deletes the file.
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    // On failure `persist` hands the file back; dropping it deletes it.
    tmp.persist(path).map_err(|err| err.error)?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use super::*;

    /// The names in `dir`, sorted.
    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_write_replaces_the_file_as_a_whole_and_leaves_nothing_beside_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.json");
        write_atomically(&path, b"old contents").unwrap();
        // A reader that opened the old file keeps reading the old file: the
        // new one is a different file renamed into place, not a rewrite.
        let mut reader = std::fs::File::open(&path).unwrap();

        write_atomically(&path, b"new").unwrap();

        let mut seen = String::new();
        reader.read_to_string(&mut seen).unwrap();
        assert_eq!(seen, "old contents");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(names(dir.path()), ["results.json"]);
    }

    #[test]
    fn a_failed_write_names_the_file_and_leaves_no_temporary_behind() {
        let dir = tempfile::tempdir().unwrap();
        // A directory in the way: the temporary file is written, the rename
        // over the directory fails.
        let path = dir.path().join("report.html");
        std::fs::create_dir(&path).unwrap();

        let err = write_atomically(&path, b"<html>").unwrap_err();

        assert!(
            err.to_string().contains("report.html"),
            "the error names the file: {err}"
        );
        assert_eq!(names(dir.path()), ["report.html"]);
        assert!(path.is_dir(), "what was there is left alone");
    }

    #[test]
    fn a_write_into_a_missing_directory_fails_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing").join("index.html");

        let err = write_atomically(&path, b"x").unwrap_err();

        assert!(err.to_string().contains("index.html"), "{err}");
        assert!(names(dir.path()).is_empty());
    }

    #[test]
    fn two_writers_in_one_process_do_not_collide() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.html");
        let contents: Vec<String> = (0..2)
            .map(|writer| format!("writer {writer} ").repeat(10_000))
            .collect();

        std::thread::scope(|scope| {
            for text in &contents {
                let path = &path;
                scope.spawn(move || {
                    for _ in 0..50 {
                        write_atomically(path, text.as_bytes()).unwrap();
                    }
                });
            }
        });

        let last = std::fs::read_to_string(&path).unwrap();
        assert!(
            contents.contains(&last),
            "the file is one writer's whole text"
        );
        assert_eq!(names(dir.path()), ["index.html"]);
    }
}
