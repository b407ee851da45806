//! The reference server: any [`Sut`] behind HARNESS.md (protocol v1) over real HTTP/1.1.
//!
//! Web requests are real requests: the session cookie comes from the `Cookie` header under the
//! current selector-73 name, the client IP from the TCP peer address (127.0.0.1 is IP 0,
//! 127.0.0.2 is IP 1, ...), and the implementation's `Set-Cookie` headers go out as real
//! headers. A request with `X-WLCS-Slot: N` is held open: the server begins it, publishes the
//! begin's result on `GET /wlcs/v1/slots/N`, and answers it when `POST /wlcs/v1/slots/N/end`
//! arrives.
//!
//! Design:
//! - axum routes on hyper's HTTP/1.1 connection driver, with our own accept loop so that
//!   connections are counted (a semaphore), header reads time out, and shutdown is graceful.
//! - It cannot be locked out (HARNESS.md "Connections and limits"): a connection waiting for a
//!   request head (idle keep-alive, or a head arriving slowly) is closed after
//!   [`HEADER_READ_TIMEOUT_MS`]; when every connection permit is taken, a new connection
//!   evicts the oldest connection that has no request in progress; held requests (at most
//!   [`SLOTS`]) can never take the [`CONNECTIONS_RESERVED`] permits kept for control calls.
//! - The implementation is synchronous: a call runs inline on the reactor thread
//!   ([`CallMode::Inline`], for an in-process implementation whose calls take microseconds) or
//!   on tokio's blocking pool under a timeout ([`CallMode::Blocking`], for one that may block);
//!   either way a panic becomes a `panic` error answer, never a dead server.
//! - Hook-run logs of any size cross in pages (the optional `hook_runs_paged` feature).
//! - Every answer that is not a web outcome is a JSON error with a stable code (HARNESS.md).

use crate::proto::{
    self, ActionsV1, AdvanceV1, CapabilitiesV1, EndedV1, ErrorBodyV1, ErrorV1, HookRunV1,
    HookRunsV1, HookV1, IpvarsV1, LocksV1, NonWebV1, ObserveV1, ObservedV1, OkV1, OptionV1,
    ReadsV1, ResetV1, SlotStateV1, SlotV1, WebResultV1, WorldsV1, codes,
};
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{ConnectInfo, Path, RawQuery, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use http::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use http::{HeaderMap, HeaderValue, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::runtime::Runtime;
use tokio::sync::{Notify, Semaphore, oneshot, watch};
use tokio::task::JoinHandle;
use tower::ServiceExt;
use wlcs_model::vocab::{Ip, OptionSet, Slot, WorldConfig};
use wlcs_plugin::{Begun, Response as WireResponse, Sut, SutError, WireHookRun, WireRequest};

/// How long a connection may wait for a complete request head: both an idle keep-alive
/// connection (its next head) and a head arriving slowly (slowloris). The suite's own client
/// drops idle connections after 2 s, so this never cuts it off; a legitimate head arrives in
/// one packet.
pub const HEADER_READ_TIMEOUT_MS: u64 = 5_000;
/// How long a request body may take to arrive once its head has: the suite's bodies are at
/// most a few KiB, sent at once.
pub const BODY_READ_TIMEOUT_MS: u64 = 5_000;
/// Open connections at most (each is a file descriptor and a task). Beyond it a new connection
/// evicts the oldest one without a request in progress, so idle and half-open connections
/// never starve new clients. 1 024 stays under the common soft file-descriptor limit.
pub const CONNECTIONS_MAX: usize = 1_024;
/// Held requests at most: one per slot number (0..=255).
pub const SLOTS: usize = 256;
/// Connection permits that held requests can never take: held requests are at most [`SLOTS`]
/// (a begin in a busy slot is refused at once) and `connections_max` is at least `SLOTS` plus
/// this, so with every slot holding a request, control calls (the `end` that frees them) still
/// get a connection at once.
pub const CONNECTIONS_RESERVED: usize = 64;
/// Pending connections the kernel queues while the accept loop catches up: a burst of a
/// thousand connects must not overflow into SYN retries (1 s each).
pub const LISTEN_BACKLOG: u32 = 1_024;
/// Worlds one server hosts at most ([`serve_worlds`]): each is a whole reference world (a few
/// KiB empty) with its own 256 slots, and the connection limit grows by [`SLOTS`] per world.
pub const WORLDS_MAX: usize = 16;
/// A page of hook runs is cut before it exceeds this many bytes of JSON (it always holds at
/// least one run): far under the suite's 4 MiB answer limit.
pub const HOOK_RUNS_PAGE_BYTES_MAX: usize = 1024 * 1024;

/// Where the implementation's calls run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CallMode {
    /// On tokio's blocking pool, under the request timeout: for an implementation that may
    /// block (an adapter to another process). Every call hops threads.
    #[default]
    Blocking,
    /// Inline on the reactor thread that received the request: for an in-process
    /// implementation whose calls take microseconds (the reference). No thread hop, no timeout
    /// (a call cannot be preempted), panics still caught.
    Inline,
}

/// Limits and timeouts of a server.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// A request body larger than this gets 413.
    pub body_bytes_max: usize,
    /// A control request, or a web request's begin, that takes longer gets 504.
    pub request_timeout_ms: u64,
    /// A held (`X-WLCS-Slot`) request whose `end` does not come within this is ended by the
    /// server, with no end actions, and answered 504.
    pub hold_timeout_ms: u64,
    /// The longest `wait_ms` a slot poll may ask for.
    pub long_poll_ms_max: u64,
    /// A connection that does not send a complete request head within this is closed
    /// (idle keep-alive connections included). See [`HEADER_READ_TIMEOUT_MS`].
    pub header_read_timeout_ms: u64,
    /// A request body that does not arrive within this gets 408. See [`BODY_READ_TIMEOUT_MS`].
    pub body_read_timeout_ms: u64,
    /// Open connections at most; beyond it the oldest connection without a request in progress
    /// is closed. At least [`SLOTS`] + [`CONNECTIONS_RESERVED`] (a smaller value is raised).
    pub connections_max: usize,
    /// Runtime worker threads.
    pub worker_threads: usize,
    /// How long `shutdown` waits for open connections to finish.
    pub shutdown_grace_ms: u64,
    /// Where the implementation's calls run.
    pub calls: CallMode,
    /// A slot whose request was answered at once stays `answered` until a poll reports it, and
    /// a begin in it is refused with `422 unsupported` until then (HARNESS.md allows a server
    /// this; the reference overwrites it). Tests use it to prove the suite always polls.
    pub strict_slots: bool,
    /// Serve behind a fault injector (`wlcs serve --chaos`): every answer after the first
    /// [`crate::chaos::ChaosOptions::after_requests`] suffers the fault.
    pub chaos: Option<crate::chaos::ChaosOptions>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            body_bytes_max: 64 * 1024,
            request_timeout_ms: 10_000,
            hold_timeout_ms: 120_000,
            long_poll_ms_max: 5_000,
            header_read_timeout_ms: HEADER_READ_TIMEOUT_MS,
            body_read_timeout_ms: BODY_READ_TIMEOUT_MS,
            connections_max: CONNECTIONS_MAX,
            worker_threads: 2,
            shutdown_grace_ms: 5_000,
            calls: CallMode::default(),
            strict_slots: false,
            chaos: None,
        }
    }
}

