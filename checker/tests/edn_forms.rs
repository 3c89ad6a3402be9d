//! Every form in which Jepsen and Knossos write a history is read, and gets
//! its verdict: one small file per form under `tests/data/edn/`, named
//! `<form>.linearizable.edn` or `<form>.not-linearizable.edn`; and random
//! histories printed in each form read back as the same ops.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use checker::synth::Rng;
use checker::{check, format, CheckOptions, Format, Outcome, Verdict};
use proptest::prelude::*;
use serde_json::{json, Value};

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/edn")
}

/// The verdict a fixture's name promises.
fn expected_verdict(path: &Path) -> Verdict {
    let name = path.file_name().unwrap().to_string_lossy();
    if name.ends_with(".not-linearizable.edn") {
        Verdict::Invalid
    } else if name.ends_with(".linearizable.edn") {
        Verdict::Valid
    } else {
        panic!("{name}: a fixture's name ends in .linearizable.edn or .not-linearizable.edn")
    }
}

/// Reads `path` with the format sniffed, as `faultline check` does, and
/// checks it under the format's default model.
fn verdict_of(path: &Path) -> Verdict {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).unwrap();
    let (history, format) =
        format::read(&text, &name, None).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(format, Format::Edn, "{name}: sniffed as {format}");
    let mut options = CheckOptions::new(format.default_model().unwrap());
    options.deadline = Some(Instant::now() + Duration::from_secs(60));
    check(&history, &options, &name)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .verdict
}

#[test]
fn every_edn_form_gets_its_expected_verdict() {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(data_dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    paths.sort();
    let forms = [
        "discards",
        "knossos-list",
        "lines-with-comments",
        "tagged-records",
        "values",
        "vector",
    ];
    // Each form has a linearizable file and one that is not.
    assert_eq!(paths.len(), 2 * forms.len(), "{paths:?}");
    for form in forms {
        for suffix in ["linearizable", "not-linearizable"] {
            let path = data_dir().join(format!("{form}.{suffix}.edn"));
            assert!(paths.contains(&path), "{} is missing", path.display());
        }
    }
    for path in &paths {
        assert_eq!(
            verdict_of(path),
            expected_verdict(path),
            "{}",
            path.display()
        );
    }
}

#[test]
fn a_knossos_list_keeps_its_client_ops_and_ignores_the_nemesis() {
    let path = data_dir().join("knossos-list.linearizable.edn");
    let text = std::fs::read_to_string(&path).unwrap();
    let (history, _) = format::read(&text, "k.edn", None).unwrap();
    let summary: Vec<(u64, u64, &str, Value, Outcome)> = history
        .ops
        .iter()
        .map(|op| {
            (
                op.id,
                op.process,
                op.f.as_str(),
                op.input.clone(),
                op.outcome.clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (0, 0, "write", json!(3), Outcome::Ok(json!(3))),
            (1, 1, "read", Value::Null, Outcome::Ok(json!(3))),
            (5, 2, "cas", json!([3, 4]), Outcome::Ok(json!([3, 4]))),
            (8, 0, "read", Value::Null, Outcome::Ok(json!(4))),
        ]
    );
    assert_eq!(history.ops[2].line, 6);
}

/// A value of the shapes Jepsen writes, printed by this test's own printer.
#[derive(Debug, Clone)]
enum V {
    Nil,
    Bool(bool),
    Int(i128),
    Str(String),
    Keyword(String),
    Vector(Vec<V>),
    List(Vec<V>),
}

impl V {
    fn random(rng: &mut Rng, depth: u32) -> V {
        match rng.below(if depth == 0 { 5 } else { 7 }) {
            0 => V::Nil,
            1 => V::Bool(rng.chance(0.5)),
            2 => V::Int(match rng.below(3) {
                0 => rng.below(10) as i128,
                1 => -(rng.next_u64() as i128 >> rng.below(64)),
                _ => (rng.next_u64() as i128) * (rng.below(1 << 60) as i128) * 7,
            }),
            3 => {
                let pieces = [
                    "a", "é", "\"", "\\", "\n", "\t", " ", "x;y", "#_", "😀", "}",
                ];
                let n = rng.below(5);
                V::Str(
                    (0..n)
                        .map(|_| pieces[rng.below(pieces.len() as u64) as usize])
                        .collect(),
                )
            }
            4 => V::Keyword(
                ["ok", "jepsen.nemesis/kill", "a-b?", "x.y/z*"][rng.below(4) as usize].into(),
            ),
            kind => {
                let items = (0..rng.below(4))
                    .map(|_| V::random(rng, depth - 1))
                    .collect();
                if kind == 5 {
                    V::Vector(items)
                } else {
                    V::List(items)
                }
            }
        }
    }

    /// EDN text, with a random choice among the ways to write it.
    fn print(&self, rng: &mut Rng, out: &mut String) {
        match self {
            V::Nil => out.push_str("nil"),
            V::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            V::Int(n) => {
                out.push_str(&n.to_string());
                if rng.chance(0.3) {
                    out.push('N');
                }
            }
            V::Str(s) => {
                out.push('"');
                for c in s.chars() {
                    match c {
                        '"' => out.push_str("\\\""),
                        '\\' => out.push_str("\\\\"),
                        '\n' => out.push_str(if rng.chance(0.5) { "\\n" } else { "\n" }),
                        '\t' => out.push_str("\\t"),
                        'é' if rng.chance(0.5) => out.push_str("\\u00e9"),
                        '😀' if rng.chance(0.5) => out.push_str("\\uD83D\\uDE00"),
                        c => out.push(c),
                    }
                }
                out.push('"');
            }
            V::Keyword(k) => {
                out.push(':');
                out.push_str(k);
            }
            V::Vector(items) | V::List(items) => {
                let (open, close) = if matches!(self, V::Vector(_)) {
                    ('[', ']')
                } else {
                    ('(', ')')
                };
                out.push(open);
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str([" ", ", ", "\n  "][rng.below(3) as usize]);
                    }
                    item.print(rng, out);
                }
                out.push(close);
            }
        }
    }

    /// The JSON docs/formats.md promises for this value.
    fn json(&self) -> Value {
        match self {
            V::Nil => Value::Null,
            V::Bool(b) => json!(b),
            V::Int(n) => {
                if let Ok(small) = i64::try_from(*n) {
                    json!(small)
                } else if let Ok(big) = u64::try_from(*n) {
                    json!(big)
                } else {
                    json!(format!("{n}N"))
                }
            }
            V::Str(s) | V::Keyword(s) => json!(s),
            V::Vector(items) | V::List(items) => Value::Array(items.iter().map(V::json).collect()),
        }
    }
}

