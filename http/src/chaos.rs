//! A fault injector in front of the reference server: `wlcs serve --chaos FAULT`.
//!
//! The suite must end a run against a misbehaving target with a harness error (exit 2) that
//! names the step and the call, in bounded time, never with a pass, a hang or a panic. This
//! module makes the misbehaviour reproducible: a front listener forwards every connection,
//! one to one, to the real server (from the client's own source address, so client IPs still
//! work), and spoils the answers of every request after the first `after_requests` with one
//! [`Fault`]. `GET /wlcs/v1/capabilities` and `POST /wlcs/v1/reset` pass untouched (except
//! under [`Fault::LiarCapabilities`] and [`Fault::Dies`]), so a run gets past its setup and
//! fails inside a step.
//!
//! The front reads HTTP/1.1 messages itself (a head up to [`HEAD_BYTES_MAX`], then a
//! `Content-Length` body): the reference server never answers chunked, and the suite's client
//! never sends chunked. Everything it does is deterministic: no randomness, fixed bytes.

use crate::proto;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;

/// A request or response head longer than this ends the connection.
pub const HEAD_BYTES_MAX: usize = 64 * 1024;
/// A body longer than this ends the connection (the server's own limits are far lower).
pub const BODY_BYTES_MAX: usize = 16 * 1024 * 1024;
/// Requests of one connection at most; then the front closes it (clients reconnect).
pub const CONN_REQUESTS_MAX: u64 = 1_000_000;
/// [`Fault::Drip`]: one byte of the answer every this many milliseconds (a 200-byte answer
/// takes 50 s, far past the suite's 10 s call timeout).
pub const DRIP_INTERVAL_MS: u64 = 250;
/// [`Fault::Stall`]: how long the front keeps a stalled connection open at most, waiting for
/// its client to give up.
pub const STALL_MS_MAX: u64 = 600_000;
/// [`Fault::HugeHeader`]: the size of the extra header line (past hyper's 400 KiB head limit).
pub const HUGE_HEADER_BYTES: usize = 1024 * 1024;
/// [`Fault::ManySetCookie`]: how many `Set-Cookie` headers (past hyper's 100 headers).
pub const SET_COOKIE_HEADERS: usize = 10_000;
/// The bytes [`Fault::Garbage`] answers with: not HTTP, not UTF-8.
const GARBAGE: &[u8] = b"\x00\x01\xfe\xff\x7fNOT-HTTP\x00\x00\xc3\x28 wlcs chaos garbage\r\n\r\n";

/// One way for a target to misbehave.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    /// Bytes that are not HTTP at all, then the connection closes.
    Garbage,
    /// A well-formed `200` whose JSON body has the wrong shape.
    WrongShape,
    /// The answer's head, then half its body, then the connection closes.
    Truncated,
    /// The connection is reset (TCP RST) instead of an answer.
    Reset,
    /// No answer ever (the connection stays open until its client gives up).
    Stall,
    /// The right answer, one byte every [`DRIP_INTERVAL_MS`].
    Drip,
    /// The answer with a header line of [`HUGE_HEADER_BYTES`].
    HugeHeader,
    /// The answer with [`SET_COOKIE_HEADERS`] `Set-Cookie` headers.
    ManySetCookie,
    /// `500 Internal Server Error` with a text body, as a crashing application answers.
    Status5xx,
    /// After `after_requests` requests the server dies: it stops listening and drops every
    /// connection.
    Dies,
    /// The capabilities claim every optional feature; the endpoints they name answer `404`.
    LiarCapabilities,
}

impl Fault {
    /// Every fault, in the order of the CLI's list.
    pub const ALL: [Fault; 11] = [
        Fault::Garbage,
        Fault::WrongShape,
        Fault::Truncated,
        Fault::Reset,
        Fault::Stall,
        Fault::Drip,
        Fault::HugeHeader,
        Fault::ManySetCookie,
        Fault::Status5xx,
        Fault::Dies,
        Fault::LiarCapabilities,
    ];

    /// The CLI name (`wlcs serve --chaos NAME`).
    pub fn name(self) -> &'static str {
        match self {
            Fault::Garbage => "garbage",
            Fault::WrongShape => "wrong-shape",
            Fault::Truncated => "truncated",
            Fault::Reset => "reset",
            Fault::Stall => "stall",
            Fault::Drip => "drip",
            Fault::HugeHeader => "huge-header",
            Fault::ManySetCookie => "many-set-cookie",
            Fault::Status5xx => "5xx",
            Fault::Dies => "dies",
            Fault::LiarCapabilities => "liar-capabilities",
        }
    }

    /// What the fault does, in a line (the CLI's help for its name).
    pub fn description(self) -> &'static str {
        match self {
            Fault::Garbage => "bytes that are not HTTP, then the connection closes",
            Fault::WrongShape => "a 200 whose JSON has the wrong shape",
            Fault::Truncated => "half the body, then the connection closes",
            Fault::Reset => "the connection is reset instead of answered",
            Fault::Stall => "no answer, ever",
            Fault::Drip => "the answer one byte every 250 ms",
            Fault::HugeHeader => "a 1 MiB header line",
            Fault::ManySetCookie => "10 000 Set-Cookie headers",
            Fault::Status5xx => "500 with a text body",
            Fault::Dies => "the server dies after --chaos-after requests",
            Fault::LiarCapabilities => "the capabilities claim features whose endpoints answer 404",
        }
    }

    /// The fault of a CLI name.
    pub fn parse(name: &str) -> Option<Fault> {
        Fault::ALL.into_iter().find(|f| f.name() == name)
    }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What the injector does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChaosOptions {
    /// The fault.
    pub fault: Fault,
    /// Requests (of any endpoint, counted across connections) answered faithfully first.
    pub after_requests: u64,
}

