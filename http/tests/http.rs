//! The HTTP module end to end at unit level: the reference server and the adapter round-trip
//! real cookies, real client addresses and held requests; malformed requests get 4xx JSON;
//! a server that speaks garbage, drops the connection or hangs is a protocol, transport or
//! timeout error; the JSON shapes are exactly HARNESS.md's examples.
//!
//! Every server binds 127.0.0.1:0; every client sends from 127.0.0.1 or 127.0.0.2; every
//! wait is bounded.

// A test: a failed unwrap or expect is a failed test, with its message (STYLE.md allows them here).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use wlcs_http::proto::{
    self, ActionV1, AdvanceV1, CapabilitiesV1, EndedV1, ErrorBodyV1, ErrorV1, HookRunV1,
    HookRunsV1, HookV1, IpvarsV1, LockV1, LocksV1, ModeV1, NonWebV1, ObserveV1, ObservedV1, OkV1,
    OptionV1, OwnerV1, ReadV1, ReadsV1, ResetV1, SlotStateV1, SlotV1, VarV1, WebResultV1,
};
use wlcs_http::server::ip_index;
use wlcs_http::{ClientOptions, HttpSut, ServeError, ServeOptions, ServerHandle, serve};
use wlcs_model::vocab::{
    ContextSnapshot, LockState, OptionSet, RecordRef, SessionMode, WorldConfig,
};
use wlcs_sut::memory::MemorySut;
use wlcs_sut::{
    Begun, Capabilities, Sut, SutError, WireAction, WireHookRun, WireId, WireProc, WireRead,
    WireRequest,
};

const HARNESS_MD: &str = include_str!("../../HARNESS.md");
/// Longest any fake server or raw exchange of these tests waits.
const TEST_WAIT_MS: u64 = 5_000;

fn serve_memory() -> ServerHandle {
    let addr: SocketAddr = "127.0.0.1:0".parse().expect("literal address");
    serve(addr, Arc::new(MemorySut::new()), ServeOptions::default()).expect("server starts")
}

fn connect(server: &ServerHandle) -> HttpSut {
    let sut = HttpSut::connect(&server.base_url()).expect("adapter connects");
    sut.reset(&WorldConfig::default()).expect("reset");
    sut
}

fn web(ip: u8, cookie: Option<&str>, actions: Vec<WireAction>) -> WireRequest {
    WireRequest {
        ip,
        cookie: cookie.map(str::to_string),
        mobile: None,
        actions,
    }
}

fn id_of(response: &wlcs_sut::Response) -> String {
    response
        .session_id
        .clone()
        .expect("the request ran in a session")
}

// ---------------------------------------------------------------------------------------------
// Round trips against the reference server
// ---------------------------------------------------------------------------------------------

#[test]
fn cookies_travel_in_real_headers() {
    let server = serve_memory();
    let sut = connect(&server);

    // REQ-1: no cookie, a new session announced in a real Set-Cookie.
    let first = sut.request(&web(0, None, vec![])).expect("request");
    assert_eq!(first.status, 200);
    let id = id_of(&first);
    let issued = first.set_cookies.last().expect("a Set-Cookie header");
    assert_eq!(issued.name, "4DSID_wlcs");
    assert_eq!(issued.value, id);
    assert!(!issued.expiring, "{issued:?}");
    for attr in ["Path=/", "SameSite=Strict", "Max-Age=28800"] {
        assert!(
            issued.raw.contains(attr),
            "{attr} missing in {:?}",
            issued.raw
        );
    }

    // REQ-2 then CLOSE-11/CLOSE-4: the cookie reaches the session; a self-close expires it.
    let second = sut
        .request(&web(
            0,
            Some(&id),
            vec![
                WireAction::SetVar { var: 1, value: 7 },
                WireAction::GetVar { var: 1 },
                WireAction::Close {
                    id: WireId::Current,
                },
            ],
        ))
        .expect("request");
    assert_eq!(second.session_id.as_deref(), Some(id.as_str()));
    assert_eq!(
        second.reads,
        vec![WireRead::Done, WireRead::Var(Some(7)), WireRead::Done]
    );
    let expired = second.set_cookies.last().expect("an expiring Set-Cookie");
    assert_eq!(expired.name, "4DSID_wlcs");
    assert!(expired.expiring, "{expired:?}");
    assert!(expired.raw.contains("Max-Age=0"), "{:?}", expired.raw);
    let runs = sut.take_hook_runs().expect("hook runs");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].session_id, id);
    assert_eq!(runs[0].snapshot.vars.get(&1), Some(&7));

    // CLOSE-8: the closed cookie opens a new session with a new cookie.
    let third = sut.request(&web(0, Some(&id), vec![])).expect("request");
    let new_id = id_of(&third);
    assert_ne!(new_id, id);
    assert_eq!(
        third.set_cookies.last().map(|c| c.value.as_str()),
        Some(new_id.as_str())
    );

    // Selector 73: the cookie travels under the new name, and the server finds it there.
    sut.set_option(&OptionSet::CookieName("SID2".into()))
        .expect("option");
    let renamed = sut.request(&web(0, None, vec![])).expect("request");
    let renamed_id = id_of(&renamed);
    assert_eq!(
        renamed.set_cookies.last().map(|c| c.name.as_str()),
        Some("SID2")
    );
    let again = sut
        .request(&web(0, Some(&renamed_id), vec![]))
        .expect("request");
    assert_eq!(again.session_id.as_deref(), Some(renamed_id.as_str()));
    assert!(server.requests_served() >= 8);
    server.shutdown().expect("clean shutdown");
}

#[test]
fn cookie_values_arrive_byte_for_byte() {
    let server = serve_memory();
    let sut = connect(&server);
    let id = id_of(&sut.request(&web(0, None, vec![])).expect("request"));
    // Respellings name no session (REQ-3): each opens a new one, none reaches `id`.
    for cookie in [
        format!(" {id} "),
        id.to_ascii_lowercase(),
        String::new(),
        "x;y".to_string(),
    ] {
        let resp = sut
            .request(&web(0, Some(&cookie), vec![]))
            .expect("request");
        assert_ne!(resp.session_id.as_deref(), Some(id.as_str()), "{cookie:?}");
    }
    // `;` ends a cookie value in HTTP: what follows it is another cookie. So `ID;x` arrives as
    // the ID (HARNESS.md says so); the suite's malformed values never start with a live ID.
    let resp = sut
        .request(&web(0, Some(&format!("{id};x")), vec![]))
        .expect("request");
    assert_eq!(resp.session_id.as_deref(), Some(id.as_str()));
    // A cookie value that cannot be a header is refused before it leaves.
    let err = sut
        .request(&web(0, Some("a\nb"), vec![]))
        .expect_err("not a header");
    assert!(matches!(err, SutError::Unsupported(_)), "{err:?}");
    // The exact ID still reaches the session.
    let resp = sut.request(&web(0, Some(&id), vec![])).expect("request");
    assert_eq!(resp.session_id.as_deref(), Some(id.as_str()));
}

