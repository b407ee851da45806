//! A minimal hyper hello-world server, the ceiling `wlcs serve` is compared with (issue 6):
//! the same runtime shape as the reference server (tokio, 2 worker threads, HTTP/1.1
//! keep-alive, `TCP_NODELAY`), and every request answered 200 with one static JSON body after
//! its body is read.
//!
//! The body is a valid answer of every HARNESS.md endpoint at once (both sides ignore fields
//! they do not know): capabilities (`protocol`, `name`, `capabilities`), `ok`, a web result
//! (`session_id`, `reads`) and a hook log (`runs`), so `wlcs bench` and wrk can drive it with
//! exactly the requests they send to `wlcs serve`.
//!
//! ```text
//! cargo run --release --example hello_server -- 127.0.0.1:8090
//! ```

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::SocketAddr;

/// The one answer.
const BODY: &str = concat!(
    r#"{"protocol":1,"name":"hello","capabilities":{"clock":false,"multi_ip":false,"#,
    r#""mobile":false,"hook_faults":false,"in_flight":false,"options":false},"ok":true,"#,
    r#""session_id":"48454C4C4F574F524C44000000000000","reads":[{"kind":"done"}],"runs":[]}"#
);
/// Runtime worker threads, as `wlcs serve`.
const WORKER_THREADS: usize = 2;

async fn hello(req: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    // Read the request body, as any server handling a POST does.
    let _ = req.into_body().collect().await;
    let mut resp = Response::new(Full::new(Bytes::from_static(BODY.as_bytes())));
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8090".to_string())
        .parse()?;
    if !addr.ip().is_loopback() {
        return Err(format!("{addr}: loopback addresses only").into());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKER_THREADS)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        eprintln!(
            "hello_server: listening on http://{}",
            listener.local_addr()?
        );
        // The server's lifetime: until the process is killed.
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let _ = http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), service_fn(hello))
                    .await;
            });
        }
    })
}
