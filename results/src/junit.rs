//! JUnit XML for CI systems: one test case per run and check, the
//! anomaly's explanation as the failure message.

use std::fmt::Write as _;
use std::path::Path;

use checker::Verdict;
use serde_json::Value;

use crate::atomic::write_atomically;
use crate::error::Result;
use crate::summary::RunResults;

/// Explanations quoted in a failure's body; the rest are counted.
const MAX_EXPLANATIONS: usize = 50;

/// How a test case ended.
#[derive(Debug, Clone, PartialEq)]
pub enum JunitOutcome {
    /// The check found nothing wrong.
    Passed,
    /// The check found an anomaly: `message` is its explanation, `details`
    /// every explanation and where the report is.
    Failed {
        /// The first explanation.
        message: String,
        /// All of them, and the report's path.
        details: String,
    },
    /// No verdict (unknown: a budget ran out, or the run proved nothing).
    Skipped {
        /// Why.
        message: String,
    },
    /// The harness or the target failed; no verdict.
    Error {
        /// What went wrong.
        message: String,
    },
}

/// One JUnit test case.
#[derive(Debug, Clone, PartialEq)]
pub struct JunitCase {
    /// The test suite (faultline's test name).
    pub suite: String,
    /// The case: the check, and the run's seed.
    pub name: String,
    /// Time attributed to the case.
    pub seconds: f64,
    /// How it ended.
    pub outcome: JunitOutcome,
}

fn explanations(details: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(keys) = details.get("keys").and_then(Value::as_array) {
        out.extend(keys.iter().filter_map(|k| {
            let explanation = k.get("explanation").and_then(Value::as_str)?;
            // The explanation does not name its key: say it once, here.
            Some(match k.get("key").and_then(Value::as_str) {
                Some(key) if !key.is_empty() => format!("key {key:?}: {explanation}"),
                _ => explanation.to_string(),
            })
        }));
    }
    if let Some(anomalies) = details.get("anomalies").and_then(Value::as_array) {
        // Transaction anomalies a level allows (`forbidden: false`) are no
        // failure; they are named by `class` rather than `kind`.
        let failing = anomalies
            .iter()
            .filter(|a| a.get("forbidden").and_then(Value::as_bool) != Some(false));
        out.extend(failing.filter_map(|a| {
            let explanation = a.get("explanation").and_then(Value::as_str)?;
            let explanation = match a.get("key").and_then(Value::as_str) {
                Some(key) if !key.is_empty() => format!("key {key:?}: {explanation}"),
                _ => explanation.to_string(),
            };
            let kind = a.get("kind").or_else(|| a.get("class"));
            Some(match kind.and_then(Value::as_str) {
                Some(kind) => format!("{kind}: {explanation}"),
                None => explanation,
            })
        }));
    }
    out
}

impl JunitCase {
    /// The cases of one run directory, from its `results.json` (and
    /// `test.json` for the name and seed): one per check, plus one named
    /// `run` when the run itself erred, proved nothing, or left no verdict.
    #[must_use]
    pub fn from_run(run_dir: &Path) -> Vec<JunitCase> {
        let test: Option<Value> = std::fs::read_to_string(run_dir.join("test.json"))
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok());
        let suite = crate::store::run_test_name(run_dir, test.as_ref())
            .unwrap_or_else(|| "faultline".to_string());
        let seed = test
            .as_ref()
            .and_then(|t| t.get("seed"))
            .map(|s| format!(" (seed {s})"))
            .unwrap_or_default();
        let results_path = run_dir.join("results.json");
        let results: RunResults = match std::fs::read_to_string(&results_path)
            .map_err(|e| e.to_string())
            .and_then(|text| serde_json::from_str(&text).map_err(|e| e.to_string()))
        {
            Ok(results) => results,
            Err(err) => {
                return vec![JunitCase {
                    suite,
                    name: format!("run{seed}"),
                    seconds: 0.0,
                    outcome: JunitOutcome::Error {
                        message: format!(
                            "no verdict recorded: cannot read {}: {err}",
                            results_path.display()
                        ),
                    },
                }];
            }
        };
        let report = run_dir.join("report.html");
        let mut cases: Vec<JunitCase> = results
            .checks
            .iter()
            .map(|check| {
                let outcome = match check.verdict {
                    Verdict::Valid => JunitOutcome::Passed,
                    Verdict::Unknown => JunitOutcome::Skipped {
                        message: check.summary.clone(),
                    },
                    Verdict::Invalid => {
                        let all = explanations(&check.details);
                        let message = all
                            .first()
                            .cloned()
                            .unwrap_or_else(|| check.summary.clone());
                        let mut details = format!("{}\n", check.summary);
                        for line in all.iter().take(MAX_EXPLANATIONS) {
                            let _ = writeln!(details, "- {line}");
                        }
                        if all.len() > MAX_EXPLANATIONS {
                            let _ =
                                writeln!(details, "... and {} more", all.len() - MAX_EXPLANATIONS);
                        }
                        let _ = write!(
                            details,
                            "report: {}\nresults: {}",
                            report.display(),
                            results_path.display()
                        );
                        JunitOutcome::Failed { message, details }
                    }
                };
                JunitCase {
                    suite: suite.clone(),
                    name: format!("{}{seed}", check.name),
                    seconds: 0.0,
                    outcome,
                }
            })
            .collect();
        let reason = results.reason.clone().unwrap_or_default();
        let run_outcome = match results.exit_code {
            3 => Some(JunitOutcome::Error {
                message: if reason.is_empty() {
                    "the harness or the target failed".to_string()
                } else {
                    reason
                },
            }),
            2 if !reason.is_empty() || cases.is_empty() => Some(JunitOutcome::Skipped {
                message: if reason.is_empty() {
                    "no check gave a verdict".to_string()
                } else {
                    reason
                },
            }),
            _ => None,
        };
        if let Some(outcome) = run_outcome {
            cases.push(JunitCase {
                suite: suite.clone(),
                name: format!("run{seed}"),
                seconds: 0.0,
                outcome,
            });
        }
        // The run's time, shared by its cases so a suite's total adds up.
        let total_ms: f64 = ["setup_ms", "main_phase_ms", "recovery_ms", "check_ms"]
            .iter()
            .filter_map(|name| results.timings.get(*name))
            .sum();
        let share = total_ms / 1000.0 / cases.len().max(1) as f64;
        for case in &mut cases {
            case.seconds = share;
        }
        cases
    }
}

