//! Every fault of `wlcs serve --chaos` ends a run against it with a harness error (exit 2)
//! that names the step and the call, within a bound: garbage, a wrong shape, a truncated body,
//! a reset, a stall, a drip, a huge header, thousands of `Set-Cookie`, a 5xx, a server that
//! dies, capabilities that lie.
//!
//! Scaled for the test suite: the library-level run gives every call 500 ms and one generated
//! case; the CLI-level run uses the CLI's own 10 s call timeout with one case and a harness-
//! error budget of 1 (`--harness-errors-max 1`), so a stall or a drip costs one timeout. At
//! the CLI's defaults (fixtures, 1 000 cases, the default budget) a stall or a drip ends the
//! run in exit 2 after about 30 s. Every server binds 127.0.0.1:0.

// A test: a failed unwrap or expect is a failed test, with its message (STYLE.md allows them here).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wlcs::report::Verdict;
use wlcs::runner::{self, RunConfig};
use wlcs_http::{ChaosOptions, ClientOptions, Fault, HttpSut, ServeOptions, serve};
use wlcs_sut::Sut;
use wlcs_sut::memory::MemorySut;

/// The seed of the generated cases.
const SEED: u64 = 0xc4a0_5eed;
/// Requests answered faithfully first: the capabilities and the reset.
const CHAOS_AFTER: u64 = 2;
/// The adapter's call timeout in the library-level runs.
const CALL_TIMEOUT_MS: u64 = 500;
/// How long one library-level run against a fault may take.
const LIBRARY_RUN_MS_MAX: u128 = 20_000;
/// How long one CLI run against a fault may take (the CLI's call timeout is 10 s).
const CLI_RUN_MS_MAX: u128 = 60_000;
/// The names of the adapter's calls: an error must name one.
const CALLS: &[&str] = &[
    "web request",
    "begin in slot",
    "end of slot",
    "observe",
    "hook runs",
    "non-web",
    "option",
    "hook",
    "clock advance",
    "locks",
    "ipvars",
    "reset",
];

fn chaos_server(fault: Fault) -> wlcs_http::ServerHandle {
    let addr: SocketAddr = "127.0.0.1:0".parse().expect("literal address");
    let opts = ServeOptions {
        chaos: Some(ChaosOptions {
            fault,
            after_requests: CHAOS_AFTER,
        }),
        ..ServeOptions::default()
    };
    serve(addr, Arc::new(MemorySut::new()), opts).expect("server starts")
}

fn assert_names_step_and_call(fault: Fault, message: &str) {
    assert!(message.contains("step "), "{fault}: no step in {message:?}");
    assert!(
        CALLS.iter().any(|c| message.contains(c)),
        "{fault}: no call named in {message:?}"
    );
}

#[test]
fn every_chaos_fault_ends_a_run_with_a_harness_error_naming_step_and_call() {
    for fault in Fault::ALL {
        let server = chaos_server(fault);
        let started = Instant::now();
        let opts = ClientOptions {
            request_timeout_ms: CALL_TIMEOUT_MS,
            long_poll_ms: 100,
            hold_timeout_ms: 4 * CALL_TIMEOUT_MS,
            ..ClientOptions::default()
        };
        let sut = HttpSut::connect_with(&server.base_url(), opts).expect("capabilities pass");
        let cfg = RunConfig {
            seed: SEED,
            cases: 1,
            shrink_iters_max: 5,
            stop_at_first_failure: true,
            replay: wlcs::replay::ReplayCommand {
                target: Some(server.base_url()),
                ..Default::default()
            },
            ..RunConfig::default()
        };
        let report = runner::run(&sut, &[], &cfg, &sut.name());
        let ms = started.elapsed().as_millis();
        println!(
            "{fault}: {:?} in {ms} ms: {}",
            report.verdict,
            report.errors.first().map_or("", String::as_str)
        );
        assert_eq!(
            report.verdict,
            Verdict::Error,
            "{fault}: {:?}",
            report.errors
        );
        assert_eq!(report.verdict.exit_code(), 2);
        let first = report.errors.first().expect("an error is reported");
        assert_names_step_and_call(fault, first);
        assert!(ms < LIBRARY_RUN_MS_MAX, "{fault}: {ms} ms");
        drop(sut);
        drop(server);
    }
}

/// Runs `wlcs run --target URL --cases 1 --no-fixtures` with a deadline; returns its exit code
/// and output.
fn cli_run(url: &str) -> (Option<i32>, String, u128) {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_wlcs"))
        .args(["run", "--target", url, "--cases", "1", "--no-fixtures"])
        .args(["--harness-errors-max", "1"])
        .args(["--seed", &SEED.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("wlcs starts");
    let deadline = started + Duration::from_millis(u64::try_from(CLI_RUN_MS_MAX).unwrap_or(0));
    let code = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = child.wait_with_output().expect("output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (code, text, started.elapsed().as_millis())
}

#[test]
fn wlcs_run_against_every_chaos_fault_exits_2_naming_step_and_call() {
    // One thread per fault: a stall or a drip waits out a 10 s call timeout (twice: the case
    // and its shrink), the others take milliseconds, so the whole test costs about one stall.
    let runs: Vec<_> = Fault::ALL
        .into_iter()
        .map(|fault| {
            std::thread::spawn(move || {
                let server = chaos_server(fault);
                let run = cli_run(&server.base_url());
                drop(server);
                (fault, run)
            })
        })
        .collect();
    for handle in runs {
        let (fault, (code, text, ms)) = handle.join().expect("a fault's run");
        println!("wlcs run vs {fault}: exit {code:?} in {ms} ms");
        assert_eq!(code, Some(2), "{fault}: {text}");
        let error = text
            .lines()
            .find(|l| l.contains("failed:") && l.contains("step "))
            .unwrap_or_else(|| panic!("{fault}: no error line in {text}"));
        assert_names_step_and_call(fault, error);
        assert!(ms < CLI_RUN_MS_MAX, "{fault}: {ms} ms");
    }
}
