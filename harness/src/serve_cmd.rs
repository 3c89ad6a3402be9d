//! `faultline serve`: the run store over HTTP on 127.0.0.1, read-only, for
//! browsing reports. axum with tower-http's `ServeDir` serves the files;
//! a guard in front of it decides what may be asked for.
//!
//! What the guard refuses: any method but GET/HEAD (405); a path with a
//! `..` or `.` segment, a hidden segment, a backslash or a NUL, after
//! percent-decoding (400); anything whose real path (links resolved) is
//! outside the store (404); a Host header other than 127.0.0.1/localhost
//! (403: a web page cannot read the store through DNS rebinding).
//! A directory without an `index.html` gets a listing.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::handler::Handler;
use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower_http::services::ServeDir;

use crate::cli::ServeArgs;

/// Serves `args.store` until the process is stopped.
pub fn run(args: ServeArgs) -> Result<u8> {
    std::fs::create_dir_all(&args.store)
        .with_context(|| format!("cannot create the store {}", args.store.display()))?;
    let root = std::fs::canonicalize(&args.store)
        .with_context(|| format!("cannot resolve the store {}", args.store.display()))?;
    results::refresh_index(&root)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("faultline-serve")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listener =
            tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, args.port)))
                .await
                .with_context(|| format!("cannot listen on 127.0.0.1:{}", args.port))?;
        let port = listener.local_addr()?.port();
        println!(
            "serving {} at http://127.0.0.1:{port}/ (read-only; Ctrl-C to stop)",
            root.display()
        );
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
        axum::serve(listener, app(root, port))
            .await
            .context("the server stopped")?;
        Ok(0)
    })
}

/// What the guard and the listing need: the store's real path and the port
/// (for the Host check).
struct Served {
    root: PathBuf,
    port: u16,
}

/// The whole server: the guard, then the store's files, then listings.
fn app(root: PathBuf, port: u16) -> Router {
    let served = Arc::new(Served { root, port });
    let files = ServeDir::new(&served.root)
        .append_index_html_on_directories(true)
        .fallback(listing_or_not_found.with_state(Arc::clone(&served)));
    Router::new()
        .fallback_service(files)
        .layer(middleware::from_fn_with_state(served, guard))
}

fn text(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{message}\n"),
    )
        .into_response()
}

/// Refuses what must not be served (see the module's comment), refreshes
/// the index when it is asked for, and sets the headers of every answer.
async fn guard(State(served): State<Arc<Served>>, request: Request, next: Next) -> Response {
    let mut response = match admit(&served, &request) {
        Err((status, why)) => text(status, why),
        Ok(file) => {
            let mut response = next.run(request).await;
            if let Some(kind) = file.as_deref().and_then(content_type) {
                if response.status().is_success() {
                    response
                        .headers_mut()
                        .insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
                }
            }
            response
        }
    };
    let headers = response.headers_mut();
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::CACHE_CONTROL, "no-cache"),
        (header::REFERRER_POLICY, "no-referrer"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// Why a request is refused: its status and a sentence.
type Refusal = (StatusCode, &'static str);

/// `Ok` with the real path when it is a file, or the refusal.
fn admit(served: &Served, request: &Request) -> std::result::Result<Option<PathBuf>, Refusal> {
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        return Err((
            StatusCode::METHOD_NOT_ALLOWED,
            "read-only: GET and HEAD only",
        ));
    }
    if let Some(host) = request.headers().get(header::HOST) {
        let port = served.port;
        let allowed = [
            format!("127.0.0.1:{port}"),
            format!("localhost:{port}"),
            "127.0.0.1".to_string(),
            "localhost".to_string(),
        ];
        let host = host.to_str().unwrap_or("");
        if !allowed.iter().any(|a| a.eq_ignore_ascii_case(host)) {
            return Err((StatusCode::FORBIDDEN, "unexpected Host header"));
        }
    }
    let parts = segments(request.uri().path()).map_err(|why| (StatusCode::BAD_REQUEST, why))?;
    if parts.is_empty() || parts == ["index.html"] {
        // The index lists the runs as they are now.
        let _ = results::refresh_index(&served.root);
    }
    let mut path = served.root.clone();
    path.extend(&parts);
    // Links (`latest`) are followed, but the real path must stay inside.
    match std::fs::canonicalize(&path) {
        Ok(real) if real.starts_with(&served.root) => Ok(real.is_file().then_some(real)),
        _ => Err((StatusCode::NOT_FOUND, "not found")),
    }
}

/// The content type of the store's text files, which browsers should show
/// rather than download; `None` leaves `ServeDir`'s guess.
fn content_type(path: &Path) -> Option<&'static str> {
    Some(match path.extension()?.to_str()? {
        "html" => "text/html; charset=utf-8",
        "json" => "application/json",
        "jsonl" | "log" | "txt" | "toml" | "edn" | "md" => "text/plain; charset=utf-8",
        "xml" => "application/xml",
        "svg" => "image/svg+xml",
        _ => return None,
    })
}

/// `ServeDir` found no file: a directory (asked for with its slash) without
/// an `index.html` gets a listing, anything else is 404.
async fn listing_or_not_found(State(served): State<Arc<Served>>, uri: Uri) -> Response {
    let Ok(parts) = segments(uri.path()) else {
        return text(StatusCode::NOT_FOUND, "not found");
    };
    let mut dir = served.root.clone();
    dir.extend(&parts);
    match std::fs::canonicalize(&dir) {
        Ok(real) if real.starts_with(&served.root) && real.is_dir() => listing(&real, &parts),
        _ => text(StatusCode::NOT_FOUND, "not found"),
    }
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
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        Body::from(body),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// Starts the server on a free port of 127.0.0.1 in a thread of this
    /// test process; returns the port.
    fn start(root: &Path) -> u16 {
        let root = std::fs::canonicalize(root).unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                axum::serve(listener, app(root, port)).await.unwrap();
            });
        });
        port
    }

    /// Sends `GET path` as written (no normalisation on the way); returns
    /// the status code and the whole response.
    fn get(port: u16, path: &str) -> (u16, String) {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let code = response
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        (code, response)
    }

    #[test]
    fn paths_out_of_the_store_are_refused_in_every_spelling() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.txt"), "the secret").unwrap();
        let store = outside.path().join("store");
        std::fs::create_dir_all(store.join("t/run")).unwrap();
        std::fs::write(store.join("t/run/history.jsonl"), "{}\n").unwrap();
        std::os::unix::fs::symlink(outside.path(), store.join("escape")).unwrap();
        let port = start(&store);

        let (code, file) = get(port, "/t/run/history.jsonl");
        assert_eq!(code, 200, "{file}");
        assert!(file.contains("text/plain; charset=utf-8") && file.contains("nosniff"));
        for path in [
            "/../secret.txt",
            "/t/../../secret.txt",
            "/%2e%2e/secret.txt",
            "/%2E%2E/secret.txt",
            "/t/%2e%2e%2f%2e%2e%2fsecret.txt",
            "/t/run/..%2f..%2f..%2fsecret.txt",
            "/.%2e/secret.txt",
        ] {
            let (code, response) = get(port, path);
            assert_eq!(code, 400, "{path}: {response}");
            assert!(!response.contains("the secret"), "{path}");
        }
        let (code, response) = get(port, "/escape/secret.txt");
        assert_eq!(code, 404, "a link out of the store: {response}");
        assert!(!response.contains("the secret"));
    }

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
