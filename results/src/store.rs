//! `store/<test-name>/<timestamp>/`: one directory per run, and `store/latest`.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::error::{Error, Result};

/// The root of the run store (`--store`, default `store`).
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

/// One run's directory and the paths of the files it holds.
#[derive(Debug, Clone)]
pub struct RunDir {
    path: PathBuf,
    test: String,
    timestamp: String,
}

/// A test name safe as one path component: lower-case letters, digits and
/// `-`, `_`, `.`, `+`; anything else becomes `-`. Never starts with
/// `suite-` (those directories belong to suites, docs/design.md) and never empty.
#[must_use]
pub fn sanitize_test_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '-' | '_' | '.' | '+' => c,
            'A'..='Z' => c.to_ascii_lowercase(),
            _ => '-',
        })
        .collect();
    while out.starts_with('.') || out.starts_with('-') {
        out.remove(0);
    }
    if out.is_empty() {
        out.push_str("test");
    }
    if out.starts_with("suite-") {
        out.insert_str(0, "test-");
    }
    out
}

/// A run's test name: `test` in its `test.json`, else the name of the
/// directory above it (`store/<test>/<timestamp>/`).
pub(crate) fn run_test_name(
    run_dir: &Path,
    test_json: Option<&serde_json::Value>,
) -> Option<String> {
    test_json
        .and_then(|test| test.get("test"))
        .and_then(serde_json::Value::as_str)
        .map(str::to_string)
        .or_else(|| {
            run_dir
                .parent()
                .and_then(Path::file_name)
                .map(|name| name.to_string_lossy().into_owned())
        })
}

/// `2026-11-22T01:02:03.123Z` as `20261122T010203.123Z`: sortable, and free
/// of `:` so the directory name is easy to type and to copy to any file system.
fn compact_timestamp(now: SystemTime) -> String {
    humantime::format_rfc3339_millis(now)
        .to_string()
        .chars()
        .filter(|c| *c != '-' && *c != ':')
        .collect()
}

fn create_dir(path: &Path) -> Result<()> {
    std::fs::create_dir_all(path).map_err(|source| Error::CreateDir {
        path: path.to_path_buf(),
        source,
    })
}

impl Store {
    /// The store rooted at `root` (created when the first run is).
    #[must_use]
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The store's root directory.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Creates `root/<test>/<timestamp>/` (and `nodes/` inside it) for a new
    /// run of `test` (sanitized). Two runs in the same millisecond get
    /// `-1`, `-2` ... suffixes.
    ///
    /// # Errors
    /// `CreateDir` when the directory cannot be made.
    pub fn create_run(&self, test: &str) -> Result<RunDir> {
        let test = sanitize_test_name(test);
        let base = compact_timestamp(SystemTime::now());
        let parent = self.root.join(&test);
        create_dir(&parent)?;
        let mut timestamp = base.clone();
        for attempt in 1u32.. {
            let path = parent.join(&timestamp);
            match std::fs::create_dir(&path) {
                Ok(()) => {
                    let run = RunDir {
                        path,
                        test,
                        timestamp,
                    };
                    create_dir(&run.nodes_dir())?;
                    return Ok(run);
                }
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists && attempt < 1000 => {
                    timestamp = format!("{base}-{attempt}");
                }
                Err(source) => return Err(Error::CreateDir { path, source }),
            }
        }
        unreachable!("the loop returns within 1000 attempts")
    }

    /// Creates `root/suite-<timestamp>/` for one `faultline suite` (its
    /// `summary.html` and `suite.json`); a second suite in the same
    /// millisecond gets a `-1` suffix.
    ///
    /// # Errors
    /// `CreateDir` when the directory cannot be made.
    pub fn create_suite_dir(&self) -> Result<PathBuf> {
        create_dir(&self.root)?;
        let base = format!("suite-{}", compact_timestamp(SystemTime::now()));
        let mut name = base.clone();
        for attempt in 1u32..1000 {
            let path = self.root.join(&name);
            match std::fs::create_dir(&path) {
                Ok(()) => return Ok(path),
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                    name = format!("{base}-{attempt}");
                }
                Err(source) => return Err(Error::CreateDir { path, source }),
            }
        }
        Err(Error::CreateDir {
            path: self.root.join(base),
            source: std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "1000 suites in one millisecond",
            ),
        })
    }

    /// Points `root/latest` at `run` (a relative symbolic link, replaced
    /// atomically).
    ///
    /// # Errors
    /// `Write` when the link cannot be made.
    pub fn mark_latest(&self, run: &RunDir) -> Result<()> {
        let link = self.root.join("latest");
        let tmp = self.root.join(format!(".latest.{}", std::process::id()));
        let relative = Path::new(&run.test).join(&run.timestamp);
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&relative, &tmp)
            .and_then(|()| std::fs::rename(&tmp, &link))
            .map_err(|source| Error::Write { path: link, source })
    }
}