/// The injector's shared state.
struct Front {
    backend: SocketAddr,
    opts: ChaosOptions,
    /// Requests read so far.
    requests: AtomicU64,
    /// Raised when [`Fault::Dies`] fires.
    dead: watch::Sender<bool>,
}

/// Serves the injector on `listener` until `stop`, forwarding to `backend`.
pub(super) async fn front(
    listener: TcpListener,
    backend: SocketAddr,
    opts: ChaosOptions,
    mut stop: watch::Receiver<bool>,
) {
    let (dead, mut dead_rx) = watch::channel(false);
    let front = Arc::new(Front {
        backend,
        opts,
        requests: AtomicU64::new(0),
        dead,
    });
    // Bounded by the stop signal (the server's lifetime) or the death of the server.
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = raised(&mut stop) => break,
            () = raised(&mut dead_rx) => break,
        };
        let front = front.clone();
        let mut stop = stop.clone();
        let mut dead = front.dead.subscribe();
        tokio::spawn(async move {
            tokio::select! {
                () = connection(&front, stream, peer) => {}
                () = raised(&mut stop) => {}
                () = raised(&mut dead) => {}
            }
        });
    }
    // Dropping the listener closes it: later connects are refused.
}

/// Resolves once the flag is raised (or its sender is gone, which means the same).
async fn raised(flag: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns must not live across an await: drop it here.
    let _ = flag.wait_for(|s| *s).await.map(|_| ());
}

/// A connection to the real server from the client's own address (so the server sees the
/// same client IP), or from any address when that cannot be bound.
async fn connect_backend(peer: IpAddr, backend: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    if socket.bind(SocketAddr::new(peer, 0)).is_err() {
        return TcpStream::connect(backend).await;
    }
    socket.connect(backend).await
}

/// One HTTP/1.1 message: its head (with the final blank line) and its body.
struct Message {
    head: Vec<u8>,
    body: Vec<u8>,
}

impl Message {
    /// The request line's target (`/wlcs/v1/web`), without its query.
    fn path(&self) -> &str {
        let line = self.head.split(|b| *b == b'\r').next().unwrap_or_default();
        let text = std::str::from_utf8(line).unwrap_or_default();
        let target = text.split(' ').nth(1).unwrap_or_default();
        target.split('?').next().unwrap_or_default()
    }

    fn bytes(&self) -> Vec<u8> {
        [self.head.as_slice(), self.body.as_slice()].concat()
    }
}