/// Why a server could not start or stop.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The address is not in 127.0.0.0/8.
    #[error("refusing to bind {0}: the wlcs server binds loopback addresses (127.0.0.0/8) only")]
    NotLoopback(SocketAddr),
    /// The async runtime could not start.
    #[error("cannot start the server's runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// The address could not be bound.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Open connections did not finish within the grace period.
    #[error("the server did not stop within {0} ms; remaining connections were dropped")]
    ShutdownTimedOut(u64),
    /// `shutdown` or `wait` was called from inside an async runtime.
    #[error("{0} must be called from a thread outside any async runtime")]
    InsideRuntime(&'static str),
    /// [`serve_worlds`] got no implementation, or more than [`WORLDS_MAX`].
    #[error("a server hosts 1..={WORLDS_MAX} worlds, not {0}")]
    Worlds(usize),
    /// The implementation does not name its session cookie ([`Sut::session_cookie_name`]),
    /// so the server cannot tell which cookie of a request is the session's.
    #[error("cannot serve the implementation: {0}")]
    Unservable(#[source] SutError),
}

/// A running server. Dropping it stops the server without waiting.
pub struct ServerHandle {
    local_addr: SocketAddr,
    runtime: Option<Runtime>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
    net: Arc<Net>,
    worlds: Vec<Arc<App>>,
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

impl ServerHandle {
    /// The bound address (with the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// HTTP requests received so far (every endpoint), for throughput figures.
    pub fn requests_served(&self) -> u64 {
        self.net.requests.load(Ordering::Relaxed)
    }

    /// TCP connections accepted so far (keep-alive makes this far smaller than the requests).
    pub fn connections_accepted(&self) -> u64 {
        self.net.connections.load(Ordering::Relaxed)
    }

    /// `http://ADDR`, what [`crate::HttpSut::connect`] takes: world 0.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.local_addr)
    }

    /// The worlds this server hosts ([`serve_worlds`]; 1 for [`serve`]).
    pub fn worlds(&self) -> usize {
        self.worlds.len()
    }

    /// Answers every held request of every world with `why`.
    fn abort_all(&self, why: &'static str) {
        for world in &self.worlds {
            world.abort_all(why);
        }
    }

    /// Stops accepting, answers held requests with `shutting_down`, lets open connections
    /// finish (at most [`ServeOptions::shutdown_grace_ms`]) and stops the runtime.
    pub fn shutdown(mut self) -> Result<(), ServeError> {
        self.stop_now()
    }

    /// Blocks until the server stops (it stops only when its process ends: the CLI's
    /// `wlcs serve`).
    pub fn wait(mut self) -> Result<(), ServeError> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(ServeError::InsideRuntime("ServerHandle::wait"));
        }
        if let (Some(rt), Some(task)) = (self.runtime.as_ref(), self.task.take()) {
            // The accept loop only ends on a stop signal; its result carries nothing.
            let _ = rt.block_on(task);
        }
        self.stop_now()
    }

    fn stop_now(&mut self) -> Result<(), ServeError> {
        self.stop.send_replace(true);
        self.abort_all("the server is shutting down");
        let Some(rt) = self.runtime.take() else {
            return Ok(());
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            rt.shutdown_background();
            return Err(ServeError::InsideRuntime("ServerHandle::shutdown"));
        }
        let grace_ms = self.net.opts.shutdown_grace_ms;
        let grace = Duration::from_millis(grace_ms);
        let task = self.task.take();
        let conns = self.net.conns.clone();
        let all = u32::try_from(self.net.opts.connections_max).unwrap_or(u32::MAX);
        let finished = rt.block_on(async move {
            tokio::time::timeout(grace, async move {
                if let Some(task) = task {
                    let _ = task.await;
                }
                // Every connection task holds a permit: all of them back means all closed.
                let _ = conns.acquire_many(all).await;
            })
            .await
            .is_ok()
        });
        rt.shutdown_timeout(grace);
        if finished {
            Ok(())
        } else {
            Err(ServeError::ShutdownTimedOut(grace_ms))
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.stop.send_replace(true);
        self.abort_all("the server is shutting down");
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Starts a server for `sut` on `addr` (a 127.0.0.0/8 address; port 0 picks a free port) and
/// returns at once. The server runs on its own threads until the handle is shut down or
/// dropped.
pub fn serve(
    addr: SocketAddr,
    sut: Arc<dyn Sut>,
    opts: ServeOptions,
) -> Result<ServerHandle, ServeError> {
    serve_worlds(addr, vec![sut], opts)
}

/// [`serve`] for several independent worlds (HARNESS.md "Worlds"): world `k` is served under
/// the base URL `http://ADDR/worlds/k` and world 0 also at `http://ADDR`; each has its own
/// implementation (`suts[k]`: its sessions, clock, options, hook log), slots and paged runs.
/// Connections and their limits are shared. At most [`WORLDS_MAX`] worlds; none is an error.
pub fn serve_worlds(
    addr: SocketAddr,
    suts: Vec<Arc<dyn Sut>>,
    mut opts: ServeOptions,
) -> Result<ServerHandle, ServeError> {
    if suts.is_empty() || suts.len() > WORLDS_MAX {
        return Err(ServeError::Worlds(suts.len()));
    }
    let loopback = matches!(addr.ip(), IpAddr::V4(v4) if v4.octets()[0] == 127);
    if !loopback {
        return Err(ServeError::NotLoopback(addr));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(opts.worker_threads.max(1))
        .thread_name("wlcs-http-server")
        .enable_io()
        .enable_time()
        .build()
        .map_err(ServeError::Runtime)?;
    // Every world's slots can hold a request and control calls still get a connection.
    opts.connections_max = opts
        .connections_max
        .max(SLOTS * suts.len() + CONNECTIONS_RESERVED);
    let (stop, stop_rx) = watch::channel(false);
    let worlds = worlds(suts, &opts, &stop_rx)?;
    let bound = bind(&runtime, addr, opts.chaos.is_some())?;
    let net = Arc::new(Net {
        conns: Arc::new(Semaphore::new(opts.connections_max)),
        open: Mutex::new(BTreeMap::new()),
        next_conn: AtomicU64::new(0),
        evictions: AtomicU64::new(0),
        requests: AtomicU64::new(0),
        connections: AtomicU64::new(0),
        opts,
    });
    let router = worlds_router(&worlds);
    if let (Some(front), Some(chaos)) = (bound.front, net.opts.chaos) {
        runtime.spawn(crate::chaos::front(
            front,
            bound.inner_local,
            chaos,
            stop_rx.clone(),
        ));
    }
    let accept = accept_loop(bound.listener, router, net.clone(), stop_rx);
    let task = runtime.spawn(accept);
    Ok(ServerHandle {
        local_addr: bound.local_addr,
        runtime: Some(runtime),
        stop,
        task: Some(task),
        net,
        worlds,
    })
}

/// One [`App`] per implementation. Each implementation names its cookie (selector 73 is its
/// to interpret): asked once here, then after every reset and option, inside the same call.
fn worlds(
    suts: Vec<Arc<dyn Sut>>,
    opts: &ServeOptions,
    stop: &watch::Receiver<bool>,
) -> Result<Vec<Arc<App>>, ServeError> {
    let count = suts.len();
    suts.into_iter()
        .enumerate()
        .map(|(world, sut)| {
            let name: Arc<str> = sut
                .session_cookie_name()
                .map_err(ServeError::Unservable)?
                .into();
            Ok(Arc::new(App {
                sut,
                pending_runs: Mutex::new(VecDeque::new()),
                opts: opts.clone(),
                cookie_name: Mutex::new(name),
                slots: Mutex::new(HashMap::new()),
                slots_changed: watch::channel(0u64).0,
                stop: stop.clone(),
                world,
                worlds: count,
            }))
        })
        .collect()
}

/// The sockets of a server: the one it serves on and, behind a fault injector, the front one
/// the injector listens on (the address asked for; the server then takes a free port).
struct Bound {
    listener: tokio::net::TcpListener,
    inner_local: SocketAddr,
    front: Option<tokio::net::TcpListener>,
    /// The address clients use: the front's when there is one.
    local_addr: SocketAddr,
}

fn bind(runtime: &Runtime, addr: SocketAddr, chaos: bool) -> Result<Bound, ServeError> {
    let _entered = runtime.enter();
    let bound_at = |l: &tokio::net::TcpListener| {
        l.local_addr()
            .map_err(|source| ServeError::Bind { addr, source })
    };
    let inner_addr = if chaos {
        SocketAddr::new(addr.ip(), 0)
    } else {
        addr
    };
    let listener = listen(inner_addr)?;
    let inner_local = bound_at(&listener)?;
    let front = if chaos { Some(listen(addr)?) } else { None };
    let local_addr = match &front {
        Some(l) => bound_at(l)?,
        None => inner_local,
    };
    Ok(Bound {
        listener,
        inner_local,
        front,
        local_addr,
    })
}

/// A listening socket on `addr` with a backlog of [`LISTEN_BACKLOG`] (the standard library's
/// default of 128 overflows under a burst of connects).
fn listen(addr: SocketAddr) -> Result<tokio::net::TcpListener, ServeError> {
    let bind_err = |source| ServeError::Bind { addr, source };
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
    }
    .map_err(bind_err)?;
    socket.set_reuseaddr(true).map_err(bind_err)?;
    socket.bind(addr).map_err(bind_err)?;
    socket.listen(LISTEN_BACKLOG).map_err(bind_err)
}

/// Starts a server of one world per implementation (as [`serve_worlds`]), tells `on_bound`
/// the bound address, then serves until the process ends. This is `wlcs serve`.
pub fn serve_blocking(
    addr: SocketAddr,
    suts: Vec<Arc<dyn Sut>>,
    opts: ServeOptions,
    on_bound: impl FnOnce(SocketAddr),
) -> Result<(), ServeError> {
    let handle = serve_worlds(addr, suts, opts)?;
    on_bound(handle.local_addr());
    handle.wait()
}

/// The client IP index of a peer address: 127.0.0.1 is 0, 127.0.0.2 is 1, ... 127.0.1.0 is
/// 255; anything else has none.
pub fn ip_index(addr: IpAddr) -> Option<Ip> {
    let v4 = match addr {
        IpAddr::V4(v4) => v4,
        IpAddr::V6(v6) => v6.to_ipv4_mapped()?,
    };
    let n = u32::from(v4).checked_sub(u32::from(Ipv4Addr::new(127, 0, 0, 1)))?;
    Ip::try_from(n).ok()
}

// ---------------------------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------------------------

/// What a held request's handler receives.
enum Reply {
    /// `end` ran: the response to send, or why the implementation failed.
    Ended(Result<WireResponse, SutError>),
    /// The request is abandoned (reset, shutdown).
    Aborted(&'static str),
}

/// A slot, as the poll endpoint sees it.
enum SlotEntry {
    /// A request runs in it; its handler waits on `reply`.
    Running {
        session_id: String,
        reads: Vec<wlcs_plugin::WireRead>,
        reply: oneshot::Sender<Reply>,
    },
    /// Its request was answered at once; reported to one poll, then forgotten.
    Answered,
}

/// An open connection, as the accept loop sees it.
struct OpenConn {
    /// Requests of the connection in progress (read, not yet answered).
    busy: Arc<AtomicU64>,
    /// Closes the connection (eviction).
    evict: Arc<Notify>,
}

/// What the worlds of one server share: its connections, their limits and counters.
struct Net {
    opts: ServeOptions,
    /// One permit per open connection.
    conns: Arc<Semaphore>,
    /// Open connections by accept order (the oldest first), for eviction.
    open: Mutex<BTreeMap<u64, OpenConn>>,
    /// Accept order of the next connection.
    next_conn: AtomicU64,
    /// Connections closed to make room for a new one.
    evictions: AtomicU64,
    /// HTTP requests received.
    requests: AtomicU64,
    /// TCP connections accepted.
    connections: AtomicU64,
}

/// One world of a server: the implementation and what the protocol keeps beside it.
struct App {
    sut: Arc<dyn Sut>,
    opts: ServeOptions,
    /// This world's number (its base URL is `/worlds/{world}`) and how many the server hosts.
    world: usize,
    worlds: usize,
    /// Hook runs taken from the implementation but not yet sent (paged takes).
    pending_runs: Mutex<VecDeque<WireHookRun>>,
    /// The session cookie's name as the implementation last gave it
    /// ([`Sut::session_cookie_name`], asked after every reset and option): the server reads
    /// the cookie of this name from each web request.
    cookie_name: Mutex<Arc<str>>,
    /// At most one entry per slot number (256).
    slots: Mutex<HashMap<Slot, SlotEntry>>,
    /// Bumped on every change of `slots`; pollers wait on it.
    slots_changed: watch::Sender<u64>,
    stop: watch::Receiver<bool>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded maps stay consistent at every await-free step, so a poisoned lock (a panic
    // elsewhere) still holds usable data.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl App {
    fn cookie_name(&self) -> Arc<str> {
        lock(&self.cookie_name).clone()
    }

    fn changed(&self) {
        self.slots_changed.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// Records a slot's begin outcome. An `Answered` never overwrites a running request.
    fn publish(&self, slot: Slot, entry: SlotEntry) {
        {
            let mut slots = lock(&self.slots);
            match slots.entry(slot) {
                Entry::Occupied(mut o) => {
                    if matches!(entry, SlotEntry::Running { .. })
                        || matches!(o.get(), SlotEntry::Answered)
                    {
                        o.insert(entry);
                    }
                }
                Entry::Vacant(v) => {
                    v.insert(entry);
                }
            }
        }
        self.changed();
    }

    /// Takes a slot's running request (for `end`, or a hold timeout).
    fn take_running(&self, slot: Slot) -> Option<oneshot::Sender<Reply>> {
        let taken = {
            let mut slots = lock(&self.slots);
            match slots.remove(&slot) {
                Some(SlotEntry::Running { reply, .. }) => Some(reply),
                Some(other) => {
                    slots.insert(slot, other);
                    None
                }
                None => None,
            }
        };
        if taken.is_some() {
            self.changed();
        }
        taken
    }

    /// What a poll reports now: a running request (kept), an answered one (forgotten), or
    /// nothing yet.
    fn peek(&self, slot: Slot) -> Option<SlotStateV1> {
        let mut slots = lock(&self.slots);
        match slots.get(&slot) {
            Some(SlotEntry::Running {
                session_id, reads, ..
            }) => Some(SlotStateV1::Running {
                session_id: session_id.clone(),
                reads: proto::reads_v1(reads),
            }),
            Some(SlotEntry::Answered) => {
                slots.remove(&slot);
                Some(SlotStateV1::Answered)
            }
            None => None,
        }
    }

    /// Answers every held request with `why` and empties the slot table.
    fn abort_all(&self, why: &'static str) {
        let drained: Vec<SlotEntry> = lock(&self.slots).drain().map(|(_, e)| e).collect();
        for entry in drained {
            if let SlotEntry::Running { reply, .. } = entry {
                // The handler may already be gone (its client left); nothing to tell then.
                let _ = reply.send(Reply::Aborted(why));
            }
        }
        self.changed();
    }

    /// Moves `fresh` runs behind the pending ones and cuts a page: at most `max_runs` runs
    /// (all when `None`) and, when paged, at most [`HOOK_RUNS_PAGE_BYTES_MAX`] bytes of JSON.
    /// Returns the page and whether runs are left.
    fn page_runs(
        &self,
        fresh: Vec<WireHookRun>,
        max_runs: Option<usize>,
    ) -> (Vec<HookRunV1>, bool) {
        let mut pending = lock(&self.pending_runs);
        pending.extend(fresh);
        let Some(max_runs) = max_runs else {
            return (
                pending.drain(..).map(|r| HookRunV1::from(&r)).collect(),
                false,
            );
        };
        let mut page = Vec::new();
        let mut bytes = 0usize;
        while page.len() < max_runs.max(1) {
            let Some(run) = pending.front() else { break };
            let size = run_bytes_estimate(run);
            if !page.is_empty() && bytes + size > HOOK_RUNS_PAGE_BYTES_MAX {
                break;
            }
            bytes += size;
            page.push(HookRunV1::from(run));
            pending.pop_front();
        }
        (page, !pending.is_empty())
    }

    /// Runs one call of the implementation where [`ServeOptions::calls`] says.
    async fn call<R: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&dyn Sut) -> Result<R, SutError> + Send + 'static,
    ) -> Result<R, SutError> {
        if self.opts.calls == CallMode::Inline {
            let sut = self.sut.as_ref();
            return std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(sut)))
                .unwrap_or_else(|panic| {
                    let why = panic
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "a panic without a message".into());
                    Err(SutError::Panic(why))
                });
        }
        let sut = self.sut.clone();
        let ms = self.opts.request_timeout_ms;
        let task = tokio::task::spawn_blocking(move || f(sut.as_ref()));
        match tokio::time::timeout(Duration::from_millis(ms), task).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(SutError::Panic(format!(
                "the implementation's call did not finish: {join}"
            ))),
            Err(_) => Err(SutError::Timeout(ms)),
        }
    }
}

