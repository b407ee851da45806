//! `wlcs bench`: close throughput of any server speaking HARNESS.md (protocol v1), over
//! loopback HTTP/1.1.
//!
//! The run goes in rounds. In each round the connections together open `sessions` sessions
//! (web requests without a cookie, each writing a realistic context: 4 process variables, a
//! 16-record selection, 2 locked records), then close all of them: every other session closes
//! itself (`close_current` in a web request carrying its cookie), the others are closed from a
//! non-web process (`close` with the ID). Between rounds one connection drains the hook log
//! (`hook-runs/take`), which also checks that every close ran its hook once (CLOSE-5).
//! Closes per second are closes over the wall time of the close phases only; the open phases
//! are reported on their own. Latencies go to one HDR histogram per connection and kind,
//! merged at the end.
//!
//! Design of the load generator: every connection is a task on a small tokio runtime
//! ([`BenchConfig::threads`] workers), with one keep-alive TCP stream speaking HTTP/1.1 by hand
//! (one `write` per request, reused buffers, Content-Length and chunked bodies). On a 2-core
//! machine the generator shares the cores with the server, so its cost per request matters:
//! an event loop wakes once for several ready connections where a thread per blocking
//! connection pays a context switch per request, and the hand-written exchange does less than
//! hyper's client (both measured in `reports/bench/README.md`).
//!
//! Bounds: the run stops opening sessions at `duration_ms`, finishes closing what it opened
//! within [`CLEANUP_MS_MAX`], and never runs more than [`ROUNDS_MAX`] rounds; every call has
//! a timeout; only loopback targets are accepted. Rendering ([`render_text`],
//! [`render_json`]) is pure; the CLI writes files.
//!
//! This file holds the configuration, the setup and [`run`]; `workload.rs` what every
//! connection sends (the rounds, their mix of closes, the shared phase clock), `exchange.rs`
//! the HTTP/1.1 exchange, `report.rs` the renderings.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Barrier;
use wlcs_http::proto;
use wlcs_model::vocab::WorldConfig;

mod exchange;
mod report;
mod workload;

use exchange::*;
pub use report::{render_json, render_text};
use workload::{Clock, Hists, Plan, Shared, WorkerOut, worker};

/// Default measurement time.
pub const DURATION_MS_DEFAULT: u64 = 5_000;
/// Longest measurement time accepted.
pub const DURATION_MS_MAX: u64 = 600_000;
/// Default number of connections.
pub const CONNECTIONS_DEFAULT: usize = 4;
/// Default number of generator threads (runtime workers) the connections share.
pub const THREADS_DEFAULT: usize = 2;
/// Most generator threads.
pub const THREADS_MAX: usize = 64;
/// Most connections accepted (the reference server serves 256 at once).
pub const CONNECTIONS_MAX: usize = 256;
/// Default sessions opened then closed per round, across all connections.
pub const SESSIONS_DEFAULT: usize = 2_000;
/// Most sessions per round: selector 18's maximum, which caps the live sessions (LIMIT-2).
pub const SESSIONS_MAX: usize = 32_000;
/// Rounds at most, whatever the duration.
pub const ROUNDS_MAX: u64 = 1_000_000;
/// Time allowed past the duration to close the sessions already opened.
pub const CLEANUP_MS_MAX: u64 = 10_000;
/// Timeout of one call (HARNESS.md gives every call 10 s).
pub const REQUEST_TIMEOUT_MS: u64 = 10_000;
/// Largest response head accepted.
const HEAD_BYTES_MAX: usize = 64 * 1024;
/// Largest response body accepted (a drained hook log of a big round is a few MiB).
const BODY_BYTES_MAX: usize = 256 * 1024 * 1024;
/// Reads of one response at most (each adds at least one byte; the byte limits come first).
const READS_PER_RESPONSE_MAX: usize = 1 << 20;
/// Chunks of one chunked body at most.
const CHUNKS_PER_BODY_MAX: usize = 1 << 20;

/// How sessions are closed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CloseKind {
    /// Every session closes itself in a web request (`close_current`).
    SelfClose,
    /// Every session is closed from a non-web process (`close` with its ID).
    NonWeb,
    /// Alternately, one of each (the default).
    #[default]
    Both,
}

