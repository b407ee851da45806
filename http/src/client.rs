//! The black-box adapter: [`HttpSut`] implements [`Sut`] against any server that speaks
//! HARNESS.md (protocol v1), the reference server of [`crate::server`] or a vendor's.
//!
//! - Web requests are real HTTP requests from a real client address: the request of client IP
//!   `n` leaves from 127.0.0.(n+1) (the socket is bound before it connects), so a server sees
//!   IPs the way a browser's requests would show them.
//! - The session cookie travels in a `Cookie` header under the current selector-73 name, as
//!   the suite set it (the default for the reset's world, then every `cookie_name` option).
//!   `Set-Cookie` headers are parsed as RFC 6265 says (the `cookie` crate): `Max-Age` wins over
//!   `Expires`; `Max-Age <= 0` or an `Expires` not after now expires the cookie.
//! - Every call has a deadline. A transport failure, a timeout or a body outside the protocol
//!   is a [`SutError`] naming the call: never a panic, never a pass.
//!
//! Why hyper's client: ureq 3 cannot bind a source address through its versioned API (only
//! through `ureq::unversioned`, exempt from semver), while hyper-util's `HttpConnector` binds
//! one with a documented setter, and hyper/hyper-util/tokio are already in the build for the
//! server. The adapter runs a current-thread runtime of its own and blocks on it from the
//! calling thread, as the trait is synchronous; requests held in flight are tasks on it, not
//! threads. Several threads may call one adapter at once (`wlcs sim --threads`): one of them
//! drives the I/O while the others' calls wait on it.

use crate::proto::{
    self, ActionsV1, AdvanceV1, CapabilitiesV1, EndedV1, ErrorBodyV1, HookRunV1, HookRunsV1,
    HookV1, IpvarsV1, LocksV1, NonWebV1, ObserveV1, ObservedV1, OkV1, OptionV1, ReadsV1, ResetV1,
    SlotStateV1, SlotV1, WebResultV1,
};
use bytes::Bytes;
use cookie::time::{Duration as CookieDuration, OffsetDateTime};
use http::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use http::{HeaderValue, Method};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;
use wlcs_model::vocab::{Ip, OptionSet, Options, RecordRef, Slot, VarName, WorldConfig};
use wlcs_plugin::{
    Begun, Capabilities, Observed, Response, SetCookie, Sut, SutError, WireAction, WireHook,
    WireHookRun, WireProc, WireRead, WireRequest,
};

/// How long one call (one HTTP exchange, or a begin's wait for its request to start) may take.
pub const REQUEST_TIMEOUT_MS: u64 = 10_000;
/// How long a request held in flight may wait for its `end`.
pub const HOLD_TIMEOUT_MS: u64 = 120_000;
/// How long one slot poll asks the server to wait.
pub const LONG_POLL_MS: u64 = 1_000;
/// How long opening a connection may take.
pub const CONNECT_TIMEOUT_MS: u64 = 2_000;
/// A response body larger than this is a protocol error.
pub const RESPONSE_BYTES_MAX: usize = 4 * 1024 * 1024;
/// Idle keep-alive connections kept per client address.
const IDLE_CONNECTIONS_PER_IP_MAX: usize = 8;
/// How long an idle keep-alive connection is kept: well under the reference server's 5 s
/// header read timeout (HARNESS.md "Connections and limits"), so the adapter never sends on
/// a connection the server is closing.
const IDLE_CONNECTION_MS: u64 = 2_000;
/// Yields at the start of each call on the adapter's current-thread runtime: the first polls
/// the I/O driver (a connection the server closed wakes its task), the second runs the woken
/// connection tasks, so the pool drops a closed connection before the call checks one out.
const CATCH_UP_YIELDS: usize = 2;
/// Hook runs asked for per page at most when the server offers paged takes: about 200 KiB of
/// JSON for typical runs, far under [`RESPONSE_BYTES_MAX`].
pub const HOOK_RUNS_PAGE_RUNS: usize = 1_000;
/// Bytes of answer budgeted per run asked for: a page asks for at most
/// `response_bytes_max / HOOK_RUN_BYTES_BUDGET` runs (a typical run is 100-300 bytes).
const HOOK_RUN_BYTES_BUDGET: usize = 512;
/// Pages of one take at most (10^8 runs at [`HOOK_RUNS_PAGE_RUNS`]): a server that always
/// says `more` is a protocol error, not an endless loop.
const HOOK_RUNS_PAGES_MAX: usize = 100_000;
/// Polls of one begin at most (each waits up to `long_poll_ms`; the deadline comes first).
const BEGIN_POLLS_MAX: u32 = 1_000;
/// Bytes of an unexpected body quoted in an error.
const BODY_EXCERPT_BYTES: usize = 200;

