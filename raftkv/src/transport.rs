//! Node-to-node transport: length-prefixed JSON frames over plain TCP.
//!
//! Each node connects once to each peer and sends only on that connection;
//! answers come back on the peer's own connection. A frame is a `u32`
//! big-endian length and a JSON [`Message`]. The receiver answers each batch
//! of frames with the `u64` big-endian count of frames received so far on
//! the connection, so the sender can tell a connection that accepts bytes
//! but never delivers them (a blackholing proxy) from a live one.
//!
//! One sender task per peer owns a bounded queue: when it is full, messages
//! are dropped (Raft retransmits), so a slow or unreachable peer never
//! blocks the core. Writes time out; dead connections are replaced with
//! exponential backoff.

use std::sync::mpsc::{SyncSender, TrySendError};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::{timeout, Instant};
use tracing::{debug, info, warn};

use crate::node::Event;
use crate::types::{Message, NodeId};

/// Messages queued per peer before new ones are dropped.
pub const PEER_QUEUE_LEN: usize = 4096;
/// Frames larger than this are refused as corrupt.
const MAX_FRAME_LEN: usize = 64 << 20;
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
const WRITE_TIMEOUT: Duration = Duration::from_secs(1);
/// A connection whose frames go unacknowledged this long is replaced.
const ACK_TIMEOUT: Duration = Duration::from_secs(1);
/// An incoming connection silent this long is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
const MIN_BACKOFF: Duration = Duration::from_millis(20);
const MAX_BACKOFF: Duration = Duration::from_millis(500);
/// A write batch stops growing past this many bytes.
const MAX_BATCH_BYTES: usize = 1 << 20;

/// Starts the sender task for one peer; returns its queue.
pub fn spawn_sender(
    runtime: &tokio::runtime::Handle,
    peer: NodeId,
    addr: String,
) -> mpsc::Sender<Message> {
    let (sender, queue) = mpsc::channel(PEER_QUEUE_LEN);
    runtime.spawn(send_loop(peer, addr, queue));
    sender
}

fn encode(buffer: &mut Vec<u8>, message: &Message) {
    let start = buffer.len();
    buffer.extend_from_slice(&[0; 4]);
    serde_json::to_writer(&mut *buffer, message)
        .expect("messages always serialize: plain structs of integers and bytes");
    let len = u32::try_from(buffer.len() - start - 4)
        .expect("a message is bounded by max entries per message, far below 4 GiB");
    buffer[start..start + 4].copy_from_slice(&len.to_be_bytes());
}