/// Escapes text for XML 1.0 content and attribute values: the report's
/// HTML escaping, which is XML-safe; characters XML cannot hold at all
/// (most C0 controls) become U+FFFD.
#[must_use]
pub fn xml_escape(raw: &str) -> String {
    crate::report::html::text(raw)
}

#[derive(Default)]
struct Tally {
    tests: usize,
    failures: usize,
    errors: usize,
    skipped: usize,
    seconds: f64,
}

impl Tally {
    fn add(&mut self, case: &JunitCase) {
        self.tests += 1;
        self.seconds += case.seconds;
        match case.outcome {
            JunitOutcome::Passed => {}
            JunitOutcome::Failed { .. } => self.failures += 1,
            JunitOutcome::Skipped { .. } => self.skipped += 1,
            JunitOutcome::Error { .. } => self.errors += 1,
        }
    }

    fn attributes(&self) -> String {
        format!(
            "tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3}\"",
            self.tests, self.failures, self.errors, self.skipped, self.seconds
        )
    }
}

/// The JUnit XML document for `cases`, grouped into one `<testsuite>` per
/// suite name (in order of first appearance).
#[must_use]
pub fn junit_xml(cases: &[JunitCase]) -> String {
    let mut suites: Vec<&str> = Vec::new();
    for case in cases {
        if !suites.contains(&case.suite.as_str()) {
            suites.push(&case.suite);
        }
    }
    let mut total = Tally::default();
    for case in cases {
        total.add(case);
    }
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"faultline\" {}>",
        total.attributes()
    );
    for suite in suites {
        let members: Vec<&JunitCase> = cases.iter().filter(|c| c.suite == suite).collect();
        let mut tally = Tally::default();
        for case in &members {
            tally.add(case);
        }
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" {}>",
            xml_escape(suite),
            tally.attributes()
        );
        for case in members {
            let _ = write!(
                out,
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
                xml_escape(&case.suite),
                xml_escape(&case.name),
                case.seconds
            );
            match &case.outcome {
                JunitOutcome::Passed => out.push_str("/>\n"),
                JunitOutcome::Failed { message, details } => {
                    let _ = writeln!(
                        out,
                        ">\n      <failure type=\"anomaly\" message=\"{}\">{}</failure>\n    </testcase>",
                        xml_escape(message),
                        xml_escape(details)
                    );
                }
                JunitOutcome::Skipped { message } => {
                    let _ = writeln!(
                        out,
                        ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                        xml_escape(message)
                    );
                }
                JunitOutcome::Error { message } => {
                    let _ = writeln!(
                        out,
                        ">\n      <error type=\"error\" message=\"{}\">{}</error>\n    </testcase>",
                        xml_escape(message),
                        xml_escape(message)
                    );
                }
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

/// Writes [`junit_xml`] of `cases` to `path` atomically (see
/// [`write_atomically`]).
///
/// # Errors
/// `Write` when the file cannot be written.
pub fn write_junit(path: &Path, cases: &[JunitCase]) -> Result<()> {
    write_atomically(path, junit_xml(cases).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn txn_anomalies_are_named_by_class_and_allowed_ones_left_out() {
        let details = serde_json::json!({
            "consistency": "snapshot-isolation",
            "anomalies": [
                {"class": "G-single", "forbidden": true, "txns": [1, 2], "explanation": "read skew"},
                {"class": "G2-item", "forbidden": false, "txns": [3, 4], "explanation": "write skew"}
            ]
        });
        assert_eq!(explanations(&details), vec!["G-single: read skew"]);
    }

    #[test]
    fn xml_escapes_markup_quotes_and_controls() {
        assert_eq!(
            xml_escape("a<b>&\"c\"'\u{1}\n\t\u{ffff}"),
            "a&lt;b&gt;&amp;&quot;c&quot;&#39;\u{fffd}\n\t\u{fffd}"
        );
    }

    #[test]
    fn groups_cases_by_suite_and_counts_outcomes() {
        let case = |suite: &str, name: &str, outcome| JunitCase {
            suite: suite.into(),
            name: name.into(),
            seconds: 1.5,
            outcome,
        };
        let xml = junit_xml(&[
            case("t1", "linearizability", JunitOutcome::Passed),
            case(
                "t2",
                "list-append",
                JunitOutcome::Failed {
                    message: "lost <57>".into(),
                    details: "- lost-write: \"k3\"".into(),
                },
            ),
            case(
                "t1",
                "raftlog",
                JunitOutcome::Skipped {
                    message: "no samples".into(),
                },
            ),
        ]);
        assert!(xml.contains(
            "<testsuites name=\"faultline\" tests=\"3\" failures=\"1\" errors=\"0\" skipped=\"1\" time=\"4.500\">"
        ));
        assert!(xml.contains("<testsuite name=\"t1\" tests=\"2\""));
        assert!(xml.contains("message=\"lost &lt;57&gt;\""));
        assert!(xml.contains("- lost-write: &quot;k3&quot;"));
        assert!(xml.find("name=\"t1\"").unwrap() < xml.find("name=\"t2\"").unwrap());
    }
}
