//! `faultline gen`: synthetic histories for benchmarks, tests and bug reports.

use std::io::{BufWriter, Write};

use anyhow::{Context, Result};
use checker::gen::{generate, GenOptions};
use checker::ModelKind;

use crate::cli::GenArgs;

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
        anomaly: args.anomaly,
    };
    let events = generate(&options);
    let sink: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut out = BufWriter::new(sink);
    for event in &events {
        serde_json::to_writer(&mut out, event)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(0)
}
