//! `faultline gen`: synthetic histories for benchmarks, tests, bug reports
//! and the corpus in testdata/corpus (docs/corpus.md).

use std::io::{BufWriter, Write};

use anyhow::{Context, Result};
use checker::synth::{format_fits, try_generate, write_events, Anomaly, GenOptions};
use checker::{Format, ModelKind};
use clap::ValueEnum;

use crate::cli::GenArgs;

/// The anomaly `--anomaly` injects; each makes the history certainly not
/// linearizable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AnomalyArg {
    /// A read returns a value no op wrote (every model).
    NeverWritten,
    /// A read returns a value overwritten before the read was invoked
    /// (register, cas-register, kv, kv-append).
    StaleRead,
    /// An acknowledged add or append is missing from every later read (set, list-append).
    LostWrite,
    /// A read holds one appended element twice (list-append).
    Duplicate,
    /// A counter read above the most the counter could hold (counter).
    OverRead,
    /// A counter read below the least the counter could hold (counter).
    UnderRead,
}

impl From<AnomalyArg> for Anomaly {
    fn from(arg: AnomalyArg) -> Anomaly {
        match arg {
            AnomalyArg::NeverWritten => Anomaly::NeverWritten,
            AnomalyArg::StaleRead => Anomaly::StaleRead,
            AnomalyArg::LostWrite => Anomaly::LostWrite,
            AnomalyArg::Duplicate => Anomaly::Duplicate,
            AnomalyArg::OverRead => Anomaly::OverRead,
            AnomalyArg::UnderRead => Anomaly::UnderRead,
        }
    }
}

/// The format `faultline gen --format` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// faultline's JSON Lines (every model).
    Jsonl,
    /// A Jepsen/Knossos history: a vector of EDN op maps (every model).
    Edn,
    /// Porcupine's kv log, one EDN map per line (kv-append).
    PorcupineKv,
    /// Porcupine's Jepsen etcd log (one register: register, cas-register,
    /// kv; --keys 1, --fail-rate 0).
    PorcupineEtcd,
}

impl From<FormatArg> for Format {
    fn from(arg: FormatArg) -> Format {
        match arg {
            FormatArg::Jsonl => Format::Jsonl,
            FormatArg::Edn => Format::Edn,
            FormatArg::PorcupineKv => Format::PorcupineKv,
            FormatArg::PorcupineEtcd => Format::PorcupineEtcd,
        }
    }
}

pub fn run(args: GenArgs) -> Result<u8> {
    let model: ModelKind = args.model.0;
    anyhow::ensure!(
        (0.0..=1.0).contains(&args.crash_rate) && (0.0..=1.0).contains(&args.fail_rate),
        "--crash-rate and --fail-rate are probabilities between 0 and 1"
    );
    let options = GenOptions {
        model,
        keys: args.keys,
        ops_per_key: args.ops_per_key,
        clients_per_key: args.clients,
        crash_rate: args.crash_rate,
        fail_rate: args.fail_rate,
        values: args.values,
        seed: args.seed,
        anomaly: args.anomaly.map(Anomaly::from),
    };
    let format = Format::from(args.format);
    format_fits(format, &options)?;
    let events = try_generate(&options)?;
    let sink: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut out = BufWriter::new(sink);
    write_events(&events, format, &mut out)?;
    out.flush()?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn gen_args(args: &[&str]) -> GenArgs {
        let cli = Cli::try_parse_from(["faultline", "gen"].iter().chain(args)).unwrap();
        match cli.command {
            Command::Gen(args) => args,
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn a_bare_anomaly_flag_means_never_written() {
        assert_eq!(
            gen_args(&["--anomaly", "--seed", "4"]).anomaly,
            Some(AnomalyArg::NeverWritten)
        );
        assert_eq!(
            gen_args(&["--anomaly", "stale-read"]).anomaly,
            Some(AnomalyArg::StaleRead)
        );
        assert_eq!(gen_args(&[]).anomaly, None);
    }

    #[test]
    fn every_anomaly_and_format_name_parses_to_the_checkers_own() {
        for anomaly in Anomaly::ALL {
            let arg = gen_args(&["--anomaly", anomaly.name()]).anomaly.unwrap();
            assert_eq!(Anomaly::from(arg), anomaly);
        }
        for format in Format::ALL {
            let arg = gen_args(&["--format", format.name()]).format;
            assert_eq!(Format::from(arg), format);
        }
    }

    #[test]
    fn a_format_that_cannot_hold_the_history_is_refused_before_any_file_is_made() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("h.log");
        let mut args = gen_args(&["--model", "cas-register", "--format", "porcupine-etcd"]);
        args.output = Some(out.clone());
        let err = run(args).unwrap_err().to_string();
        assert!(err.contains("--keys 1"), "{err}");
        assert!(!out.exists());
    }

    #[test]
    fn an_anomaly_for_another_model_is_refused() {
        let args = gen_args(&["--model", "counter", "--anomaly", "lost-write"]);
        let err = run(args).unwrap_err().to_string();
        assert!(
            err.contains("lost-write") && err.contains("counter"),
            "{err}"
        );
    }
}