/// Reads one message from `stream` (`buf` keeps what was read past it). `None`: the peer
/// closed, or sent something the front does not forward (a head too long, a chunked body).
async fn read_message(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Message> {
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > HEAD_BYTES_MAX {
            return None;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head: Vec<u8> = buf.drain(..head_end).collect();
    let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
    if text.contains("transfer-encoding:") {
        return None;
    }
    let length = text
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    if length > BODY_BYTES_MAX {
        return None;
    }
    while buf.len() < length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body: Vec<u8> = buf.drain(..length).collect();
    Some(Message { head, body })
}

/// A whole response with this status line, JSON body and extra header lines.
fn response(status: &str, content_type: &str, body: &[u8], extra: &str) -> Vec<u8> {
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n{extra}\r\n",
        body.len()
    );
    [head.as_bytes(), body].concat()
}

/// The response with `extra` header lines inserted after its status line.
fn with_headers(resp: &Message, extra: &str) -> Vec<u8> {
    let status_end = resp
        .head
        .windows(2)
        .position(|w| w == b"\r\n")
        .map_or(resp.head.len(), |i| i + 2);
    [
        &resp.head[..status_end],
        extra.as_bytes(),
        &resp.head[status_end..],
        &resp.body,
    ]
    .concat()
}

/// The capabilities answer with every flag set and every optional feature claimed.
fn lie(resp: &Message) -> Vec<u8> {
    let mut caps: serde_json::Value =
        serde_json::from_slice(&resp.body).unwrap_or(serde_json::Value::Null);
    if let Some(obj) = caps.as_object_mut() {
        obj.insert(
            "features".into(),
            serde_json::json!([proto::FEATURE_OBSERVE, proto::FEATURE_HOOK_RUNS_PAGED]),
        );
        obj.insert(
            "capabilities".into(),
            serde_json::json!({"clock": true, "multi_ip": true, "mobile": true,
                "hook_faults": true, "in_flight": true, "options": true}),
        );
    }
    let body = serde_json::to_vec(&caps).unwrap_or_default();
    response("200 OK", proto::JSON_CONTENT_TYPE, &body, "")
}

/// Serves one client connection through the injector.
async fn connection(front: &Front, mut client: TcpStream, peer: SocketAddr) {
    let Ok(mut up) = connect_backend(peer.ip(), front.backend).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = up.set_nodelay(true);
    let (mut cbuf, mut ubuf) = (Vec::new(), Vec::new());
    let fault = front.opts.fault;
    for _ in 0..CONN_REQUESTS_MAX {
        let Some(request) = read_message(&mut client, &mut cbuf).await else {
            return;
        };
        let n = front.requests.fetch_add(1, Ordering::Relaxed);
        let due = n >= front.opts.after_requests;
        let path = request.path().to_string();
        if fault == Fault::Dies && due {
            front.dead.send_replace(true);
            return;
        }
        let liar_refuses = fault == Fault::LiarCapabilities
            && (path == proto::PATH_OBSERVE || path == proto::PATH_HOOK_RUNS_TAKE);
        if due && liar_refuses {
            let body = br#"{"error":{"code":"not_found","message":"no such endpoint (chaos: liar-capabilities)"}}"#;
            let out = response("404 Not Found", proto::JSON_CONTENT_TYPE, body, "");
            if client.write_all(&out).await.is_err() {
                return;
            }
            continue;
        }
        if up.write_all(&request.bytes()).await.is_err() {
            return;
        }
        let Some(answer) = read_message(&mut up, &mut ubuf).await else {
            return;
        };
        let exempt = path == proto::PATH_CAPABILITIES || path == proto::PATH_RESET;
        let out = if fault == Fault::LiarCapabilities && path == proto::PATH_CAPABILITIES {
            Spoiled::Send(lie(&answer))
        } else if !due || exempt || fault == Fault::LiarCapabilities {
            Spoiled::Send(answer.bytes())
        } else {
            spoil(fault, &answer, &mut client).await
        };
        match out {
            Spoiled::Send(out) => {
                if client.write_all(&out).await.is_err() {
                    return;
                }
            }
            Spoiled::Sent => {}
            Spoiled::Close => return,
        }
    }
}

/// What the injector does with one answer once its fault applies.
enum Spoiled {
    /// Send these bytes instead of the answer, and keep the connection.
    Send(Vec<u8>),
    /// Already sent (dripped); keep the connection.
    Sent,
    /// Close the connection (after whatever was written).
    Close,
}

/// Applies `fault` to `answer` on its way to `client`.
async fn spoil(fault: Fault, answer: &Message, client: &mut TcpStream) -> Spoiled {
    match fault {
        Fault::Garbage => {
            let _ = client.write_all(GARBAGE).await;
            Spoiled::Close
        }
        Fault::WrongShape => Spoiled::Send(response(
            "200 OK",
            proto::JSON_CONTENT_TYPE,
            br#"{"wrong":"shape","runs":7,"reads":"none"}"#,
            "",
        )),
        Fault::Truncated => {
            let mut cut = answer.head.clone();
            cut.extend_from_slice(&answer.body[..answer.body.len() / 2]);
            let _ = client.write_all(&cut).await;
            Spoiled::Close
        }
        Fault::Reset => {
            let _ = client.set_zero_linger();
            Spoiled::Close
        }
        Fault::Stall => {
            // Read (and ignore) until the client gives up.
            let mut sink = [0u8; 1024];
            let _ = tokio::time::timeout(Duration::from_millis(STALL_MS_MAX), async {
                while matches!(client.read(&mut sink).await, Ok(n) if n > 0) {}
            })
            .await;
            Spoiled::Close
        }
        Fault::Drip => {
            for byte in answer.bytes() {
                if client.write_all(&[byte]).await.is_err() {
                    return Spoiled::Close;
                }
                tokio::time::sleep(Duration::from_millis(DRIP_INTERVAL_MS)).await;
            }
            Spoiled::Sent
        }
        Fault::HugeHeader => {
            let line = format!("x-wlcs-chaos: {}\r\n", "a".repeat(HUGE_HEADER_BYTES));
            Spoiled::Send(with_headers(answer, &line))
        }
        Fault::ManySetCookie => {
            let lines: String = (0..SET_COOKIE_HEADERS)
                .map(|i| format!("set-cookie: chaos{i}=v{i}; Path=/\r\n"))
                .collect();
            Spoiled::Send(with_headers(answer, &lines))
        }
        Fault::Status5xx => Spoiled::Send(response(
            "500 Internal Server Error",
            "text/plain",
            b"chaos: the application crashed",
            "",
        )),
        Fault::Dies | Fault::LiarCapabilities => Spoiled::Send(answer.bytes()),
    }
}