/// Timeouts and limits of an adapter.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// See [`REQUEST_TIMEOUT_MS`].
    pub request_timeout_ms: u64,
    /// See [`HOLD_TIMEOUT_MS`].
    pub hold_timeout_ms: u64,
    /// See [`LONG_POLL_MS`].
    pub long_poll_ms: u64,
    /// See [`CONNECT_TIMEOUT_MS`].
    pub connect_timeout_ms: u64,
    /// See [`RESPONSE_BYTES_MAX`].
    pub response_bytes_max: usize,
    /// Use the server's optional `observe` endpoint when it offers one (one round trip per
    /// step instead of three). Off: always the three endpoints.
    pub use_observe: bool,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            request_timeout_ms: REQUEST_TIMEOUT_MS,
            hold_timeout_ms: HOLD_TIMEOUT_MS,
            long_poll_ms: LONG_POLL_MS,
            connect_timeout_ms: CONNECT_TIMEOUT_MS,
            response_bytes_max: RESPONSE_BYTES_MAX,
            use_observe: true,
        }
    }
}

/// The address client IP `ip` sends from: 127.0.0.(ip+1), up to 127.0.1.0 for 255.
pub fn client_addr(ip: Ip) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(127, 0, 0, 1)) + u32::from(ip))
}

type HyperClient = Client<HttpConnector, Full<Bytes>>;

/// What came back from one HTTP exchange.
#[derive(Debug)]
struct RawResponse {
    status: u16,
    set_cookies: Vec<String>,
    body: Bytes,
}

/// An implementation reached over HTTP (HARNESS.md, protocol v1).
pub struct HttpSut {
    /// `http://IP:PORT` plus the base path, without a trailing `/`.
    base: String,
    loopback: bool,
    name: String,
    caps: Capabilities,
    /// The server offers `POST /wlcs/v1/observe` (one round trip per step instead of three).
    observe: bool,
    /// The server offers paged takes of hook runs (`hook_runs_paged`).
    paged: bool,
    /// The worlds the server hosts (HARNESS.md "Worlds"; 1 without the feature).
    worlds: usize,
    /// Made by [`HttpSut::connect_worlds`]: this adapter drives one world that no other
    /// adapter of the same set drives, so [`Sut::shares_world`] is false.
    own_world: bool,
    opts: ClientOptions,
    runtime: Option<Runtime>,
    /// One client per source address (`None`: control requests, unbound); at most 257.
    clients: Mutex<HashMap<Option<Ip>, HyperClient>>,
    /// The options as the suite set them: the cookie name the session cookie travels under.
    options: Mutex<Options>,
    /// Requests held in flight, by slot (at most 256).
    flights: Mutex<HashMap<Slot, JoinHandle<Result<RawResponse, SutError>>>>,
}

impl std::fmt::Debug for HttpSut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpSut")
            .field("base", &self.base)
            .field("name", &self.name)
            .field("caps", &self.caps)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded maps are consistent between statements; a panic elsewhere leaves them usable.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn excerpt(body: &[u8]) -> String {
    let cut = &body[..body.len().min(BODY_EXCERPT_BYTES)];
    let more = if body.len() > cut.len() { "..." } else { "" };
    format!("{:?}{more}", String::from_utf8_lossy(cut))
}

/// The error of a non-success answer: the protocol error it carries, or a protocol error
/// quoting what came instead.
fn error_of(raw: &RawResponse, what: &str) -> SutError {
    match serde_json::from_slice::<ErrorBodyV1>(&raw.body) {
        Ok(body) => body.error.to_sut_error(raw.status, what),
        Err(_) => SutError::Protocol(format!(
            "{what}: server answered {} with a body outside the protocol: {}",
            raw.status,
            excerpt(&raw.body)
        )),
    }
}

fn decode<T: DeserializeOwned>(raw: &RawResponse, what: &str) -> Result<T, SutError> {
    serde_json::from_slice(&raw.body).map_err(|e| {
        SutError::Protocol(format!(
            "{what}: malformed JSON body ({e}): {}",
            excerpt(&raw.body)
        ))
    })
}

