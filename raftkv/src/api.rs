//! The client HTTP API (axum), documented in `docs/protocol.md`.

use std::sync::mpsc::{SyncSender, TrySendError};

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::oneshot;

use crate::kv::{Command, MicroOp, ReadKind, TXN_MAX_OPS};
use crate::node::{Event, Request};
use crate::reply::{Answer, ApiError, REQUEST_TIMEOUT};
use crate::types::LogIndex;

/// Default and maximum page sizes of `GET /log`.
pub const LOG_PAGE_DEFAULT: usize = 100;
/// See [`LOG_PAGE_DEFAULT`].
pub const LOG_PAGE_MAX: usize = 1000;
/// Request bodies larger than this are refused.
const MAX_BODY_BYTES: usize = 1 << 20;

type ApiResult = Result<Answer, ApiError>;

/// Body of every single-key read.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyBody {
    key: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ValueBody {
    key: String,
    value: Value,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CasBody {
    key: String,
    from: Value,
    to: Value,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeltaBody {
    key: String,
    delta: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TxnBody {
    ops: Vec<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LogQuery {
    from: Option<LogIndex>,
    limit: Option<usize>,
}

/// The routes of the client API, sending requests to the driver's inbox.
pub fn router(inbox: SyncSender<Event>) -> Router {
    Router::new()
        .route("/kv/read", post(kv_read))
        .route("/kv/write", post(kv_write))
        .route("/kv/cas", post(kv_cas))
        .route("/list/append", post(list_append))
        .route("/list/read", post(list_read))
        .route("/counter/add", post(counter_add))
        .route("/counter/read", post(counter_read))
        .route("/set/add", post(set_add))
        .route("/set/read", post(set_read))
        .route("/txn", post(txn))
        .route("/status", get(status))
        .route("/log", get(log))
        .fallback(|| async { ApiError::not_found() })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(inbox)
}

async fn call(inbox: &SyncSender<Event>, request: Request) -> ApiResult {
    let (reply, answer) = oneshot::channel();
    match inbox.try_send(Event::Client(request, reply)) {
        Ok(()) => {}
        Err(TrySendError::Full(_)) => return Err(ApiError::overloaded()),
        Err(TrySendError::Disconnected(_)) => return Err(ApiError::no_leader()),
    }
    match tokio::time::timeout(REQUEST_TIMEOUT, answer).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(_)) | Err(_) => Err(ApiError::timeout()),
    }
}

/// A request body, or why it could not be read (e.g. too large).
type Body = Result<Bytes, BytesRejection>;

/// Parses a JSON body; the Content-Type header is not required.
fn body<T: serde::de::DeserializeOwned>(request: &Body) -> Result<T, ApiError> {
    let bytes = request.as_ref().map_err(|rejection| {
        ApiError::bad_request(format!("unreadable body: {}", rejection.body_text()))
    })?;
    serde_json::from_slice(bytes)
        .map_err(|error| ApiError::bad_request(format!("bad JSON body: {error}")))
}

async fn read(inbox: &SyncSender<Event>, kind: ReadKind, request: Body) -> ApiResult {
    let KeyBody { key } = body(&request)?;
    call(inbox, Request::Read { kind, key }).await
}

async fn propose(inbox: &SyncSender<Event>, command: Command) -> ApiResult {
    call(inbox, Request::Propose(command)).await
}

async fn kv_read(State(inbox): State<SyncSender<Event>>, request: Body) -> ApiResult {
    read(&inbox, ReadKind::Register, request).await
}

async fn list_read(State(inbox): State<SyncSender<Event>>, request: Body) -> ApiResult {
    read(&inbox, ReadKind::List, request).await
}

async fn counter_read(State(inbox): State<SyncSender<Event>>, request: Body) -> ApiResult {
    read(&inbox, ReadKind::Counter, request).await
}

async fn set_read(State(inbox): State<SyncSender<Event>>, request: Body) -> ApiResult {
    read(&inbox, ReadKind::Set, request).await
}

async fn kv_write(State(inbox): State<SyncSender<Event>>, request: Body) -> ApiResult {
    let ValueBody { key, value } = body(&request)?;
    propose(&inbox, Command::Write { key, value }).await
}

async fn kv_cas(State(inbox): State<SyncSender<Event>>, request: Body) -> ApiResult {
    let CasBody { key, from, to } = body(&request)?;
    propose(&inbox, Command::Cas { key, from, to }).await
}

async fn list_append(State(inbox): State<SyncSender<Event>>, request: Body) -> ApiResult {
    let ValueBody { key, value } = body(&request)?;
    propose(&inbox, Command::Append { key, value }).await
}

async fn counter_add(State(inbox): State<SyncSender<Event>>, request: Body) -> ApiResult {
    let DeltaBody { key, delta } = body(&request)?;
    propose(&inbox, Command::Add { key, delta }).await
}

async fn set_add(State(inbox): State<SyncSender<Event>>, request: Body) -> ApiResult {
    let ValueBody { key, value } = body(&request)?;
    propose(&inbox, Command::SetAdd { key, value }).await
}

async fn txn(State(inbox): State<SyncSender<Event>>, request: Body) -> ApiResult {
    let TxnBody { ops } = body(&request)?;
    call(&inbox, Request::Txn(micro_ops(&ops)?)).await
}

/// Decodes the micro-ops of a `/txn` body: 1 to [`TXN_MAX_OPS`] arrays
/// `["append", K, E]` or `["r", K, null]`, K a string.
fn micro_ops(ops: &[Value]) -> Result<Vec<MicroOp>, ApiError> {
    if ops.is_empty() || ops.len() > TXN_MAX_OPS {
        return Err(ApiError::bad_request(format!(
            "a transaction has 1 to {TXN_MAX_OPS} micro-ops, got {}",
            ops.len()
        )));
    }
    ops.iter()
        .enumerate()
        .map(|(i, op)| {
            micro_op(op).map_err(|why| ApiError::bad_request(format!("ops[{i}] {op}: {why}")))
        })
        .collect()
}

fn micro_op(op: &Value) -> Result<MicroOp, &'static str> {
    let Some([f, key, third]) = op.as_array().map(Vec::as_slice) else {
        return Err("expected a 3-element array [f, key, value]");
    };
    let Some(key) = key.as_str() else {
        return Err("the key must be a JSON string");
    };
    match (f.as_str(), third) {
        (Some("append"), element) => Ok(MicroOp::Append {
            key: key.to_string(),
            value: element.clone(),
        }),
        (Some("r"), Value::Null) => Ok(MicroOp::Read {
            key: key.to_string(),
        }),
        (Some("r"), _) => Err("a read's third element must be null"),
        _ => Err("f must be \"append\" or \"r\""),
    }
}

async fn status(State(inbox): State<SyncSender<Event>>) -> ApiResult {
    call(&inbox, Request::Status).await
}

async fn log(
    State(inbox): State<SyncSender<Event>>,
    query: Result<Query<LogQuery>, QueryRejection>,
) -> ApiResult {
    let Query(query) = query.map_err(|rejection| ApiError::bad_request(rejection.body_text()))?;
    let limit = query.limit.unwrap_or(LOG_PAGE_DEFAULT);
    if limit == 0 || limit > LOG_PAGE_MAX {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {LOG_PAGE_MAX}"
        )));
    }
    call(
        &inbox,
        Request::Log {
            from: query.from.unwrap_or(1).max(1),
            limit,
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn refusal(ops: Value) -> String {
        let ops = ops.as_array().expect("test bodies are arrays").clone();
        let error = micro_ops(&ops).expect_err("the body is malformed");
        assert_eq!((error.code(), error.definite()), ("bad-request", true));
        format!("{error:?}")
    }

    #[test]
    fn txn_micro_ops_decode_appends_and_reads_in_order() {
        let ops = micro_ops(&[json!(["append", "x", {"a": 1}]), json!(["r", "x", null])])
            .expect("well-formed");
        assert_eq!(
            ops,
            vec![
                MicroOp::Append {
                    key: "x".into(),
                    value: json!({"a": 1})
                },
                MicroOp::Read { key: "x".into() }
            ]
        );
    }

    #[test]
    fn txn_with_no_or_too_many_micro_ops_is_a_bad_request() {
        assert!(refusal(json!([])).contains("1 to 64"));
        let many: Vec<Value> = (0..65).map(|i| json!(["append", "x", i])).collect();
        assert!(refusal(Value::Array(many)).contains("got 65"));
    }

    #[test]
    fn malformed_micro_ops_are_bad_requests_naming_the_op() {
        for (ops, why) in [
            (json!([["r", "x", []]]), "must be null"),
            (json!([["r", 3, null]]), "JSON string"),
            (json!([["write", "x", 1]]), "append"),
            (json!([["append", "x"]]), "3-element"),
            (json!([["append", "x", 1], "r"]), "ops[1]"),
        ] {
            let message = refusal(ops);
            assert!(message.contains(why), "{why}: {message}");
        }
    }
}
