//! The data path of a proxy: accept, find the link, hold or forward bytes.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::time::{sleep, sleep_until, timeout, Instant};

use crate::links::{next_id, Blocked, Connection, Delay, LinkTable, Shared, UnknownDialler};
use crate::procfs::{self, ProcessTable};
use crate::rng::Rng;
use crate::{Link, NodeId};

/// Bytes moved per read: large enough for throughput, small enough per connection.
const CHUNK: usize = 64 * 1024;
/// Bytes a held connection keeps from its dialler before it stops reading.
const HOLD_LIMIT: usize = 64 * 1024;
/// Pause between attempts to identify a dialler.
const IDENTIFY_RETRY: Duration = Duration::from_millis(20);
/// Back-off after a failed accept (e.g. out of file descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// Where a proxy's connections come from and go to.
#[derive(Clone, Debug)]
pub(crate) enum Route {
    /// One listener per directed link: every dialler is `from`.
    Link {
        from: NodeId,
        to: NodeId,
        upstream: SocketAddr,
    },
    /// One listener in front of `to`: the dialler is found in /proc.
    Inbound {
        to: NodeId,
        upstream: SocketAddr,
        processes: ProcessTable,
    },
}

pub(crate) async fn accept_loop(
    shared: Arc<Shared>,
    listener: TcpListener,
    local: SocketAddr,
    route: Route,
) {
    loop {
        let (client, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%local, %error, "proxy accept failed");
                sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let id = next_id(&shared);
        let (dialler, target) = match &route {
            Route::Link { from, to, .. } => (Some(*from), *to),
            Route::Inbound { to, .. } => (None, *to),
        };
        // Register while spawning, under the registry lock, so that a cut
        // racing with this accept either finds the entry or is seen by the
        // task when it first reads the link table.
        let mut connections = shared.lock_connections();
        let task = tokio::spawn(serve(
            Arc::clone(&shared),
            id,
            client,
            peer,
            local,
            route.clone(),
        ));
        connections.insert(
            id,
            Connection {
                dialler,
                target,
                abort: task.abort_handle(),
            },
        );
    }
}

/// Removes a connection from the registry however its task ends (even aborted).
struct Registration {
    shared: Arc<Shared>,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.shared.lock_connections().remove(&self.id);
    }
}