/// One event of a history: an op's invoke or completion.
struct Event {
    index: u64,
    process: Option<u64>,
    kind: &'static str,
    f: &'static str,
    value: V,
}

/// A random history of up to `ops` ops over 3 processes (and nemesis
/// events), with the ops a reader must produce: (id, process, f, input,
/// outcome) in invoke order.
#[allow(clippy::type_complexity)]
fn random_history(
    rng: &mut Rng,
    ops: u64,
) -> (Vec<Event>, Vec<(u64, u64, String, Value, Outcome)>) {
    let mut events = Vec::new();
    let mut expected = Vec::new();
    // Per process: the index into `expected` of its open op.
    let mut open: [Option<usize>; 3] = [None; 3];
    let mut started = 0;
    while started < ops || open.iter().any(Option::is_some) {
        let index = events.len() as u64;
        if rng.chance(0.1) {
            events.push(Event {
                index,
                process: None,
                kind: "info",
                f: "partition",
                value: V::random(rng, 1),
            });
            continue;
        }
        let process = rng.below(3) as usize;
        match open[process] {
            None if started < ops => {
                let f = ["read", "write", "cas"][rng.below(3) as usize];
                let value = V::random(rng, 2);
                expected.push((
                    index,
                    process as u64,
                    f.to_string(),
                    value.json(),
                    Outcome::Unknown,
                ));
                open[process] = Some(expected.len() - 1);
                events.push(Event {
                    index,
                    process: Some(process as u64),
                    kind: "invoke",
                    f,
                    value,
                });
                started += 1;
            }
            None => {}
            Some(op) => {
                let f: &'static str = match expected[op].2.as_str() {
                    "read" => "read",
                    "write" => "write",
                    _ => "cas",
                };
                let value = V::random(rng, 2);
                let kind = ["ok", "ok", "fail", "info"][rng.below(4) as usize];
                expected[op].4 = match kind {
                    "ok" => Outcome::Ok(value.json()),
                    "fail" => Outcome::Fail { observation: false },
                    _ => Outcome::Unknown,
                };
                open[process] = None;
                events.push(Event {
                    index,
                    process: Some(process as u64),
                    kind,
                    f,
                    value,
                });
            }
        }
    }
    (events, expected)
}

