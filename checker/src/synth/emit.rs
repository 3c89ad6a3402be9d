//! Writing generated events in each format the readers take, exactly as
//! `crate::format` reads them back (docs/formats.md).

use std::io::{self, Write};

use serde_json::Value;

use super::{GenOptions, SynthError};
use crate::event::{Event, EventType, Process};
use crate::format::Format;
use crate::model::ModelKind;

/// Whether `format` can hold what `options` generates, and if not, why.
///
/// - jsonl and edn hold every model (edn: Knossos op maps, a vector of them).
/// - porcupine-etcd holds one register (register, cas-register, kv with
///   one key) and no definite failures: every `:fail :cas` line there is a
///   failed comparison, so a cas rejected without effect cannot be written.
/// - porcupine-kv holds kv-append.
///
/// # Errors
/// [`SynthError::FormatDoesNotFit`], with what to change.
pub fn format_fits(format: Format, options: &GenOptions) -> Result<(), SynthError> {
    let no = |reason: String| Err(SynthError::FormatDoesNotFit { format, reason });
    match format {
        Format::Jsonl | Format::Edn => Ok(()),
        Format::PorcupineEtcd => {
            if !matches!(
                options.model,
                ModelKind::Register | ModelKind::CasRegister | ModelKind::Kv
            ) {
                return no(format!(
                    "it holds read, write and cas ops (models register, cas-register, kv), not model {}",
                    options.model
                ));
            }
            if options.keys != 1 {
                return no(format!(
                    "it holds one register; use --keys 1, not {}",
                    options.keys
                ));
            }
            if options.fail_rate > 0.0 {
                return no(
                    "every `:fail :cas` line is a failed comparison, so ops rejected without effect cannot be written; use --fail-rate 0"
                        .into(),
                );
            }
            Ok(())
        }
        Format::PorcupineKv => match options.model {
            ModelKind::KvAppend => Ok(()),
            other => no(format!(
                "it holds get, put and append ops (model kv-append), not model {other}"
            )),
        },
    }
}

/// Writes `events` to `out` in `format`; see [`format_fits`] for what each
/// format can hold.
///
/// # Errors
/// Errors of `out`.
pub fn write_events(events: &[Event], format: Format, out: &mut dyn Write) -> io::Result<()> {
    match format {
        Format::Jsonl => {
            for event in events {
                serde_json::to_writer(&mut *out, event)?;
                out.write_all(b"\n")?;
            }
        }
        Format::Edn => {
            out.write_all(b"[")?;
            for (i, event) in events.iter().enumerate() {
                if i > 0 {
                    out.write_all(b"\n ")?;
                }
                write!(
                    out,
                    "{{:type :{}, :f :{}, :value {}, :process {}, :time {}, :index {}",
                    kind_name(event.kind),
                    event.f,
                    edn(&event.value),
                    process(event),
                    event.time,
                    event.index
                )?;
                if let Some(key) = &event.key {
                    write!(out, ", :key {}", edn_string(key))?;
                }
                out.write_all(b"}")?;
            }
            out.write_all(b"]\n")?;
        }
        Format::PorcupineEtcd => {
            for event in events {
                let value = match event.kind {
                    EventType::Info => ":timed-out".to_string(),
                    _ => edn(&event.value),
                };
                // Porcupine's logs close a read that timed out with `:fail
                // :read :timed-out` (its result unknown), other ops with `:info`.
                let kind = match event.kind {
                    EventType::Info if event.f == "read" => "fail",
                    kind => kind_name(kind),
                };
                writeln!(
                    out,
                    "INFO  jepsen.util - {}\t:{kind}\t:{}\t{value}",
                    process(event),
                    event.f
                )?;
            }
        }
        Format::PorcupineKv => {
            for event in events {
                let value = match event.kind {
                    EventType::Invoke if event.f == "get" => Value::Null,
                    EventType::Info => Value::Null,
                    _ => event.value.clone(),
                };
                writeln!(
                    out,
                    "{{:process {}, :type :{}, :f :{}, :key {}, :value {}}}",
                    process(event),
                    kind_name(event.kind),
                    event.f,
                    edn_string(event.key.as_deref().unwrap_or("")),
                    edn(&value)
                )?;
            }
        }
    }
    Ok(())
}

fn kind_name(kind: EventType) -> &'static str {
    match kind {
        EventType::Invoke => "invoke",
        EventType::Ok => "ok",
        EventType::Fail => "fail",
        EventType::Info => "info",
    }
}

fn process(event: &Event) -> String {
    match &event.process {
        Process::Client(p) => p.to_string(),
        Process::Nemesis => ":nemesis".to_string(),
    }
}

/// A JSON value as EDN: `nil`, numbers, strings, `[a b]`, `{"k" v}`.
fn edn(value: &Value) -> String {
    match value {
        Value::Null => "nil".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => edn_string(s),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(edn).collect();
            format!("[{}]", items.join(" "))
        }
        Value::Object(map) => {
            let pairs: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{} {}", edn_string(k), edn(v)))
                .collect();
            format!("{{{}}}", pairs.join(", "))
        }
    }
}

pub(super) fn edn_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
