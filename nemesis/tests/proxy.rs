//! The proxies against real sockets: forwarding, cuts, heals, one-way cuts,
//! refusal, delay, and /proc identification of the dialling node.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{eventually, helper_node, serve, within, PATIENCE};
use nemesis::{
    Blocked, ConnectionInfo, Delay, Link, Network, NetworkOptions, NodeId, Partition, Shape,
    Supervisor,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

const N1: NodeId = NodeId(0);
const N2: NodeId = NodeId(1);
const N3: NodeId = NodeId(2);
/// How long "nothing arrives" is watched for. Not a timing target: a held
/// direction would stay silent forever.
const QUIET: Duration = Duration::from_millis(300);

/// An echo server on 127.0.0.1; it runs until the test's runtime ends.
async fn echo_server() -> SocketAddr {
    serve(|mut stream| async move {
        let (mut read, mut write) = stream.split();
        let _ = tokio::io::copy(&mut read, &mut write).await;
    })
    .await
}

/// A server that sends `tick` every 20 ms on each connection and reports
/// every chunk it receives on the channel.
async fn talking_server() -> (SocketAddr, mpsc::UnboundedReceiver<Vec<u8>>) {
    let (sender, receiver) = mpsc::unbounded_channel::<Vec<u8>>();
    let addr = serve(move |stream| {
        let sender = sender.clone();
        async move {
            let (mut read, mut write) = stream.into_split();
            tokio::spawn(async move {
                while write.write_all(b"tick").await.is_ok() {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            });
            let mut buffer = [0_u8; 1024];
            while let Ok(count) = read.read(&mut buffer).await {
                if count == 0 || sender.send(buffer[..count].to_vec()).is_err() {
                    break;
                }
            }
        }
    })
    .await;
    (addr, receiver)
}

async fn round_trip(stream: &mut TcpStream, message: &[u8]) -> Vec<u8> {
    stream.write_all(message).await.expect("loopback write");
    let mut buffer = vec![0_u8; message.len()];
    within(PATIENCE, "the echo", stream.read_exact(&mut buffer))
        .await
        .expect("the echo arrives");
    buffer
}

/// Whether the proxy closes the stream within `limit`: reads (draining
/// whatever was in flight) until EOF or a reset.
async fn closes_within(stream: &mut TcpStream, limit: Duration) -> bool {
    let mut buffer = [0_u8; 1024];
    let drain = async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(limit, drain).await.is_ok()
}

/// Whether nothing at all is read for `QUIET`.
async fn stays_silent(stream: &mut TcpStream) -> bool {
    let mut buffer = [0_u8; 64];
    tokio::time::timeout(QUIET, stream.read(&mut buffer))
        .await
        .is_err()
}

#[tokio::test]
async fn bytes_flow_through_a_link_proxy_both_ways() {
    let network = Network::new(NetworkOptions::default());
    let proxy = network
        .link_proxy(N1, N2, echo_server().await)
        .await
        .expect("a proxy on loopback");
    assert!(proxy.ip().is_loopback());
    let mut stream = TcpStream::connect(proxy).await.expect("the proxy accepts");
    assert_eq!(
        round_trip(&mut stream, b"hello through the proxy").await,
        b"hello through the proxy"
    );
    let big: Vec<u8> = (0..1_000_000_u32)
        .map(|index| (index % 251) as u8)
        .collect();
    stream.write_all(&big).await.expect("loopback write");
    let mut back = vec![0_u8; big.len()];
    within(PATIENCE, "a megabyte echo", stream.read_exact(&mut back))
        .await
        .expect("all bytes come back");
    assert!(back == big, "bytes arrive intact and in order");
    assert_eq!(
        network.connections(),
        vec![ConnectionInfo {
            dialler: Some(N1),
            target: N2
        }]
    );
}

#[tokio::test]
async fn a_cut_closes_live_connections_and_holds_new_ones() {
    let network = Network::new(NetworkOptions::default());
    let proxy = network
        .link_proxy(N1, N2, echo_server().await)
        .await
        .expect("a proxy");
    let mut live = TcpStream::connect(proxy).await.expect("the proxy accepts");
    round_trip(&mut live, b"before").await;

    let closed = network.partition(&Partition::isolate(Shape::One, 3, N2));
    assert_eq!(closed, 1);
    assert!(
        closes_within(&mut live, Duration::from_secs(1)).await,
        "the live connection is closed at once"
    );

    let mut held = within(PATIENCE, "accept", TcpStream::connect(proxy))
        .await
        .expect("a cut link still accepts");
    held.write_all(b"into the void")
        .await
        .expect("the kernel takes the bytes");
    assert!(
        stays_silent(&mut held).await,
        "nothing is forwarded on a cut link"
    );
    assert!(
        eventually(PATIENCE, || network.connections().len() == 1).await,
        "the held connection is registered"
    );
    drop(held);
    assert!(
        eventually(PATIENCE, || network.connections().is_empty()).await,
        "a held connection whose dialler gives up is released"
    );
}

#[tokio::test]
async fn heal_releases_held_connections_and_forwards_again() {
    let network = Network::new(NetworkOptions::default());
    let proxy = network
        .link_proxy(N1, N2, echo_server().await)
        .await
        .expect("a proxy");
    network.cut(Link::new(N1, N2));
    network.cut(Link::new(N2, N1));
    let mut held = TcpStream::connect(proxy)
        .await
        .expect("a cut link still accepts");
    held.write_all(b"waiting")
        .await
        .expect("the kernel takes the bytes");
    assert!(stays_silent(&mut held).await);

    network.heal();
    assert!(network.cut_links().is_empty());
    let mut buffer = [0_u8; 7];
    within(PATIENCE, "release after heal", held.read_exact(&mut buffer))
        .await
        .expect("held bytes flow after heal");
    assert_eq!(&buffer, b"waiting");
    let mut fresh = TcpStream::connect(proxy).await.expect("the proxy accepts");
    assert_eq!(round_trip(&mut fresh, b"after").await, b"after");
}

#[tokio::test]
async fn a_partition_guard_heals_when_dropped() {
    let network = Network::new(NetworkOptions::default());
    let proxy = network
        .link_proxy(N1, N2, echo_server().await)
        .await
        .expect("a proxy");
    {
        let _partition = network.partitioned(&Partition::isolate(Shape::One, 2, N1));
        assert!(network.is_cut(Link::new(N1, N2)) && network.is_cut(Link::new(N2, N1)));
    }
    assert!(network.cut_links().is_empty());
    let mut stream = TcpStream::connect(proxy).await.expect("the proxy accepts");
    assert_eq!(round_trip(&mut stream, b"healed").await, b"healed");
}

#[tokio::test]
async fn a_one_way_cut_blocks_one_direction_only() {
    let network = Network::new(NetworkOptions::default());
    let (server, mut received) = talking_server().await;
    let proxy = network.link_proxy(N1, N2, server).await.expect("a proxy");

    // n1 cannot send to n2: the server hears nothing, n1 still hears ticks.
    network.cut(Link::new(N1, N2));
    let mut stream = TcpStream::connect(proxy).await.expect("the proxy accepts");
    stream
        .write_all(b"lost?")
        .await
        .expect("the kernel takes the bytes");
    let mut buffer = [0_u8; 4];
    within(PATIENCE, "ticks from n2", stream.read_exact(&mut buffer))
        .await
        .expect("n2 -> n1 still flows");
    assert_eq!(&buffer, b"tick");
    assert!(
        tokio::time::timeout(QUIET, received.recv()).await.is_err(),
        "n1 -> n2 is cut"
    );

    // Heal: the held bytes arrive.
    network.heal();
    let chunk = within(PATIENCE, "held bytes", received.recv())
        .await
        .expect("the server runs");
    assert_eq!(chunk, b"lost?");

    // n2 cannot send to n1: the connection carrying it closes; on a new one
    // the server hears n1, and n1 hears nothing.
    network.cut(Link::new(N2, N1));
    assert!(closes_within(&mut stream, Duration::from_secs(1)).await);
    let mut stream = TcpStream::connect(proxy).await.expect("the proxy accepts");
    stream.write_all(b"heard").await.expect("loopback write");
    let chunk = within(PATIENCE, "n1's bytes", received.recv())
        .await
        .expect("the server runs");
    assert_eq!(chunk, b"heard");
    assert!(stays_silent(&mut stream).await, "n2 -> n1 is cut");
}

#[tokio::test]
async fn refuse_mode_closes_new_connections_on_a_cut_link() {
    let options = NetworkOptions {
        blocked: Blocked::Refuse,
        ..NetworkOptions::default()
    };
    let network = Network::new(options);
    let proxy = network
        .link_proxy(N1, N2, echo_server().await)
        .await
        .expect("a proxy");
    network.cut(Link::new(N2, N1));
    let mut stream = TcpStream::connect(proxy)
        .await
        .expect("the listener accepts before refusing");
    assert!(
        closes_within(&mut stream, PATIENCE).await,
        "a connection on a cut link is closed"
    );
    network.heal_link(Link::new(N2, N1));
    let mut stream = TcpStream::connect(proxy).await.expect("the proxy accepts");
    assert_eq!(round_trip(&mut stream, b"ok").await, b"ok");
}

#[tokio::test]
async fn a_delayed_link_adds_its_delay() {
    let network = Network::new(NetworkOptions::default());
    let proxy = network
        .link_proxy(N1, N2, echo_server().await)
        .await
        .expect("a proxy");
    let mut stream = TcpStream::connect(proxy).await.expect("the proxy accepts");
    network.set_delay(
        Link::new(N1, N2),
        Some(Delay {
            fixed: Duration::from_millis(80),
            jitter: Duration::from_millis(20),
        }),
    );
    let started = Instant::now();
    round_trip(&mut stream, b"slow").await;
    assert!(
        started.elapsed() >= Duration::from_millis(80),
        "took {:?}",
        started.elapsed()
    );
    network.set_delay(Link::new(N1, N2), None);
}

#[tokio::test]
async fn a_delayed_link_is_a_delay_line_not_a_queue() {
    // Messages sent 200 ms apart through a 500 ms link each arrive 500 ms
    // after they were sent, apart as they were sent. A proxy that slept per
    // chunk would forward one chunk per delay: the second and third would
    // arrive together, 800 and 600 ms after they were sent.
    const DELAY: Duration = Duration::from_millis(500);
    const GAP: Duration = Duration::from_millis(200);
    let (server, mut received) = talking_server().await;
    let network = Network::new(NetworkOptions::default());
    let proxy = network.link_proxy(N1, N2, server).await.expect("a proxy");
    network.set_delay(
        Link::new(N1, N2),
        Some(Delay {
            fixed: DELAY,
            jitter: Duration::ZERO,
        }),
    );
    let mut stream = TcpStream::connect(proxy).await.expect("the proxy accepts");
    let sender = tokio::spawn(async move {
        let mut sent = Vec::new();
        for message in [b"m0", b"m1", b"m2", b"m3"] {
            sent.push(Instant::now());
            stream.write_all(message).await.expect("loopback write");
            tokio::time::sleep(GAP).await;
        }
        (sent, stream)
    });
    // Arrivals are stamped as they come, while the sender is still sending.
    let mut arrived = Vec::new();
    let mut bytes = Vec::new();
    while arrived.len() < 4 {
        let chunk = within(PATIENCE, "a delayed message", received.recv())
            .await
            .expect("the message arrives");
        for _ in 0..chunk.len() / 2 {
            arrived.push(Instant::now());
        }
        bytes.extend(chunk);
    }
    assert_eq!(bytes, b"m0m1m2m3", "in order, nothing lost");
    let (sent, _stream) = sender.await.expect("the sender ends");
    for (index, (sent, arrived)) in sent.iter().zip(&arrived).enumerate() {
        let latency = arrived.duration_since(*sent);
        // Never early; late by far less than one more delay (a queue adds
        // 100 ms or more to every message but the first).
        assert!(
            latency >= DELAY - Duration::from_millis(5) && latency < DELAY + GAP,
            "message {index} took {latency:?}"
        );
    }
}

#[tokio::test]
async fn rejects_upstreams_off_loopback() {
    let network = Network::new(NetworkOptions::default());
    let outside: SocketAddr = "10.1.2.3:80".parse().expect("an address");
    assert!(matches!(
        network.link_proxy(N1, N2, outside).await,
        Err(nemesis::Error::NotLoopback { .. })
    ));
}

#[tokio::test]
async fn an_inbound_proxy_finds_which_node_dialled_it_in_proc() {
    let root = tempfile::tempdir().expect("a temp dir");
    let network = Arc::new(Network::new(NetworkOptions::default()));
    // n1 and n2 are real processes that dial n3's inbound proxy; n3 is played
    // by an echo server in the test. The proxy address is known before the
    // nodes start, as a harness would need for etcd.
    let table = nemesis::ProcessTable::new();
    let proxy = network
        .inbound_proxy(N3, echo_server().await, table.clone())
        .await
        .expect("a proxy");
    let dial = proxy.to_string();
    let specs = vec![
        helper_node(root.path(), "n1", &["dial", &dial]),
        helper_node(root.path(), "n2", &["dial", &dial]),
    ];
    let supervisor = Supervisor::with_process_table(specs, table);
    for node in [N1, N2] {
        supervisor.start(node).await.expect("the dialler starts");
    }
    let mut ours = TcpStream::connect(proxy)
        .await
        .expect("the proxy accepts the test too");
    round_trip(&mut ours, b"me").await;

    let expected = |connections: &[ConnectionInfo]| {
        let mut diallers: Vec<Option<NodeId>> = connections
            .iter()
            .map(|connection| connection.dialler)
            .collect();
        diallers.sort();
        diallers == vec![None, Some(N1), Some(N2)]
    };
    assert!(
        eventually(PATIENCE, || expected(&network.connections())).await,
        "diallers found: {:?}",
        network.connections()
    );

    // Cutting n1 -> n3 closes n1's connection only (the dialler then exits).
    network.cut(Link::new(N1, N3));
    assert!(
        eventually(PATIENCE, || !network
            .connections()
            .iter()
            .any(|connection| connection.dialler == Some(N1)))
        .await,
        "n1's connection is closed"
    );
    assert!(network
        .connections()
        .iter()
        .any(|connection| connection.dialler == Some(N2)));
    assert_eq!(
        round_trip(&mut ours, b"still").await,
        b"still",
        "unknown diallers are allowed by default"
    );
}