impl CloseKind {
    /// Parses `self`, `non-web` or `both`.
    pub fn parse(text: &str) -> Option<CloseKind> {
        match text {
            "self" => Some(CloseKind::SelfClose),
            "non-web" => Some(CloseKind::NonWeb),
            "both" => Some(CloseKind::Both),
            _ => None,
        }
    }
}

/// What to run.
#[derive(Clone, Debug)]
pub struct BenchConfig {
    /// `http://HOST:PORT[/base]`, a loopback host.
    pub target: String,
    /// The measurement stops opening sessions after this.
    pub duration_ms: u64,
    /// Connections (keep-alive, one task each).
    pub connections: usize,
    /// Generator threads the connections share.
    pub threads: usize,
    /// Sessions opened then closed per round, across all connections.
    pub sessions: usize,
    /// How sessions are closed.
    pub close: CloseKind,
    /// Timeout of one call.
    pub request_timeout_ms: u64,
}

impl Default for BenchConfig {
    fn default() -> Self {
        BenchConfig {
            target: "http://127.0.0.1:8080".to_string(),
            duration_ms: DURATION_MS_DEFAULT,
            connections: CONNECTIONS_DEFAULT,
            threads: THREADS_DEFAULT,
            sessions: SESSIONS_DEFAULT,
            close: CloseKind::Both,
            request_timeout_ms: REQUEST_TIMEOUT_MS,
        }
    }
}

/// Latency percentiles of one kind of call, in microseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Calls measured.
    pub count: u64,
    /// Mean.
    pub mean_us: f64,
    /// Median.
    pub p50_us: f64,
    /// 90th percentile.
    pub p90_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// Largest.
    pub max_us: f64,
}

/// The outcome of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    /// The target URL.
    pub target: String,
    /// The name the server gave in its capabilities.
    pub server: String,
    /// Whether the server accepted WEB SET OPTION (the session limit raised to `sessions`).
    pub options: bool,
    /// Connections used.
    pub connections: usize,
    /// Generator threads used.
    pub threads: usize,
    /// Sessions opened then closed per round.
    pub sessions_per_round: usize,
    /// How sessions were closed.
    pub close: CloseKind,
    /// Rounds run.
    pub rounds: u64,
    /// Wall time of the whole run, setup excluded.
    pub elapsed_ms: f64,
    /// Sessions opened.
    pub opens: u64,
    /// Sessions closed (each one call that answered 200).
    pub closes: u64,
    /// Of which self-closes in a web request.
    pub self_closes: u64,
    /// Of which closes from a non-web process.
    pub non_web_closes: u64,
    /// Wall time of the open phases.
    pub open_phase_ms: f64,
    /// Wall time of the close phases.
    pub close_phase_ms: f64,
    /// Closes per second of close-phase wall time: the headline figure.
    pub closes_per_s: f64,
    /// Opens per second of open-phase wall time.
    pub opens_per_s: f64,
    /// Every HTTP call of the run (opens, closes, hook-log drains) per second of the run.
    pub requests_per_s: f64,
    /// Hook runs drained from the server.
    pub hook_runs: u64,
    /// Every close ran its hook exactly once (hook runs == closes).
    pub hooks_match: bool,
    /// Latency of every close.
    pub close_latency: Latency,
    /// Latency of self-closes.
    pub self_close_latency: Latency,
    /// Latency of non-web closes.
    pub non_web_close_latency: Latency,
    /// Latency of opens.
    pub open_latency: Latency,
    /// Why the run stopped: `duration` or `rounds`.
    pub stopped_by: String,
}

/// Why a run could not be done.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The configuration is outside the limits.
    #[error("invalid bench configuration: {0}")]
    Config(String),
    /// The target is not an `http://HOST:PORT` URL.
    #[error("invalid target {0:?}: expected http://HOST:PORT with a loopback host")]
    Url(String),
    /// The target is not a loopback address.
    #[error("refusing to load {0}: `wlcs bench` targets loopback addresses only")]
    NotLoopback(String),
    /// The server could not be reached or broke the connection.
    #[error("{what}: {message}")]
    Transport {
        /// The call.
        what: String,
        /// What happened.
        message: String,
    },
    /// The server answered outside the protocol, or refused a call.
    #[error("{what}: {message}")]
    Protocol {
        /// The call.
        what: String,
        /// What came back.
        message: String,
    },
}

