//! Fuzzing on stable Rust: seeded, structure-aware loops over the three parsers that face
//! untrusted input: the fixture parser ([`Fixture::parse`]), the adapter's `Set-Cookie`
//! handling ([`wlcs_http::client::parse_set_cookie`]) and the reference server's request
//! handling (raw HTTP/1.1 against a served reference).
//!
//! Why not cargo-fuzz: it needs a nightly compiler. These loops take a committed corpus
//! (`fuzz/corpus/<target>/`), mutate it at the level of its structure (JSON values, cookie
//! attributes, HTTP head lines and JSON bodies) with one [`ChaCha8Rng`] seeded from a printed
//! `u64`, and count a *crash* whenever the target panics or breaks its contract (a parser
//! that accepts a cookie and loses its expiry; a server that answers 5xx, does not answer, or
//! stops serving). The tests run them bounded (`tests/fuzz.rs`); `cargo run --example fuzz`
//! runs them longer.

use crate::fixture::Fixture;
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Mutations applied to one corpus entry per execution, at most.
const MUTATIONS_MAX: u64 = 4;
/// How long one fuzzed HTTP exchange may take before it counts as a hang (the server's own
/// body timeout is 5 s; every fuzzed request carries its whole body).
const EXCHANGE_TIMEOUT_MS: u64 = 3_000;
/// Crash descriptions kept, at most (the count goes on).
const CRASHES_KEPT_MAX: usize = 20;

/// What one fuzzing loop did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FuzzStats {
    /// The target's name.
    pub target: &'static str,
    /// The seed, for a replay.
    pub seed: u64,
    /// Inputs run.
    pub executions: u64,
    /// Inputs that crashed the target (panic or broken contract).
    pub crashes: u64,
    /// The first crashes, each with the input that caused it.
    pub examples: Vec<String>,
}

impl FuzzStats {
    fn crash(&mut self, what: String) {
        self.crashes += 1;
        if self.examples.len() < CRASHES_KEPT_MAX {
            self.examples.push(what);
        }
    }
}

impl std::fmt::Display for FuzzStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "fuzz {}: seed {:#x}, {} executions, {} crashes",
            self.target, self.seed, self.executions, self.crashes
        )
    }
}

/// The limits of one loop: it stops at whichever comes first.
#[derive(Clone, Copy, Debug)]
pub struct FuzzBudget {
    /// Executions at most.
    pub executions_max: u64,
    /// Wall time at most.
    pub duration_ms_max: u64,
}

/// The files of a corpus directory, sorted by name (a missing directory is an empty corpus).
pub fn load_corpus(dir: &Path) -> Vec<Vec<u8>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    paths.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

fn below(rng: &mut ChaCha8Rng, n: u64) -> u64 {
    // Multiply-shift: unbiased enough for fuzzing, and never a division by zero.
    ((u128::from(rng.next_u64()) * u128::from(n.max(1))) >> 64) as u64
}

fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    let i = usize::try_from(below(rng, items.len() as u64)).unwrap_or(0);
    &items[i]
}

/// Numbers on the edges of every integer type the formats use.
const EDGE_NUMBERS: &[i128] = &[
    0,
    1,
    -1,
    255,
    256,
    65_535,
    4_294_967_295,
    4_294_967_296,
    i64::MAX as i128,
    i64::MIN as i128,
    u64::MAX as i128,
];

fn random_scalar(rng: &mut ChaCha8Rng) -> Value {
    match below(rng, 6) {
        0 => Value::Null,
        1 => Value::Bool(rng.next_u64() & 1 == 1),
        2 => {
            let n = *pick(rng, EDGE_NUMBERS);
            serde_json::from_str(&n.to_string()).unwrap_or(Value::Null)
        }
        3 => serde_json::json!(f64::from(u32::try_from(below(rng, 1000)).unwrap_or(0)) / 7.0),
        4 => Value::String(
            pick(
                rng,
                &["", " ", "x;y", "4DSID", "\u{0}", "é", "Current", "close"],
            )
            .to_string(),
        ),
        _ => Value::String("A".repeat(usize::try_from(below(rng, 300)).unwrap_or(0))),
    }
}

