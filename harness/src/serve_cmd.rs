//! `faultline serve`: the run store over HTTP on 127.0.0.1, read-only, for
//! browsing reports. A deliberately small HTTP/1.1 server on std: GET and
//! HEAD of files inside the store, nothing else.
//!
//! What it refuses: any method but GET/HEAD (405); a path with a `..` or
//! `.` segment, a hidden segment, a backslash or a NUL (400); anything
//! whose real path (links resolved) is outside the store (404); a Host
//! header other than 127.0.0.1/localhost (403: a web page cannot read the
//! store through DNS rebinding).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::cli::ServeArgs;

/// The longest request head read; longer requests get 431.
const MAX_HEAD: usize = 16 * 1024;
/// How long a connection may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `args.store` until the process is stopped.
pub fn run(args: ServeArgs) -> Result<u8> {
    std::fs::create_dir_all(&args.store)
        .with_context(|| format!("cannot create the store {}", args.store.display()))?;
    let root = std::fs::canonicalize(&args.store)
        .with_context(|| format!("cannot resolve the store {}", args.store.display()))?;
    results::refresh_index(&root)?;
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, args.port)))
        .with_context(|| format!("cannot listen on 127.0.0.1:{}", args.port))?;
    let port = listener.local_addr()?.port();
    println!(
        "serving {} at http://127.0.0.1:{port}/ (read-only; Ctrl-C to stop)",
        root.display()
    );
    let _ = std::io::stdout().flush();
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let root = root.clone();
        std::thread::spawn(move || {
            let _ = serve_one(stream, &root, port);
        });
    }
    Ok(0)
}

/// One HTTP response, written whole (`Connection: close`).
struct Response {
    status: &'static str,
    content_type: &'static str,
    body: Body,
    location: Option<String>,
}

enum Body {
    Text(String),
    File(std::fs::File, u64),
}

impl Response {
    fn text(status: &'static str, message: &str) -> Self {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: Body::Text(format!("{message}\n")),
            location: None,
        }
    }
}

fn serve_one(stream: TcpStream, root: &Path, port: u16) -> std::io::Result<()> {
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut head: Vec<String> = Vec::new();
    let mut size = 0;
    loop {
        let mut line = String::new();
        let n = reader.by_ref().take(MAX_HEAD as u64).read_line(&mut line)?;
        size += n;
        if n == 0 || size > MAX_HEAD {
            break;
        }
        let line = line.trim_end_matches(['\r', '\n']).to_string();
        if line.is_empty() {
            break;
        }
        head.push(line);
    }
    let (response, head_only) = if size > MAX_HEAD {
        (
            Response::text("431 Request Header Fields Too Large", "request too large"),
            false,
        )
    } else {
        respond(&head, root, port)
    };
    write_response(stream, response, head_only)
}

fn respond(head: &[String], root: &Path, port: u16) -> (Response, bool) {
    let Some(request) = head.first() else {
        return (Response::text("400 Bad Request", "empty request"), false);
    };
    let mut words = request.split(' ');
    let (Some(method), Some(target)) = (words.next(), words.next()) else {
        return (Response::text("400 Bad Request", "bad request line"), false);
    };
    let head_only = method == "HEAD";
    if method != "GET" && !head_only {
        return (
            Response::text("405 Method Not Allowed", "read-only: GET and HEAD only"),
            false,
        );
    }
    let host = head.iter().skip(1).find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("host")
            .then(|| value.trim().to_string())
    });
    if let Some(host) = host {
        let allowed = [
            format!("127.0.0.1:{port}"),
            format!("localhost:{port}"),
            "127.0.0.1".to_string(),
            "localhost".to_string(),
        ];
        if !allowed.iter().any(|a| a.eq_ignore_ascii_case(&host)) {
            return (
                Response::text("403 Forbidden", "unexpected Host header"),
                head_only,
            );
        }
    }
    (resolve(target, root), head_only)
}

