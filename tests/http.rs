//! The whole suite over real HTTP: the reference implementation served on 127.0.0.1:0 passes
//! every rule through the black-box adapter; mutants served over HTTP are caught by their
//! rules; the same seed runs the same traces over both transports; and a counterexample found
//! in process replays over HTTP to the same divergence.
//!
//! Bounded: fixed seeds and case counts, every server on 127.0.0.1:0, every call under the
//! adapter's timeouts.

// A test: a failed unwrap or expect is a failed test, with its message (STYLE.md allows them here).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use wlcs::check::{Checker, Verdict as TraceVerdict};
use wlcs::fixture::Fixture;
use wlcs::generate::{GenConfig, Weights};
use wlcs::report::{Report, Status, Verdict};
use wlcs::runner::{self, RunConfig};
use wlcs_http::{ClientOptions, HttpSut, ServeOptions, ServerHandle, serve};
use wlcs_model::WorldConfig;
use wlcs_sut::Sut;
use wlcs_sut::memory::MemorySut;
use wlcs_sut::mutants::Mutant;

/// The seed of every generated case here.
const SEED: u64 = 0x5eed_0005;
/// Generated cases of the reference run.
const CASES: u64 = 50;
/// Generated cases a mutant gets, at most (a run stops at its first failure).
const MUTANT_CASES: u64 = 200;
/// Shrink attempts per counterexample over HTTP.
const SHRINK_ITERS_MAX: u32 = 300;

fn serve_memory(mutant: Option<Mutant>) -> ServerHandle {
    let addr: SocketAddr = "127.0.0.1:0".parse().expect("literal address");
    serve(
        addr,
        Arc::new(wlcs_sut::mutants::sut(mutant)),
        ServeOptions::default(),
    )
    .expect("server starts")
}

fn fixtures() -> Vec<Fixture> {
    Fixture::load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures"))
        .expect("fixtures load")
}

fn summary(report: &Report) -> String {
    let mut out = format!(
        "verdict {:?}, {} fixtures, {} cases, {} steps, {} ms; errors: {:?}",
        report.verdict, report.fixtures, report.cases, report.steps, report.millis, report.errors
    );
    for row in &report.rules {
        if !matches!(row.status, Status::Pass | Status::Skip) {
            out.push_str(&format!(
                "\n  {} {} ({} checks, {} fired)",
                row.id,
                row.status.as_str(),
                row.checks,
                row.fired
            ));
        }
    }
    for c in &report.counterexamples {
        out.push_str(&format!(
            "\n  counterexample {}: {}: expected {}, got {}",
            c.rule, c.divergence.what, c.divergence.expected, c.divergence.actual
        ));
    }
    out
}

#[test]
fn reference_passes_every_rule_over_http() {
    let server = serve_memory(None);
    let sut = HttpSut::connect(&server.base_url()).expect("adapter connects");
    let fixtures = fixtures();
    let cfg = RunConfig {
        seed: SEED,
        cases: CASES,
        replay: wlcs::replay::ReplayCommand {
            target: Some(server.base_url()),
            ..Default::default()
        },
        ..RunConfig::default()
    };
    let started = Instant::now();
    let report = runner::run(&sut, &fixtures, &cfg, &sut.name());
    let elapsed = started.elapsed();
    let requests = server.requests_served();
    let connections = server.connections_accepted();
    println!(
        "reference over HTTP: {} fixtures + {} cases, {} steps, {} HTTP requests on {} connections in {:.2} s ({:.0} requests/s)",
        report.fixtures,
        report.cases,
        report.steps,
        requests,
        connections,
        elapsed.as_secs_f64(),
        requests as f64 / elapsed.as_secs_f64().max(1e-9)
    );
    assert_eq!(report.verdict, Verdict::Pass, "{}", summary(&report));
    // Keep-alive: the adapter reuses its connections (held requests open a few more).
    assert!(
        connections * 10 < requests,
        "{connections} connections for {requests} requests"
    );
    assert_eq!(report.cases, CASES);
    assert_eq!(report.fixtures, fixtures.len());
    for row in &report.rules {
        assert!(
            matches!(row.status, Status::Pass | Status::Skip),
            "{} is {}: {}",
            row.id,
            row.status.as_str(),
            summary(&report)
        );
        if row.status == Status::Pass {
            assert!(row.checks > 0, "{} passed unchecked", row.id);
        }
    }
    // The reference server declares everything: nothing may be skipped for a capability.
    assert!(
        report.rules.iter().all(|r| r.status == Status::Pass),
        "{}",
        summary(&report)
    );
    server.shutdown().expect("clean shutdown");
}

