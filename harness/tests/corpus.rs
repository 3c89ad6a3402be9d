//! The corpus in testdata/corpus (docs/corpus.md): every history gets the
//! verdict its manifest entry states, the folder and the manifest list the
//! same files, and each entry's `faultline gen` command still writes its
//! file byte for byte. Needs nothing outside the checkout.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use checker::synth::Anomaly;
use checker::{format, Format, ModelKind};
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    entry: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    file: String,
    format: String,
    model: String,
    command: String,
    verdict: String,
    exit: i32,
    anomaly: Option<String>,
    check_kind: Option<String>,
    named: Option<Vec<String>>,
}

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/corpus")
}

fn manifest() -> Vec<Entry> {
    let path = corpus_dir().join("manifest.toml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let manifest: Manifest =
        toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(!manifest.entry.is_empty(), "the manifest lists no history");
    manifest.entry
}

fn faultline() -> Command {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
}

/// Runs `check` for every entry and collects every entry that fails, so one
/// run names them all.
fn each_entry(what: &str, check: impl Fn(&Entry) -> Result<(), String>) {
    let failures: Vec<String> = manifest()
        .iter()
        .filter_map(|entry| check(entry).err().map(|e| format!("{}: {e}", entry.file)))
        .collect();
    assert!(
        failures.is_empty(),
        "{what}: {} of the corpus' entries fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_entry_is_consistent_with_itself() {
    each_entry("consistency", |entry| {
        let format: Format = entry.format.parse()?;
        let model: ModelKind = entry.model.parse()?;
        let words = shlex::split(&entry.command).ok_or("the command does not split")?;
        let flag = |name: &str| {
            words
                .iter()
                .position(|w| w == name)
                .and_then(|i| words.get(i + 1))
                .map(String::as_str)
        };
        if words.get(..2) != Some(&["faultline".to_string(), "gen".to_string()][..]) {
            return Err(format!(
                "the command is not `faultline gen ...`: {}",
                entry.command
            ));
        }
        if words.iter().any(|w| w == "-o" || w.starts_with("--output")) {
            return Err("the command writes to standard output: no -o".into());
        }
        if flag("--model") != Some(model.name()) {
            return Err(format!("the command's --model is not {model}"));
        }
        if flag("--format").unwrap_or("jsonl") != format.name() {
            return Err(format!("the command's --format is not {format}"));
        }
        if flag("--anomaly") != entry.anomaly.as_deref() {
            return Err(format!(
                "the command's --anomaly is not {:?}",
                entry.anomaly
            ));
        }
        let expected = match entry.anomaly {
            Some(_) => ("invalid", 1),
            None => ("valid", 0),
        };
        if (entry.verdict.as_str(), entry.exit) != expected {
            return Err(format!(
                "verdict {:?} and exit {} do not follow from anomaly {:?}",
                entry.verdict, entry.exit, entry.anomaly
            ));
        }
        let named_check = matches!(model, ModelKind::Set | ModelKind::ListAppend);
        if named_check != entry.named.is_some() {
            return Err(
                "`named` is required for set and list-append entries, and only for them".into(),
            );
        }
        Ok(())
    });
}

#[test]
fn every_entry_gets_its_verdict_from_faultline_check() {
    each_entry("faultline check", |entry| {
        let output = faultline()
            .arg("check")
            .arg("--json")
            .args(["--format", &entry.format, "--model", &entry.model])
            .arg(corpus_dir().join(&entry.file))
            .output()
            .map_err(|e| e.to_string())?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        if output.status.code() != Some(entry.exit) {
            return Err(format!(
                "exit {:?}, expected {}\n{stdout}{stderr}",
                output.status.code(),
                entry.exit
            ));
        }
        let report: Value = serde_json::from_str(stdout.trim())
            .map_err(|e| format!("--json output is not one JSON object ({e}): {stdout}"))?;
        if report["verdict"] != entry.verdict.as_str() {
            return Err(format!(
                "verdict {}, expected {}",
                report["verdict"], entry.verdict
            ));
        }
        // The kinds named on the keys that are not linearizable: exactly one
        // key holds the injected anomaly.
        let named: Vec<Option<&str>> = report["keys"]
            .as_array()
            .ok_or("--json output has no keys")?
            .iter()
            .filter(|key| key["verdict"] == "invalid")
            .map(|key| key["kind"].as_str())
            .collect();
        let expected: Vec<Option<&str>> = match entry.anomaly {
            Some(_) => vec![entry.check_kind.as_deref()],
            None => vec![],
        };
        if named != expected {
            return Err(format!(
                "invalid keys name {named:?}, expected {expected:?}"
            ));
        }
        Ok(())
    });
}

#[test]
fn every_set_and_list_append_entry_gets_its_kinds_from_the_named_check() {
    each_entry("named check", |entry| {
        let Some(expected) = &entry.named else {
            return Ok(());
        };
        let path = corpus_dir().join(&entry.file);
        let text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
        let format: Format = entry.format.parse()?;
        let (history, _) =
            format::read(&text, &entry.file, Some(format)).map_err(|e| e.to_string())?;
        let report = match entry.model.parse::<ModelKind>()? {
            ModelKind::Set => checker::check_set(&history),
            _ => checker::check_list_append(&history),
        };
        let mut kinds: Vec<&str> = report.anomalies.iter().map(|a| a.kind.as_str()).collect();
        kinds.dedup();
        if kinds != *expected {
            return Err(format!(
                "{} names {kinds:?}, expected {expected:?}",
                report.summary()
            ));
        }
        if expected.is_empty() && report.verdict != checker::Verdict::Valid {
            return Err(format!("expected valid: {}", report.summary()));
        }
        Ok(())
    });
}

#[test]
fn the_folder_holds_exactly_the_files_the_manifest_lists() {
    let listed: Vec<String> = manifest().into_iter().map(|e| e.file).collect();
    let unique: BTreeSet<&String> = listed.iter().collect();
    assert_eq!(unique.len(), listed.len(), "a file is listed twice");
    let on_disk: BTreeSet<String> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name != "manifest.toml")
        .collect();
    let listed: BTreeSet<String> = listed.into_iter().collect();
    let unlisted: Vec<&String> = on_disk.difference(&listed).collect();
    let missing: Vec<&String> = listed.difference(&on_disk).collect();
    assert!(
        unlisted.is_empty() && missing.is_empty(),
        "in testdata/corpus but not in its manifest: {unlisted:?}; in the manifest but not in the folder: {missing:?}"
    );
}

#[test]
fn every_entry_s_command_writes_its_file_byte_for_byte() {
    each_entry("reproduction", |entry| {
        let words = shlex::split(&entry.command).ok_or("the command does not split")?;
        let output = faultline()
            .args(&words[1..])
            .output()
            .map_err(|e| e.to_string())?;
        if !output.status.success() {
            return Err(format!(
                "{} failed: {}",
                entry.command,
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        let stored = std::fs::read(corpus_dir().join(&entry.file)).map_err(|e| e.to_string())?;
        if output.stdout != stored {
            return Err(format!(
                "`{}` no longer writes this file ({} bytes now, {} stored); if the generator changed on purpose, run scripts/make-corpus.sh",
                entry.command,
                output.stdout.len(),
                stored.len()
            ));
        }
        Ok(())
    });
}

#[test]
fn the_corpus_covers_every_model_format_and_anomaly() {
    let entries = manifest();
    let has = |pred: &dyn Fn(&Entry) -> bool| entries.iter().any(pred);
    for model in ModelKind::ALL {
        let name = model.name();
        assert!(
            has(&|e| e.model == name && e.anomaly.is_none()),
            "no valid {name} history"
        );
        for anomaly in Anomaly::ALL.into_iter().filter(|a| a.fits(model)) {
            assert!(
                has(&|e| e.model == name && e.anomaly.as_deref() == Some(anomaly.name())),
                "no {name} history with a {anomaly}"
            );
        }
    }
    for format in Format::ALL {
        let name = format.name();
        assert!(has(&|e| e.format == name), "no {name} history");
        assert!(
            has(&|e| e.format == name && e.anomaly.is_some()),
            "no invalid {name} history"
        );
        assert!(
            has(&|e| e.format == name && e.anomaly.is_none()),
            "no valid {name} history"
        );
    }
    let total: u64 = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert!(
        total < 1 << 20,
        "the corpus is {total} bytes; keep it under 1 MiB"
    );
}

/// The corpus is read where the manifest lives, whatever the working directory.
#[test]
fn the_corpus_path_is_inside_the_checkout() {
    let dir = corpus_dir();
    assert!(dir.join("manifest.toml").is_file(), "{}", dir.display());
    assert!(Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("Cargo.toml")
        .is_file());
}