/// One structure-aware mutation of a JSON value: replace, delete, duplicate or nest a node,
/// or swap it for an edge value.
fn mutate_json(rng: &mut ChaCha8Rng, value: &mut Value, depth: u32) {
    let descend = depth < 12 && below(rng, 3) != 0;
    match value {
        Value::Object(map) if descend && !map.is_empty() => {
            let keys: Vec<String> = map.keys().cloned().collect();
            let key = pick(rng, &keys).clone();
            match below(rng, 5) {
                0 => {
                    map.remove(&key);
                }
                1 => {
                    let v = map.get(&key).cloned().unwrap_or(Value::Null);
                    map.insert(format!("{key}_"), v);
                }
                _ => {
                    if let Some(child) = map.get_mut(&key) {
                        mutate_json(rng, child, depth + 1);
                    }
                }
            }
        }
        Value::Array(items) if descend && !items.is_empty() => {
            let i = usize::try_from(below(rng, items.len() as u64)).unwrap_or(0);
            match below(rng, 5) {
                0 => {
                    items.remove(i);
                }
                1 => {
                    let copy = items[i].clone();
                    items.insert(i, copy);
                }
                2 => items.reverse(),
                _ => mutate_json(rng, &mut items[i], depth + 1),
            }
        }
        _ => {
            *value = match below(rng, 4) {
                0 => Value::Array(vec![value.clone()]),
                1 => serde_json::json!({ "x": value.clone() }),
                _ => random_scalar(rng),
            };
        }
    }
}

/// One mutated input from the corpus: a JSON entry mutated as a value (or, now and then, its
/// bytes cut or flipped, so that the parser also sees text that is not JSON).
fn mutated_json_text(rng: &mut ChaCha8Rng, corpus: &[Vec<u8>]) -> Vec<u8> {
    let base = if corpus.is_empty() {
        b"{}".to_vec()
    } else {
        pick(rng, corpus).clone()
    };
    if below(rng, 10) == 0 {
        let mut bytes = base;
        let n = bytes.len() as u64;
        match below(rng, 2) {
            0 => bytes.truncate(usize::try_from(below(rng, n)).unwrap_or(0)),
            _ if n > 0 => {
                let i = usize::try_from(below(rng, n)).unwrap_or(0);
                bytes[i] ^= 1 << below(rng, 8);
            }
            _ => {}
        }
        return bytes;
    }
    let Ok(mut value) = serde_json::from_slice::<Value>(&base) else {
        return base;
    };
    for _ in 0..=below(rng, MUTATIONS_MAX) {
        mutate_json(rng, &mut value, 0);
    }
    serde_json::to_vec(&value).unwrap_or(base)
}