/// Something a reader must skip, between forms.
fn sprinkle(rng: &mut Rng, out: &mut String) {
    match rng.below(8) {
        0 => out.push_str(" ; a comment (with {:process 9, :type :ok})\n"),
        1 => out.push_str(" #_{:process 9, :type :ok, :f :read, :value 1} "),
        2 => out.push_str(" #_ #_ [1 2] (3 \"]\") "),
        3 => out.push_str(",\n"),
        _ => out.push(' '),
    }
}

/// How a history's op maps are laid out.
#[derive(Debug, Clone, Copy)]
enum Layout {
    List,
    Vector,
    Lines,
    TaggedRecords,
}

fn print_history(rng: &mut Rng, events: &[Event], layout: Layout) -> String {
    let mut out = String::new();
    if rng.chance(0.5) {
        out.push_str(";; a history\n");
    }
    match layout {
        Layout::List => out.push('('),
        Layout::Vector => out.push('['),
        Layout::Lines | Layout::TaggedRecords => {}
    }
    for event in events {
        sprinkle(rng, &mut out);
        if matches!(layout, Layout::TaggedRecords) {
            out.push_str("#jepsen.history.Op");
        }
        let mut pairs = vec![
            (":index".to_string(), event.index.to_string()),
            (
                ":process".to_string(),
                event
                    .process
                    .map_or(":nemesis".to_string(), |p| p.to_string()),
            ),
            (":type".to_string(), format!(":{}", event.kind)),
            (":f".to_string(), format!(":{}", event.f)),
            (":value".to_string(), {
                let mut value = String::new();
                event.value.print(rng, &mut value);
                value
            }),
        ];
        if rng.chance(0.3) {
            pairs.push((":time".into(), (event.index * 1000).to_string()));
        }
        if rng.chance(0.3) {
            pairs.push((
                ":error".into(),
                "[:unknown-key #{1 2} \"kept or ignored\"]".into(),
            ));
        }
        // Any key order.
        for i in (1..pairs.len()).rev() {
            pairs.swap(i, rng.below(i as u64 + 1) as usize);
        }
        out.push('{');
        for (i, (key, value)) in pairs.iter().enumerate() {
            if i > 0 {
                out.push_str(if rng.chance(0.5) { ", " } else { " " });
            }
            if rng.chance(0.1) {
                out.push_str("#_ :discarded #_ [pair] ");
            }
            out.push_str(key);
            out.push(' ');
            out.push_str(value);
        }
        out.push('}');
        if matches!(layout, Layout::Lines | Layout::TaggedRecords) {
            out.push('\n');
        }
    }
    sprinkle(rng, &mut out);
    match layout {
        Layout::List => out.push(')'),
        Layout::Vector => out.push(']'),
        Layout::Lines | Layout::TaggedRecords => {}
    }
    if rng.chance(0.5) {
        out.push_str("\n; the end\n");
    }
    out
}

proptest! {
    #![proptest_config(common::proptest_config(0xed1_f0e5, 300))]

    #[test]
    fn a_random_history_printed_in_any_form_reads_back_as_the_same_ops(
        seed in any::<u64>(),
        ops in 0u64..25,
        layout in prop::sample::select(vec![
            Layout::List,
            Layout::Vector,
            Layout::Lines,
            Layout::TaggedRecords,
        ]),
    ) {
        let mut rng = Rng::new(seed);
        let (events, expected) = random_history(&mut rng, ops);
        let text = print_history(&mut rng, &events, layout);
        let (history, format) = format::read(&text, "random.edn", Some(Format::Edn))
            .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(format, Format::Edn);
        let read: Vec<(u64, u64, String, Value, Outcome)> = history
            .ops
            .iter()
            .map(|op| (op.id, op.process, op.f.clone(), op.input.clone(), op.outcome.clone()))
            .collect();
        prop_assert_eq!(read, expected, "{}", text);
        // Sniffing finds the same format (a text of comments only is read
        // as an empty history whatever its format).
        if !events.is_empty() {
            prop_assert_eq!(Format::sniff(&text, "random.edn").unwrap(), Format::Edn, "{}", text);
        }
    }
}

#[test]
fn a_big_integer_where_a_model_needs_arithmetic_is_a_clear_error() {
    for big in ["123456789012345678901234567890N", "18446744073709551615"] {
        let text = format!(
            "[{{:process 0, :type :invoke, :f :add, :value 1}}\n {{:process 0, :type :ok, :f :add, :value 1}}\n {{:process 0, :type :invoke, :f :add, :value {big}}}\n {{:process 0, :type :ok, :f :add, :value {big}}}]"
        );
        let (history, _) = format::read(&text, "c.edn", None).unwrap();
        let options = CheckOptions::new(checker::ModelKind::Counter);
        let err = check(&history, &options, "c.edn").unwrap_err().to_string();
        assert!(err.starts_with("c.edn:3: "), "{err}");
        assert!(err.contains("takes an integer"), "{err}");
    }
}

