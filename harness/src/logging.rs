//! Log output: a tracing subscriber writing to standard error, so warnings
//! of the nemesis, the proxies and the clients are seen.
//!
//! The level is `warn` by default, `info`/`debug`/`trace` with `-v`,
//! `-vv`, `-vvv`; `RUST_LOG`, when set, takes precedence (e.g.
//! `RUST_LOG=nemesis=debug`). While a progress bar is drawn, a log line
//! clears it, is written, and the bar is drawn again below it. A line
//! equal to the one before (a proxy that keeps failing to reach a killed
//! node) is counted, not written again: the count is written before the
//! next different line, or by [`finish`].

use std::io::Write;
use std::sync::Mutex;

use indicatif::ProgressBar;
use tracing_subscriber::EnvFilter;

/// The progress bar drawn now, if any.
static BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// The last line written, and how many times it came again since.
static LAST: Mutex<(Vec<u8>, u64)> = Mutex::new((Vec::new(), 0));

/// The filter for `-v` given `verbose` times, unless `rust_log` (the
/// variable's value) is set and not empty.
pub fn filter(verbose: u8, rust_log: Option<&str>) -> String {
    match rust_log.map(str::trim).filter(|text| !text.is_empty()) {
        Some(text) => text.to_owned(),
        // fuser warns of every operation lazyfs leaves unimplemented
        // (getxattr on each exec): noise unless asked for with -vv.
        None => match verbose {
            0 => "warn,fuser=error",
            1 => "info,fuser=error",
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

/// Writes how many times the last line came again, if it did.
pub fn finish() {
    let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
    let repeats = std::mem::take(&mut last.1);
    drop(last);
    if repeats > 0 {
        write_around_bar(repeated(repeats).as_bytes());
    }
}

fn repeated(times: u64) -> String {
    format!(
        "  (the line above came {times} more time{})\n",
        if times == 1 { "" } else { "s" }
    )
}

/// What to write for `line`: nothing when it repeats the last line,
/// else the pending repeat count (if any) and the line.
fn admit(last: &mut (Vec<u8>, u64), line: &[u8]) -> Vec<u8> {
    if last.0 == line {
        last.1 += 1;
        return Vec::new();
    }
    let mut out = Vec::new();
    if last.1 > 0 {
        out.extend_from_slice(repeated(last.1).as_bytes());
    }
    out.extend_from_slice(line);
    *last = (line.to_vec(), 0);
    out
}

fn write_around_bar(bytes: &[u8]) {
    let bar = BAR.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let write = || {
        let _ = std::io::stderr().lock().write_all(bytes);
    };
    match bar {
        Some(bar) if !bar.is_hidden() => bar.suspend(write),
        _ => write(),
    }
}

/// Writes each formatted event to standard error in one piece, with the
/// progress bar (if any) cleared around it.
struct LineWriter;

impl Write for LineWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let out = admit(&mut LAST.lock().unwrap_or_else(|e| e.into_inner()), buf);
        if !out.is_empty() {
            write_around_bar(&out);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::{admit, filter};

    #[test]
    fn a_repeated_line_is_counted_and_the_count_comes_before_the_next_line() {
        let mut last = (Vec::new(), 0);
        assert_eq!(admit(&mut last, b"a\n"), b"a\n");
        assert!(admit(&mut last, b"a\n").is_empty());
        assert!(admit(&mut last, b"a\n").is_empty());
        let next = String::from_utf8(admit(&mut last, b"b\n")).unwrap();
        assert_eq!(next, "  (the line above came 2 more times)\nb\n");
        assert_eq!(admit(&mut last, b"a\n"), b"a\n");
    }

    #[test]
    fn warnings_by_default_and_more_with_each_v() {
        assert_eq!(filter(0, None), "warn,fuser=error");
        assert_eq!(filter(1, None), "info,fuser=error");
        assert_eq!(filter(2, None), "debug");
        assert_eq!(filter(5, None), "trace");
    }

    #[test]
    fn rust_log_takes_precedence_unless_empty() {
        assert_eq!(filter(0, Some("nemesis=debug")), "nemesis=debug");
        assert_eq!(filter(2, Some("error")), "error");
        assert_eq!(filter(1, Some("  ")), "info,fuser=error");
    }
}