/// One `Set-Cookie` header, parsed as RFC 6265 section 5.2 says.
pub fn parse_set_cookie(raw: &str) -> Result<SetCookie, SutError> {
    let parsed = cookie::Cookie::parse(raw)
        .map_err(|e| SutError::Protocol(format!("unparseable Set-Cookie {raw:?}: {e}")))?;
    // RFC 6265 5.3 step 3: Max-Age, when present, wins over Expires. A Max-Age of zero or less
    // (the cookie crate reads negative values as zero) and an Expires not after now both
    // expire the cookie.
    let expiring = match parsed.max_age() {
        Some(age) => age <= CookieDuration::ZERO,
        None => parsed
            .expires_datetime()
            .is_some_and(|at| at <= OffsetDateTime::now_utc()),
    };
    Ok(SetCookie {
        name: parsed.name().to_string(),
        value: parsed.value().to_string(),
        expiring,
        raw: raw.to_string(),
    })
}

/// A web request's answer as the trait's [`Response`].
fn web_outcome(raw: RawResponse, what: &str) -> Result<Response, SutError> {
    let set_cookies = raw
        .set_cookies
        .iter()
        .map(|h| parse_set_cookie(h))
        .collect::<Result<Vec<_>, _>>()?;
    match raw.status {
        200 => {
            let body: WebResultV1 = decode(&raw, what)?;
            let Some(session_id) = body.session_id else {
                return Err(SutError::Protocol(format!(
                    "{what}: a 200 answer must name the session it ran in (session_id)"
                )));
            };
            Ok(Response {
                status: 200,
                session_id: Some(session_id),
                set_cookies,
                reads: proto::wire_reads(body.reads),
            })
        }
        // Refusals (REQ-5, LIMIT-2): the body may be anything but a protocol error (a server
        // may well answer its own error page).
        400 | 503 => {
            if let Ok(err) = serde_json::from_slice::<ErrorBodyV1>(&raw.body) {
                return Err(err.error.to_sut_error(raw.status, what));
            }
            let body = serde_json::from_slice::<WebResultV1>(&raw.body).ok();
            let (session_id, reads) = match body {
                Some(b) => (b.session_id, proto::wire_reads(b.reads)),
                None => (None, Vec::new()),
            };
            Ok(Response {
                status: raw.status,
                session_id,
                set_cookies,
                reads,
            })
        }
        _ => Err(error_of(&raw, what)),
    }
}

/// Turns a client error into the [`SutError`] it is: a malformed answer is a protocol error,
/// anything else (refused, reset, closed early) a transport error.
fn transport_error(err: &hyper_util::client::legacy::Error, what: &str) -> SutError {
    let mut chain = vec![err.to_string()];
    let mut parse = false;
    let mut source = std::error::Error::source(err);
    for _ in 0..16 {
        let Some(e) = source else { break };
        if let Some(h) = e.downcast_ref::<hyper::Error>() {
            parse |= h.is_parse() || h.is_parse_status() || h.is_parse_too_large();
        }
        let text = e.to_string();
        if chain.last() != Some(&text) {
            chain.push(text);
        }
        source = e.source();
    }
    let text = format!("{what}: {}", chain.join(": "));
    if parse {
        SutError::Protocol(text)
    } else {
        SutError::Transport(text)
    }
}

