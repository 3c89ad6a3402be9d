//! The one long-lived thread that forks every node.
//!
//! `PR_SET_PDEATHSIG` fires when the *thread* that forked the child exits, not
//! the process (prctl(2)). A node forked from tokio's blocking pool would be
//! killed when that pool thread idles out; a node forked from a thread that
//! lives as long as the process dies exactly when the harness does. So every
//! spawn goes through this thread, which is started once and never returns.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};

use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::unistd::{getpid, getppid};
use tokio::sync::oneshot;

/// Runs on the spawner thread right after a successful fork, with the pid.
pub(crate) type OnSpawn = Box<dyn FnOnce(u32) + Send>;

struct Request {
    command: Command,
    on_spawn: OnSpawn,
    reply: oneshot::Sender<io::Result<Child>>,
}

static SPAWNER: OnceLock<Mutex<mpsc::Sender<Request>>> = OnceLock::new();

fn spawner() -> &'static Mutex<mpsc::Sender<Request>> {
    SPAWNER.get_or_init(|| {
        let (sender, receiver) = mpsc::channel::<Request>();
        std::thread::Builder::new()
            .name("nemesis-spawner".into())
            .spawn(move || {
                // Runs for the life of the process: the sender lives in a
                // static, so `recv` never reports a hang-up.
                while let Ok(Request {
                    mut command,
                    on_spawn,
                    reply,
                }) = receiver.recv()
                {
                    let spawned = command.spawn();
                    if let Ok(child) = &spawned {
                        on_spawn(child.id());
                    }
                    let _ = reply.send(spawned);
                }
            })
            .expect("the OS can start one thread at harness start-up");
        Mutex::new(sender)
    })
}

/// Starts `command` in a new process group from the spawner thread, with
/// SIGKILL as its parent-death signal. `on_spawn` runs on that thread as
/// soon as the child exists (before this future is woken), so that e.g.
/// the process table knows the node before it can dial anyone.
///
/// # Errors
/// What `Command::spawn` reports (e.g. the program does not exist).
pub(crate) async fn spawn(mut command: Command, on_spawn: OnSpawn) -> io::Result<Child> {
    let harness = getpid();
    command.process_group(0);
    // No safe API exists: a parent-death signal can only be set in the child
    // between fork and exec, and std's one hook there, `pre_exec`, is unsafe
    // by design (nix has no safe alternative; `Command` has no
    // `pdeathsig`). SAFETY: the closure only makes two async-signal-safe
    // system calls; it allocates nothing.
    unsafe {
        command.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(io::Error::from)?;
            // The harness may have died between fork and prctl: then the
            // death signal would never come, so give up now.
            if getppid() != harness {
                return Err(io::Error::from(Errno::ESRCH));
            }
            Ok(())
        });
    }
    let (reply, answer) = oneshot::channel();
    spawner()
        .lock()
        .expect("the spawner lock is only held to send")
        .send(Request {
            command,
            on_spawn,
            reply,
        })
        .expect("the spawner thread never exits");
    answer.await.expect("the spawner thread always replies")
}
