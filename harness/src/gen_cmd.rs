//! `faultline gen`: synthetic histories for benchmarks, tests, bug reports
//! and the corpus in testdata/corpus (docs/corpus.md).

use std::io::{BufWriter, Write};

use std::sync::LazyLock;

use anyhow::{bail, Context, Result};
use checker::synth::{
    format_fits, generate_txn, try_generate, write_events, Anomaly, GenOptions, TxnAnomalyKind,
    TxnGenOptions,
};
use checker::Format;
use clap::builder::PossibleValue;
use clap::ValueEnum;

use crate::cli::{GenArgs, TXN_MODEL};

/// The anomaly `--anomaly` injects: one of a single-object model
/// (`checker::synth::Anomaly`, each making the history certainly not
/// linearizable) or of transactions (`TxnAnomalyKind`, each making a
/// txn-list-append history certainly not serializable, or for
/// `lost-append` not strict-serializable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnomalyArg {
    /// For register, cas-register, kv, kv-append, counter, set, list-append.
    Object(Anomaly),
    /// For txn-list-append.
    Txn(TxnAnomalyKind),
}

impl AnomalyArg {
    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            AnomalyArg::Object(anomaly) => anomaly.name(),
            AnomalyArg::Txn(anomaly) => anomaly.name(),
        }
    }
}

impl ValueEnum for AnomalyArg {
    fn value_variants<'a>() -> &'a [Self] {
        static ALL: LazyLock<Vec<AnomalyArg>> = LazyLock::new(|| {
            Anomaly::ALL
                .into_iter()
                .map(AnomalyArg::Object)
                .chain(TxnAnomalyKind::ALL.into_iter().map(AnomalyArg::Txn))
                .collect()
        });
        &ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.name()))
    }
}

/// The kinds' names, comma separated.
fn names<T: Copy>(kinds: &[T], name: fn(T) -> &'static str) -> String {
    kinds
        .iter()
        .map(|&k| name(k))
        .collect::<Vec<_>>()
        .join(", ")
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
    anyhow::ensure!(
        (0.0..=1.0).contains(&args.crash_rate) && (0.0..=1.0).contains(&args.fail_rate),
        "--crash-rate and --fail-rate are probabilities between 0 and 1"
    );
    let Some(model) = args.model.0 else {
        return run_txn(args);
    };
    let txn_only = [
        ("--ops", args.ops.is_some()),
        ("--mops", args.mops.is_some()),
        ("--hot-keys", args.hot_keys.is_some()),
        ("--appends-per-key", args.appends_per_key.is_some()),
    ];
    if let Some((flag, _)) = txn_only.iter().find(|(_, given)| *given) {
        bail!("{flag} applies to --model {TXN_MODEL} only; model {model} takes --keys and --ops-per-key");
    }
    let anomaly = match args.anomaly {
        None => None,
        Some(AnomalyArg::Object(anomaly)) => Some(anomaly),
        Some(AnomalyArg::Txn(anomaly)) => bail!(
            "anomaly {anomaly} applies to --model {TXN_MODEL} only; for model {model} the kinds are {}",
            names(&Anomaly::ALL, Anomaly::name)
        ),
    };
    let options = GenOptions {
        model,
        keys: args.keys,
        ops_per_key: args.ops_per_key,
        clients_per_key: args.clients,
        crash_rate: args.crash_rate,
        fail_rate: args.fail_rate,
        values: args.values,
        seed: args.seed,
        anomaly,
    };
    let format = Format::from(args.format);
    format_fits(format, &options)?;
    let events = try_generate(&options)?;
    let mut out = sink(&args)?;
    write_events(&events, format, &mut out)?;
    out.flush()?;
    Ok(0)
}

/// `gen --model txn-list-append`: jsonl only.
fn run_txn(args: GenArgs) -> Result<u8> {
    if args.format != FormatArg::Jsonl {
        bail!(
            "--model {TXN_MODEL} is written as jsonl only, not {}; `faultline check` reads Jepsen's EDN form of such histories too",
            Format::from(args.format)
        );
    }
    let anomaly = match args.anomaly {
        None => None,
        Some(AnomalyArg::Txn(anomaly)) => Some(anomaly),
        Some(AnomalyArg::Object(anomaly)) => bail!(
            "anomaly {anomaly} does not apply to --model {TXN_MODEL}; its kinds are {}",
            names(&TxnAnomalyKind::ALL, TxnAnomalyKind::name)
        ),
    };
    let defaults = TxnGenOptions::default();
    let options = TxnGenOptions {
        txns: args.ops.unwrap_or(defaults.txns),
        clients: args.clients,
        mops: args.mops.unwrap_or(defaults.mops),
        hot_keys: args.hot_keys.unwrap_or(defaults.hot_keys),
        appends_per_key: args.appends_per_key.unwrap_or(defaults.appends_per_key),
        crash_rate: args.crash_rate,
        fail_rate: args.fail_rate,
        seed: args.seed,
        anomaly,
        ..defaults
    };
    let generated = generate_txn(&options).map_err(anyhow::Error::msg)?;
    let mut out = sink(&args)?;
    generated.write_jsonl(&mut out)?;
    out.flush()?;
    Ok(0)
}

/// Where the history goes: `--output`, or standard output.
fn sink(args: &GenArgs) -> Result<BufWriter<Box<dyn Write>>> {
    let sink: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    Ok(BufWriter::with_capacity(1 << 16, sink))
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
            Some(AnomalyArg::Object(Anomaly::NeverWritten))
        );
        assert_eq!(
            gen_args(&["--anomaly", "stale-read"]).anomaly,
            Some(AnomalyArg::Object(Anomaly::StaleRead))
        );
        assert_eq!(
            gen_args(&["--anomaly", "g-single"]).anomaly,
            Some(AnomalyArg::Txn(TxnAnomalyKind::GSingle))
        );
        assert_eq!(gen_args(&[]).anomaly, None);
    }

    #[test]
    fn every_anomaly_and_format_name_parses_to_the_checkers_own() {
        for anomaly in Anomaly::ALL {
            let arg = gen_args(&["--anomaly", anomaly.name()]).anomaly.unwrap();
            assert_eq!(arg, AnomalyArg::Object(anomaly));
        }
        for anomaly in TxnAnomalyKind::ALL {
            let arg = gen_args(&["--anomaly", anomaly.name()]).anomaly.unwrap();
            assert_eq!(arg, AnomalyArg::Txn(anomaly));
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