fn run_budget(budget: FuzzBudget, mut one: impl FnMut(u64) -> bool) {
    let started = Instant::now();
    let limit = Duration::from_millis(budget.duration_ms_max);
    for i in 0..budget.executions_max {
        if started.elapsed() > limit || !one(i) {
            break;
        }
    }
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

/// Fuzzes [`Fixture::parse`]: it must answer `Ok` or `Err` for any text, never panic, and a
/// fixture it accepts must survive its own round trip (`to_json` parses again).
pub fn fuzz_fixture_parser(seed: u64, corpus: &[Vec<u8>], budget: FuzzBudget) -> FuzzStats {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut stats = FuzzStats {
        target: "fixture-parser",
        seed,
        ..FuzzStats::default()
    };
    let path = Path::new("fuzz.json");
    run_budget(budget, |_| {
        let input = mutated_json_text(&mut rng, corpus);
        stats.executions += 1;
        let text = String::from_utf8_lossy(&input).into_owned();
        let outcome = std::panic::catch_unwind(|| {
            Fixture::parse(&text, path).map(|f| Fixture::parse(&f.to_json(), path).is_ok())
        });
        match outcome {
            Err(panic) => stats.crash(format!("panic {:?} on {text:?}", panic_text(&*panic))),
            Ok(Ok(false)) => stats.crash(format!("accepted but its round trip fails: {text:?}")),
            Ok(_) => {}
        }
        true
    });
    stats
}

/// A `Set-Cookie` header built from parts: a name, a value and attributes, each drawn from
/// the corpus's attributes, edge values and stray bytes.
fn random_set_cookie(rng: &mut ChaCha8Rng, corpus: &[Vec<u8>]) -> (String, Option<i128>) {
    let names = ["4DSID_wlcs", "4DSID", "SID2", "", "a b", "x=y", "\u{e9}"];
    let values = [
        "3F2B8C1D9E4A4B7C8D1E2F3A4B5C6D7E",
        "",
        "\"quoted\"",
        " padded",
        "x;y",
        "%41",
    ];
    let mut header = format!("{}={}", pick(rng, &names), pick(rng, &values));
    let mut max_age = None;
    for _ in 0..below(rng, 6) {
        let attr = match below(rng, 8) {
            0 => {
                let n = *pick(rng, EDGE_NUMBERS) * if below(rng, 2) == 0 { 1 } else { -1 };
                max_age = Some(n);
                format!("Max-Age={n}")
            }
            1 => format!(
                "Expires={}",
                pick(
                    rng,
                    &[
                        "Thu, 01 Jan 1970 00:00:00 GMT",
                        "Fri, 31 Dec 9999 23:59:59 GMT",
                        "yesterday",
                        "",
                        "Sun, 06 Nov 1994 08:49:37 GMT",
                    ]
                )
            ),
            2 => format!("Path={}", pick(rng, &["/", "", "/wlcs", "//"])),
            3 => format!(
                "SameSite={}",
                pick(rng, &["Strict", "Lax", "None", "bogus"])
            ),
            4 => pick(rng, &["HttpOnly", "Secure", "Partitioned", ""]).to_string(),
            5 => format!("Domain={}", pick(rng, &["127.0.0.1", ".", "", "localhost"])),
            6 if !corpus.is_empty() => String::from_utf8_lossy(pick::<Vec<u8>>(rng, corpus))
                .trim()
                .to_string(),
            _ => "\u{7f}=\u{0}".to_string(),
        };
        header.push_str(pick::<&str>(rng, &["; ", ";", " ;  "]));
        header.push_str(&attr);
    }
    (header, max_age)
}

/// Fuzzes [`wlcs_http::client::parse_set_cookie`]: never a panic, and when it accepts a
/// header whose last attribute group gives a `Max-Age`, the expiry follows RFC 6265 (a
/// `Max-Age` of zero or less expires the cookie).
pub fn fuzz_set_cookie(seed: u64, corpus: &[Vec<u8>], budget: FuzzBudget) -> FuzzStats {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut stats = FuzzStats {
        target: "set-cookie",
        seed,
        ..FuzzStats::default()
    };
    run_budget(budget, |_| {
        let (header, max_age) = random_set_cookie(&mut rng, corpus);
        stats.executions += 1;
        let outcome = std::panic::catch_unwind(|| wlcs_http::client::parse_set_cookie(&header));
        match outcome {
            Err(panic) => stats.crash(format!("panic {:?} on {header:?}", panic_text(&*panic))),
            Ok(Ok(parsed)) => {
                // Only one Max-Age, so no doubt which one the parser kept.
                let ages = header.matches("Max-Age=").count();
                if let (Some(age), 1) = (max_age, ages)
                    && age <= 0
                    && !parsed.expiring
                {
                    stats.crash(format!("Max-Age={age} did not expire: {header:?}"));
                }
            }
            Ok(Err(_)) => {}
        }
        true
    });
    stats
}

/// The endpoints a fuzzed request goes to, real and not.
const PATHS: &[&str] = &[
    "/wlcs/v1/web",
    "/wlcs/v1/capabilities",
    "/wlcs/v1/reset",
    "/wlcs/v1/non-web",
    "/wlcs/v1/option",
    "/wlcs/v1/hook",
    "/wlcs/v1/clock/advance",
    "/wlcs/v1/hook-runs/take",
    "/wlcs/v1/hook-runs/take?max_runs=0",
    "/wlcs/v1/locks",
    "/wlcs/v1/ipvars",
    "/wlcs/v1/observe",
    "/wlcs/v1/slots/0?wait_ms=0",
    "/wlcs/v1/slots/300",
    "/wlcs/v1/slots/7/end",
    "/wlcs/v1/slots/-1/end",
    "/wlcs/v2/web",
    "/",
    "/wlcs/v1/web/../reset",
];

/// One fuzzed HTTP request: a method, a path, headers (a cookie, a slot, a lane, junk) and a
/// JSON body mutated from the corpus, with a correct `Content-Length` (a wrong one only
/// measures the server's body timeout).
fn random_request(rng: &mut ChaCha8Rng, corpus: &[Vec<u8>]) -> Vec<u8> {
    let method = *pick(
        rng,
        &["GET", "POST", "POST", "POST", "PUT", "DELETE", "OPTIONS"],
    );
    let path = *pick(rng, PATHS);
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for _ in 0..below(rng, 4) {
        let line = match below(rng, 6) {
            0 => format!(
                "Cookie: 4DSID_wlcs={}",
                pick(rng, &["", "x;y", "3F2B8C1D9E4A4B7C8D1E2F3A4B5C6D7E", " a"])
            ),
            // Only malformed slots: a valid one holds the request until its `end`.
            1 => format!(
                "X-WLCS-Slot: {}",
                pick(rng, &["256", "abc", "-1", "", "1 2"])
            ),
            2 => format!("X-WLCS-Mobile: {}", pick(rng, &["0", "3", "999", ""])),
            3 => "Content-Type: text/plain".to_string(),
            4 => format!(
                "X-Junk: {}",
                "j".repeat(usize::try_from(below(rng, 2000)).unwrap_or(0))
            ),
            _ => "Cookie: a=1; 4DSID_wlcs=1; 4DSID_wlcs=2".to_string(),
        };
        head.push_str(&line);
        head.push_str("\r\n");
    }
    let body = mutated_json_text(rng, corpus);
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut out = head.into_bytes();
    out.extend_from_slice(&body);
    out
}

/// Sends one request on a fresh connection; the answer's status (`None`: no answer in time).
fn exchange(addr: SocketAddr, request: &[u8]) -> Option<u16> {
    let timeout = Duration::from_millis(EXCHANGE_TIMEOUT_MS);
    let mut stream = TcpStream::connect_timeout(&addr, timeout).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    stream.set_write_timeout(Some(timeout)).ok()?;
    stream.write_all(request).ok()?;
    let mut out = Vec::new();
    // The server may close (or reset) right after answering: keep what arrived.
    let _ = stream.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    text.split(' ').nth(1).and_then(|s| s.parse().ok())
}

/// Fuzzes the reference server's request handling: every request answered, never with a 5xx,
/// and the server still serving (a capabilities call) at the end. The server runs in process
/// on 127.0.0.1:0.
pub fn fuzz_server(seed: u64, corpus: &[Vec<u8>], budget: FuzzBudget) -> FuzzStats {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut stats = FuzzStats {
        target: "server-requests",
        seed,
        ..FuzzStats::default()
    };
    let addr: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 0));
    let server = match wlcs_http::serve(
        addr,
        Arc::new(wlcs_sut::memory::MemorySut::new()),
        wlcs_http::ServeOptions::default(),
    ) {
        Ok(s) => s,
        Err(e) => {
            stats.crash(format!("the server did not start: {e}"));
            return stats;
        }
    };
    let addr = server.local_addr();
    run_budget(budget, |_| {
        let request = random_request(&mut rng, corpus);
        stats.executions += 1;
        match exchange(addr, &request) {
            Some(status) if status < 500 => {}
            other => {
                let head = String::from_utf8_lossy(&request[..request.len().min(300)]);
                stats.crash(format!("answered {other:?} to {head:?}"));
            }
        }
        true
    });
    let alive = b"GET /wlcs/v1/capabilities HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    if exchange(addr, alive) != Some(200) {
        stats.crash("the server stopped serving".into());
    }
    stats
}