/// One HTTP exchange with a deadline and a body limit.
async fn exchange(
    client: HyperClient,
    request: http::Request<Full<Bytes>>,
    timeout_ms: u64,
    body_max: usize,
    what: String,
) -> Result<RawResponse, SutError> {
    let work = async {
        let response = client
            .request(request)
            .await
            .map_err(|e| transport_error(&e, &what))?;
        let (parts, body) = response.into_parts();
        let body = Limited::new(body, body_max).collect().await.map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                SutError::Protocol(format!(
                    "{what}: the answer's body exceeds {body_max} bytes"
                ))
            } else {
                SutError::Transport(format!("{what}: the answer's body was cut: {e}"))
            }
        })?;
        let set_cookies = parts
            .headers
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| {
                v.to_str().map(str::to_string).map_err(|_| {
                    SutError::Protocol(format!("{what}: a Set-Cookie header is not visible ASCII"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RawResponse {
            status: parts.status.as_u16(),
            set_cookies,
            body: body.to_bytes(),
        })
    };
    match tokio::time::timeout(Duration::from_millis(timeout_ms), work).await {
        Ok(result) => result,
        Err(_) => Err(SutError::CallTimeout {
            call: what,
            ms: timeout_ms,
        }),
    }
}

/// How waiting for a held request to start ended.
enum Started {
    Running(String, Vec<WireRead>),
    Finished(Result<Result<RawResponse, SutError>, tokio::task::JoinError>),
    Failed(SutError),
}

impl HttpSut {
    /// Connects to a server speaking HARNESS.md at `base_url` (`http://HOST:PORT`, optionally
    /// with a base path) and reads its capabilities.
    pub fn connect(base_url: &str) -> Result<HttpSut, SutError> {
        HttpSut::connect_with(base_url, ClientOptions::default())
    }

    /// [`HttpSut::connect`] with other timeouts and limits.
    pub fn connect_with(base_url: &str, opts: ClientOptions) -> Result<HttpSut, SutError> {
        let (target, path) = parse_base(base_url)?;
        // A current-thread runtime: the calling thread drives its own call's I/O, with no
        // hop to a runtime thread and back (ARCHITECTURE.md, the adapter). Connection tasks
        // and held requests progress only inside calls, which is all the protocol needs:
        // the server holds a request until its `end`, and idle connections are dropped by
        // the pool (IDLE_CONNECTION_MS) before the server would time them out.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| SutError::Transport(format!("cannot start the adapter's runtime: {e}")))?;
        let loopback = target.ip().is_loopback();
        let mut sut = HttpSut {
            base: format!("http://{target}{path}"),
            loopback,
            name: String::new(),
            caps: Capabilities::ALL,
            observe: false,
            paged: false,
            worlds: 1,
            own_world: false,
            opts,
            runtime: Some(runtime),
            clients: Mutex::new(HashMap::new()),
            options: Mutex::new(Options::defaults(&WorldConfig::default())),
            flights: Mutex::new(HashMap::new()),
        };
        let caps: CapabilitiesV1 = sut.control(
            Method::GET,
            proto::PATH_CAPABILITIES,
            None::<&()>,
            "capabilities",
        )?;
        if caps.protocol != proto::PROTOCOL_VERSION {
            return Err(SutError::Protocol(format!(
                "the server at {} speaks protocol {}; this build speaks {}",
                sut.base,
                caps.protocol,
                proto::PROTOCOL_VERSION
            )));
        }
        sut.caps = caps.capabilities.into();
        sut.observe =
            sut.opts.use_observe && caps.features.iter().any(|f| f == proto::FEATURE_OBSERVE);
        sut.paged = caps
            .features
            .iter()
            .any(|f| f == proto::FEATURE_HOOK_RUNS_PAGED);
        // Only the server's root spreads over worlds: a world's own base URL is one world.
        if caps.features.iter().any(|f| f == proto::FEATURE_WORLDS) {
            sut.worlds = caps
                .worlds
                .filter(|w| w.this.is_none())
                .map_or(1, |w| w.count.max(1));
        }
        // Other client IPs come from other loopback source addresses: only a loopback target
        // can see them.
        sut.caps.multi_ip &= loopback;
        sut.name = format!("{} ({})", sut.base, caps.name);
        Ok(sut)
    }

    /// The base URL requests go to (`http://IP:PORT[/path]`).
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The independent worlds the server at this base URL hosts (HARNESS.md "Worlds"): 1
    /// for a server without the feature.
    pub fn worlds(&self) -> usize {
        self.worlds
    }

    /// Adapters for up to `max` independent worlds of the server at `base_url`: world `k` at
    /// `base_url/worlds/k` when the server hosts several (HARNESS.md "Worlds"), else the one
    /// world at `base_url`. Each adapter's [`Sut::shares_world`] is false when there are
    /// several: no two of them drive the same world, so a run may check cases on all at once.
    pub fn connect_worlds(
        base_url: &str,
        opts: &ClientOptions,
        max: usize,
    ) -> Result<Vec<HttpSut>, SutError> {
        let root = HttpSut::connect_with(base_url, opts.clone())?;
        let count = root.worlds.min(max.max(1));
        if count < 2 {
            return Ok(vec![root]);
        }
        let base = root.base.clone();
        drop(root);
        (0..count)
            .map(|k| {
                let url = format!("{base}/worlds/{k}");
                let mut sut = HttpSut::connect_with(&url, opts.clone())?;
                sut.own_world = true;
                Ok(sut)
            })
            .collect()
    }

    fn runtime(&self) -> Result<&Runtime, SutError> {
        self.runtime
            .as_ref()
            .ok_or_else(|| SutError::Transport("the adapter's runtime is stopped".into()))
    }

    /// Runs `fut` to completion on the adapter's runtime.
    fn block<F: std::future::Future>(&self, fut: F) -> Result<F::Output, SutError> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(SutError::Unsupported(
                "HttpSut blocks: call it from a thread outside any async runtime".into(),
            ));
        }
        Ok(self.runtime()?.block_on(async {
            // Between calls nothing drives the runtime: first let the connection tasks see
            // what the server did meanwhile (a connection it closed is then not reused).
            // Each yield polls the I/O driver once, then runs the tasks it woke.
            for _ in 0..CATCH_UP_YIELDS {
                tokio::task::yield_now().await;
            }
            fut.await
        }))
    }

    /// The client that sends from client IP `ip` (`None`: any address, for control calls).
    fn client(&self, ip: Option<Ip>) -> Result<HyperClient, SutError> {
        let mut clients = lock(&self.clients);
        if let Some(c) = clients.get(&ip) {
            return Ok(c.clone());
        }
        let mut connector = HttpConnector::new();
        connector.enforce_http(true);
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_millis(self.opts.connect_timeout_ms)));
        if let Some(ip) = ip {
            if self.loopback {
                connector.set_local_address(Some(IpAddr::V4(client_addr(ip))));
            } else if ip != 0 {
                return Err(SutError::Unsupported(format!(
                    "client IP {ip} needs a loopback target (it sends from {})",
                    client_addr(ip)
                )));
            }
        }
        let client: HyperClient = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_millis(IDLE_CONNECTION_MS))
            .pool_max_idle_per_host(IDLE_CONNECTIONS_PER_IP_MAX)
            .build(connector);
        clients.insert(ip, client.clone());
        Ok(client)
    }

    fn http_request(
        &self,
        method: Method,
        path: &str,
        body: Vec<u8>,
    ) -> Result<http::request::Builder, SutError> {
        let uri = format!("{}{path}", self.base);
        let builder = http::Request::builder().method(method).uri(uri);
        Ok(if body.is_empty() {
            builder
        } else {
            builder.header(CONTENT_TYPE, proto::JSON_CONTENT_TYPE)
        })
    }

    fn json_body<T: Serialize>(body: Option<&T>, what: &str) -> Result<Vec<u8>, SutError> {
        match body {
            None => Ok(Vec::new()),
            Some(b) => serde_json::to_vec(b)
                .map_err(|e| SutError::Protocol(format!("{what}: cannot encode the body: {e}"))),
        }
    }

    /// A control call: JSON in, 200 and JSON out, or the error it carries.
    fn control<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Req>,
        what: &str,
    ) -> Result<Resp, SutError> {
        let raw = self.block(self.control_async(method, path, body, what))??;
        Ok(raw)
    }

    async fn control_async<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Req>,
        what: &str,
    ) -> Result<Resp, SutError> {
        let bytes = Self::json_body(body, what)?;
        let request = self
            .http_request(method, path, bytes.clone())?
            .body(Full::new(Bytes::from(bytes)))
            .map_err(|e| SutError::Protocol(format!("{what}: cannot build the request: {e}")))?;
        let raw = exchange(
            self.client(None)?,
            request,
            self.opts.request_timeout_ms,
            self.opts.response_bytes_max,
            what.to_string(),
        )
        .await?;
        if raw.status == 200 {
            decode(&raw, what)
        } else {
            Err(error_of(&raw, what))
        }
    }

    /// The HTTP request of a web request (`slot`: held in flight).
    fn web_request(
        &self,
        request: &WireRequest,
        slot: Option<Slot>,
    ) -> Result<http::Request<Full<Bytes>>, SutError> {
        let what = "web request";
        let body = ActionsV1 {
            actions: proto::actions_v1(&request.actions),
        };
        let bytes = Self::json_body(Some(&body), what)?;
        let mut builder = self.http_request(Method::POST, proto::PATH_WEB, bytes.clone())?;
        if let Some(value) = &request.cookie {
            let name = lock(&self.options).cookie_name.clone();
            let header = HeaderValue::from_str(&format!("{name}={value}")).map_err(|_| {
                SutError::Unsupported(format!(
                    "cookie value {value:?} cannot travel in an HTTP header"
                ))
            })?;
            builder = builder.header(COOKIE, header);
        }
        if let Some(lane) = request.mobile {
            builder = builder.header(proto::HEADER_MOBILE, lane.to_string());
        }
        if let Some(slot) = slot {
            builder = builder.header(proto::HEADER_SLOT, slot.to_string());
        }
        builder
            .body(Full::new(Bytes::from(bytes)))
            .map_err(|e| SutError::Protocol(format!("{what}: cannot build the request: {e}")))
    }

    /// Waits for the held request of `slot` to start or to be refused. The begin's outcome is
    /// always learned from a poll (HARNESS.md "Slot states"): polls go on until one reports
    /// `running` or `answered`, also when the refusal's own answer arrives first, so the
    /// slot's `answered` state is consumed on every schedule. A poll in progress is never
    /// dropped (it may be the one that consumed `answered`).
    async fn await_start(
        &self,
        slot: Slot,
        flight: &mut JoinHandle<Result<RawResponse, SutError>>,
    ) -> Started {
        let timeout_ms = self.opts.request_timeout_ms;
        let deadline = tokio::time::Instant::now() + Duration::from_millis(timeout_ms);
        let what = format!("begin in slot {slot}: poll");
        let timed_out = || {
            Started::Failed(SutError::CallTimeout {
                call: format!("begin in slot {slot}: waiting for the slot to report the begin"),
                ms: timeout_ms,
            })
        };
        for _ in 0..BEGIN_POLLS_MAX {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                break;
            }
            // Once the held request's answer has come, the server has already published the
            // outcome (it publishes before it answers): ask without waiting.
            let finished = flight.is_finished();
            let wait_ms = if finished {
                0
            } else {
                self.opts
                    .long_poll_ms
                    .min(u64::try_from(left.as_millis()).unwrap_or(u64::MAX))
            };
            let path = format!("{}/{slot}?wait_ms={wait_ms}", proto::PATH_SLOTS);
            let state = self
                .control_async::<(), SlotV1>(Method::GET, &path, None, &what)
                .await;
            if let Some(started) = settle(slot, state, finished, flight, deadline, timeout_ms).await
            {
                return started;
            }
        }
        timed_out()
    }

    fn abort_flights(&self) {
        for (_, flight) in lock(&self.flights).drain() {
            flight.abort();
        }
    }
}