#[test]
fn observe_endpoint_halves_requests_and_changes_no_result() {
    let server = serve_memory(None);
    let cfg = RunConfig {
        seed: SEED,
        cases: 20,
        // The security checks' requests are the same either way and would dilute the ratio.
        security: false,
        ..RunConfig::default()
    };
    let mut results = Vec::new();
    for use_observe in [true, false] {
        let opts = ClientOptions {
            use_observe,
            ..ClientOptions::default()
        };
        let sut = HttpSut::connect_with(&server.base_url(), opts).expect("adapter connects");
        let before = server.requests_served();
        let report = runner::run(&sut, &fixtures(), &cfg, "reference");
        assert_eq!(report.verdict, Verdict::Pass, "{}", summary(&report));
        results.push((
            report.steps,
            report.rules.clone(),
            server.requests_served() - before,
        ));
    }
    let (with, without) = (&results[0], &results[1]);
    assert_eq!(
        (with.0, &with.1),
        (without.0, &without.1),
        "same steps and rule counts"
    );
    println!("requests: {} with observe, {} without", with.2, without.2);
    assert!(
        with.2 * 10 < without.2 * 7,
        "{} vs {} requests",
        with.2,
        without.2
    );
    server.shutdown().expect("clean shutdown");
}

/// Mutants served over HTTP, each of which a short strict run must catch by its own rule.
const MUTANTS: &[Mutant] = &[
    Mutant::HookAfterReset,
    Mutant::SelfCloseKeepsCookie,
    Mutant::IpValidationSkipped,
    Mutant::CloseKeepsLocks,
    Mutant::AdoptsClientId,
    Mutant::SecondCloseRerunsHook,
    Mutant::RemoteCloseResetsMidRequest,
];

#[test]
fn mutants_served_over_http_are_caught_by_their_rules() {
    catch_mutants(&fixtures());
}