/// The ops of an EDN text: id, process, f, input, outcome, call, ret.
type OpRow = (u64, u64, String, Value, Outcome, u64, Option<u64>);

fn edn_ops(text: &str) -> Vec<OpRow> {
    let (history, format) = format::read(text, "t.edn", None).unwrap();
    assert_eq!(format, Format::Edn);
    history
        .ops
        .iter()
        .map(|op| {
            (
                op.id,
                op.process,
                op.f.clone(),
                op.input.clone(),
                op.outcome.clone(),
                op.call,
                op.ret,
            )
        })
        .collect()
}

#[test]
fn a_jepsen_txn_history_reads_as_txn_ops_with_json_micro_ops() {
    let text = r#"[{:type :invoke, :f :txn, :value [[:append 3 1] [:r 3 nil]], :process 0, :time 1, :index 0}
 {:type :invoke, :f :txn, :value [[:r :x nil]], :process 1, :time 2, :index 1}
 {:type :ok, :f :txn, :value [[:append 3 1] [:r 3 [1]]], :process 0, :time 3, :index 2}
 {:type :info, :f :start, :value nil, :process :nemesis, :time 4, :index 3}
 {:type :info, :f :txn, :value [[:r :x nil]], :process 1, :time 5, :index 4}]"#;
    assert_eq!(
        edn_ops(text),
        vec![
            (
                0,
                0,
                "txn".into(),
                json!([["append", 3, 1], ["r", 3, null]]),
                Outcome::Ok(json!([["append", 3, 1], ["r", 3, [1]]])),
                0,
                Some(2)
            ),
            (
                1,
                1,
                "txn".into(),
                json!([["r", "x", null]]),
                Outcome::Unknown,
                1,
                None
            ),
        ]
    );
}

#[test]
fn elle_ops_without_process_or_f_are_whole_txns_on_fresh_processes() {
    // Elle's own test histories: completions alone, no :process, no :f.
    // Each is a transaction of its own, with no place in real time.
    let text = r#"[{:type :ok, :value [[:append :x 1] [:append :y 1]]}
 {:process 4, :type :invoke, :f :txn, :value [[:r :x nil]]}
 {:type :fail, :value [[:append :x 2]]}
 {:process 4, :type :ok, :f :txn, :value [[:r :x [1]]]}
 {:type :ok, :value [[:r :y [1]] [:r :x [1]]]}]"#;
    assert_eq!(
        edn_ops(text),
        vec![
            (
                0,
                5,
                "txn".into(),
                json!([["append", "x", 1], ["append", "y", 1]]),
                Outcome::Ok(json!([["append", "x", 1], ["append", "y", 1]])),
                0,
                None
            ),
            (
                2,
                6,
                "txn".into(),
                json!([["append", "x", 2]]),
                Outcome::Fail { observation: false },
                0,
                None
            ),
            (
                4,
                7,
                "txn".into(),
                json!([["r", "y", [1]], ["r", "x", [1]]]),
                Outcome::Ok(json!([["r", "y", [1]], ["r", "x", [1]]])),
                0,
                None
            ),
            (
                1,
                4,
                "txn".into(),
                json!([["r", "x", null]]),
                Outcome::Ok(json!([["r", "x", [1]]])),
                1,
                Some(3)
            ),
        ]
    );
}

#[test]
fn an_invoke_without_process_or_an_op_without_f_and_micro_ops_is_an_error() {
    let text = "[{:type :ok, :value [[:append :x 1]]}\n {:type :invoke, :value [[:r :x nil]]}]";
    let err = format::read(text, "t.edn", None).unwrap_err().to_string();
    assert!(
        err.starts_with("t.edn:2:2: expected :process") && err.contains("invoke"),
        "{err}"
    );
    let text = "[{:type :ok, :process 0, :value 3}]";
    let err = format::read(text, "t.edn", None).unwrap_err().to_string();
    assert!(err.starts_with("t.edn:1:2: expected :f"), "{err}");
    let text = "[{:type :ok, :process 0, :value [[:w :x 1]]}]";
    let err = format::read(text, "t.edn", None).unwrap_err().to_string();
    assert!(err.starts_with("t.edn:1:2: expected :f"), "{err}");
}
