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
    let model: ModelKind = args.model.parse().map_err(anyhow::Error::msg)?;
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