impl Net {
    /// Closes the oldest open connection that has no request in progress, to make room for a
    /// new one. Returns whether there was one.
    fn evict_idle(&self) -> bool {
        let mut open = lock(&self.open);
        let victim = open
            .iter()
            .find(|(_, c)| c.busy.load(Ordering::Acquire) == 0)
            .map(|(id, _)| *id);
        let Some(id) = victim else { return false };
        if let Some(conn) = open.remove(&id) {
            conn.evict.notify_one();
            self.evictions.fetch_add(1, Ordering::Relaxed);
        }
        true
    }
}

/// An upper bound of a run's JSON size, without encoding it: the fixed fields, a session ID,
/// and about 48 bytes per variable, table, record and lock (numbers up to 20 digits).
fn run_bytes_estimate(run: &WireHookRun) -> usize {
    let s = &run.snapshot;
    let records: usize = s.selections.values().map(Vec::len).sum();
    160 + 2 * run.session_id.len()
        + 64 * s.vars.len()
        + 48 * s.selections.len()
        + 24 * records
        + 48 * s.locks.len()
}

// ---------------------------------------------------------------------------------------------
// Connections
// ---------------------------------------------------------------------------------------------

/// How long to back off after a failed `accept` (out of file descriptors, ...).
const ACCEPT_BACKOFF_MS: u64 = 50;