#[test]
fn client_ip_is_the_tcp_peer_address() {
    assert_eq!(ip_index("127.0.0.1".parse().expect("ip")), Some(0));
    assert_eq!(ip_index("127.0.0.2".parse().expect("ip")), Some(1));
    assert_eq!(ip_index("127.0.1.0".parse().expect("ip")), Some(255));
    assert_eq!(ip_index("127.0.1.1".parse().expect("ip")), None);
    assert_eq!(ip_index("10.0.0.1".parse().expect("ip")), None);
    assert_eq!(wlcs_http::client::client_addr(1).to_string(), "127.0.0.2");

    let server = serve_memory();
    let sut = connect(&server);
    assert!(sut.capabilities().multi_ip);
    let id = id_of(&sut.request(&web(0, None, vec![])).expect("request"));
    // REQ-5: the same cookie from 127.0.0.2 is refused while IP validation is on.
    let refused = sut.request(&web(1, Some(&id), vec![])).expect("request");
    assert_eq!(refused.status, 400);
    assert_eq!(refused.session_id, None);
    assert!(refused.reads.is_empty());
    // 127.0.0.2 without a cookie is a client of its own.
    let other = sut.request(&web(1, None, vec![])).expect("request");
    assert_eq!(other.status, 200);
    assert_ne!(other.session_id.as_deref(), Some(id.as_str()));
    // Validation off: the cookie from 127.0.0.2 reaches the session.
    sut.set_option(&OptionSet::IpValidation(false))
        .expect("option");
    let accepted = sut.request(&web(1, Some(&id), vec![])).expect("request");
    assert_eq!(accepted.session_id.as_deref(), Some(id.as_str()));
}

