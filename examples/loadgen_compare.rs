//! Which HTTP client should `wlcs bench`'s load generator use? The same close requests
//! (alternately a self-close with a cookie and a non-web close, HARNESS.md bodies), sent as
//! fast as possible over N keep-alive connections for a few seconds, by:
//!
//! - `raw`: one OS thread per connection, hand-written HTTP/1.1 over `std::net::TcpStream`
//!   (what `wlcs::bench` does);
//! - `hyper`: one task per connection on a tokio runtime of `--threads` workers, hyper's
//!   `client::conn::http1` (what `wlcs_http::HttpSut` builds on).
//!
//! Run it against `examples/hello_server.rs`, where the server's own cost is smallest, so the
//! generators' costs show:
//!
//! ```text
//! cargo run --release --example loadgen_compare -- 127.0.0.1:8090 raw 4 5
//! cargo run --release --example loadgen_compare -- 127.0.0.1:8090 hyper 4 5 1
//! ```
//! Arguments: address, mode, connections, seconds, [tokio worker threads for hyper].

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A fixed ID: the hello server answers any, and `wlcs serve` treats it as unknown (a no-op).
const ID: &str = "48454C4C4F574F524C44000000000000";
/// Requests per connection at most, whatever the duration.
const REQUESTS_PER_CONNECTION_MAX: u64 = 100_000_000;

fn self_close_body() -> &'static [u8] {
    br#"{"actions":[{"op":"close_current"}]}"#
}

fn non_web_body() -> String {
    format!(r#"{{"process":0,"actions":[{{"op":"close","id":"{ID}"}}]}}"#)
}

fn raw_request(addr: SocketAddr, self_close: bool) -> Vec<u8> {
    let (path, cookie, body) = if self_close {
        (
            "/wlcs/v1/web",
            format!("Cookie: 4DSID_wlcs={ID}\r\n"),
            self_close_body().to_vec(),
        )
    } else {
        (
            "/wlcs/v1/non-web",
            String::new(),
            non_web_body().into_bytes(),
        )
    };
    let mut out = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{cookie}\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    out
}

/// Reads one Content-Length response from `stream` into `buf`; false on any failure.
fn read_response(stream: &mut TcpStream, buf: &mut Vec<u8>) -> bool {
    buf.clear();
    let mut chunk = [0u8; 16 * 1024];
    // One iteration per read; a response takes a few at most.
    for _ in 0..10_000 {
        if let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if buf.len() >= head_end + 4 + length {
                return head.starts_with("http/1.1 200");
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return false,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    false
}

fn raw(addr: SocketAddr, connections: usize, duration: Duration) -> (u64, u64) {
    let done = AtomicU64::new(0);
    let failed = AtomicU64::new(0);
    let deadline = Instant::now() + duration;
    std::thread::scope(|scope| {
        for _ in 0..connections {
            let (done, failed) = (&done, &failed);
            scope.spawn(move || {
                let Ok(mut stream) = TcpStream::connect(addr) else {
                    failed.fetch_add(1, Ordering::Relaxed);
                    return;
                };
                let _ = stream.set_nodelay(true);
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                let requests = [raw_request(addr, true), raw_request(addr, false)];
                let mut buf = Vec::with_capacity(4096);
                for i in 0..REQUESTS_PER_CONNECTION_MAX {
                    if Instant::now() >= deadline {
                        break;
                    }
                    let ok = stream.write_all(&requests[(i % 2) as usize]).is_ok()
                        && read_response(&mut stream, &mut buf);
                    if !ok {
                        failed.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    (done.into_inner(), failed.into_inner())
}

fn hyper_gen(
    addr: SocketAddr,
    connections: usize,
    duration: Duration,
    threads: usize,
) -> (u64, u64) {
    let Ok(runtime) = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()
    else {
        return (0, 1);
    };
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + duration;
    runtime.block_on(async {
        let tasks: Vec<_> = (0..connections)
            .map(|_| {
                let (done, failed) = (done.clone(), failed.clone());
                tokio::spawn(async move {
                    if !hyper_connection(addr, deadline, &done).await {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for t in tasks {
            let _ = t.await;
        }
    });
    (done.load(Ordering::Relaxed), failed.load(Ordering::Relaxed))
}

/// One connection of the hyper generator: self-closes and non-web closes alternately until
/// the deadline, counting each answered 200 in `done`; false at the first failure.
async fn hyper_connection(addr: SocketAddr, deadline: Instant, done: &AtomicU64) -> bool {
    let Ok(stream) = tokio::net::TcpStream::connect(addr).await else {
        return false;
    };
    let _ = stream.set_nodelay(true);
    let io = hyper_util::rt::TokioIo::new(stream);
    let Ok((mut sender, conn)) = hyper::client::conn::http1::handshake::<_, Full<Bytes>>(io).await
    else {
        return false;
    };
    tokio::spawn(conn);
    let non_web = Bytes::from(non_web_body());
    let self_close = Bytes::from_static(self_close_body());
    let cookie = format!("4DSID_wlcs={ID}");
    let host = addr.to_string();
    for i in 0..REQUESTS_PER_CONNECTION_MAX {
        if Instant::now() >= deadline {
            break;
        }
        let builder = hyper::Request::post(if i % 2 == 0 {
            "/wlcs/v1/web"
        } else {
            "/wlcs/v1/non-web"
        })
        .header(hyper::header::HOST, host.as_str())
        .header(hyper::header::CONTENT_TYPE, "application/json");
        let req = if i % 2 == 0 {
            builder
                .header(hyper::header::COOKIE, cookie.as_str())
                .body(Full::new(self_close.clone()))
        } else {
            builder.body(Full::new(non_web.clone()))
        };
        let Ok(req) = req else {
            return false;
        };
        let ok = match sender.send_request(req).await {
            Ok(resp) => {
                let status = resp.status();
                resp.into_body().collect().await.is_ok() && status == 200
            }
            Err(_) => false,
        };
        if !ok {
            return false;
        }
        done.fetch_add(1, Ordering::Relaxed);
    }
    true
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or_else(|| default.into());
    let addr: SocketAddr = arg(1, "127.0.0.1:8090").parse()?;
    if !addr.ip().is_loopback() {
        return Err(format!("{addr}: loopback addresses only").into());
    }
    let mode = arg(2, "raw");
    let connections: usize = arg(3, "4").parse()?;
    let seconds: f64 = arg(4, "5").parse()?;
    let threads: usize = arg(5, "1").parse()?;
    let duration = Duration::from_secs_f64(seconds.clamp(0.1, 600.0));
    let start = Instant::now();
    let (done, failed) = match mode.as_str() {
        "raw" => raw(addr, connections, duration),
        "hyper" => hyper_gen(addr, connections, duration, threads),
        other => return Err(format!("mode {other:?}: raw or hyper").into()),
    };
    let elapsed = start.elapsed().as_secs_f64();
    println!(
        "{mode}: {connections} connections{}, {done} requests in {elapsed:.2} s: {:.0} requests/s ({failed} failed)",
        if mode == "hyper" {
            format!(", {threads} runtime threads")
        } else {
            String::new()
        },
        done as f64 / elapsed
    );
    Ok(())
}