/// Resolves once the stop signal is raised (or its sender is gone, which means the same).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns must not live across an await: drop it here.
    let _ = stop.wait_for(|s| *s).await.map(|_| ());
}

/// Accepts connections until the stop signal; each connection is served by its own task
/// holding one of `connections_max` permits. When none is left, the oldest connection without
/// a request in progress is closed to make room, so idle and half-open connections never
/// starve a new client.
async fn accept_loop(
    listener: tokio::net::TcpListener,
    router: Router,
    app: Arc<Net>,
    mut stop: watch::Receiver<bool>,
) {
    // Bounded by the stop signal, not by a count: this is the server's lifetime.
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(_) => {
                    // Out of file descriptors, most likely: make room, then retry.
                    app.evict_idle();
                    tokio::time::sleep(Duration::from_millis(ACCEPT_BACKOFF_MS)).await;
                    continue;
                }
            },
            _ = stopped(&mut stop) => break,
        };
        if app.conns.available_permits() == 0 {
            app.evict_idle();
        }
        let permit = tokio::select! {
            permit = app.conns.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            _ = stopped(&mut stop) => break,
        };
        app.connections.fetch_add(1, Ordering::Relaxed);
        serve_connection(&app, &router, stream, peer, permit, &stop);
    }
}

/// Serves one accepted connection on its own task until it ends, is evicted or the server
/// stops: registers it for eviction, counts its requests and tags each with the peer address.
fn serve_connection(
    app: &Arc<Net>,
    router: &Router,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    permit: tokio::sync::OwnedSemaphorePermit,
    stop: &watch::Receiver<bool>,
) {
    // Small request/response exchanges: Nagle's delay would dominate. Failure only costs
    // latency.
    let _ = stream.set_nodelay(true);
    let id = app.next_conn.fetch_add(1, Ordering::Relaxed);
    let busy = Arc::new(AtomicU64::new(0));
    let evict = Arc::new(Notify::new());
    lock(&app.open).insert(
        id,
        OpenConn {
            busy: busy.clone(),
            evict: evict.clone(),
        },
    );
    let counted = app.clone();
    let busy_in = busy.clone();
    let service = router
        .clone()
        .map_request(move |mut req: http::Request<hyper::body::Incoming>| {
            counted.requests.fetch_add(1, Ordering::Relaxed);
            busy_in.fetch_add(1, Ordering::AcqRel);
            req.extensions_mut().insert(ConnectInfo(peer));
            req
        })
        .map_response(move |resp: Response| {
            busy.fetch_sub(1, Ordering::AcqRel);
            resp
        });
    let header_timeout = Duration::from_millis(app.opts.header_read_timeout_ms);
    let grace = Duration::from_millis(app.opts.shutdown_grace_ms);
    let mut stop_conn = stop.clone();
    let registry = app.clone();
    tokio::spawn(async move {
        let _permit = permit;
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout)
            .keep_alive(true);
        let conn =
            builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        tokio::pin!(conn);
        tokio::select! {
            // A connection error (the client went away, a malformed head, a head that did
            // not arrive in time) ends only this connection.
            _ = conn.as_mut() => {}
            // Evicted: it had no request in progress; dropping it closes the socket.
            () = evict.notified() => {}
            _ = stopped(&mut stop_conn) => {
                conn.as_mut().graceful_shutdown();
                let _ = tokio::time::timeout(grace, conn).await;
            }
        }
        lock(&registry.open).remove(&id);
    });
}

