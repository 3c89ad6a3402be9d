//! Log output: a tracing subscriber writing to standard error, so warnings
//! of the nemesis, the proxies and the clients are seen.
//!
//! The level is `warn` by default, `info`/`debug`/`trace` with `-v`,
//! `-vv`, `-vvv`; `RUST_LOG`, when set, takes precedence (e.g.
//! `RUST_LOG=nemesis=debug`). While a progress bar is drawn, a log line
//! clears it, is written, and the bar is drawn again below it.

use std::io::Write;
use std::sync::Mutex;

use indicatif::ProgressBar;
use tracing_subscriber::EnvFilter;

/// The progress bar drawn now, if any.
static BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// The filter for `-v` given `verbose` times, unless `rust_log` (the
/// variable's value) is set and not empty.
pub fn filter(verbose: u8, rust_log: Option<&str>) -> String {
    match rust_log.map(str::trim).filter(|text| !text.is_empty()) {
        Some(text) => text.to_owned(),
        None => match verbose {
            0 => "warn",
            1 => "info",
            2 => "debug",
            _ => "trace",
        }
        .to_owned(),
    }
}

/// Installs the subscriber. A bad `RUST_LOG` is reported and the
/// default level is used instead.
pub fn init(verbose: u8) {
    let rust_log = std::env::var("RUST_LOG").ok();
    let directives = filter(verbose, rust_log.as_deref());
    let env_filter = EnvFilter::builder()
        .parse(&directives)
        .unwrap_or_else(|err| {
            eprintln!("faultline: warning: RUST_LOG={directives:?} is not a filter ({err}); logging warnings only");
            EnvFilter::new(filter(verbose, None))
        });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(env_filter)
        .with_writer(|| LineWriter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .without_time()
        .try_init();
}

/// Log lines go around this bar while it is drawn; `None` when it is gone.
pub fn set_progress_bar(bar: Option<ProgressBar>) {
    *BAR.lock().unwrap_or_else(|e| e.into_inner()) = bar;
}

/// Writes each formatted event to standard error in one piece, with the
/// progress bar (if any) cleared around it.
struct LineWriter;

impl Write for LineWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let bar = BAR.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let write = || std::io::stderr().lock().write_all(buf);
        match bar {
            Some(bar) if !bar.is_hidden() => bar.suspend(write)?,
            _ => write()?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::filter;

    #[test]
    fn warnings_by_default_and_more_with_each_v() {
        assert_eq!(filter(0, None), "warn");
        assert_eq!(filter(1, None), "info");
        assert_eq!(filter(2, None), "debug");
        assert_eq!(filter(5, None), "trace");
    }

    #[test]
    fn rust_log_takes_precedence_unless_empty() {
        assert_eq!(filter(0, Some("nemesis=debug")), "nemesis=debug");
        assert_eq!(filter(2, Some("error")), "error");
        assert_eq!(filter(1, Some("  ")), "info");
    }
}
