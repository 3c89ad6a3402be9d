//! The linearizability check: is there one order of a history's ops,
//! respecting real time, that the model explains?
//!
//! - [`check`](mod@check): splits a history by key (P-compositionality),
//!   searches every key on all cores, largest first, in rounds of a growing
//!   budget.
//! - [`search`]: the per-key depth-first search, and where it got stuck when
//!   no order exists.
//! - [`explain`]: a violation in sentences: the longest linearizable prefix,
//!   the op that cannot follow it, and, for registers, whether it is a stale
//!   read.
//! - [`witness`]: verifies a witness order independently of the search.
//! - [`oracle`]: a brute-force oracle for tests.

pub mod check;
pub mod explain;
#[doc(hidden)]
pub mod oracle;
pub mod search;
pub mod witness;

pub use check::{check, CheckOptions, KeyOutcome, KeyReport, Report};
pub use explain::{OpView, PrefixStep, Violation};