/// Generated traces alone (no fixtures), the same seed in process and over HTTP: the two runs
/// must agree case for case (verdict, cases, steps, the shrunk counterexample), and generated
/// traces must catch the mutants over HTTP as they do in process.
#[test]
fn mutant_runs_over_http_match_in_process_runs() {
    let mut caught = 0;
    for &mutant in MUTANTS {
        let cfg = RunConfig {
            seed: SEED,
            cases: MUTANT_CASES,
            strict: true,
            stop_at_first_failure: true,
            shrink_iters_max: SHRINK_ITERS_MAX,
            ..RunConfig::default()
        };
        let local = runner::run(&mutant.sut(), &[], &cfg, "memory");
        let server = serve_memory(Some(mutant));
        let sut = HttpSut::connect(&server.base_url()).expect("adapter connects");
        let remote = runner::run(&sut, &[], &cfg, &sut.name());
        println!(
            "{mutant} (generated only): in process {}; over HTTP {}",
            summary(&local),
            summary(&remote)
        );
        assert_eq!(remote.verdict, local.verdict, "{mutant}");
        assert_eq!(remote.cases, local.cases, "{mutant}");
        assert_eq!(remote.steps, local.steps, "{mutant}");
        assert_eq!(remote.errors.len(), local.errors.len(), "{mutant}");
        let key = |r: &Report| {
            r.counterexamples
                .iter()
                .map(|c| (c.rule, c.case_seed, c.divergence.step, c.trace.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(key(&remote), key(&local), "{mutant}");
        if remote
            .counterexamples
            .first()
            .is_some_and(|c| c.divergence.breaks(mutant.breaks()))
        {
            caught += 1;
        }
        server.shutdown().expect("clean shutdown");
    }
    assert!(
        caught >= 5,
        "generated traces caught only {caught} mutants over HTTP"
    );
}

fn catch_mutants(fixtures: &[Fixture]) {
    let mut missed = Vec::new();
    for &mutant in MUTANTS {
        let server = serve_memory(Some(mutant));
        let sut = HttpSut::connect(&server.base_url()).expect("adapter connects");
        let cfg = RunConfig {
            seed: SEED,
            cases: MUTANT_CASES,
            strict: true,
            stop_at_first_failure: true,
            shrink_iters_max: SHRINK_ITERS_MAX,
            ..RunConfig::default()
        };
        let started = Instant::now();
        let report = runner::run(&sut, fixtures, &cfg, &sut.name());
        let caught_by = report.counterexamples.first().map(|c| {
            (
                c.rule,
                c.divergence.breaks(mutant.breaks()),
                c.source.clone(),
                c.steps,
            )
        });
        println!(
            "{mutant}: {:?} after {} fixtures + {} cases in {} ms ({} HTTP requests), caught by {caught_by:?}",
            report.verdict,
            report.fixtures,
            report.cases,
            started.elapsed().as_millis(),
            server.requests_served()
        );
        assert!(report.errors.is_empty(), "{mutant}: {}", summary(&report));
        match caught_by {
            Some((_, true, _, _)) => {}
            _ => missed.push(format!("{mutant}: {}", summary(&report))),
        }
        server.shutdown().expect("clean shutdown");
    }
    assert!(
        missed.is_empty(),
        "not caught by their rule:\n{}",
        missed.join("\n")
    );
}

#[test]
fn same_seed_runs_the_same_traces_over_both_transports() {
    let server = serve_memory(None);
    let http = HttpSut::connect(&server.base_url()).expect("adapter connects");
    let memory = MemorySut::new();
    assert_eq!(http.capabilities(), memory.capabilities());
    let gen_cfg = |sut: &dyn Sut| GenConfig {
        world: WorldConfig::default(),
        caps: sut.capabilities(),
        weights: Weights::default(),
    };
    for case_seed in runner::case_seeds(SEED, 12) {
        let over_http = runner::generated_trace(case_seed, 40, &gen_cfg(&http));
        let in_process = runner::generated_trace(case_seed, 40, &gen_cfg(&memory));
        assert_eq!(over_http, in_process, "case {case_seed:#x}: traces differ");
        let a = Checker::run(&memory, &in_process);
        let b = Checker::run(&http, &over_http);
        assert_eq!(
            a.verdict,
            TraceVerdict::Pass,
            "case {case_seed:#x} in process"
        );
        assert_eq!(
            b.verdict,
            TraceVerdict::Pass,
            "case {case_seed:#x} over HTTP"
        );
        // Transcripts name symbolic sessions only: identical runs print identical lines.
        assert_eq!(a.transcript, b.transcript, "case {case_seed:#x}");
        assert_eq!(a.steps_run, b.steps_run);
    }
}

#[test]
fn counterexample_found_in_process_replays_over_http() {
    let mutant = Mutant::HookAfterReset;
    let cfg = RunConfig {
        seed: SEED,
        cases: MUTANT_CASES,
        strict: true,
        stop_at_first_failure: true,
        ..RunConfig::default()
    };
    let in_process = mutant.sut();
    let report = runner::run(&in_process, &[], &cfg, "memory");
    let found = report
        .counterexamples
        .first()
        .unwrap_or_else(|| panic!("the mutant survived in process: {}", summary(&report)));
    assert!(found.divergence.breaks(mutant.breaks()));

    let server = serve_memory(Some(mutant));
    let http = HttpSut::connect(&server.base_url()).expect("adapter connects");
    let replay = Checker::run(&http, &found.trace);
    match &replay.verdict {
        TraceVerdict::Diverged(d) => {
            assert_eq!(d.rule, found.rule, "{:#?}", replay.transcript);
            assert_eq!(d.step, found.divergence.step);
            // The text names sessions with the IDs each run minted: compare it without them.
            assert_eq!(redact_ids(&d.what), redact_ids(&found.divergence.what));
        }
        other => panic!(
            "expected the in-process divergence over HTTP, got {other:?}\n{}",
            replay.transcript.join("\n")
        ),
    }
    // And the reference server passes the same trace.
    let reference = serve_memory(None);
    let http = HttpSut::connect(&reference.base_url()).expect("adapter connects");
    assert_eq!(
        Checker::run(&http, &found.trace).verdict,
        TraceVerdict::Pass
    );
}

// ---------------------------------------------------------------------------------------------
// Soak: the threaded run over HTTP against a served reference (issue 15.5, 15.6)
// ---------------------------------------------------------------------------------------------

/// Operations per soak round: the CLI's default is 100 000 (see the report for that figure);
/// scaled down for test time.
const SOAK_OPS: u64 = 15_000;
/// Soak rounds against one server.
const SOAK_ROUNDS: u64 = 3;
/// The adapter's answer limit in the soak: small enough that the hook runs of one round need
/// many pages, so paging is what makes it pass.
const SOAK_RESPONSE_BYTES_MAX: usize = 64 * 1024;
/// Resident-memory growth of the server allowed from the end of the first round to the end of
/// the last (a leak of a session per request would be far more).
const SOAK_RSS_GROWTH_KB_MAX: u64 = 8 * 1024;

/// `wlcs serve` as a child process on a free port, and its base URL.
fn spawn_wlcs_serve() -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_wlcs"))
        .args(["serve", "--addr", "127.0.0.1:0"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("wlcs serve starts");
    let stderr = child.stderr.take().expect("stderr");
    let mut line = String::new();
    std::io::BufReader::new(stderr)
        .read_line(&mut line)
        .expect("the serving line");
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_string();
    (child, url)
}

/// The resident memory of a process, in KiB (Linux).
fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

#[test]
fn threaded_soak_over_http_passes_with_paged_hook_runs_and_flat_server_memory() {
    let (mut child, url) = spawn_wlcs_serve();
    let pid = child.id();
    let opts = ClientOptions {
        response_bytes_max: SOAK_RESPONSE_BYTES_MAX,
        ..ClientOptions::default()
    };
    let sut = HttpSut::connect_with(&url, opts).expect("adapter connects");
    let start_kb = rss_kb(pid);
    let mut after = Vec::new();
    let mut hook_runs = 0usize;
    for round in 0..SOAK_ROUNDS {
        let cfg = wlcs::concurrent::ConcurrentConfig {
            seed: SEED + round,
            threads: 2,
            ops_max: SOAK_OPS,
            ..wlcs::concurrent::ConcurrentConfig::default()
        };
        let report = wlcs::concurrent::run_concurrent(&sut, &cfg);
        assert_eq!(
            report.exit_code(),
            0,
            "round {round}: {:?} {:?}",
            report.harness_error,
            report.errors
        );
        assert!(report.stopped_by_time || report.concurrent_ops as u64 == SOAK_OPS);
        let runs = report.history.as_ref().map_or(0, |h| h.hook_runs.len());
        hook_runs += runs;
        after.push(rss_kb(pid));
        println!(
            "soak round {round}: {} ops in {} ms, {runs} hook runs, server RSS {} KiB",
            report.concurrent_ops,
            report.run_ms,
            after[after.len() - 1]
        );
    }
    let first = after[0];
    let last = after[after.len() - 1];
    println!(
        "soak: {SOAK_ROUNDS} rounds of {SOAK_OPS} ops, {hook_runs} hook runs; server RSS {start_kb} KiB at start, {first} after round 0, {last} at the end"
    );
    // The hook runs of a round exceed one answer: paging carried them.
    assert!(hook_runs > 0);
    assert!(
        last.saturating_sub(first) < SOAK_RSS_GROWTH_KB_MAX,
        "server RSS grew {first} -> {last} KiB"
    );
    let _ = child.kill();
    let _ = child.wait();
}

/// The text with every run of 32 hexadecimal digits (a minted session ID) replaced by `ID`.
fn redact_ids(text: &str) -> String {
    let mut out = String::new();
    let mut run = String::new();
    for c in text.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_hexdigit() {
            run.push(c);
            continue;
        }
        if run.len() == 32 {
            out.push_str("ID");
        } else {
            out.push_str(&run);
        }
        run.clear();
        out.push(c);
    }
    out.pop();
    out
}

/// Renames the session cookie of the implementation it wraps, as seen by a server.
struct RenamedCookie(MemorySut);

impl wlcs_sut::plugin::layer::Layer for RenamedCookie {
    type Inner = MemorySut;
    fn inner(&self) -> &MemorySut {
        &self.0
    }
    fn session_cookie_name(&self) -> Result<String, wlcs_sut::SutError> {
        Ok("RENAMED".to_string())
    }
}

/// The implementation without a cookie name: [`Sut::session_cookie_name`]'s default.
struct Nameless(MemorySut);

impl wlcs_sut::plugin::layer::Layer for Nameless {
    type Inner = MemorySut;
    fn inner(&self) -> &MemorySut {
        &self.0
    }
    fn session_cookie_name(&self) -> Result<String, wlcs_sut::SutError> {
        Err(wlcs_sut::SutError::Unsupported("no name".into()))
    }
}

/// Opens a session over `sut` and sends its ID back in the adapter's cookie (the default
/// name): whether the second request ran in the same session.
fn second_request_routes(sut: &HttpSut) -> bool {
    use wlcs_sut::plugin::WireRequest;
    sut.reset(&WorldConfig::default()).unwrap();
    let first = WireRequest {
        ip: 0,
        cookie: None,
        mobile: None,
        actions: Vec::new(),
    };
    let first = sut.request(&first).unwrap();
    let id = first.session_id.expect("the first request opens a session");
    let again = WireRequest {
        ip: 0,
        cookie: Some(id.clone()),
        mobile: None,
        actions: Vec::new(),
    };
    sut.request(&again).unwrap().session_id.as_deref() == Some(id.as_str())
}

#[test]
fn the_server_reads_the_cookie_the_implementation_names() {
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let plain = serve(addr, Arc::new(MemorySut::new()), ServeOptions::default()).unwrap();
    let client = HttpSut::connect(&plain.base_url()).unwrap();
    assert!(
        second_request_routes(&client),
        "the default name routes the adapter's cookie"
    );
    // The server asks the implementation, not a copy of the option rules: a cookie under
    // another name than the implementation's is no session cookie.
    let renamed = serve(
        addr,
        Arc::new(RenamedCookie(MemorySut::new())),
        ServeOptions::default(),
    )
    .unwrap();
    let client = HttpSut::connect(&renamed.base_url()).unwrap();
    assert!(
        !second_request_routes(&client),
        "a cookie not named as the implementation says must open a new session"
    );
    let refused = serve(
        addr,
        Arc::new(Nameless(MemorySut::new())),
        ServeOptions::default(),
    );
    let why = refused
        .expect_err("a nameless implementation is refused")
        .to_string();
    assert!(why.contains("cannot serve"), "{why}");
}

#[test]
fn worlds_of_one_server_are_independent() {
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let suts: Vec<Arc<dyn Sut>> = (0..3)
        .map(|_| Arc::new(MemorySut::new()) as Arc<dyn Sut>)
        .collect();
    let server = wlcs_http::serve_worlds(addr, suts, ServeOptions::default()).unwrap();
    assert_eq!(server.worlds(), 3);
    let root = HttpSut::connect(&server.base_url()).unwrap();
    assert_eq!(
        root.worlds(),
        3,
        "the capabilities answer counts the worlds"
    );
    assert!(
        root.shares_world(),
        "the root adapter alone says nothing of independence"
    );
    let worlds = HttpSut::connect_worlds(&server.base_url(), &ClientOptions::default(), 8).unwrap();
    assert_eq!(worlds.len(), 3, "at most the server's worlds");
    assert!(worlds.iter().all(|w| !w.shares_world()));
    assert!(
        worlds[2].base_url().ends_with("/worlds/2"),
        "{}",
        worlds[2].base_url()
    );
    let one_world = HttpSut::connect_worlds(
        &format!("{}/worlds/1", server.base_url()),
        &ClientOptions::default(),
        8,
    )
    .unwrap();
    assert_eq!(one_world.len(), 1, "a world's own base URL is one world");
    assert!(one_world[0].base_url().ends_with("/worlds/1"));
    let capped = HttpSut::connect_worlds(&server.base_url(), &ClientOptions::default(), 2).unwrap();
    assert_eq!(capped.len(), 2, "at most what the caller asks");

    // A session opened in world 1 routes there and nowhere else; world 0's reset and clock
    // leave it alone.
    use wlcs_sut::plugin::WireRequest;
    let request = |cookie: Option<String>| WireRequest {
        ip: 0,
        cookie,
        mobile: None,
        actions: Vec::new(),
    };
    for w in &worlds {
        w.reset(&WorldConfig::default()).unwrap();
    }
    let id = worlds[1]
        .request(&request(None))
        .unwrap()
        .session_id
        .unwrap();
    worlds[0].reset(&WorldConfig::default()).unwrap();
    worlds[0].advance(10 * 3_600).unwrap();
    let back = worlds[1].request(&request(Some(id.clone()))).unwrap();
    assert_eq!(
        back.session_id.as_deref(),
        Some(id.as_str()),
        "world 1 keeps its session"
    );
    let elsewhere = worlds[2].request(&request(Some(id.clone()))).unwrap();
    assert_ne!(
        elsewhere.session_id.as_deref(),
        Some(id.as_str()),
        "world 2 never saw it"
    );

    // A single-world server: one adapter, shared as before.
    let single = serve(addr, Arc::new(MemorySut::new()), ServeOptions::default()).unwrap();
    let one = HttpSut::connect_worlds(&single.base_url(), &ClientOptions::default(), 8).unwrap();
    assert_eq!(one.len(), 1);
    assert!(one[0].shares_world());
    let none = wlcs_http::serve_worlds(addr, Vec::new(), ServeOptions::default());
    assert!(none.is_err(), "a server of no world is refused");
}

/// What a run decided, rule by rule, without its timing.
fn decisions(report: &Report) -> Vec<String> {
    let mut out = vec![format!(
        "{:?} {} cases {} steps {} fixtures",
        report.verdict, report.cases, report.steps, report.fixtures
    )];
    out.extend(report.rules.iter().map(|r| {
        format!(
            "{} {} checks {} fired {}",
            r.id,
            r.status.as_str(),
            r.checks,
            r.fired
        )
    }));
    // The security rows, made after the cases or alongside them on a spare world.
    out.extend(
        report
            .security
            .iter()
            .map(|r| format!("{} {}", r.id, r.status.as_str())),
    );
    out
}

#[test]
fn several_worlds_give_the_verdict_and_counts_of_one() {
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let fixtures = fixtures();
    let cfg = RunConfig {
        seed: SEED,
        cases: CASES,
        ..RunConfig::default()
    };
    let mutant = Some(Mutant::ALL[0]);
    for mutant in [None, mutant] {
        let one = serve_memory(mutant);
        let single = HttpSut::connect(&one.base_url()).unwrap();
        let alone = runner::run(&single, &fixtures, &cfg, "one world");
        let suts: Vec<Arc<dyn Sut>> = (0..4)
            .map(|_| Arc::new(wlcs_sut::mutants::sut(mutant)) as Arc<dyn Sut>)
            .collect();
        let four = wlcs_http::serve_worlds(addr, suts, ServeOptions::default()).unwrap();
        let worlds =
            HttpSut::connect_worlds(&four.base_url(), &ClientOptions::default(), 8).unwrap();
        assert_eq!(worlds.len(), 4);
        let workers: Vec<&dyn Sut> = worlds[1..].iter().map(|w| w as &dyn Sut).collect();
        let spread = runner::run_workers(
            &worlds[0],
            &workers,
            &fixtures,
            &cfg,
            "four worlds",
            &mut |_| {},
        );
        assert_eq!(
            decisions(&alone),
            decisions(&spread),
            "mutant {mutant:?}: {}",
            summary(&spread)
        );
        let expected = if mutant.is_some() {
            Verdict::Fail
        } else {
            Verdict::Pass
        };
        assert_eq!(spread.verdict, expected, "{}", summary(&spread));
        assert!(!spread.security.is_empty(), "the security rows were made");
    }
}