async fn send_loop(peer: NodeId, addr: String, mut queue: mpsc::Receiver<Message>) {
    let mut backoff = MIN_BACKOFF;
    let mut connected_before = false;
    let mut buffer = Vec::new();
    loop {
        let stream = match timeout(CONNECT_TIMEOUT, TcpStream::connect(&addr)).await {
            Ok(Ok(stream)) => stream,
            outcome => {
                if connected_before {
                    let reason = match outcome {
                        Ok(Err(error)) => error.to_string(),
                        _ => "connect timed out".to_string(),
                    };
                    info!("cannot reach node {peer} at {addr}: {reason}; retrying with backoff");
                    connected_before = false;
                }
                // What queued up while unreachable is stale: Raft resends.
                while queue.try_recv().is_ok() {}
                if queue.is_closed() {
                    return;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        if !connected_before {
            info!("connected to node {peer} at {addr}");
            connected_before = true;
        }
        let (mut reader, mut writer) = stream.into_split();
        let mut sent: u64 = 0;
        let mut acked: u64 = 0;
        let mut waiting_since = Instant::now();
        let mut ack_bytes = [0u8; 8];
        let mut ack_filled = 0;
        let mut check = tokio::time::interval(ACK_TIMEOUT / 4);
        let reason = loop {
            tokio::select! {
                message = queue.recv() => {
                    let Some(message) = message else { return };
                    buffer.clear();
                    encode(&mut buffer, &message);
                    let mut frames = 1;
                    while buffer.len() < MAX_BATCH_BYTES {
                        let Ok(message) = queue.try_recv() else { break };
                        encode(&mut buffer, &message);
                        frames += 1;
                    }
                    if sent == acked {
                        waiting_since = Instant::now();
                    }
                    match timeout(WRITE_TIMEOUT, writer.write_all(&buffer)).await {
                        Ok(Ok(())) => sent += frames,
                        Ok(Err(error)) => break error.to_string(),
                        Err(_) => break "write timed out".to_string(),
                    }
                }
                read = reader.read(&mut ack_bytes[ack_filled..]) => {
                    match read {
                        Ok(0) => break "closed by peer".to_string(),
                        Ok(n) => {
                            ack_filled += n;
                            if ack_filled == ack_bytes.len() {
                                acked = u64::from_be_bytes(ack_bytes);
                                ack_filled = 0;
                                waiting_since = Instant::now();
                                backoff = MIN_BACKOFF;
                            }
                        }
                        Err(error) => break error.to_string(),
                    }
                }
                _ = check.tick() => {
                    if acked < sent && waiting_since.elapsed() > ACK_TIMEOUT {
                        break format!("{} frames unacknowledged for {ACK_TIMEOUT:?}", sent - acked);
                    }
                }
            }
        };
        debug!("connection to node {peer} dropped: {reason}");
        if acked == 0 {
            // Nothing ever got through: do not spin on a blackhole.
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}

/// Accepts peer connections and forwards their messages to the node.
pub async fn accept_loop(listener: TcpListener, inbox: SyncSender<Event>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(receive(stream, inbox.clone()));
            }
            Err(error) => {
                warn!("accepting a peer connection failed: {error}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn receive(stream: TcpStream, inbox: SyncSender<Event>) {
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::with_capacity(256 << 10, reader);
    let mut received: u64 = 0;
    let mut payload = Vec::new();
    loop {
        let mut len = [0u8; 4];
        match timeout(IDLE_TIMEOUT, reader.read_exact(&mut len)).await {
            Ok(Ok(_)) => {}
            _ => return,
        }
        let len = u32::from_be_bytes(len) as usize;
        if len > MAX_FRAME_LEN {
            warn!(
                "peer sent a frame of {len} bytes (limit {MAX_FRAME_LEN}); closing the connection"
            );
            return;
        }
        payload.resize(len, 0);
        match timeout(WRITE_TIMEOUT, reader.read_exact(&mut payload)).await {
            Ok(Ok(_)) => {}
            _ => return,
        }
        received += 1;
        match serde_json::from_slice::<Message>(&payload) {
            Ok(message) => match inbox.try_send(Event::Peer(message)) {
                Ok(()) | Err(TrySendError::Full(_)) => {}
                Err(TrySendError::Disconnected(_)) => return,
            },
            Err(error) => warn!("undecodable peer frame dropped: {error}"),
        }
        if reader.buffer().is_empty() {
            match timeout(WRITE_TIMEOUT, writer.write_all(&received.to_be_bytes())).await {
                Ok(Ok(())) => {}
                _ => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    use super::*;
    use crate::types::MessageBody;

    fn heartbeat(round: u64) -> Message {
        let body = MessageBody::AppendEntries {
            prev_log_index: 0,
            prev_log_term: 0,
            entries: Vec::new(),
            leader_commit: 0,
            read_round: round,
        };
        Message {
            from: 1,
            to: 2,
            term: 1,
            body,
        }
    }

    /// Polls the inbox for a peer message until `deadline`.
    async fn next_message(
        inbox: &std::sync::mpsc::Receiver<Event>,
        deadline: Duration,
    ) -> Option<Message> {
        let until = Instant::now() + deadline;
        while Instant::now() < until {
            if let Ok(Event::Peer(message)) = inbox.try_recv() {
                return Some(message);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        None
    }

    #[tokio::test]
    async fn frames_arrive_in_order_over_one_connection() {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("bound").to_string();
        let (inbox, events) = std::sync::mpsc::sync_channel(16);
        tokio::spawn(accept_loop(listener, inbox));
        let sender = spawn_sender(&tokio::runtime::Handle::current(), 2, addr);
        for round in 0..5 {
            sender.try_send(heartbeat(round)).expect("queue has room");
        }
        for round in 0..5 {
            let message = next_message(&events, Duration::from_secs(5))
                .await
                .expect("message arrives");
            assert_eq!(message, heartbeat(round));
        }
    }

    #[tokio::test]
    async fn sender_recovers_from_a_blackhole_that_holds_connections_forever() {
        // A proxy that, while `blackhole` is set, accepts connections and
        // holds them without reading; afterwards it hands new ones to the
        // real receiver. Held connections are never closed.
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("bound").to_string();
        let (inbox, events) = std::sync::mpsc::sync_channel(1024);
        let blackhole = Arc::new(AtomicBool::new(true));
        let proxy_blackhole = Arc::clone(&blackhole);
        tokio::spawn(async move {
            let mut held = Vec::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                if proxy_blackhole.load(Ordering::SeqCst) {
                    held.push(stream);
                } else {
                    tokio::spawn(receive(stream, inbox.clone()));
                }
            }
        });
        let sender = spawn_sender(&tokio::runtime::Handle::current(), 2, addr);
        let mut round = 0;
        let started = Instant::now();
        while started.elapsed() < Duration::from_millis(1500) {
            let _ = sender.try_send(heartbeat(round));
            round += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(events.try_recv().is_err(), "nothing passes the blackhole");
        blackhole.store(false, Ordering::SeqCst);
        let healed = Instant::now();
        let mut delivered = None;
        while healed.elapsed() < Duration::from_secs(10) && delivered.is_none() {
            let _ = sender.try_send(heartbeat(round));
            round += 1;
            delivered = next_message(&events, Duration::from_millis(50)).await;
        }
        assert!(delivered.is_some(), "messages flow again after the heal");
    }

    #[tokio::test]
    async fn a_full_queue_drops_instead_of_blocking() {
        // Nobody listens on this port.
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
            listener.local_addr().expect("bound").port()
        };
        let sender = spawn_sender(
            &tokio::runtime::Handle::current(),
            2,
            format!("127.0.0.1:{port}"),
        );
        let mut dropped = 0;
        for round in 0..(2 * PEER_QUEUE_LEN as u64) {
            if sender.try_send(heartbeat(round)).is_err() {
                dropped += 1;
            }
        }
        assert!(dropped > 0, "a bounded queue refuses what it cannot hold");
    }
}