fn transport(what: &str, e: impl std::fmt::Display) -> BenchError {
    BenchError::Transport {
        what: what.to_string(),
        message: e.to_string(),
    }
}

fn protocol(what: &str, message: impl Into<String>) -> BenchError {
    BenchError::Protocol {
        what: what.to_string(),
        message: message.into(),
    }
}

/// A parsed target: where to connect, what `Host` to send, and the base path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The loopback socket address.
    pub addr: SocketAddr,
    /// The `Host` header.
    pub host: String,
    /// The path prefix before `/wlcs/v1/...` (empty or starting with `/`, no trailing `/`).
    pub base: String,
}

/// Parses `http://HOST:PORT[/base]` and refuses hosts that are not loopback.
pub fn parse_target(url: &str) -> Result<Target, BenchError> {
    let bad = || BenchError::Url(url.to_string());
    let rest = url.strip_prefix("http://").ok_or_else(bad)?;
    let (authority, base) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
        None => (rest, ""),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(bad());
    }
    let addrs: Vec<SocketAddr> = authority.to_socket_addrs().map_err(|_| bad())?.collect();
    let Some(addr) = addrs.first().copied() else {
        return Err(bad());
    };
    if !addrs.iter().all(|a| is_loopback(a.ip())) {
        return Err(BenchError::NotLoopback(url.to_string()));
    }
    Ok(Target {
        addr,
        host: authority.to_string(),
        base: base.to_string(),
    })
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v| v.is_loopback()),
    }
}

// ---------------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------------

/// The latency figures of a histogram of nanoseconds, in microseconds.
fn latency(h: &Histogram<u64>) -> Latency {
    let us = |ns: u64| ns as f64 / 1_000.0;
    if h.is_empty() {
        return Latency::default();
    }
    Latency {
        count: h.len(),
        mean_us: h.mean() / 1_000.0,
        p50_us: us(h.value_at_quantile(0.50)),
        p90_us: us(h.value_at_quantile(0.90)),
        p99_us: us(h.value_at_quantile(0.99)),
        p999_us: us(h.value_at_quantile(0.999)),
        max_us: us(h.max()),
    }
}

fn check(cfg: &BenchConfig) -> Result<(), BenchError> {
    if cfg.connections == 0 || cfg.connections > CONNECTIONS_MAX {
        return Err(BenchError::Config(format!(
            "connections must be 1..={CONNECTIONS_MAX}, got {}",
            cfg.connections
        )));
    }
    if cfg.threads == 0 || cfg.threads > THREADS_MAX {
        return Err(BenchError::Config(format!(
            "threads must be 1..={THREADS_MAX}, got {}",
            cfg.threads
        )));
    }
    if cfg.sessions == 0 || cfg.sessions > SESSIONS_MAX {
        return Err(BenchError::Config(format!(
            "sessions must be 1..={SESSIONS_MAX} (selector 18 caps live sessions at 32000), got {}",
            cfg.sessions
        )));
    }
    if cfg.duration_ms == 0 || cfg.duration_ms > DURATION_MS_MAX {
        return Err(BenchError::Config(format!(
            "duration must be 1..={DURATION_MS_MAX} ms, got {}",
            cfg.duration_ms
        )));
    }
    Ok(())
}

/// Runs the benchmark against `cfg.target`. Blocks the calling thread (which must not be inside
/// an async runtime) until the run ends: at most the duration plus [`CLEANUP_MS_MAX`] plus the
/// setup calls.
pub fn run(cfg: &BenchConfig) -> Result<BenchReport, BenchError> {
    check(cfg)?;
    let target = parse_target(&cfg.target)?;
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(BenchError::Config(
            "wlcs::bench::run must be called outside an async runtime".into(),
        ));
    }
    let mut builder = if cfg.threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(cfg.threads);
        b
    };
    let runtime = builder
        .enable_io()
        .enable_time()
        .thread_name("wlcs-bench")
        .build()
        .map_err(|e| BenchError::Config(format!("cannot start the generator's runtime: {e}")))?;
    runtime.block_on(run_async(cfg.clone(), target))
}