impl RunDir {
    /// The run's directory.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The sanitized test name.
    #[must_use]
    pub fn test(&self) -> &str {
        &self.test
    }

    /// The run's timestamp (its directory name).
    #[must_use]
    pub fn timestamp(&self) -> &str {
        &self.timestamp
    }

    /// `history.jsonl`.
    #[must_use]
    pub fn history(&self) -> PathBuf {
        self.path.join("history.jsonl")
    }

    /// `raftlog.jsonl`: the nodes' committed-log samples.
    #[must_use]
    pub fn raftlog(&self) -> PathBuf {
        self.path.join("raftlog.jsonl")
    }

    /// `revisions.jsonl`: etcd's acknowledged writes read back at their
    /// revisions (docs/checks.md, "revisions").
    #[must_use]
    pub fn revisions(&self) -> PathBuf {
        self.path.join("revisions.jsonl")
    }

    /// `test.json`: every option, the seed, the command that reproduces the run.
    #[must_use]
    pub fn test_json(&self) -> PathBuf {
        self.path.join("test.json")
    }

    /// `results.json`: what each check found.
    #[must_use]
    pub fn results_json(&self) -> PathBuf {
        self.path.join("results.json")
    }

    /// `report.html`.
    #[must_use]
    pub fn report_html(&self) -> PathBuf {
        self.path.join("report.html")
    }

    /// `nodes/`: one log per node.
    #[must_use]
    pub fn nodes_dir(&self) -> PathBuf {
        self.path.join("nodes")
    }

    /// `nodes/<node>.log`: the node's stdout and stderr, across restarts.
    #[must_use]
    pub fn node_log(&self, node: &str) -> PathBuf {
        self.nodes_dir().join(format!("{node}.log"))
    }

    /// `data/<node>/`: the node's data directory (removed after the run
    /// unless `--keep-data`).
    #[must_use]
    pub fn data_dir(&self, node: &str) -> PathBuf {
        self.path.join("data").join(node)
    }

    /// Removes `data/` and everything in it.
    ///
    /// # Errors
    /// `Write` when something in it cannot be removed.
    pub fn remove_data(&self) -> Result<()> {
        let data = self.path.join("data");
        match std::fs::remove_dir_all(&data) {
            Ok(()) => Ok(()),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(Error::Write { path: data, source }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_names_become_one_safe_path_component() {
        assert_eq!(
            sanitize_test_name("raftkv-register-partition,pause"),
            "raftkv-register-partition-pause"
        );
        assert_eq!(sanitize_test_name("../../etc"), "etc");
        assert_eq!(sanitize_test_name(""), "test");
        assert_eq!(sanitize_test_name("suite-x"), "test-suite-x");
        assert_eq!(sanitize_test_name("My Test"), "my-test");
    }

    #[test]
    fn timestamps_sort_and_have_no_colons() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(1_795_000_000_123);
        let stamp = compact_timestamp(t);
        assert!(!stamp.contains(':') && !stamp.contains('-'), "{stamp}");
        assert!(stamp.ends_with(".123Z"), "{stamp}");
    }

    #[test]
    fn runs_in_the_same_instant_get_distinct_directories_and_latest_follows() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::new(root.path());
        let a = store.create_run("t").unwrap();
        let b = store.create_run("t").unwrap();
        assert_ne!(a.path(), b.path());
        assert!(a.nodes_dir().is_dir());
        store.mark_latest(&a).unwrap();
        store.mark_latest(&b).unwrap();
        let latest = std::fs::canonicalize(root.path().join("latest")).unwrap();
        assert_eq!(latest, std::fs::canonicalize(b.path()).unwrap());
    }

    #[test]
    fn removing_data_twice_is_harmless() {
        let root = tempfile::tempdir().unwrap();
        let run = Store::new(root.path()).create_run("t").unwrap();
        std::fs::create_dir_all(run.data_dir("n1")).unwrap();
        run.remove_data().unwrap();
        run.remove_data().unwrap();
        assert!(!run.path().join("data").exists());
    }
}
