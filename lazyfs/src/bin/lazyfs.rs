//! Serves one lazyfs mount until standard input closes.
//!
//! `lazyfs [--strict] BACKING MOUNTPOINT` mounts (in strict mode with
//! `--strict`), prints `mounted`, then reads commands from standard input,
//! one a line: `power-loss` drops the unsynced state and prints what was
//! lost; `held` prints the bytes held. End of input unmounts.
//! Killing the process (even with SIGKILL) unmounts too: a watcher process
//! (`lazyfs::watcher`) and fusermount3's auto_unmount both see to it.

use std::io::BufRead;
use std::process::ExitCode;

use anyhow::{bail, Context};

fn main() -> ExitCode {
    if let Some(code) = lazyfs::watcher::serve_if_asked() {
        return code;
    }
    match serve() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("lazyfs: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve() -> anyhow::Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let strict = args.first().is_some_and(|a| a == "--strict");
    if strict {
        args.remove(0);
    }
    let [backing, mountpoint] = args.as_slice() else {
        bail!(
            "usage: lazyfs [--strict] BACKING MOUNTPOINT (then commands on stdin: power-loss, held)"
        );
    };
    let _watcher = lazyfs::Watcher::spawn(mountpoint.as_ref())
        .context("cannot start the watcher that unmounts after a crash")?;
    let mount = lazyfs::LazyFs::mount(
        backing.as_ref(),
        mountpoint.as_ref(),
        lazyfs::Options { strict },
    )?;
    println!("mounted");
    for line in std::io::stdin().lock().lines() {
        match line.context("reading standard input")?.trim() {
            "power-loss" => {
                let r = mount.power_loss()?;
                println!("lost {} bytes in {} files", r.bytes, r.files);
                if strict {
                    println!("undid {} directory entries", r.entries);
                }
                for f in r.lost {
                    println!("  {}: {} bytes", f.path.display(), f.bytes);
                }
            }
            "held" => println!("held {} bytes", mount.held_bytes()),
            "" => {}
            other => eprintln!("lazyfs: unknown command {other:?} (power-loss, held)"),
        }
    }
    mount.unmount()?;
    Ok(())
}
