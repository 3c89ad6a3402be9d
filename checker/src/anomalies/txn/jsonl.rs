//! A dedicated jsonl reader for transaction histories (SKELETON).

use super::TxnHistory;
use crate::error::Result;

/// Reads a faultline jsonl history of `txn` ops straight into a
/// [`TxnHistory`]; `source` names the file in errors.
pub fn read_jsonl(text: &str, source: &str) -> Result<TxnHistory> {
    let _ = (text, source);
    todo!("read_jsonl")
}
