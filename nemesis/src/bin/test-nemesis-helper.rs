//! Small programs the nemesis tests start as nodes. Not for users.
//!
//! Every mode ends on its own after at most `LIFETIME`, so nothing a failed
//! test leaves behind lives long.
//!
//! - `serve`: an echo server on 127.0.0.1, port written to `./port`;
//!   appends a line to `./starts` at every start (the data directory).
//! - `dial ADDR`: connects to ADDR, sends `hello\n`, echoes what it reads.
//! - `tick`: prints a line every 10 ms.
//! - `fail MESSAGE`: prints MESSAGE to stderr and exits with status 3.
//! - `spawn-nodes COUNT PIDFILE DIR`: starts COUNT `tick` nodes through a
//!   `Supervisor`, writes their pids to PIDFILE, and sleeps (the leak test
//!   SIGKILLs it).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

const LIFETIME: Duration = Duration::from_secs(60);

fn main() -> Result {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["serve"] => serve(),
        ["dial", addr] => dial(addr),
        ["tick"] => tick(),
        ["fail", message] => {
            eprintln!("{message}");
            std::process::exit(3);
        }
        ["spawn-nodes", count, pidfile, dir] => spawn_nodes(count.parse()?, pidfile, dir),
        _ => Err("usage: test-nemesis-helper serve | dial ADDR | tick | fail MESSAGE | spawn-nodes COUNT PIDFILE DIR".into()),
    }
}

fn serve() -> Result {
    let mut starts = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open("starts")?;
    writeln!(starts, "start")?;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    // Write then rename, so a reader never sees a half-written port.
    std::fs::write("port.tmp", port.to_string())?;
    std::fs::rename("port.tmp", "port")?;
    println!("serving on 127.0.0.1:{port}");
    std::thread::spawn(|| {
        std::thread::sleep(LIFETIME);
        std::process::exit(0);
    });
    for stream in listener.incoming() {
        let mut stream = stream?;
        std::thread::spawn(move || {
            let mut buffer = [0_u8; 64 * 1024];
            while let Ok(count) = stream.read(&mut buffer) {
                if count == 0 || stream.write_all(&buffer[..count]).is_err() {
                    break;
                }
            }
        });
    }
    Ok(())
}

fn dial(addr: &str) -> Result {
    let mut stream =
        TcpStream::connect(addr).map_err(|error| format!("dialling {addr}: {error}"))?;
    stream.write_all(b"hello\n")?;
    stream.set_read_timeout(Some(LIFETIME))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    while reader.read_line(&mut line)? > 0 {
        stream.write_all(line.as_bytes())?;
        line.clear();
    }
    Ok(())
}

fn tick() -> Result {
    let started = Instant::now();
    let mut count = 0_u64;
    while started.elapsed() < LIFETIME {
        println!("tick {count}");
        count += 1;
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

fn spawn_nodes(count: usize, pidfile: &str, dir: &str) -> Result {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let me = std::env::current_exe()?;
        let specs = (0..count)
            .map(|index| {
                let node_dir = std::path::Path::new(dir).join(format!("n{}", index + 1));
                nemesis::NodeSpec::new(&me, &node_dir, node_dir.join("log")).args(["tick"])
            })
            .collect();
        let supervisor = nemesis::Supervisor::new(specs);
        supervisor.start_all().await?;
        let pids: Vec<String> = nemesis::NodeId::all(count)
            .map(|node| {
                supervisor
                    .pid(node)
                    .expect("a node start_all started has a pid")
                    .to_string()
            })
            .collect();
        std::fs::write(format!("{pidfile}.tmp"), pids.join("\n"))?;
        std::fs::rename(format!("{pidfile}.tmp"), pidfile)?;
        tokio::time::sleep(LIFETIME).await;
        Result::Ok(())
    })
}