/// The whole server's routes: world 0 at the root, and with several worlds each world `k`
/// under `/worlds/{k}` (axum strips the prefix, so a world's router sees `/wlcs/v1/...`).
fn worlds_router(worlds: &[Arc<App>]) -> Router {
    let mut top = router(worlds[0].clone());
    if worlds.len() > 1 {
        for world in worlds {
            let nested = router(world.clone()).layer(Extension(UnderWorldPrefix));
            top = top.nest_service(&world_prefix(world.world), nested);
        }
    }
    top
}

/// The base path of world `k` (HARNESS.md "Worlds").
pub fn world_prefix(k: usize) -> String {
    format!("/worlds/{k}")
}

/// One world's routes.
fn router(app: Arc<App>) -> Router {
    let control = Router::new()
        .route(proto::PATH_CAPABILITIES, get(capabilities))
        .route(proto::PATH_RESET, post(reset))
        .route(proto::PATH_NON_WEB, post(non_web))
        .route(proto::PATH_OPTION, post(set_option))
        .route(proto::PATH_HOOK, post(set_hook))
        .route(proto::PATH_ADVANCE, post(advance))
        .route(proto::PATH_HOOK_RUNS_TAKE, post(take_hook_runs))
        .route(proto::PATH_LOCKS, get(locks))
        .route(proto::PATH_IPVARS, get(ipvars))
        .route(proto::PATH_OBSERVE, post(observe))
        .route("/wlcs/v1/slots/{slot}", get(slot_poll))
        .route("/wlcs/v1/slots/{slot}/end", post(slot_end))
        .layer(middleware::from_fn_with_state(app.clone(), control_timeout));
    // The web route times its own phases: its response may be held until `end`.
    Router::new()
        .route(proto::PATH_WEB, post(web))
        .merge(control)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(app)
}

// ---------------------------------------------------------------------------------------------
// Answers
// ---------------------------------------------------------------------------------------------

