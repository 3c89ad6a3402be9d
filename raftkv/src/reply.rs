//! What the driver answers a client request with, and how each answer is
//! written as HTTP (`docs/protocol.md`). Shared by [`crate::api`], which
//! asks, and [`crate::node`], which answers; it imports neither.

use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::{json, Value};

use crate::types::{LogIndex, NodeId, Term};

/// A request not answered within this long gets an indefinite `timeout`.
pub const REQUEST_TIMEOUT: Duration = Duration::from_millis(1500);

/// A successful answer.
#[derive(Debug)]
pub enum Answer {
    /// A read's value: `{"value": ...}`.
    Value(Value),
    /// A write took effect at this log index: `{"index": n}`.
    Written {
        /// Where the command sits in the log.
        index: LogIndex,
    },
    /// A transaction's completed micro-ops and its log index:
    /// `{"ops": [...], "index": n}`.
    Txn {
        /// The micro-ops in request order, each read filled in.
        ops: Value,
        /// Where the transaction sits in the log.
        index: LogIndex,
    },
    /// `GET /status`.
    Status(Status),
    /// `GET /log`.
    Log(LogPage),
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        match self {
            Answer::Value(value) => Json(json!({ "value": value })).into_response(),
            Answer::Written { index } => Json(json!({ "index": index })).into_response(),
            Answer::Txn { ops, index } => {
                Json(json!({ "ops": ops, "index": index })).into_response()
            }
            Answer::Status(status) => Json(status).into_response(),
            Answer::Log(page) => Json(page).into_response(),
        }
    }
}

/// The body of `GET /status`.
#[derive(Debug, Serialize)]
pub struct Status {
    /// This node's id.
    pub id: NodeId,
    /// `leader`, `follower` or `candidate`.
    pub role: &'static str,
    /// The current term.
    pub term: Term,
    /// The leader of the current term, if known.
    pub leader: Option<NodeId>,
    /// Highest index known committed.
    pub commit_index: LogIndex,
    /// Highest index applied to the key-value state.
    pub last_applied: LogIndex,
    /// Index of the last entry in the log, committed or not.
    pub last_log_index: LogIndex,
    /// The `--bug` switches on.
    pub bugs: Vec<String>,
}

/// One committed entry in `GET /log`.
#[derive(Debug, Serialize)]
pub struct LogEntryView {
    /// Position in the log.
    pub index: LogIndex,
    /// Term of the entry.
    pub term: Term,
    /// FNV-1a 64 of the command bytes, 16 hex digits.
    pub digest: String,
}

/// The body of `GET /log`.
#[derive(Debug, Serialize)]
pub struct LogPage {
    /// Committed entries, in index order.
    pub entries: Vec<LogEntryView>,
    /// This node's durable commit index; no entry above it is listed.
    pub commit_index: LogIndex,
    /// The `from` of the next page, or `null` when this page reached the commit index.
    pub next: Option<LogIndex>,
}

/// An error answer: `{"code", "message", "definite", ...}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    definite: bool,
    leader: Option<NodeId>,
    current: Option<Value>,
}

impl ApiError {
    fn new(
        status: StatusCode,
        code: &'static str,
        definite: bool,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            definite,
            leader: None,
            current: None,
        }
    }

    /// This node is not the leader; `leader` is. Definite.
    pub fn not_leader(leader: NodeId) -> ApiError {
        let mut error = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not-leader",
            true,
            format!("not the leader; try node {leader}"),
        );
        error.leader = Some(leader);
        error
    }

    /// No leader is known in this node's term. Definite.
    pub fn no_leader() -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no-leader",
            true,
            "no leader is known; retry later",
        )
    }

    /// A cas found another value. Definite, and an observation of `current`.
    pub fn mismatch(current: Value) -> ApiError {
        let mut error = ApiError::new(
            StatusCode::CONFLICT,
            "mismatch",
            true,
            "the key does not hold the expected value",
        );
        error.current = Some(current);
        error
    }

    /// The key holds a value of another shape. Definite.
    pub fn wrong_type(expected: &'static str) -> ApiError {
        ApiError::new(
            StatusCode::CONFLICT,
            "wrong-type",
            true,
            format!("the key does not hold a {expected}"),
        )
    }

    /// A counter would overflow i64. Definite.
    pub fn overflow() -> ApiError {
        ApiError::new(
            StatusCode::CONFLICT,
            "overflow",
            true,
            "the counter would leave the signed 64-bit range",
        )
    }

    /// Leadership changed after proposing: the request may or may not take effect.
    pub fn leadership_lost() -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "leadership-lost",
            false,
            "leadership changed before the request was known committed",
        )
    }

    /// No answer in time: the request may or may not take effect.
    pub fn timeout() -> ApiError {
        let message = format!("no answer within {} ms", REQUEST_TIMEOUT.as_millis());
        ApiError::new(StatusCode::GATEWAY_TIMEOUT, "timeout", false, message)
    }

    /// The node is too busy to queue the request. Definite.
    pub fn overloaded() -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            true,
            "the node's request queue is full",
        )
    }

    /// The request is malformed. Definite.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad-request", true, message)
    }

    /// No such endpoint. Definite.
    pub fn not_found() -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not-found",
            true,
            "no such endpoint; see docs/protocol.md",
        )
    }

    /// The endpoint exists but not with this method. Definite.
    pub fn method_not_allowed() -> ApiError {
        let message = "wrong method: data calls are POST, /status and /log are GET";
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            true,
            message,
        )
    }

    /// The machine-readable code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// Whether the request certainly had no effect.
    pub fn definite(&self) -> bool {
        self.definite
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body =
            json!({ "code": self.code, "message": self.message, "definite": self.definite });
        if self.code == "not-leader" || self.code == "no-leader" {
            body["leader"] = json!(self.leader);
        }
        if let Some(current) = self.current {
            body["current"] = current;
        }
        (self.status, Json(body)).into_response()
    }
}