#[test]
fn in_flight_request_is_held_until_end() {
    let server = serve_memory();
    let sut = connect(&server);
    let begun = sut
        .begin(
            0,
            &web(
                0,
                None,
                vec![
                    WireAction::SetVar { var: 1, value: 7 },
                    WireAction::Lock {
                        record: RecordRef {
                            table: 1,
                            record: 4,
                        },
                    },
                    WireAction::GetSessionId,
                ],
            ),
        )
        .expect("begin");
    let Begun::Running { session_id, reads } = begun else {
        panic!("the request should run, got {begun:?}");
    };
    assert_eq!(reads[2], WireRead::SessionId(session_id.clone()));
    // The server really holds it: the slot is still running, seen by a raw poll.
    let (status, _, body) = raw_http(
        server.local_addr(),
        b"GET /wlcs/v1/slots/0 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 200);
    assert!(body.contains("\"state\":\"running\""), "{body}");
    assert_eq!(
        sut.begin(0, &web(0, None, vec![])).map(|_| ()),
        Err(SutError::Unsupported("slot 0 is already in flight".into()))
    );

    // CLOSE-12: a close from a non-web process during the request: invalidated now, hook and
    // reset when it ends; its response expires the cookie.
    let reads = sut
        .non_web(
            0,
            &[WireAction::Close {
                id: WireId::Text(session_id.clone()),
            }],
        )
        .expect("non-web close");
    assert_eq!(reads, vec![WireRead::Done]);
    assert_eq!(sut.take_hook_runs().expect("hook runs"), vec![]);
    let ended = sut.end(0, &[WireAction::GetVar { var: 1 }]).expect("end");
    assert_eq!(ended.status, 200);
    assert_eq!(ended.session_id.as_deref(), Some(session_id.as_str()));
    assert_eq!(ended.reads, vec![WireRead::Var(Some(7))]);
    assert!(
        ended
            .set_cookies
            .iter()
            .any(|c| c.name == "4DSID_wlcs" && c.expiring),
        "{:?}",
        ended.set_cookies
    );
    let runs: Vec<WireHookRun> = sut.take_hook_runs().expect("hook runs");
    assert_eq!(runs.len(), 1);
    assert_eq!(
        runs[0].snapshot,
        ContextSnapshot {
            vars: [(1, 7)].into_iter().collect(),
            selections: Default::default(),
            locks: vec![RecordRef {
                table: 1,
                record: 4
            }],
        }
    );
    assert!(sut.locks().expect("locks").is_empty());
    assert_eq!(
        sut.end(0, &[]),
        Err(SutError::Unsupported("slot 0 is empty".into()))
    );

    // A held request refused at once (REQ-5) answers the begin itself and holds no slot.
    let id = id_of(&sut.request(&web(0, None, vec![])).expect("request"));
    match sut.begin(1, &web(1, Some(&id), vec![])).expect("begin") {
        Begun::Done(resp) => assert_eq!(resp.status, 400),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(matches!(sut.end(1, &[]), Err(SutError::Unsupported(_))));

    // A mode switch while a request is held is refused by the implementation (422).
    assert!(matches!(
        sut.begin(2, &web(0, None, vec![])),
        Ok(Begun::Running { .. })
    ));
    let err = sut
        .set_option(&OptionSet::Mode(SessionMode::Scalable))
        .expect_err("refused while in flight");
    assert!(matches!(err, SutError::Unsupported(_)), "{err:?}");
    // A reset abandons the held request and the next trace starts clean.
    sut.reset(&WorldConfig::default()).expect("reset");
    assert!(matches!(
        sut.begin(2, &web(0, None, vec![])),
        Ok(Begun::Running { .. })
    ));
    assert_eq!(sut.end(2, &[]).map(|r| r.status), Ok(200));
}

#[test]
fn shared_state_endpoints_round_trip() {
    let server = serve_memory();
    let sut = connect(&server);
    let reads = sut
        .non_web(
            3,
            &[
                WireAction::Lock {
                    record: RecordRef {
                        table: 1,
                        record: 2,
                    },
                },
                WireAction::SetIpVar { var: 2, value: 102 },
                WireAction::IsLocked {
                    record: RecordRef {
                        table: 1,
                        record: 2,
                    },
                },
                WireAction::GetSessionId,
                WireAction::GetExpiration {
                    id: WireId::Current,
                },
            ],
        )
        .expect("non-web");
    assert_eq!(
        reads,
        vec![
            WireRead::Locked(true),
            WireRead::Done,
            WireRead::LockState(LockState::Mine),
            WireRead::SessionId(String::new()),
            WireRead::Expiration(None),
        ]
    );
    let locks = sut.locks().expect("locks");
    assert_eq!(
        locks.get(&RecordRef {
            table: 1,
            record: 2
        }),
        Some(&WireProc::NonWeb(3))
    );
    assert_eq!(sut.ipvars().expect("ipvars").get(&2), Some(&102));
    let id = id_of(&sut.request(&web(0, None, vec![])).expect("request"));
    sut.advance(60).expect("advance");
    let reads = sut
        .non_web(
            0,
            &[WireAction::GetExpiration {
                id: WireId::Text(id),
            }],
        )
        .expect("non-web");
    assert_eq!(reads, vec![WireRead::Expiration(Some(480 * 60))]);
    sut.set_hook(&wlcs_sut::WireHook::Fail).expect("hook");
}

#[test]
fn mobile_lanes_share_one_cookie() {
    let server = serve_memory();
    let sut = connect(&server);
    let mut lane0 = web(0, None, vec![WireAction::SetVar { var: 1, value: 5 }]);
    lane0.mobile = Some(0);
    let id = id_of(&sut.request(&lane0).expect("request"));
    let mut lane1 = web(0, Some(&id), vec![WireAction::GetVar { var: 1 }]);
    lane1.mobile = Some(1);
    let resp = sut.request(&lane1).expect("request");
    // MOBILE-3: the same session, and a process of its own (its variables start empty).
    assert_eq!(resp.session_id.as_deref(), Some(id.as_str()));
    assert_eq!(resp.reads, vec![WireRead::Var(None)]);
    sut.non_web(
        0,
        &[WireAction::Close {
            id: WireId::Text(id),
        }],
    )
    .expect("close");
    // MOBILE-2: one hook run per process.
    assert_eq!(sut.take_hook_runs().expect("hook runs").len(), 2);
}

#[test]
fn held_request_without_end_is_ended_by_the_server() {
    let addr: SocketAddr = "127.0.0.1:0".parse().expect("literal address");
    let opts = ServeOptions {
        hold_timeout_ms: 200,
        ..ServeOptions::default()
    };
    let server = serve(addr, Arc::new(MemorySut::new()), opts).expect("server starts");
    let sut = connect(&server);
    let Ok(Begun::Running { session_id, .. }) = sut.begin(0, &web(0, None, vec![])) else {
        panic!("the request should run");
    };
    // Until the server gives up on it, the session is busy (a harness error); then its cookie
    // reaches it again.
    let deadline = Instant::now() + Duration::from_millis(TEST_WAIT_MS);
    let resp = loop {
        std::thread::sleep(Duration::from_millis(50));
        match sut.request(&web(0, Some(&session_id), vec![])) {
            Ok(resp) => break resp,
            Err(SutError::Unsupported(_)) if Instant::now() < deadline => {}
            Err(e) => panic!("the server never ended the held request: {e:?}"),
        }
    };
    assert_eq!(resp.session_id.as_deref(), Some(session_id.as_str()));
    // The slot is empty on the server: `end` says so.
    let err = sut.end(0, &[]).expect_err("ended by the server");
    assert!(matches!(err, SutError::Unsupported(_)), "{err:?}");
}

#[test]
fn server_binds_loopback_only_and_shuts_down_with_a_held_request() {
    let anywhere: SocketAddr = "0.0.0.0:0".parse().expect("literal");
    let err = serve(
        anywhere,
        Arc::new(MemorySut::new()),
        ServeOptions::default(),
    )
    .expect_err("not loopback");
    assert!(matches!(err, ServeError::NotLoopback(_)), "{err}");
    let server = serve_memory();
    let sut = connect(&server);
    assert!(matches!(
        sut.begin(0, &web(0, None, vec![])),
        Ok(Begun::Running { .. })
    ));
    let started = Instant::now();
    server.shutdown().expect("graceful shutdown");
    assert!(started.elapsed() < Duration::from_millis(TEST_WAIT_MS));
    // The held request was answered (aborted): `end` reports an error, never hangs.
    assert!(sut.end(0, &[]).is_err());
}

// ---------------------------------------------------------------------------------------------
// Malformed requests get 4xx and a JSON error
// ---------------------------------------------------------------------------------------------

/// Sends raw bytes, reads until the server closes, and splits status, head and body.
fn raw_http(addr: SocketAddr, request: &[u8]) -> (u16, String, String) {
    let mut stream =
        TcpStream::connect_timeout(&addr, Duration::from_millis(TEST_WAIT_MS)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_millis(TEST_WAIT_MS)))
        .expect("timeout");
    stream.write_all(request).expect("write");
    let mut out = Vec::new();
    // The server may reset after answering a request whose body it did not read: keep what
    // arrived.
    let _ = stream.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_string(), body.to_string())
}

fn post(path: &str, extra_headers: &str, body: &[u8]) -> Vec<u8> {
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n{extra_headers}Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    req
}

fn assert_json_error(addr: SocketAddr, request: &[u8], status: u16, code: &str) {
    let (got, head, body) = raw_http(addr, request);
    assert_eq!(got, status, "{head}\n{body}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{head}"
    );
    let error: ErrorBodyV1 = serde_json::from_str(&body).expect("a JSON error body");
    assert_eq!(error.error.code, code, "{body}");
}