/// The setup, the workers' rounds, and the report of their merged counts and histograms.
async fn run_async(cfg: BenchConfig, target: Target) -> Result<BenchReport, BenchError> {
    let timeout = Duration::from_millis(cfg.request_timeout_ms.max(1));
    let caps = setup(&cfg, &target, timeout).await?;
    let start = Instant::now();
    let deadline = start + Duration::from_millis(cfg.duration_ms);
    let plan = Arc::new(Plan {
        target,
        timeout,
        deadline,
        hard_deadline: deadline + Duration::from_millis(CLEANUP_MS_MAX),
        shared: Shared {
            stop: AtomicBool::new(false),
            error: Mutex::new(None),
            clock: Mutex::new(Clock {
                stopped_by: "duration",
                ..Clock::default()
            }),
        },
        barrier: Barrier::new(cfg.connections),
        cfg: cfg.clone(),
    });
    let tasks: Vec<_> = (0..cfg.connections)
        .map(|w| tokio::spawn(worker(w, plan.clone())))
        .collect();
    let mut outs = Vec::with_capacity(tasks.len());
    for task in tasks {
        outs.push(
            task.await.unwrap_or_else(|e| {
                Err(BenchError::Config(format!("a generator task failed: {e}")))
            }),
        );
    }
    let elapsed = start.elapsed();
    if let Some(e) = plan
        .shared
        .error
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
    {
        return Err(e);
    }
    let totals = Totals::of(outs)?;
    let clock = plan.shared.clock();
    totals.report(&cfg, caps, &clock, elapsed)
}

/// Setup on a connection of its own: the capabilities (protocol v1), an empty world, the
/// session limit raised when the server takes options, the hook log emptied. Returns the
/// capabilities.
async fn setup(
    cfg: &BenchConfig,
    target: &Target,
    timeout: Duration,
) -> Result<proto::CapabilitiesV1, BenchError> {
    let mut control = Conn::new(target, timeout);
    let caps_body = control
        .ok("capabilities", "GET", proto::PATH_CAPABILITIES, None, b"")
        .await?;
    let caps: proto::CapabilitiesV1 = serde_json::from_slice(caps_body)
        .map_err(|e| protocol("capabilities", format!("malformed answer: {e}")))?;
    if caps.protocol != proto::PROTOCOL_VERSION {
        return Err(protocol(
            "capabilities",
            format!(
                "protocol {} (wlcs speaks {})",
                caps.protocol,
                proto::PROTOCOL_VERSION
            ),
        ));
    }
    let world = serde_json::to_vec(&proto::ResetV1::from(&WorldConfig::default()))
        .map_err(|e| BenchError::Config(format!("world: {e}")))?;
    control
        .ok("reset", "POST", proto::PATH_RESET, None, &world)
        .await?;
    if caps.capabilities.options {
        let limit = cfg.sessions.max(10);
        let max_processes = proto::OptionV1::MaxProcesses(SESSIONS_MAX as u32);
        set_option(&mut control, "option max_processes", &max_processes).await?;
        let max_sessions = proto::OptionV1::MaxSessions(limit as u32);
        set_option(&mut control, "option max_sessions", &max_sessions).await?;
    }
    control.take_hook_runs().await?;
    Ok(caps)
}

/// Sets one option (WEB SET OPTION) on the control connection; `what` names the call.
async fn set_option(
    control: &mut Conn,
    what: &str,
    option: &proto::OptionV1,
) -> Result<(), BenchError> {
    let body =
        serde_json::to_vec(option).map_err(|e| BenchError::Config(format!("option: {e}")))?;
    control
        .ok(what, "POST", proto::PATH_OPTION, None, &body)
        .await?;
    Ok(())
}

/// The workers' counts added up and their histograms merged.
struct Totals {
    hists: Hists,
    opens: u64,
    self_closes: u64,
    non_web_closes: u64,
}

impl Totals {
    /// Adds up every worker's outcome (the first failed worker's error, if any).
    fn of(outs: Vec<Result<WorkerOut, BenchError>>) -> Result<Totals, BenchError> {
        let mut t = Totals {
            hists: Hists::new()?,
            opens: 0,
            self_closes: 0,
            non_web_closes: 0,
        };
        for out in outs {
            let out = out?;
            t.opens += out.opens;
            t.self_closes += out.self_closes;
            t.non_web_closes += out.non_web_closes;
            merge_hist(&mut t.hists.open, &out.hists.open)?;
            merge_hist(&mut t.hists.self_close, &out.hists.self_close)?;
            merge_hist(&mut t.hists.non_web, &out.hists.non_web)?;
        }
        Ok(t)
    }

