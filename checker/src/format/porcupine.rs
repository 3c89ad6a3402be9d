//! Porcupine's test logs: Jepsen etcd lines and the kv EDN-per-line logs,
//! read the way Porcupine's own tests read them (`porcupine_test.go`).

use serde_json::Value;

use super::edn::{Edn, EdnError, Reader};
use super::{At, Completion, Invoke, Pairer};
use crate::error::{column_of, quote, Error, Result};
use crate::history::History;

/// The text before the fields of every etcd log line.
const ETCD_PREFIX: [&str; 3] = ["INFO", "jepsen.util", "-"];

/// Reads `INFO  jepsen.util - <process> <type> <f> <value>` lines (fields split
/// on any whitespace). Lines without the `jepsen.util -` prefix are skipped and
/// counted in a warning, as Porcupine skips them.
pub(crate) fn read_etcd(text: &str, source_name: &str) -> Result<History> {
    let mut pairer = Pairer::new(source_name);
    let mut skipped = 0u64;
    for (number, raw) in text.lines().enumerate() {
        let line = number as u64 + 1;
        let id = number as u64;
        let fields: Vec<&str> = raw.split_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        if fields.len() < 3 || fields[..3] != ETCD_PREFIX {
            skipped += 1;
            continue;
        }
        // Errors name the column of the field at fault (fields are slices of `raw`).
        let column = |field: &str| column_of(raw, field.as_ptr() as usize - raw.as_ptr() as usize);
        let bad = |field: &str, reason: String| Error::BadLine {
            source_name: source_name.to_string(),
            line,
            column: column(field),
            reason,
        };
        if fields.len() < 7 {
            return Err(bad(
                fields[0],
                format!(
                    "expected `INFO jepsen.util - <process> <type> <f> <value>`, found {} fields: {}",
                    fields.len(),
                    quote(raw.trim(), 60)
                ),
            ));
        }
        let process: u64 = fields[3].parse().map_err(|_| {
            bad(
                fields[3],
                format!("expected a process number, found {}", quote(fields[3], 40)),
            )
        })?;
        let kind = fields[4];
        let f = fields[5].strip_prefix(':').ok_or_else(|| {
            bad(
                fields[5],
                format!(
                    "expected :read, :write or :cas, found {}",
                    quote(fields[5], 40)
                ),
            )
        })?;
        let value_text = fields[6..].join(" ");
        let value = etcd_value(&value_text).map_err(|reason| bad(fields[6], reason))?;
        let timed_out = value_text == ":timed-out";
        let at = At {
            line,
            column: column(fields[0]),
        };
        match kind {
            ":invoke" => pairer.invoke(Invoke {
                id,
                process,
                key: String::new(),
                f: f.to_string(),
                value,
                position: line,
                time: None,
                at,
                node: None,
            })?,
            ":ok" => pairer.complete(process, "ok", Completion::Ok(value), line, None, at)?,
            // `:fail :read :timed-out`: the read returned with no value.
            ":fail" if timed_out => pairer.complete(
                process,
                "fail",
                Completion::Unknown { keep_ret: true },
                line,
                None,
                at,
            )?,
            // Porcupine's etcd model reads every failed cas as "the value
            // differed from the expected one".
            ":fail" => pairer.complete(
                process,
                "fail",
                Completion::Fail {
                    observation: f == "cas",
                },
                line,
                None,
                at,
            )?,
            ":info" => pairer.complete(
                process,
                "info",
                Completion::Unknown { keep_ret: false },
                line,
                None,
                at,
            )?,
            other => {
                return Err(bad(
                    other,
                    format!(
                        "expected :invoke, :ok, :fail or :info, found {}",
                        quote(other, 40)
                    ),
                ))
            }
        }
    }
    let mut warnings = Vec::new();
    if skipped > 0 {
        warnings.push(format!(
            "{source_name}: skipped {skipped} line(s) without the `INFO jepsen.util -` prefix"
        ));
    }
    Ok(pairer.finish(warnings))
}

/// `nil`, an integer, `[a b]`, or `:timed-out` (read as null).
fn etcd_value(text: &str) -> std::result::Result<Value, String> {
    if text == "nil" || text == ":timed-out" {
        return Ok(Value::Null);
    }
    if let Ok(n) = text.parse::<i64>() {
        return Ok(Value::from(n));
    }
    if let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        let items: std::result::Result<Vec<Value>, String> =
            inner.split_whitespace().map(etcd_value).collect();
        return items.map(Value::Array);
    }
    Err(format!(
        "expected nil, an integer or [from to], found {}",
        quote(text, 60)
    ))
}