/// Decodes `%XX` escapes; `None` when an escape is malformed or the result
/// is not UTF-8.
fn percent_decode(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The path segments of a request target, or why it is refused.
fn segments(target: &str) -> std::result::Result<Vec<String>, &'static str> {
    let path = target.split(['?', '#']).next().unwrap_or("");
    if !path.starts_with('/') {
        return Err("the path must start with /");
    }
    let decoded = percent_decode(path).ok_or("bad percent-encoding")?;
    let mut out = Vec::new();
    for segment in decoded.split('/').filter(|s| !s.is_empty()) {
        if segment.starts_with('.') || segment.contains(['\\', '\0']) {
            return Err("no .., hidden or odd path segments");
        }
        out.push(segment.to_string());
    }
    Ok(out)
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "json" => "application/json",
        "jsonl" | "log" | "txt" | "toml" | "edn" | "md" => "text/plain; charset=utf-8",
        "xml" => "application/xml",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "css" => "text/css",
        _ => "application/octet-stream",
    }
}

fn resolve(target: &str, root: &Path) -> Response {
    let parts = match segments(target) {
        Ok(parts) => parts,
        Err(why) => return Response::text("400 Bad Request", why),
    };
    if parts.is_empty() || parts == ["index.html"] {
        // The index lists the runs as they are now.
        let _ = results::refresh_index(root);
    }
    let mut path: PathBuf = root.to_path_buf();
    path.extend(&parts);
    let not_found = || Response::text("404 Not Found", "not found");
    // Links (`latest`) are followed, but the real path must stay inside.
    let Ok(real) = std::fs::canonicalize(&path) else {
        return not_found();
    };
    if !real.starts_with(root) {
        return not_found();
    }
    let real = if real.is_dir() {
        let path_part = target.split(['?', '#']).next().unwrap_or("/");
        if !path_part.ends_with('/') {
            return Response {
                status: "301 Moved Permanently",
                content_type: "text/plain; charset=utf-8",
                body: Body::Text("moved\n".into()),
                location: Some(format!("{path_part}/")),
            };
        }
        let index = real.join("index.html");
        if index.is_file() {
            index
        } else {
            return listing(&real, &parts);
        }
    } else {
        real
    };
    match std::fs::File::open(&real).and_then(|f| f.metadata().map(|m| (f, m.len()))) {
        Ok((file, len)) => Response {
            status: "200 OK",
            content_type: content_type(&real),
            body: Body::File(file, len),
            location: None,
        },
        Err(_) => not_found(),
    }
}

fn listing(dir: &Path, parts: &[String]) -> Response {
    use results::report::html::{text, url_component};
    let mut names: Vec<(String, bool)> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    (name, e.path().is_dir())
                })
                .filter(|(name, _)| !name.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let title = format!("/{}", parts.join("/"));
    let mut body = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'\"><title>{0}</title></head><body><h1>{0}</h1><ul><li><a href=\"../\">..</a></li>",
        text(&title)
    );
    for (name, is_dir) in names {
        let slash = if is_dir { "/" } else { "" };
        body.push_str(&format!(
            "<li><a href=\"{}{slash}\">{}{slash}</a></li>",
            text(&url_component(&name)),
            text(&name)
        ));
    }
    body.push_str("</ul></body></html>\n");
    Response {
        status: "200 OK",
        content_type: "text/html; charset=utf-8",
        body: Body::Text(body),
        location: None,
    }
}

fn write_response(
    mut stream: TcpStream,
    response: Response,
    head_only: bool,
) -> std::io::Result<()> {
    let length = match &response.body {
        Body::Text(text) => text.len() as u64,
        Body::File(_, len) => *len,
    };
    let mut head = format!(
        "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {length}\r\nConnection: close\r\n\
         X-Content-Type-Options: nosniff\r\nCache-Control: no-cache\r\nReferrer-Policy: no-referrer\r\n",
        response.status, response.content_type
    );
    if let Some(location) = &response.location {
        head.push_str(&format!("Location: {location}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    if !head_only {
        match response.body {
            Body::Text(text) => stream.write_all(text.as_bytes())?,
            Body::File(mut file, _) => {
                std::io::copy(&mut file, &mut stream)?;
            }
        }
    }
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_dot_dot_hidden_and_bad_escapes() {
        assert!(segments("/../etc/passwd").is_err());
        assert!(segments("/a/%2e%2e/b").is_err());
        assert!(segments("/a/..%2fb").is_err());
        assert!(segments("/.latest.123").is_err());
        assert!(segments("/a%5cb").is_err());
        assert!(segments("/a%zz").is_err());
        assert!(segments("relative").is_err());
        assert_eq!(
            segments("/t/20261122T0102Z/report.html?x=1").unwrap(),
            ["t", "20261122T0102Z", "report.html"]
        );
        assert_eq!(segments("/").unwrap(), Vec::<String>::new());
    }
}