    /// The report of the run: the totals with the phase clock, over `elapsed`.
    fn report(
        &self,
        cfg: &BenchConfig,
        caps: proto::CapabilitiesV1,
        clock: &Clock,
        elapsed: Duration,
    ) -> Result<BenchReport, BenchError> {
        let mut all_closes = self.hists.self_close.clone();
        merge_hist(&mut all_closes, &self.hists.non_web)?;
        let closes = self.self_closes + self.non_web_closes;
        let per_s = |n: u64, d: Duration| {
            let s = d.as_secs_f64();
            if s > 0.0 { n as f64 / s } else { 0.0 }
        };
        Ok(BenchReport {
            target: cfg.target.clone(),
            server: caps.name,
            options: caps.capabilities.options,
            connections: cfg.connections,
            threads: cfg.threads,
            sessions_per_round: cfg.sessions,
            close: cfg.close,
            rounds: clock.rounds,
            elapsed_ms: elapsed.as_secs_f64() * 1e3,
            opens: self.opens,
            closes,
            self_closes: self.self_closes,
            non_web_closes: self.non_web_closes,
            open_phase_ms: clock.open_phase.as_secs_f64() * 1e3,
            close_phase_ms: clock.close_phase.as_secs_f64() * 1e3,
            closes_per_s: per_s(closes, clock.close_phase),
            opens_per_s: per_s(self.opens, clock.open_phase),
            requests_per_s: per_s(self.opens + closes + clock.extra_requests, elapsed),
            hook_runs: clock.hook_runs,
            hooks_match: clock.hook_runs == closes,
            close_latency: latency(&all_closes),
            self_close_latency: latency(&self.hists.self_close),
            non_web_close_latency: latency(&self.hists.non_web),
            open_latency: latency(&self.hists.open),
            stopped_by: clock.stopped_by.to_string(),
        })
    }
}

/// Adds histogram `b` into `a`.
fn merge_hist(a: &mut Histogram<u64>, b: &Histogram<u64>) -> Result<(), BenchError> {
    a.add(b)
        .map_err(|e| BenchError::Config(format!("histogram merge: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_must_be_loopback() {
        assert!(parse_target("http://127.0.0.1:8080").is_ok());
        assert!(parse_target("http://127.0.0.2:8080/base/").is_ok_and(|t| t.base == "/base"));
        assert!(parse_target("http://[::1]:8080").is_ok());
        assert!(matches!(
            parse_target("http://10.0.0.1:8080"),
            Err(BenchError::NotLoopback(_))
        ));
        assert!(matches!(
            parse_target("https://127.0.0.1:8080"),
            Err(BenchError::Url(_))
        ));
        assert!(matches!(
            parse_target("http://127.0.0.1"),
            Err(BenchError::Url(_))
        ));
    }

    #[test]
    fn heads_parse() {
        let h =
            parse_head(b"HTTP/1.1 200 OK\r\ncontent-length: 12\r\nset-cookie: A=B; Path=/\r\n\r\n");
        assert!(h.is_ok_and(|h| h.status == 200
            && matches!(h.length, BodyLength::Exact(12))
            && !h.close
            && h.set_cookie.as_deref() == Some("A=B")));
        let h = parse_head(
            b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        );
        assert!(
            h.is_ok_and(|h| h.status == 404 && matches!(h.length, BodyLength::Chunked) && h.close)
        );
    }

    #[test]
    fn chunked_bodies_decode() {
        let mut wire: &[u8] = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT";
        let mut pending = Vec::new();
        let mut body = Vec::new();
        let end = tokio::runtime::Builder::new_current_thread()
            .build()
            .ok()
            .and_then(|rt| {
                rt.block_on(read_chunked(&mut wire, &mut pending, &mut body))
                    .ok()
            });
        assert_eq!(body, b"hello world");
        assert_eq!(end.map(|e| &pending[e..]), Some(&b"NEXT"[..]));
    }
}