/// A request the server refuses before it reaches the implementation.
struct Reject {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl Reject {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Reject {
        Reject {
            status,
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for Reject {
    fn into_response(self) -> Response {
        error_response(self.status, self.code, self.message)
    }
}

fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (
            status,
            [(
                CONTENT_TYPE,
                HeaderValue::from_static(proto::JSON_CONTENT_TYPE),
            )],
            bytes,
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode the answer: {e}"),
        )
            .into_response(),
    }
}

fn error_response(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    json_response(
        status,
        &ErrorBodyV1 {
            error: ErrorV1 {
                code: code.to_string(),
                message: message.into(),
                timeout_ms: None,
            },
        },
    )
}

fn sut_error_response(error: &SutError) -> Response {
    let (status, error) = ErrorV1::from_sut_error(error);
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(status, &ErrorBodyV1 { error })
}

fn ok_or_error<T: Serialize>(result: Result<T, SutError>) -> Response {
    match result {
        Ok(body) => json_response(StatusCode::OK, &body),
        Err(e) => sut_error_response(&e),
    }
}

/// A finished web request as HTTP: its status, its `Set-Cookie` headers in order, and its
/// session and reads in the body.
fn web_response(resp: &WireResponse) -> Response {
    let Ok(status) = StatusCode::from_u16(resp.status) else {
        return error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            codes::INTERNAL,
            format!("the implementation answered status {}", resp.status),
        );
    };
    let body = WebResultV1 {
        session_id: resp.session_id.clone(),
        reads: proto::reads_v1(&resp.reads),
    };
    let mut out = json_response(status, &body);
    for cookie in &resp.set_cookies {
        let raw = if cookie.raw.is_empty() {
            // An implementation that did not render its header: the minimal equivalent.
            let expiry = if cookie.expiring { "; Max-Age=0" } else { "" };
            format!("{}={}; Path=/{expiry}", cookie.name, cookie.value)
        } else {
            cookie.raw.clone()
        };
        match HeaderValue::from_str(&raw) {
            Ok(value) => {
                out.headers_mut().append(SET_COOKIE, value);
            }
            Err(_) => {
                return error_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    codes::INTERNAL,
                    format!("the implementation's Set-Cookie {raw:?} is not a valid header"),
                );
            }
        }
    }
    out
}

async fn not_found() -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        codes::NOT_FOUND,
        "no such endpoint (HARNESS.md lists them)",
    )
}

async fn method_not_allowed() -> Response {
    error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        codes::METHOD_NOT_ALLOWED,
        "this endpoint takes another method (HARNESS.md)",
    )
}

async fn control_timeout(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let ms = app.opts.request_timeout_ms;
    match tokio::time::timeout(Duration::from_millis(ms), next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => sut_error_response(&SutError::Timeout(ms)),
    }
}

// ---------------------------------------------------------------------------------------------
// Request parsing
// ---------------------------------------------------------------------------------------------

/// Reads and decodes a JSON body within the size limit. An empty body decodes as `{}` so that
/// endpoints whose fields all have defaults take no body.
async fn read_json<T: DeserializeOwned>(app: &App, body: Body) -> Result<T, Reject> {
    let limit = app.opts.body_bytes_max;
    let timeout = Duration::from_millis(app.opts.body_read_timeout_ms);
    let bytes = match tokio::time::timeout(timeout, axum::body::to_bytes(body, limit)).await {
        Err(_) => {
            return Err(Reject::new(
                StatusCode::REQUEST_TIMEOUT,
                codes::TIMEOUT,
                "the request body did not arrive in time",
            ));
        }
        Ok(Err(e)) => {
            let too_large = {
                let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
                let mut found = false;
                for _ in 0..16 {
                    let Some(err) = source else { break };
                    if err.is::<http_body_util::LengthLimitError>() {
                        found = true;
                        break;
                    }
                    source = err.source();
                }
                found
            };
            return Err(if too_large {
                Reject::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    codes::TOO_LARGE,
                    format!("the body exceeds {limit} bytes"),
                )
            } else {
                Reject::new(
                    StatusCode::BAD_REQUEST,
                    codes::BAD_REQUEST,
                    format!("cannot read the body: {e}"),
                )
            });
        }
        Ok(Ok(bytes)) => bytes,
    };
    let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        &bytes
    };
    serde_json::from_slice(text).map_err(|e| {
        Reject::new(
            StatusCode::BAD_REQUEST,
            codes::BAD_JSON,
            format!("the body is not this endpoint's JSON: {e}"),
        )
    })
}

fn header_u8(headers: &HeaderMap, name: &str) -> Result<Option<u8>, Reject> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let bad = || {
        Reject::new(
            StatusCode::BAD_REQUEST,
            codes::BAD_REQUEST,
            format!("header {name} must appear once, as an integer 0..=255"),
        )
    };
    if values.next().is_some() {
        return Err(bad());
    }
    value
        .to_str()
        .ok()
        .and_then(|s| s.trim().parse::<u8>().ok())
        .map(Some)
        .ok_or_else(bad)
}

/// The value of the first cookie called `name` in the request's `Cookie` headers, byte for
/// byte between its `=` and the next `;` (no trimming, no unquoting: the command matches IDs
/// exactly, and the suite sends respelled IDs on purpose).
pub fn session_cookie(headers: &HeaderMap, name: &str) -> Result<Option<String>, String> {
    for value in headers.get_all(COOKIE) {
        let text = value
            .to_str()
            .map_err(|_| "a Cookie header holds bytes outside visible ASCII".to_string())?;
        for pair in text.split(';') {
            let pair = pair.trim_start_matches([' ', '\t']);
            if let Some((n, v)) = pair.split_once('=')
                && n == name
            {
                return Ok(Some(v.to_string()));
            }
        }
    }
    Ok(None)
}

fn slot_param(path: Result<Path<String>, PathRejection>) -> Result<Slot, Reject> {
    let bad = |what: String| {
        Reject::new(
            StatusCode::BAD_REQUEST,
            codes::BAD_REQUEST,
            format!("the slot must be an integer 0..=255, got {what}"),
        )
    };
    match path {
        Ok(Path(text)) => text.parse::<Slot>().map_err(|_| bad(format!("{text:?}"))),
        Err(e) => Err(bad(e.body_text())),
    }
}

// ---------------------------------------------------------------------------------------------
// The web endpoint
// ---------------------------------------------------------------------------------------------