async fn serve(
    shared: Arc<Shared>,
    id: u64,
    mut client: TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    route: Route,
) {
    let _registration = Registration {
        shared: Arc::clone(&shared),
        id,
    };
    let (dialler, target, upstream) = match route {
        Route::Link { from, to, upstream } => (Some(from), to, upstream),
        Route::Inbound {
            to,
            upstream,
            processes,
        } => {
            let found = identify(peer, local, processes).await;
            match found {
                Some(node) => {
                    if let Some(connection) = shared.lock_connections().get_mut(&id) {
                        connection.dialler = Some(node);
                    }
                }
                None => {
                    tracing::info!(%peer, target = %to, policy = ?shared.options.unknown, "dialler is not a node");
                    if shared.options.unknown == UnknownDialler::Refuse {
                        return;
                    }
                }
            }
            (found, to, upstream)
        }
    };
    let forward = dialler.map(|from| Link::new(from, target));
    let backward = forward.map(Link::reversed);
    let mut links = shared.links.subscribe();
    let mut early = Vec::new();
    match shared.options.blocked {
        Blocked::Refuse => {
            let table = links.borrow_and_update();
            if is_cut(&table, forward) || is_cut(&table, backward) {
                return;
            }
        }
        Blocked::Blackhole => {
            if !hold(&mut links, &mut client, forward, backward, &mut early).await {
                return;
            }
        }
    }
    let Ok(Ok(server)) =
        timeout(shared.options.connect_timeout, TcpStream::connect(upstream)).await
    else {
        // Expected while a node starts or is down (killed, powered off):
        // debug, not a warning.
        tracing::debug!(%upstream, target = %target, "proxy cannot reach the node");
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let outcome = tokio::try_join!(
        pump(
            client_read,
            server_write,
            forward,
            shared.links.subscribe(),
            id,
            early,
        ),
        pump(
            server_read,
            client_write,
            backward,
            shared.links.subscribe(),
            !id,
            Vec::new(),
        ),
    );
    if let Err(error) = outcome {
        tracing::trace!(%peer, %error, "proxied connection ended");
    }
}

/// Holds a new connection whose both directions are cut, dialling nothing,
/// until a heal opens one of them. Meanwhile it keeps up to `HOLD_LIMIT`
/// bytes the dialler sends (delivered after the heal, in order) so that it
/// notices when the dialler gives up. Returns false when the dialler closed.
async fn hold(
    links: &mut watch::Receiver<LinkTable>,
    client: &mut TcpStream,
    forward: Option<Link>,
    backward: Option<Link>,
    early: &mut Vec<u8>,
) -> bool {
    let mut buffer = [0_u8; 4096];
    loop {
        let both_cut = {
            let table = links.borrow_and_update();
            is_cut(&table, forward) && is_cut(&table, backward)
        };
        if !both_cut {
            return true;
        }
        if early.len() >= HOLD_LIMIT {
            // Full: stop reading, so the dialler's kernel buffers fill up.
            if links.changed().await.is_err() {
                return false;
            }
            continue;
        }
        tokio::select! {
            changed = links.changed() => {
                if changed.is_err() {
                    return false;
                }
            }
            read = client.read(&mut buffer) => match read {
                Ok(0) | Err(_) => return false,
                Ok(count) => early.extend_from_slice(&buffer[..count]),
            },
        }
    }
}

/// Finds the node that dialled, off the runtime threads (reading /proc can
/// take milliseconds). A miss is retried twice, `IDENTIFY_RETRY` apart, in
/// case the dialler's process group is not yet in the table.
async fn identify(peer: SocketAddr, local: SocketAddr, processes: ProcessTable) -> Option<NodeId> {
    for attempt in 0..3 {
        if attempt > 0 {
            sleep(IDENTIFY_RETRY).await;
        }
        let processes = processes.clone();
        let found =
            tokio::task::spawn_blocking(move || procfs::identify_dialler(peer, local, &processes))
                .await
                .ok()
                .flatten();
        if found.is_some() {
            return found;
        }
    }
    None
}

fn is_cut(table: &LinkTable, link: Option<Link>) -> bool {
    link.is_some_and(|link| table.cut.contains(&link))
}

/// Waits until `link` is open; returns its delay, if any.
async fn open(
    links: &mut watch::Receiver<LinkTable>,
    link: Option<Link>,
) -> io::Result<Option<Delay>> {
    let Some(link) = link else {
        return Ok(None);
    };
    loop {
        {
            let table = links.borrow_and_update();
            if !table.cut.contains(&link) {
                return Ok(table.delay.get(&link).copied());
            }
        }
        links
            .changed()
            .await
            .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))?;
    }
}

/// Chunks read but not yet forwarded, per direction, before reading stops.
const IN_FLIGHT_CHUNKS: usize = 1024;

/// Copies one direction of a connection, holding bytes while its link is cut.
///
/// A delayed link is a delay line, as netem's: each chunk is forwarded
/// its delay after it was read, while later chunks are read meanwhile, so
/// latency does not cap throughput and messages sent apart arrive apart.
/// Order is kept. A cut drops what is in the line (the connection closes).
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    link: Option<Link>,
    mut links: watch::Receiver<LinkTable>,
    seed: u64,
    early: Vec<u8>,
) -> io::Result<()> {
    let mut rng = Rng::new(seed);
    if !early.is_empty() {
        // Bytes kept while the connection was held: first in line.
        open(&mut links, link).await?;
        to.write_all(&early).await?;
    }
    let (line, mut arrivals) = mpsc::channel::<(Instant, Vec<u8>)>(IN_FLIGHT_CHUNKS);
    let read = async move {
        let mut buffer = vec![0_u8; CHUNK];
        loop {
            // A cut direction is not even read: its bytes wait in the kernel.
            open(&mut links, link).await?;
            let count = from.read(&mut buffer).await?;
            if count == 0 {
                return Ok::<(), io::Error>(());
            }
            let mut due = Instant::now();
            if let Some(delay) = open(&mut links, link).await? {
                let jitter = delay.jitter.as_nanos() as u64;
                let extra = if jitter == 0 {
                    0
                } else {
                    rng.next_u64() % (jitter + 1)
                };
                due += delay.fixed + Duration::from_nanos(extra);
            }
            if line.send((due, buffer[..count].to_vec())).await.is_err() {
                return Ok(());
            }
        }
    };
    let write = async move {
        // Jitter must not reorder: a chunk never leaves before the one ahead.
        let mut last = Instant::now();
        while let Some((due, bytes)) = arrivals.recv().await {
            last = last.max(due);
            sleep_until(last).await;
            to.write_all(&bytes).await?;
        }
        to.shutdown().await
    };
    tokio::try_join!(read, write).map(|_| ())
}
