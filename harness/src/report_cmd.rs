//! `faultline report`: rebuild report.html of run directories.

use std::path::PathBuf;

use anyhow::Result;

use crate::cli::ReportArgs;
use crate::EXIT_ERROR;

/// Rebuilds each run directory's report and prints its path; without run
/// directories, the store's latest run, then the store's index.html.
/// Exit code 0, or 3 when any report could not be built (each error names
/// its path).
pub fn run(args: ReportArgs) -> Result<u8> {
    let latest = args.run_dirs.is_empty();
    let dirs: Vec<PathBuf> = if latest {
        vec![args.store.join("latest")]
    } else {
        args.run_dirs.clone()
    };
    let mut code = 0;
    for dir in &dirs {
        // Resolve `latest` and relative paths, so the path printed is the
        // run's own and the test's name can come from its parent directory.
        let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.clone());
        match results::write_report(&dir) {
            Ok(path) => println!("{}", path.display()),
            Err(err) => {
                eprintln!("faultline: error: {err}");
                code = EXIT_ERROR;
            }
        }
    }
    if latest {
        match results::refresh_index(&args.store) {
            Ok(path) => eprintln!("index: {}", path.display()),
            Err(err) => {
                eprintln!("faultline: error: {err}");
                code = EXIT_ERROR;
            }
        }
    }
    Ok(code)
}