impl Drop for HttpSut {
    fn drop(&mut self) {
        self.abort_flights();
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Splits `http://HOST[:PORT][/path]` into the target address and the base path.
fn parse_base(base_url: &str) -> Result<(SocketAddr, String), SutError> {
    let bad = |why: &str| SutError::Unsupported(format!("target {base_url:?}: {why}"));
    let rest = base_url
        .strip_prefix("http://")
        .ok_or_else(|| bad("only http:// targets are supported (no TLS)"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
        None => (rest, ""),
    };
    if authority.is_empty() {
        return Err(bad("no host"));
    }
    let with_port = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let addrs: Vec<SocketAddr> = with_port
        .to_socket_addrs()
        .map_err(|e| SutError::Transport(format!("target {base_url:?}: cannot resolve: {e}")))?
        .collect();
    // Client IPs are IPv4 loopback addresses: prefer an IPv4 address of the target.
    let target = addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
        .ok_or_else(|| SutError::Transport(format!("target {base_url:?}: no address")))?;
    Ok((target, path.to_string()))
}

/// What one poll of a held request's slot decides: `None` to poll again (the slot is still
/// empty and the answer has not come), else how the begin went. `finished`: the held
/// request's answer had already come when the poll was sent.
async fn settle(
    slot: Slot,
    state: Result<SlotV1, SutError>,
    finished: bool,
    flight: &mut JoinHandle<Result<RawResponse, SutError>>,
    deadline: tokio::time::Instant,
    timeout_ms: u64,
) -> Option<Started> {
    let state = match state {
        Err(e) => return Some(Started::Failed(e)),
        Ok(slot_v1) => slot_v1.state,
    };
    match state {
        SlotStateV1::Running { session_id, reads } => {
            Some(Started::Running(session_id, proto::wire_reads(reads)))
        }
        SlotStateV1::Answered => Some(match tokio::time::timeout_at(deadline, flight).await {
            Ok(done) => Started::Finished(done),
            Err(_) => Started::Failed(SutError::CallTimeout {
                call: format!("begin in slot {slot}: waiting for the slot to report the begin"),
                ms: timeout_ms,
            }),
        }),
        // This poll began after the answer came and still saw nothing.
        SlotStateV1::Empty if finished => Some(match flight.await {
            Ok(Ok(raw)) if matches!(raw.status, 400 | 503) => {
                Started::Failed(SutError::Protocol(format!(
                    "begin in slot {slot}: the held request was answered {}, but the slot \
                     never reported \"answered\" (HARNESS.md: the server publishes it before \
                     it answers)",
                    raw.status
                )))
            }
            other => Started::Finished(other),
        }),
        SlotStateV1::Empty => None,
    }
}

impl Sut for HttpSut {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn shares_world(&self) -> bool {
        !self.own_world
    }

    fn capabilities(&self) -> Capabilities {
        self.caps
    }

    fn reset(&self, config: &WorldConfig) -> Result<(), SutError> {
        // The server answers any request still held with `aborted`; nobody waits for it.
        self.abort_flights();
        let _: OkV1 = self.control(
            Method::POST,
            proto::PATH_RESET,
            Some(&ResetV1::from(config)),
            "reset",
        )?;
        *lock(&self.options) = Options::defaults(config);
        Ok(())
    }

    fn request(&self, request: &WireRequest) -> Result<Response, SutError> {
        let http = self.web_request(request, None)?;
        let client = self.client(Some(request.ip))?;
        let raw = self.block(exchange(
            client,
            http,
            self.opts.request_timeout_ms,
            self.opts.response_bytes_max,
            "web request".into(),
        ))??;
        web_outcome(raw, "web request")
    }

    fn begin(&self, slot: Slot, request: &WireRequest) -> Result<Begun, SutError> {
        if lock(&self.flights).contains_key(&slot) {
            return Err(SutError::Unsupported(format!(
                "slot {slot} is already in flight"
            )));
        }
        let what = format!("begin in slot {slot}");
        let http = self.web_request(request, Some(slot))?;
        let client = self.client(Some(request.ip))?;
        let mut flight = self.runtime()?.spawn(exchange(
            client,
            http,
            self.opts.hold_timeout_ms,
            self.opts.response_bytes_max,
            what.clone(),
        ));
        let started = match self.block(self.await_start(slot, &mut flight)) {
            Ok(s) => s,
            Err(e) => {
                flight.abort();
                return Err(e);
            }
        };
        match started {
            Started::Running(session_id, reads) => {
                lock(&self.flights).insert(slot, flight);
                Ok(Begun::Running { session_id, reads })
            }
            Started::Finished(Ok(Ok(raw))) => {
                let response = web_outcome(raw, &what)?;
                if response.status == 200 {
                    return Err(SutError::Protocol(format!(
                        "{what}: the held request was answered 200 before its end"
                    )));
                }
                Ok(Begun::Done(response))
            }
            Started::Finished(Ok(Err(e))) => Err(e),
            Started::Finished(Err(join)) => Err(SutError::Transport(format!(
                "{what}: the request's task failed: {join}"
            ))),
            Started::Failed(e) => {
                flight.abort();
                Err(e)
            }
        }
    }

    fn end(&self, slot: Slot, actions: &[WireAction]) -> Result<Response, SutError> {
        let Some(mut flight) = lock(&self.flights).remove(&slot) else {
            return Err(SutError::Unsupported(format!("slot {slot} is empty")));
        };
        let what = format!("end of slot {slot}");
        let body = ActionsV1 {
            actions: proto::actions_v1(actions),
        };
        let path = format!("{}/{slot}/end", proto::PATH_SLOTS);
        let ended: Result<EndedV1, SutError> =
            self.control(Method::POST, &path, Some(&body), &what);
        if let Err(e) = ended {
            flight.abort();
            return Err(e);
        }
        let timeout_ms = self.opts.request_timeout_ms;
        let held = self.block(async {
            tokio::time::timeout(Duration::from_millis(timeout_ms), &mut flight).await
        })?;
        match held {
            Ok(Ok(Ok(raw))) => web_outcome(raw, &what),
            Ok(Ok(Err(e))) => Err(e),
            Ok(Err(join)) => Err(SutError::Transport(format!(
                "{what}: the held request's task failed: {join}"
            ))),
            Err(_) => {
                flight.abort();
                Err(SutError::CallTimeout {
                    call: format!("{what}: the held answer"),
                    ms: timeout_ms,
                })
            }
        }
    }

    fn non_web(&self, process: u8, actions: &[WireAction]) -> Result<Vec<WireRead>, SutError> {
        let body = NonWebV1 {
            process,
            actions: proto::actions_v1(actions),
        };
        let reads: ReadsV1 =
            self.control(Method::POST, proto::PATH_NON_WEB, Some(&body), "non-web")?;
        Ok(proto::wire_reads(reads.reads))
    }

    fn set_option(&self, option: &OptionSet) -> Result<(), SutError> {
        let _: OkV1 = self.control(
            Method::POST,
            proto::PATH_OPTION,
            Some(&OptionV1::from(option)),
            "option",
        )?;
        // The suite's view: WEB SET OPTION ignores out-of-range values, and so does this.
        lock(&self.options).apply(option);
        Ok(())
    }

    fn set_hook(&self, behavior: &WireHook) -> Result<(), SutError> {
        let _: OkV1 = self.control(
            Method::POST,
            proto::PATH_HOOK,
            Some(&HookV1::from(behavior)),
            "hook",
        )?;
        Ok(())
    }

    fn advance(&self, seconds: u64) -> Result<(), SutError> {
        let _: OkV1 = self.control(
            Method::POST,
            proto::PATH_ADVANCE,
            Some(&AdvanceV1 { seconds }),
            "clock advance",
        )?;
        Ok(())
    }

    fn take_hook_runs(&self) -> Result<Vec<WireHookRun>, SutError> {
        let what = "hook runs";
        if !self.paged {
            let runs: HookRunsV1 =
                self.control(Method::POST, proto::PATH_HOOK_RUNS_TAKE, None::<&()>, what)?;
            return into_wire_runs(runs.runs, what);
        }
        self.take_pages(Vec::new())
    }

    fn locks(&self) -> Result<BTreeMap<RecordRef, WireProc>, SutError> {
        let locks: LocksV1 = self.control(Method::GET, proto::PATH_LOCKS, None::<&()>, "locks")?;
        locks
            .into_wire()
            .map_err(|e| SutError::Protocol(format!("locks: {e}")))
    }

    fn ipvars(&self) -> Result<BTreeMap<VarName, i64>, SutError> {
        let vars: IpvarsV1 =
            self.control(Method::GET, proto::PATH_IPVARS, None::<&()>, "ipvars")?;
        vars.into_wire()
            .map_err(|e| SutError::Protocol(format!("ipvars: {e}")))
    }

    fn observe(&self, shared: bool) -> Result<Observed, SutError> {
        if !self.observe {
            // A server without the optional endpoint: the three calls.
            return wlcs_plugin::observe_by_parts(self, shared);
        }
        let what = "observe";
        let o: ObservedV1 = self.control(
            Method::POST,
            proto::PATH_OBSERVE,
            Some(&ObserveV1 {
                shared,
                max_runs: self.paged.then(|| self.page_runs()),
            }),
            what,
        )?;
        if o.more && !self.paged {
            return Err(SutError::Protocol(format!(
                "{what}: the server answered a page of hook runs (\"more\") unasked"
            )));
        }
        let protocol = |e: String| SutError::Protocol(format!("{what}: {e}"));
        if shared != (o.locks.is_some() && o.ipvars.is_some()) {
            return Err(protocol(format!(
                "asked for shared state: {shared}, got locks: {}, ipvars: {}",
                o.locks.is_some(),
                o.ipvars.is_some()
            )));
        }
        let mut hook_runs = into_wire_runs(o.runs, what)?;
        if o.more {
            hook_runs = self.take_pages(hook_runs)?;
        }
        Ok(Observed {
            hook_runs,
            locks: o
                .locks
                .map(|locks| LocksV1 { locks }.into_wire().map_err(protocol))
                .transpose()?,
            ipvars: o
                .ipvars
                .map(|ipvars| IpvarsV1 { ipvars }.into_wire().map_err(protocol))
                .transpose()?,
        })
    }

    /// The name the suite's calls set (the reset's default, then every selector 73 option),
    /// as the adapter tracks it to send the cookie: lets an adapter itself be served.
    fn session_cookie_name(&self) -> Result<String, SutError> {
        Ok(lock(&self.options).cookie_name.clone())
    }
}

/// The wire runs of protocol runs; an error names the call.
fn into_wire_runs(runs: Vec<HookRunV1>, what: &str) -> Result<Vec<WireHookRun>, SutError> {
    runs.into_iter()
        .map(|r| {
            r.into_wire()
                .map_err(|e| SutError::Protocol(format!("{what}: {e}")))
        })
        .collect()
}

impl HttpSut {
    /// Runs asked for per page: what fits the answer limit at [`HOOK_RUN_BYTES_BUDGET`] each.
    fn page_runs(&self) -> usize {
        (self.opts.response_bytes_max / HOOK_RUN_BYTES_BUDGET).clamp(1, HOOK_RUNS_PAGE_RUNS)
    }

    /// Paged takes until the server has no run left, appended to `runs` (HARNESS.md "Paged
    /// hook runs").
    fn take_pages(&self, mut runs: Vec<WireHookRun>) -> Result<Vec<WireHookRun>, SutError> {
        let path = format!(
            "{}?max_runs={}",
            proto::PATH_HOOK_RUNS_TAKE,
            self.page_runs()
        );
        for page in 0..HOOK_RUNS_PAGES_MAX {
            let what = format!("hook runs (page {page})");
            let taken: HookRunsV1 = self.control(Method::POST, &path, None::<&()>, &what)?;
            runs.extend(into_wire_runs(taken.runs, &what)?);
            if !taken.more {
                return Ok(runs);
            }
        }
        Err(SutError::Protocol(format!(
            "hook runs: still \"more\" after {HOOK_RUNS_PAGES_MAX} pages"
        )))
    }
}