/// Reads Porcupine's kv logs: one EDN map per line with `:process`, `:type`
/// (`:invoke` or `:ok`), `:f` (`:get`, `:put`, `:append`), `:key` and `:value`.
pub(crate) fn read_kv(text: &str, source_name: &str) -> Result<History> {
    let mut pairer = Pairer::new(source_name);
    for (number, raw) in text.lines().enumerate() {
        let line = number as u64 + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let bad = |column: u64, reason: String| Error::BadLine {
            source_name: source_name.to_string(),
            line,
            column,
            reason,
        };
        let mut reader = Reader::new(raw);
        let edn = |e: EdnError| bad(e.column, format!("one EDN map per line: {}", e.reason));
        reader.skip_space().map_err(edn)?;
        let start = reader.mark();
        let map = reader.read().map_err(edn)?;
        let at = At {
            line,
            column: start.column,
        };
        if reader.peek_form().map_err(edn)?.is_some() {
            return reader
                .expected_at(reader.mark(), "nothing after the map")
                .map_err(edn);
        }
        let shown = |value: Option<&Edn>| value.map_or_else(|| "none".to_string(), Edn::shown);
        let process = match map.get("process") {
            Some(Edn::Int(p)) if *p >= 0 => *p as u64,
            other => {
                return Err(bad(
                    at.column,
                    format!("expected :process <integer>, found {}", shown(other)),
                ))
            }
        };
        let f = match map.get("f") {
            Some(Edn::Keyword(f)) => f.clone(),
            other => {
                return Err(bad(
                    at.column,
                    format!("expected :f :get|:put|:append, found {}", shown(other)),
                ))
            }
        };
        let key = match map.get("key") {
            Some(Edn::Str(k)) => k.clone(),
            Some(other) => other.to_json().to_string(),
            None => String::new(),
        };
        let value = map.get("value").map_or(Value::Null, Edn::to_json);
        match map.get("type") {
            Some(Edn::Keyword(t)) if t == "invoke" => pairer.invoke(Invoke {
                id: number as u64,
                process,
                key,
                f,
                value,
                position: line,
                time: None,
                at,
                node: None,
            })?,
            Some(Edn::Keyword(t)) if t == "ok" => {
                pairer.complete(process, "ok", Completion::Ok(value), line, None, at)?
            }
            Some(Edn::Keyword(t)) if t == "fail" => pairer.complete(
                process,
                "fail",
                Completion::Fail { observation: false },
                line,
                None,
                at,
            )?,
            Some(Edn::Keyword(t)) if t == "info" => pairer.complete(
                process,
                "info",
                Completion::Unknown { keep_ret: false },
                line,
                None,
                at,
            )?,
            other => {
                return Err(bad(
                    at.column,
                    format!(
                        "expected :type :invoke, :ok, :fail or :info, found {}",
                        shown(other)
                    ),
                ))
            }
        }
    }
    Ok(pairer.finish(Vec::new()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Outcome;

    #[test]
    fn reads_etcd_lines_with_tabs_or_spaces() {
        let text = "INFO  jepsen.util - 1\t:invoke\t:cas\t[1 4]\n\
                    INFO  jepsen.util - 2 :invoke :read nil\n\
                    INFO  jepsen.util - 1\t:fail\t:cas\t[1 4]\n\
                    INFO  jepsen.util - 2 :fail :read :timed-out\n\
                    INFO  jepsen.util - 3 :invoke :write 2\n\
                    INFO  jepsen.util - 3 :info :write :timed-out\n";
        let history = read_etcd(text, "etcd.log").unwrap();
        assert_eq!(history.ops.len(), 3);
        assert_eq!(history.ops[0].input, serde_json::json!([1, 4]));
        assert_eq!(history.ops[0].outcome, Outcome::Fail { observation: true });
        assert_eq!(history.ops[1].outcome, Outcome::Unknown);
        assert_eq!(history.ops[1].ret, Some(4));
        assert_eq!(history.ops[2].outcome, Outcome::Unknown);
        assert_eq!(history.ops[2].ret, None);
        assert_eq!(history.ops[2].id, 4);
    }

    #[test]
    fn bad_etcd_value_names_the_line() {
        let text = "INFO  jepsen.util - 1 :invoke :write banana\n";
        let err = read_etcd(text, "etcd.log").unwrap_err().to_string();
        assert!(
            err.starts_with(
                "etcd.log:1:38: expected nil, an integer or [from to], found \"banana\""
            ),
            "{err}"
        );
    }

    #[test]
    fn reads_kv_lines() {
        let text = "{:process 3, :type :invoke, :f :append, :key \"4\", :value \"x 3 17 y\"}\n\
                    {:process 3, :type :ok, :f :append, :key \"4\", :value \"x 3 17 y\"}\n";
        let history = read_kv(text, "kv.txt").unwrap();
        assert_eq!(history.ops.len(), 1);
        assert_eq!(history.ops[0].key, "4");
        assert_eq!(history.ops[0].input, serde_json::json!("x 3 17 y"));
    }

    #[test]
    fn truncated_kv_line_is_an_error() {
        let text = "{:process 3, :type :invoke, :f :append, :key \"4\"\n";
        let err = read_kv(text, "kv.txt").unwrap_err().to_string();
        assert!(
            err.starts_with("kv.txt:1:49: one EDN map per line: expected } to close the map"),
            "{err}"
        );
    }
}