async fn web(State(app): State<Arc<App>>, req: Request) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let Some(peer) = peer else {
        return error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            codes::INTERNAL,
            "the connection's peer address is unknown",
        );
    };
    let Some(ip) = ip_index(peer.ip()) else {
        return error_response(
            StatusCode::FORBIDDEN,
            codes::FORBIDDEN_PEER,
            format!(
                "client address {} is outside 127.0.0.1..=127.0.1.0 (IP index 0..=255)",
                peer.ip()
            ),
        );
    };
    let headers = req.headers();
    let slot = match header_u8(headers, proto::HEADER_SLOT) {
        Ok(v) => v,
        Err(reject) => return reject.into_response(),
    };
    let mobile = match header_u8(headers, proto::HEADER_MOBILE) {
        Ok(v) => v,
        Err(reject) => return reject.into_response(),
    };
    let cookie = match session_cookie(headers, &app.cookie_name()) {
        Ok(c) => c,
        Err(why) => return error_response(StatusCode::BAD_REQUEST, codes::BAD_REQUEST, why),
    };
    let body: ActionsV1 = match read_json(&app, req.into_body()).await {
        Ok(b) => b,
        Err(reject) => return reject.into_response(),
    };
    let wire = WireRequest {
        ip,
        cookie,
        mobile,
        actions: proto::wire_actions(body.actions),
    };
    match slot {
        None => match app.call(move |s| s.request(&wire)).await {
            Ok(resp) => web_response(&resp),
            Err(e) => sut_error_response(&e),
        },
        Some(slot) => hold(app, slot, wire).await,
    }
}

