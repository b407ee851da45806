//! `wlcs bench` end to end against the reference server: a short run closes sessions both
//! ways, every close runs its hook once, and the report renders as text and JSON. Bounded:
//! about one second of load. Timings are never asserted (they belong in benchmarks).

use std::sync::Arc;
use wlcs::bench::{self, BenchConfig, BenchError, CloseKind};
use wlcs_http::{ServeOptions, serve};
use wlcs_sut::memory::MemorySut;

#[test]
fn bench_closes_sessions_on_the_reference_server_and_renders() {
    let server = serve(
        "127.0.0.1:0".parse().expect("address"),
        Arc::new(MemorySut::new()),
        ServeOptions::default(),
    )
    .expect("server starts");
    let cfg = BenchConfig {
        target: server.base_url(),
        duration_ms: 1_000,
        connections: 2,
        sessions: 200,
        close: CloseKind::Both,
        ..BenchConfig::default()
    };
    let report = bench::run(&cfg).expect("bench runs");
    assert!(report.rounds >= 1);
    assert!(report.closes > 0);
    assert!(report.self_closes > 0 && report.non_web_closes > 0);
    assert_eq!(
        report.closes, report.opens,
        "every opened session is closed"
    );
    assert!(report.hooks_match, "one hook run per close: {report:?}");
    assert_eq!(report.close_latency.count, report.closes);
    assert!(report.closes_per_s > 0.0);

    let text = bench::render_text(&report);
    assert!(text.contains("closes/s"), "{text}");
    let json: serde_json::Value =
        serde_json::from_str(&bench::render_json(&report)).expect("JSON report");
    assert_eq!(json["closes"].as_u64(), Some(report.closes));
    assert!(json["close_latency"]["p99_us"].as_f64().is_some());
    server.shutdown().expect("server stops");
}

#[test]
fn bench_refuses_non_loopback_targets_and_bad_limits() {
    let run = |target: &str, sessions: usize| {
        bench::run(&BenchConfig {
            target: target.to_string(),
            sessions,
            ..BenchConfig::default()
        })
    };
    assert!(matches!(
        run("http://192.0.2.1:8080", 10),
        Err(BenchError::NotLoopback(_))
    ));
    assert!(matches!(
        run("http://127.0.0.1:8080", 0),
        Err(BenchError::Config(_))
    ));
    assert!(matches!(
        run("http://127.0.0.1:8080", bench::SESSIONS_MAX + 1),
        Err(BenchError::Config(_))
    ));
}