#[test]
fn malformed_requests_get_4xx_json() {
    let server = serve_memory();
    let addr = server.local_addr();
    assert_json_error(
        addr,
        &post("/wlcs/v1/web", "", b"{not json"),
        400,
        "bad_json",
    );
    assert_json_error(
        addr,
        &post("/wlcs/v1/web", "", br#"{"actions":[{"op":"fly"}]}"#),
        400,
        "bad_json",
    );
    assert_json_error(
        addr,
        &post("/wlcs/v1/web", "X-WLCS-Slot: abc\r\n", b"{}"),
        400,
        "bad_request",
    );
    assert_json_error(
        addr,
        &post("/wlcs/v1/web", "X-WLCS-Mobile: 300\r\n", b"{}"),
        400,
        "bad_request",
    );
    assert_json_error(
        addr,
        &post("/wlcs/v1/reset", "", &vec![b' '; 70 * 1024]),
        413,
        "too_large",
    );
    assert_json_error(
        addr,
        &post("/wlcs/v1/option", "", br#"{"option":"warp","value":9}"#),
        400,
        "bad_json",
    );
    assert_json_error(
        addr,
        b"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        404,
        "not_found",
    );
    assert_json_error(
        addr,
        b"GET /wlcs/v1/reset HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        405,
        "method_not_allowed",
    );
    assert_json_error(
        addr,
        b"GET /wlcs/v1/slots/999 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        400,
        "bad_request",
    );
    assert_json_error(
        addr,
        b"GET /wlcs/v1/slots/0?wait_ms=soon HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        400,
        "bad_request",
    );
    assert_json_error(
        addr,
        &post("/wlcs/v1/slots/3/end", "", b""),
        409,
        "slot_empty",
    );
    // Not HTTP at all: hyper answers 400 itself and closes.
    let (status, _, _) = raw_http(addr, b"HELLO\r\n\r\n");
    assert_eq!(status, 400);
    // The server is still fine.
    let sut = connect(&server);
    assert_eq!(
        sut.request(&web(0, None, vec![])).map(|r| r.status),
        Ok(200)
    );
}

// ---------------------------------------------------------------------------------------------
// Servers that misbehave
// ---------------------------------------------------------------------------------------------

/// What a fake server does with one connection.
enum Fake {
    /// Answers these bytes, then closes.
    Answer(Vec<u8>),
    /// Closes without answering.
    Drop,
    /// Keeps the connection open, silent, until the test says stop (or `TEST_WAIT_MS`).
    Hang,
}

fn http_answer(status: &str, body: &str) -> Fake {
    Fake::Answer(
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

fn capabilities_answer() -> Fake {
    let caps = CapabilitiesV1 {
        protocol: 1,
        name: "fake".into(),
        capabilities: Capabilities::ALL.into(),
        features: vec![],
        worlds: None,
    };
    http_answer("200 OK", &serde_json::to_string(&caps).expect("encode"))
}

/// Reads one request (head, then a Content-Length body), bounded in size and time.
fn read_request(stream: &mut TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(TEST_WAIT_MS)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while buf.len() < 1 << 20 {
        let Ok(n) = stream.read(&mut chunk) else {
            return;
        };
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).to_ascii_lowercase();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                return;
            }
        }
    }
}

/// A server on 127.0.0.1:0 that plays `script`, one entry per connection, then stops.
fn fake_server(script: Vec<Fake>) -> (SocketAddr, mpsc::Sender<()>, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("addr");
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_millis(TEST_WAIT_MS);
        for step in script {
            let mut stream = loop {
                match listener.accept() {
                    Ok((s, _)) => break s,
                    Err(_) if Instant::now() < deadline => {
                        if stop_rx.recv_timeout(Duration::from_millis(5)).is_ok() {
                            return;
                        }
                    }
                    Err(_) => return,
                }
            };
            let _ = stream.set_nonblocking(false);
            read_request(&mut stream);
            match step {
                Fake::Answer(bytes) => {
                    let _ = stream.write_all(&bytes);
                }
                Fake::Drop => {}
                Fake::Hang => {
                    let _ = stop_rx.recv_timeout(Duration::from_millis(TEST_WAIT_MS));
                }
            }
        }
    });
    (addr, stop_tx, thread)
}

