//! The run store on disk and what a run leaves in it (docs/design.md, "Run store
//! and exit codes").
//!
//! - [`Store`], [`RunDir`] (`store`): `store/<test-name>/<timestamp>/`, the
//!   `latest` link, and the paths of every file a run writes.
//! - [`HistoryWriter`], [`JsonlWriter`] (`writer`): append-only JSON Lines
//!   files that flush every line, so a harness that dies leaves a checkable
//!   history; the history writer numbers events and stamps their time.
//! - [`RunResults`], [`CheckResult`] (`summary`): `results.json`.
//! - [`write_atomically`] (`atomic`): the one way a whole file is written
//!   (temporary file, fsync, rename, fsync of the directory).
//! - [`write_json`]: whole-file JSON written atomically (`test.json`,
//!   `results.json`).
//! - [`write_report`], [`write_check_report`], [`write_check_result_report`]
//!   (`report`): the self-contained `report.html` of a run or of one
//!   checked history.
//! - [`refresh_index`] (`index`): `store/index.html`, every run newest first.
//! - [`write_junit`], [`JunitCase`] (`junit`): JUnit XML for CI systems.

mod atomic;
mod error;
mod index;
mod junit;
pub mod report;
mod store;
mod suite;
mod summary;
mod writer;

pub use atomic::write_atomically;
pub use error::{Error, Result};
pub use index::{refresh_index, render_index};
pub use junit::{junit_xml, write_junit, JunitCase, JunitOutcome};
pub use report::{render_run, write_check_report, write_check_result_report, write_report};
pub use store::{sanitize_test_name, RunDir, Store};
pub use suite::{format_ms, render_suite, write_suite, SuiteRecord, SuiteRun};
pub use summary::{
    outcome_word, write_json, CheckResult, OpCounts, RefusedStart, ReplicaBehind, RunResults,
};
pub use writer::{HistoryWriter, JsonlWriter};