/// Begins a request in `slot`, publishes the outcome for pollers, and holds the response
/// until `end` (or the hold timeout, a reset, a shutdown).
async fn hold(app: Arc<App>, slot: Slot, wire: WireRequest) -> Response {
    if app.opts.strict_slots && lock(&app.slots).contains_key(&slot) {
        return error_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            codes::UNSUPPORTED,
            format!("slot {slot} is not empty (running, or answered and not yet polled)"),
        );
    }
    let begun = app.call(move |s| s.begin(slot, &wire)).await;
    let (session_id, reads) = match begun {
        Err(e) => return sut_error_response(&e),
        Ok(Begun::Done(resp)) => {
            app.publish(slot, SlotEntry::Answered);
            return web_response(&resp);
        }
        Ok(Begun::Running { session_id, reads }) => (session_id, reads),
    };
    let (reply, replied) = oneshot::channel();
    app.publish(
        slot,
        SlotEntry::Running {
            session_id,
            reads,
            reply,
        },
    );
    let hold_ms = app.opts.hold_timeout_ms;
    match tokio::time::timeout(Duration::from_millis(hold_ms), replied).await {
        Ok(Ok(Reply::Ended(Ok(resp)))) => web_response(&resp),
        Ok(Ok(Reply::Ended(Err(e)))) => sut_error_response(&e),
        Ok(Ok(Reply::Aborted(why))) => error_response(StatusCode::CONFLICT, codes::ABORTED, why),
        Ok(Err(_)) => error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            codes::ABORTED,
            "the held request's reply was dropped",
        ),
        Err(_) => {
            // A real server does not hold a request forever: end it as its client left it.
            if app.take_running(slot).is_some() {
                let _ = app.call(move |s| s.end(slot, &[])).await;
            }
            let (_, mut error) = ErrorV1::from_sut_error(&SutError::Timeout(hold_ms));
            error.message = format!(
                "no end came for slot {slot} within {hold_ms} ms; the server ended the request"
            );
            json_response(StatusCode::GATEWAY_TIMEOUT, &ErrorBodyV1 { error })
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Slots
// ---------------------------------------------------------------------------------------------

/// Wake-ups of one poll at most (each is a slot change or the deadline).
const POLL_WAKEUPS_MAX: u32 = 10_000;

fn wait_ms_param(query: Option<&str>, max_ms: u64) -> Result<u64, Reject> {
    let Some(query) = query else { return Ok(0) };
    for pair in query.split('&') {
        if let Some(v) = pair.strip_prefix("wait_ms=") {
            return v.parse::<u64>().map(|ms| ms.min(max_ms)).map_err(|_| {
                Reject::new(
                    StatusCode::BAD_REQUEST,
                    codes::BAD_REQUEST,
                    format!("wait_ms must be an integer of milliseconds, got {v:?}"),
                )
            });
        }
    }
    Ok(0)
}

async fn slot_poll(
    State(app): State<Arc<App>>,
    path: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Response {
    let slot = match slot_param(path) {
        Ok(s) => s,
        Err(reject) => return reject.into_response(),
    };
    let wait_ms = match wait_ms_param(query.as_deref(), app.opts.long_poll_ms_max) {
        Ok(ms) => ms,
        Err(reject) => return reject.into_response(),
    };
    let deadline = tokio::time::Instant::now() + Duration::from_millis(wait_ms);
    let mut changed = app.slots_changed.subscribe();
    let mut stop = app.stop.clone();
    for _ in 0..POLL_WAKEUPS_MAX {
        changed.borrow_and_update();
        if let Some(state) = app.peek(slot) {
            return json_response(StatusCode::OK, &SlotV1 { slot, state });
        }
        tokio::select! {
            moved = changed.changed() => if moved.is_err() { break },
            _ = tokio::time::sleep_until(deadline) => break,
            _ = stopped(&mut stop) => {
                return error_response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    codes::SHUTTING_DOWN,
                    "the server is shutting down",
                );
            }
        }
    }
    json_response(
        StatusCode::OK,
        &SlotV1 {
            slot,
            state: SlotStateV1::Empty,
        },
    )
}

async fn slot_end(
    State(app): State<Arc<App>>,
    path: Result<Path<String>, PathRejection>,
    body: Body,
) -> Response {
    let slot = match slot_param(path) {
        Ok(s) => s,
        Err(reject) => return reject.into_response(),
    };
    let body: ActionsV1 = match read_json(&app, body).await {
        Ok(b) => b,
        Err(reject) => return reject.into_response(),
    };
    let Some(reply) = app.take_running(slot) else {
        return error_response(
            StatusCode::CONFLICT,
            codes::SLOT_EMPTY,
            format!("slot {slot} holds no request"),
        );
    };
    let actions = proto::wire_actions(body.actions);
    let result = app.call(move |s| s.end(slot, &actions)).await;
    let failed = result.as_ref().err().cloned();
    let delivered = reply.send(Reply::Ended(result)).is_ok();
    match (failed, delivered) {
        (Some(e), _) => sut_error_response(&e),
        (None, true) => json_response(StatusCode::OK, &EndedV1 { slot, ended: true }),
        (None, false) => error_response(
            StatusCode::CONFLICT,
            codes::ABORTED,
            format!("slot {slot}'s request ended, but its client had gone away"),
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// Control endpoints
// ---------------------------------------------------------------------------------------------

/// Marks the routes of a world under its own base URL (`/worlds/k`), so the capabilities
/// answer can say which world answered.
#[derive(Clone, Copy)]
struct UnderWorldPrefix;

async fn capabilities(
    State(app): State<Arc<App>>,
    prefixed: Option<Extension<UnderWorldPrefix>>,
) -> Response {
    let (world, worlds) = (prefixed.map(|_| app.world), app.worlds);
    ok_or_error(
        app.call(move |s| {
            let mut features = vec![
                proto::FEATURE_OBSERVE.to_string(),
                proto::FEATURE_HOOK_RUNS_PAGED.to_string(),
            ];
            // A single world says nothing: the field and the feature are optional.
            let worlds = (worlds > 1).then(|| {
                features.push(proto::FEATURE_WORLDS.to_string());
                WorldsV1 {
                    count: worlds,
                    this: world,
                }
            });
            Ok(CapabilitiesV1 {
                protocol: proto::PROTOCOL_VERSION,
                name: s.name(),
                capabilities: s.capabilities().into(),
                features,
                worlds,
            })
        })
        .await,
    )
}

async fn reset(State(app): State<Arc<App>>, body: Body) -> Response {
    let body: ResetV1 = match read_json(&app, body).await {
        Ok(b) => b,
        Err(reject) => return reject.into_response(),
    };
    let config = WorldConfig::from(body);
    app.abort_all("the world was reset");
    let result = app
        .call(move |s| {
            s.reset(&config)?;
            s.session_cookie_name()
        })
        .await;
    lock(&app.pending_runs).clear();
    ok_or_error(result.map(|name| {
        *lock(&app.cookie_name) = name.into();
        OkV1 { ok: true }
    }))
}

async fn non_web(State(app): State<Arc<App>>, body: Body) -> Response {
    let body: NonWebV1 = match read_json(&app, body).await {
        Ok(b) => b,
        Err(reject) => return reject.into_response(),
    };
    let process = body.process;
    let actions = proto::wire_actions(body.actions);
    let result = app.call(move |s| s.non_web(process, &actions)).await;
    ok_or_error(result.map(|reads| ReadsV1 {
        reads: proto::reads_v1(&reads),
    }))
}

async fn set_option(State(app): State<Arc<App>>, body: Body) -> Response {
    let body: OptionV1 = match read_json(&app, body).await {
        Ok(b) => b,
        Err(reject) => return reject.into_response(),
    };
    let option = OptionSet::from(body);
    let result = app
        .call(move |s| {
            s.set_option(&option)?;
            s.session_cookie_name()
        })
        .await;
    ok_or_error(result.map(|name| {
        *lock(&app.cookie_name) = name.into();
        OkV1 { ok: true }
    }))
}

async fn set_hook(State(app): State<Arc<App>>, body: Body) -> Response {
    let body: HookV1 = match read_json(&app, body).await {
        Ok(b) => b,
        Err(reject) => return reject.into_response(),
    };
    let behavior = wlcs_plugin::WireHook::from(body);
    let result = app.call(move |s| s.set_hook(&behavior)).await;
    ok_or_error(result.map(|()| OkV1 { ok: true }))
}

async fn advance(State(app): State<Arc<App>>, body: Body) -> Response {
    let body: AdvanceV1 = match read_json(&app, body).await {
        Ok(b) => b,
        Err(reject) => return reject.into_response(),
    };
    let result = app.call(move |s| s.advance(body.seconds)).await;
    ok_or_error(result.map(|()| OkV1 { ok: true }))
}

async fn take_hook_runs(State(app): State<Arc<App>>, RawQuery(query): RawQuery) -> Response {
    let max_runs = match max_runs_param(query.as_deref()) {
        Ok(m) => m,
        Err(reject) => return reject.into_response(),
    };
    let pages = app.clone();
    let result = app
        .call(move |s| Ok(pages.page_runs(s.take_hook_runs()?, max_runs)))
        .await;
    ok_or_error(result.map(|(runs, more)| HookRunsV1 { runs, more }))
}

/// The `max_runs` of a paged take (absent: every run at once, as without the feature).
fn max_runs_param(query: Option<&str>) -> Result<Option<usize>, Reject> {
    let Some(query) = query else { return Ok(None) };
    for pair in query.split('&') {
        if let Some(v) = pair.strip_prefix("max_runs=") {
            return v.parse::<usize>().map(Some).map_err(|_| {
                Reject::new(
                    StatusCode::BAD_REQUEST,
                    codes::BAD_REQUEST,
                    format!("max_runs must be a whole number of runs, got {v:?}"),
                )
            });
        }
    }
    Ok(None)
}

async fn locks(State(app): State<Arc<App>>) -> Response {
    let result = app.call(|s| s.locks()).await;
    ok_or_error(result.map(|l| LocksV1::from_wire(&l)))
}

async fn observe(State(app): State<Arc<App>>, body: Body) -> Response {
    let body: ObserveV1 = match read_json(&app, body).await {
        Ok(b) => b,
        Err(reject) => return reject.into_response(),
    };
    let pages = app.clone();
    let max_runs = body.max_runs;
    let result = app
        .call(move |s| {
            let o = s.observe(body.shared)?;
            Ok((pages.page_runs(o.hook_runs, max_runs), o.locks, o.ipvars))
        })
        .await;
    ok_or_error(result.map(|((runs, more), locks, ipvars)| ObservedV1 {
        runs,
        locks: locks.map(|l| LocksV1::from_wire(&l).locks),
        ipvars: ipvars.map(|v| IpvarsV1::from_wire(&v).ipvars),
        more,
    }))
}

async fn ipvars(State(app): State<Arc<App>>) -> Response {
    let result = app.call(|s| s.ipvars()).await;
    ok_or_error(result.map(|v| IpvarsV1::from_wire(&v)))
}