#[test]
fn garbage_speaking_server_is_a_protocol_error() {
    // Valid HTTP, not the protocol's JSON.
    let (addr, _stop, thread) = fake_server(vec![http_answer("200 OK", "hello")]);
    let err = HttpSut::connect(&format!("http://{addr}")).expect_err("garbage capabilities");
    assert!(matches!(err, SutError::Protocol(_)), "{err:?}");
    thread.join().expect("fake server");

    // Not HTTP at all.
    let (addr, _stop, thread) =
        fake_server(vec![Fake::Answer(b"SSH-2.0-OpenSSH_9.6\r\n".to_vec())]);
    let err = HttpSut::connect(&format!("http://{addr}")).expect_err("not HTTP");
    assert!(matches!(err, SutError::Protocol(_)), "{err:?}");
    thread.join().expect("fake server");

    // The right capabilities, then a web answer outside the protocol, then an unknown status,
    // then a body too large.
    let (addr, _stop, thread) = fake_server(vec![
        capabilities_answer(),
        http_answer("200 OK", r#"{"session_id":"A","reads":[{"kind":"warp"}]}"#),
        http_answer("200 OK", r#"{"reads":[]}"#),
        http_answer("418 I'm a teapot", "short and stout"),
        http_answer(
            "500 Internal Server Error",
            r#"{"error":{"code":"panic","message":"boom"}}"#,
        ),
        http_answer("200 OK", &" ".repeat(2048)),
    ]);
    let opts = ClientOptions {
        response_bytes_max: 1024,
        ..ClientOptions::default()
    };
    let sut = HttpSut::connect_with(&format!("http://{addr}"), opts).expect("capabilities");
    for expected in ["unknown read", "no session", "teapot"] {
        let err = sut.request(&web(0, None, vec![])).expect_err(expected);
        assert!(matches!(err, SutError::Protocol(_)), "{expected}: {err:?}");
    }
    let err = sut.request(&web(0, None, vec![])).expect_err("panic");
    assert!(matches!(err, SutError::Panic(_)), "{err:?}");
    let err = sut.locks().expect_err("too large");
    assert!(
        matches!(&err, SutError::Protocol(m) if m.contains("exceeds")),
        "{err:?}"
    );
    thread.join().expect("fake server");
}

#[test]
fn dropped_connection_is_a_transport_error() {
    let (addr, _stop, thread) = fake_server(vec![Fake::Drop]);
    let err = HttpSut::connect(&format!("http://{addr}")).expect_err("dropped");
    assert!(matches!(err, SutError::Transport(_)), "{err:?}");
    thread.join().expect("fake server");

    // Nobody listening.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let err = HttpSut::connect(&format!("http://127.0.0.1:{port}")).expect_err("refused");
    assert!(matches!(err, SutError::Transport(_)), "{err:?}");

    // Not http://.
    let err = HttpSut::connect("https://127.0.0.1:1").expect_err("no TLS");
    assert!(matches!(err, SutError::Unsupported(_)), "{err:?}");
}

#[test]
fn hung_server_is_a_timeout() {
    let (addr, stop, thread) = fake_server(vec![capabilities_answer(), Fake::Hang]);
    let opts = ClientOptions {
        request_timeout_ms: 300,
        ..ClientOptions::default()
    };
    let sut = HttpSut::connect_with(&format!("http://{addr}"), opts).expect("capabilities");
    let started = Instant::now();
    let err = sut.request(&web(0, None, vec![])).expect_err("hang");
    assert_eq!(
        err,
        SutError::CallTimeout {
            call: "web request".into(),
            ms: 300
        }
    );
    assert!(started.elapsed() < Duration::from_millis(TEST_WAIT_MS));
    let _ = stop.send(());
    thread.join().expect("fake server");
}

#[test]
fn adapter_refuses_to_block_inside_a_runtime() {
    let server = serve_memory();
    let sut = connect(&server);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let err = rt.block_on(async { sut.request(&web(0, None, vec![])) });
    assert!(matches!(err, Err(SutError::Unsupported(_))), "{err:?}");
}

// ---------------------------------------------------------------------------------------------
// The protocol's shapes are HARNESS.md's
// ---------------------------------------------------------------------------------------------

const ID: &str = "3F2B8C1D9E4A4B7C8D1E2F3A4B5C6D7E";

/// A protocol value whose JSON HARNESS.md shows, type-erased so that one table holds every
/// shape.
trait Example {
    /// Its JSON, as the protocol sends it.
    fn json(&self) -> String;
    /// Decodes `json` and says how it differs from the value, if it does.
    fn read_back(&self, json: &str) -> Result<(), String>;
}

impl<T> Example for T
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    fn json(&self) -> String {
        serde_json::to_string(self).expect("encode")
    }

    fn read_back(&self, json: &str) -> Result<(), String> {
        let back: T = serde_json::from_str(json).expect("decode");
        if &back == self {
            Ok(())
        } else {
            Err(format!("{back:?} != {self:?}"))
        }
    }
}

/// One row of the table: the call (or the part of one) a shape belongs to, and the example.
type Row = (&'static str, Box<dyn Example>);

fn row(call: &'static str, example: impl Example + 'static) -> Row {
    (call, Box::new(example))
}

/// The one check of every row: the example serializes to a string that HARNESS.md shows
/// verbatim, and reads back the same.
fn documented((call, example): &Row) {
    let json = example.json();
    assert!(
        HARNESS_MD.contains(&json),
        "HARNESS.md does not show {json} ({call})"
    );
    if let Err(diff) = example.read_back(&json) {
        panic!("{call}: {json} reads back as another value: {diff}");
    }
}

#[test]
fn protocol_shapes_are_harness_md_examples() {
    let rows = actions()
        .into_iter()
        .map(|a| row("action", a))
        .chain(reads().into_iter().map(|r| row("read", r)))
        .chain(
            options()
                .into_iter()
                .map(|o| row("POST /wlcs/v1/option", o)),
        )
        .chain(control_examples())
        .chain(web_examples())
        .chain(slot_examples())
        .chain(observation_examples());
    for r in rows {
        documented(&r);
    }
}

#[test]
fn documented_shapes_survive_the_wire_types() {
    for a in actions() {
        assert_eq!(ActionV1::from(&WireAction::from(a.clone())), a);
    }
    for r in reads() {
        assert_eq!(ReadV1::from(&WireRead::from(r.clone())), r);
    }
    for o in options() {
        assert_eq!(OptionV1::from(&OptionSet::from(o.clone())), o);
    }
    let run = hook_run();
    assert_eq!(
        HookRunV1::from(&run.clone().into_wire().expect("well formed")),
        run
    );
    assert_eq!(locks().into_wire().map(|m| m.len()), Ok(2));
    let (status, _) = ErrorV1::from_sut_error(&SutError::Timeout(10_000));
    assert_eq!(status, 504);
    // A repeated entry is malformed, not "last one wins".
    let twice = IpvarsV1 {
        ipvars: vec![
            proto::VarV1 { var: 2, value: 1 },
            proto::VarV1 { var: 2, value: 2 },
        ],
    };
    assert!(twice.into_wire().is_err());
}

/// Every action, as HARNESS.md's "Actions and reads" shows it.
fn actions() -> Vec<ActionV1> {
    vec![
        ActionV1::SetVar { var: 1, value: 101 },
        ActionV1::GetVar { var: 1 },
        ActionV1::SetIpvar { var: 2, value: 102 },
        ActionV1::GetIpvar { var: 2 },
        ActionV1::Select {
            table: 2,
            records: vec![3, 1, 3],
        },
        ActionV1::GetSelection { table: 2 },
        ActionV1::Lock {
            table: 1,
            record: 4,
        },
        ActionV1::IsLocked {
            table: 1,
            record: 4,
        },
        ActionV1::GetSessionId,
        ActionV1::Close { id: ID.into() },
        ActionV1::CloseCurrent,
        ActionV1::GetExpiration { id: ID.into() },
        ActionV1::GetExpirationCurrent,
    ]
}

/// Every read, as HARNESS.md's "Actions and reads" shows it.
fn reads() -> Vec<ReadV1> {
    vec![
        ReadV1::Done,
        ReadV1::Var { value: Some(101) },
        ReadV1::Var { value: None },
        ReadV1::Ipvar { value: None },
        ReadV1::Selection { value: vec![1, 3] },
        ReadV1::Locked { value: true },
        ReadV1::LockState {
            value: proto::LockStateV1::Mine,
        },
        ReadV1::SessionId { value: ID.into() },
        ReadV1::Expiration { value: Some(28800) },
        ReadV1::Expiration { value: None },
    ]
}

/// Every WEB SET OPTION the protocol carries.
fn options() -> Vec<OptionV1> {
    vec![
        OptionV1::MaxProcesses(12),
        OptionV1::Mode(ModeV1::Scalable),
        OptionV1::MaxSessions(3),
        OptionV1::CookieTimeoutMin(5),
        OptionV1::CookieName("SID2".into()),
        OptionV1::ProcessTimeoutMin(2),
        OptionV1::IpValidation(false),
    ]
}

/// The control calls' bodies and answers: hook behaviours, the world, capabilities, the
/// clock, `ok`, and the error bodies.
fn control_examples() -> Vec<Row> {
    let hook = "POST /wlcs/v1/hook";
    let (_, timeout) = ErrorV1::from_sut_error(&SutError::Timeout(10_000));
    vec![
        row(hook, HookV1::Save),
        row(hook, HookV1::Fail),
        row(hook, HookV1::CloseOwn),
        row(hook, HookV1::Close { id: ID.into() }),
        row(hook, HookV1::Slow),
        row(
            "POST /wlcs/v1/reset",
            ResetV1::from(&WorldConfig::default()),
        ),
        row(
            "GET /wlcs/v1/capabilities",
            CapabilitiesV1 {
                protocol: 1,
                name: "memory".into(),
                capabilities: Capabilities::ALL.into(),
                features: vec!["observe".into()],
                worlds: None,
            },
        ),
        row(
            "GET /wlcs/v1/capabilities (worlds)",
            CapabilitiesV1 {
                protocol: 1,
                name: "memory".into(),
                capabilities: Capabilities::ALL.into(),
                features: vec!["observe".into(), "worlds".into()],
                worlds: Some(wlcs_http::proto::WorldsV1 {
                    count: 8,
                    this: None,
                }),
            },
        ),
        row("POST /wlcs/v1/clock/advance", AdvanceV1 { seconds: 60 }),
        row("a control call's answer", OkV1 { ok: true }),
        row(
            "an error",
            ErrorBodyV1 {
                error: ErrorV1 {
                    code: "slot_empty".into(),
                    message: "slot 3 holds no request".into(),
                    timeout_ms: None,
                },
            },
        ),
        row("an error", ErrorBodyV1 { error: timeout }),
    ]
}

/// The web endpoint's and the non-web call's bodies and answers.
fn web_examples() -> Vec<Row> {
    let web = "POST /wlcs/v1/web";
    vec![
        row(
            web,
            proto::ActionsV1 {
                actions: vec![
                    ActionV1::SetVar { var: 1, value: 101 },
                    ActionV1::GetSessionId,
                    ActionV1::CloseCurrent,
                ],
            },
        ),
        row(
            web,
            WebResultV1 {
                session_id: Some(ID.into()),
                reads: vec![
                    ReadV1::Done,
                    ReadV1::SessionId { value: ID.into() },
                    ReadV1::Done,
                ],
            },
        ),
        row(
            web,
            WebResultV1 {
                session_id: None,
                reads: vec![],
            },
        ),
        row(
            "POST /wlcs/v1/non-web",
            NonWebV1 {
                process: 0,
                actions: vec![
                    ActionV1::Lock {
                        table: 1,
                        record: 4,
                    },
                    ActionV1::Close { id: ID.into() },
                ],
            },
        ),
        row(
            "POST /wlcs/v1/non-web",
            ReadsV1 {
                reads: vec![ReadV1::Locked { value: true }, ReadV1::Done],
            },
        ),
    ]
}

/// The calls of requests held in flight: a slot's states and the end of its request.
fn slot_examples() -> Vec<Row> {
    let slot = "GET /wlcs/v1/slots/{slot}";
    vec![
        row(
            "POST /wlcs/v1/slots/{slot}/end",
            EndedV1 {
                slot: 0,
                ended: true,
            },
        ),
        row(
            slot,
            SlotV1 {
                slot: 0,
                state: SlotStateV1::Empty,
            },
        ),
        row(
            slot,
            SlotV1 {
                slot: 0,
                state: SlotStateV1::Answered,
            },
        ),
        row(
            slot,
            SlotV1 {
                slot: 0,
                state: SlotStateV1::Running {
                    session_id: ID.into(),
                    reads: vec![ReadV1::Done, ReadV1::Var { value: Some(101) }],
                },
            },
        ),
    ]
}

/// What the checker observes: hook runs, the lock table, the interprocess variables, and the
/// optional `observe` call that answers all three.
fn observation_examples() -> Vec<Row> {
    let observe = "POST /wlcs/v1/observe";
    vec![
        row(
            "POST /wlcs/v1/hook-runs/take",
            HookRunsV1 {
                runs: vec![hook_run()],
                more: false,
            },
        ),
        row("GET /wlcs/v1/locks", locks()),
        row(
            "GET /wlcs/v1/ipvars",
            IpvarsV1 {
                ipvars: vec![proto::VarV1 { var: 2, value: 102 }],
            },
        ),
        row(
            observe,
            ObserveV1 {
                shared: false,
                max_runs: None,
            },
        ),
        row(
            observe,
            ObserveV1 {
                shared: true,
                max_runs: None,
            },
        ),
        row(
            observe,
            ObservedV1 {
                runs: vec![],
                locks: None,
                ipvars: None,
                more: false,
            },
        ),
        row(
            observe,
            ObservedV1 {
                runs: vec![],
                locks: Some(vec![LockV1 {
                    table: 1,
                    record: 2,
                    owner: OwnerV1::NonWeb { process: 0 },
                }]),
                ipvars: Some(vec![VarV1 { var: 2, value: 102 }]),
                more: false,
            },
        ),
    ]
}

/// HARNESS.md's hook run: the session's context when its hook ran.
fn hook_run() -> HookRunV1 {
    HookRunV1 {
        session_id: ID.into(),
        lane: 0,
        failed: false,
        snapshot: proto::SnapshotV1 {
            vars: vec![proto::VarV1 { var: 1, value: 101 }],
            selections: vec![proto::SelectionV1 {
                table: 2,
                records: vec![1, 3],
            }],
            locks: vec![proto::RecordV1 {
                table: 1,
                record: 4,
            }],
        },
    }
}

/// HARNESS.md's lock table: one lock of a web session, one of a non-web process.
fn locks() -> LocksV1 {
    LocksV1 {
        locks: vec![
            proto::LockV1 {
                table: 1,
                record: 4,
                owner: proto::OwnerV1::Web {
                    session_id: ID.into(),
                    lane: 0,
                },
            },
            proto::LockV1 {
                table: 1,
                record: 2,
                owner: proto::OwnerV1::NonWeb { process: 0 },
            },
        ],
    }
}

#[test]
fn set_cookie_parsing_follows_rfc_6265() {
    use wlcs_http::client::parse_set_cookie;
    let cases = [
        ("A=1; Path=/; Max-Age=60", "1", false),
        ("A=1; Max-Age=0", "1", true),
        ("A=1; Max-Age=-5", "1", true),
        ("A=; Expires=Thu, 01 Jan 1970 00:00:00 GMT", "", true),
        ("A=2; Expires=Fri, 01 Jan 2100 00:00:00 GMT", "2", false),
        // Max-Age wins over Expires (RFC 6265 5.3 step 3).
        (
            "A=3; Max-Age=60; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
            "3",
            false,
        ),
        (
            "A=4; Expires=Fri, 01 Jan 2100 00:00:00 GMT; Max-Age=0",
            "4",
            true,
        ),
        ("A=5", "5", false),
    ];
    for (raw, value, expiring) in cases {
        let parsed = parse_set_cookie(raw).expect("parses");
        assert_eq!(parsed.name, "A", "{raw}");
        assert_eq!(parsed.value, value, "{raw}");
        assert_eq!(parsed.expiring, expiring, "{raw}");
        assert_eq!(parsed.raw, raw);
    }
    assert!(matches!(
        parse_set_cookie("=novalue"),
        Err(SutError::Protocol(_))
    ));
}

// ---------------------------------------------------------------------------------------------
// The server cannot be locked out (HARNESS.md "Connections and limits")
// ---------------------------------------------------------------------------------------------

/// How long a new client and a control call may take while the server is under a lock-out
/// attempt.
const LOCKOUT_SERVED_MS: u128 = 1_000;
/// Idle keep-alive connections of the lock-out test (the old connection limit).
const IDLE_CONNECTIONS: usize = 256;
/// Partial request heads of the slowloris test.
const PARTIAL_HEADS: usize = 2_000;

/// The smallest connection limit a server accepts: every lock-out scenario then overflows it,
/// so eviction, not headroom, is what keeps new clients served.
fn tight_opts() -> ServeOptions {
    ServeOptions {
        connections_max: 0, // raised to SLOTS + CONNECTIONS_RESERVED
        ..ServeOptions::default()
    }
}

/// A new client connects, runs a web request and a control call, within
/// [`LOCKOUT_SERVED_MS`]; returns how long it took.
fn new_client_is_served(server: &ServerHandle, what: &str) -> u128 {
    let started = Instant::now();
    let sut = HttpSut::connect(&server.base_url()).expect("a new client connects");
    let resp = sut.request(&web(0, None, vec![])).expect("a web request");
    assert_eq!(resp.status, 200);
    sut.non_web(0, &[WireAction::GetSessionId])
        .expect("a control call");
    let ms = started.elapsed().as_millis();
    println!("{what}: new client and control call served in {ms} ms");
    assert!(ms < LOCKOUT_SERVED_MS, "{what}: {ms} ms");
    ms
}

/// Opens `n` connections to `addr` (in 127.0.0.1..), each sent `bytes`.
fn open_connections(addr: SocketAddr, n: usize, bytes: &[u8]) -> Vec<TcpStream> {
    (0..n)
        .map(|_| {
            let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(TEST_WAIT_MS))
                .expect("connect");
            s.write_all(bytes).expect("write");
            s
        })
        .collect()
}

#[test]
fn idle_keep_alive_connections_do_not_lock_out_new_clients() {
    for (name, opts) in [
        ("default", ServeOptions::default()),
        ("tight", tight_opts()),
    ] {
        let addr: SocketAddr = "127.0.0.1:0".parse().expect("literal address");
        let server = serve(addr, Arc::new(MemorySut::new()), opts).expect("server starts");
        let request = b"GET /wlcs/v1/capabilities HTTP/1.1\r\nHost: x\r\n\r\n";
        let mut idle = open_connections(server.local_addr(), IDLE_CONNECTIONS, request);
        // Each got its answer and now sits idle, kept alive.
        for s in &mut idle {
            s.set_read_timeout(Some(Duration::from_millis(TEST_WAIT_MS)))
                .expect("timeout");
            let mut buf = [0u8; 512];
            let n = s.read(&mut buf).expect("an answer");
            assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        }
        new_client_is_served(
            &server,
            &format!("{IDLE_CONNECTIONS} idle keep-alive ({name})"),
        );
        drop(idle);
        server.shutdown().expect("clean shutdown");
    }
}

#[test]
fn slowloris_heads_do_not_lock_out_new_clients() {
    for (name, opts) in [
        ("default", ServeOptions::default()),
        ("tight", tight_opts()),
    ] {
        let addr: SocketAddr = "127.0.0.1:0".parse().expect("literal address");
        let server = serve(addr, Arc::new(MemorySut::new()), opts).expect("server starts");
        let partial = b"POST /wlcs/v1/web HTTP/1.1\r\nHost: x\r\nX-Slow: ";
        let heads = open_connections(server.local_addr(), PARTIAL_HEADS, partial);
        new_client_is_served(&server, &format!("{PARTIAL_HEADS} partial heads ({name})"));
        drop(heads);
        server.shutdown().expect("clean shutdown");
    }
}

#[test]
fn partial_heads_are_closed_after_the_header_read_timeout() {
    let addr: SocketAddr = "127.0.0.1:0".parse().expect("literal address");
    let opts = ServeOptions {
        header_read_timeout_ms: 200,
        ..ServeOptions::default()
    };
    let server = serve(addr, Arc::new(MemorySut::new()), opts).expect("server starts");
    let mut partial = open_connections(server.local_addr(), 1, b"GET /wlcs/v1/capab");
    let mut idle = open_connections(
        server.local_addr(),
        1,
        b"GET /wlcs/v1/capabilities HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    let started = Instant::now();
    for s in partial.iter_mut().chain(idle.iter_mut()) {
        s.set_read_timeout(Some(Duration::from_millis(TEST_WAIT_MS)))
            .expect("timeout");
        let mut all = Vec::new();
        // Ends with EOF (or a reset) once the server closes it.
        let _ = s.read_to_end(&mut all);
    }
    let ms = started.elapsed().as_millis();
    assert!(ms < 2_000, "the server kept half-open connections {ms} ms");
    server.shutdown().expect("clean shutdown");
}

#[test]
fn control_calls_are_served_while_every_slot_holds_a_request() {
    for (name, opts) in [
        ("default", ServeOptions::default()),
        ("tight", tight_opts()),
    ] {
        let addr: SocketAddr = "127.0.0.1:0".parse().expect("literal address");
        let server = serve(addr, Arc::new(MemorySut::new()), opts).expect("server starts");
        let sut = connect(&server);
        sut.set_option(&OptionSet::MaxProcesses(32_000))
            .expect("option");
        sut.set_option(&OptionSet::MaxSessions(32_000))
            .expect("option");
        for slot in 0..=255u8 {
            let begun = sut.begin(slot, &web(0, None, vec![])).expect("begin");
            assert!(
                matches!(begun, Begun::Running { .. }),
                "slot {slot}: {begun:?}"
            );
        }
        // Slowloris on top: the held requests and the partial heads fill every permit.
        let heads = open_connections(server.local_addr(), PARTIAL_HEADS / 4, b"GET /wl");
        let started = Instant::now();
        let other = HttpSut::connect(&server.base_url()).expect("a control client connects");
        assert!(other.locks().expect("a control call").is_empty());
        assert_eq!(sut.end(0, &[]).map(|r| r.status), Ok(200));
        let ms = started.elapsed().as_millis();
        println!("256 held requests ({name}): control calls and an end served in {ms} ms");
        assert!(ms < LOCKOUT_SERVED_MS, "{name}: {ms} ms");
        drop(heads);
        sut.reset(&WorldConfig::default())
            .expect("reset frees the slots");
        server.shutdown().expect("clean shutdown");
    }
}

// ---------------------------------------------------------------------------------------------
// Slot states (HARNESS.md "Slot states"): `answered` is polled on every schedule
// ---------------------------------------------------------------------------------------------

/// Refused held requests in the strict-slot test.
const REFUSED_BEGINS: usize = 200;

#[test]
fn refused_held_requests_clear_their_slot_on_a_strict_server() {
    let addr: SocketAddr = "127.0.0.1:0".parse().expect("literal address");
    let opts = ServeOptions {
        strict_slots: true,
        ..ServeOptions::default()
    };
    let server = serve(addr, Arc::new(MemorySut::new()), opts).expect("server starts");
    let sut = connect(&server);
    sut.set_option(&OptionSet::IpValidation(true))
        .expect("option");
    let id = id_of(&sut.request(&web(0, None, vec![])).expect("request"));
    // Each refusal (REQ-5: another client IP) leaves `answered` in its slot until polled; the
    // strict server refuses the next begin there (422) unless the adapter polled it.
    for i in 0..REFUSED_BEGINS {
        let slot = u8::try_from(i % 3).expect("small");
        match sut.begin(slot, &web(1, Some(&id), vec![])) {
            Ok(Begun::Done(resp)) => assert_eq!(resp.status, 400, "begin {i}"),
            other => panic!("begin {i} in slot {slot}: {other:?}"),
        }
    }
    // And a held request that runs still works in those slots.
    for slot in 0..3u8 {
        let begun = sut.begin(slot, &web(0, Some(&id), vec![]));
        assert!(matches!(begun, Ok(Begun::Running { .. })), "{begun:?}");
        assert_eq!(sut.end(slot, &[]).map(|r| r.status), Ok(200));
    }
    // The server really is strict: a refused begin that nobody polls blocks its slot. The
    // session belongs to IP 1; raw requests come from 127.0.0.1, IP 0, and are refused.
    let id1 = id_of(&sut.request(&web(1, None, vec![])).expect("request"));
    let begin = post(
        "/wlcs/v1/web",
        &format!("Cookie: 4DSID_wlcs={id1}\r\nX-WLCS-Slot: 9\r\n"),
        b"{}",
    );
    assert_eq!(raw_http(server.local_addr(), &begin).0, 400);
    assert_json_error(server.local_addr(), &begin, 422, "unsupported");
    let poll = b"GET /wlcs/v1/slots/9 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let (status, _, body) = raw_http(server.local_addr(), poll);
    assert_eq!(status, 200);
    assert!(body.contains("\"state\":\"answered\""), "{body}");
    assert_eq!(raw_http(server.local_addr(), &begin).0, 400);
    server.shutdown().expect("clean shutdown");
}

// ---------------------------------------------------------------------------------------------
// Paged hook runs (HARNESS.md "Paged hook runs")
// ---------------------------------------------------------------------------------------------

/// Hook runs of the paging test: far more than one small page.
const PAGED_RUNS: usize = 3_000;

#[test]
fn paged_takes_carry_hook_runs_past_the_answer_limit() {
    let server = serve_memory();
    let opts = ClientOptions {
        // About 40 runs' worth: one unpaged answer of 3 000 runs could never fit.
        response_bytes_max: 8 * 1024,
        ..ClientOptions::default()
    };
    let sut = HttpSut::connect_with(&server.base_url(), opts).expect("adapter connects");
    sut.reset(&WorldConfig::default()).expect("reset");
    sut.set_option(&OptionSet::MaxProcesses(32_000))
        .expect("option");
    sut.set_option(&OptionSet::MaxSessions(32_000))
        .expect("option");
    let mut ids = Vec::new();
    for i in 0..PAGED_RUNS {
        let value = i64::try_from(i).expect("small");
        let resp = sut
            .request(&web(0, None, vec![WireAction::SetVar { var: 1, value }]))
            .expect("request");
        ids.push(id_of(&resp));
    }
    let closes: Vec<WireAction> = ids
        .iter()
        .map(|id| WireAction::Close {
            id: WireId::Text(id.clone()),
        })
        .collect();
    for chunk in closes.chunks(200) {
        sut.non_web(0, chunk).expect("closes");
    }
    // One observe, then the rest in pages: every run, in order.
    let observed = sut.observe(true).expect("observe");
    assert_eq!(observed.hook_runs.len(), PAGED_RUNS);
    for (i, (run, id)) in observed.hook_runs.iter().zip(&ids).enumerate() {
        assert_eq!(&run.session_id, id, "run {i}");
        let value = i64::try_from(i).expect("small");
        assert_eq!(run.snapshot.vars.get(&1), Some(&value), "run {i}");
    }
    assert!(sut.take_hook_runs().expect("take").is_empty());
    // Take alone, in pages; and a raw take that asks for a page gets one, with `more`.
    for i in 0..100 {
        let resp = sut
            .request(&web(0, None, vec![WireAction::SetVar { var: 1, value: i }]))
            .expect("request");
        sut.non_web(
            0,
            &[WireAction::Close {
                id: WireId::Text(id_of(&resp)),
            }],
        )
        .expect("close");
    }
    let raw = raw_http(
        server.local_addr(),
        &post("/wlcs/v1/hook-runs/take?max_runs=7", "", b""),
    );
    assert_eq!(raw.0, 200);
    let page: HookRunsV1 = serde_json::from_str(&raw.2).expect("a page");
    assert_eq!(page.runs.len(), 7);
    assert!(page.more);
    let rest = sut.take_hook_runs().expect("take");
    assert_eq!(rest.len(), 93, "the rest, after the raw page");
    server.shutdown().expect("clean shutdown");
}
