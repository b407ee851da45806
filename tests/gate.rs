//! The CI gate from outside, through the built binary: it runs from any directory (fixtures
//! embedded), every exit code of the contract (0 conformant, 1 failure, 2 harness error,
//! 3 usage or input error, 4 nothing checked), the fail-safe cases (unknown rule, empty
//! selection, nothing checked, skips that fail, replay gating on every rule it touches, sim on
//! a shared server world, an unbuildable target), the harness-error budget against chaos
//! targets, the input bounds, printed commands that run as printed, and quiet broken pipes.
//!
//! Bounded: small case counts, every server on 127.0.0.1:0, short call timeouts, every
//! child process waited on with a deadline.

// A test: a failed unwrap or expect is a failed test, with its message (STYLE.md allows them here).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use wlcs::fixture::Fixture;
use wlcs_http::{ServeOptions, ServerHandle, serve};
use wlcs_model::RuleId;
use wlcs_sut::memory::MemorySut;
use wlcs_sut::mutants::Mutant;

/// How long any one child process may run in these tests.
const CHILD_DEADLINE_MS: u64 = 120_000;
/// The call timeout the chaos runs use (the default is 10 s per call).
const CHAOS_CALL_TIMEOUT_MS: u64 = 400;

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_wlcs"))
}

/// A fresh empty directory under the system temp dir.
fn empty_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wlcs-gate-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// `wlcs` run from an empty directory (never the checkout).
fn wlcs(dir: &Path) -> Command {
    let mut cmd = Command::new(bin());
    cmd.current_dir(dir);
    cmd
}

/// Waits for a child with a deadline (killed past it: the test fails, never hangs); its
/// output is drained by threads so a full pipe never blocks it.
fn wait(mut child: Child, deadline_ms: u64) -> (Output, Duration) {
    let started = Instant::now();
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() < Duration::from_millis(deadline_ms) => {
                std::thread::sleep(Duration::from_millis(20));
            }
            _ => {
                let _ = child.kill();
                break child.wait().expect("child ends");
            }
        }
    };
    let elapsed = started.elapsed();
    let output = Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    };
    (output, elapsed)
}

fn output(cmd: &mut Command) -> Output {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("wlcs starts");
    wait(child, CHILD_DEADLINE_MS).0
}

fn code(cmd: &mut Command) -> Option<i32> {
    output(cmd).status.code()
}

fn text(out: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn serve_memory(mutant: Option<Mutant>) -> ServerHandle {
    let addr: SocketAddr = "127.0.0.1:0".parse().expect("literal address");
    serve(
        addr,
        Arc::new(wlcs_sut::mutants::sut(mutant)),
        ServeOptions::default(),
    )
    .expect("server starts")
}

#[test]
fn the_binary_copied_out_of_the_tree_runs_from_an_empty_directory() {
    let root = empty_dir("install");
    let installed = root.join("wlcs");
    std::fs::copy(bin(), &installed).expect("copy the binary");
    let work = empty_dir("install-work");
    let out = output(
        Command::new(&installed)
            .current_dir(&work)
            .args(["run", "--seed", "1"]),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("verdict: PASS"), "{stdout}");
    let fixtures = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures"))
        .expect("fixtures dir")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "json"))
        })
        .count();
    assert!(
        stdout.contains(&format!("{fixtures} fixtures")),
        "every built-in fixture ran: {stdout}"
    );
    assert_eq!(
        std::fs::read_dir(&work).expect("work dir").count(),
        0,
        "a run writes nothing unasked"
    );
}

#[test]
fn fixtures_dir_adds_to_and_replaces_the_built_in_ones() {
    let dir = empty_dir("extra-fixtures");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut extra =
        Fixture::load(&src.join("req-1-no-cookie-opens-session.json")).expect("fixture");
    extra.name = "extra-one".into();
    extra.save(&dir.join("extra-one.json")).expect("save");
    let out = output(
        wlcs(&dir)
            .args(["run", "--cases", "0", "--fixtures", "."])
            .args(["--fixture", "extra-one"]),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // The printed replay carries the directory as an absolute path.
    let stderr = String::from_utf8_lossy(&out.stderr);
    let abs = std::path::absolute(&dir).expect("absolute");
    assert!(
        stderr.contains(&format!("--fixtures {}", abs.display())),
        "{stderr}"
    );
    // A broken file of the same name as a built-in one replaces it: the run refuses it.
    std::fs::write(dir.join("req-1-no-cookie-opens-session.json"), "{ nope").expect("write");
    assert_eq!(code(wlcs(&dir).args(["run", "--fixtures", "."])), Some(3));
}

#[test]
fn exit_0_conformant_and_1_conformance_failure() {
    let dir = empty_dir("exit-01");
    assert_eq!(
        code(wlcs(&dir).args(["run", "--seed", "2", "--cases", "200"])),
        Some(0)
    );
    let out = output(wlcs(&dir).args([
        "run",
        "--mutant",
        "hook-after-reset",
        "--seed",
        "1",
        "--cases",
        "200",
    ]));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
}

#[test]
fn exit_3_usage_and_input_errors() {
    let dir = empty_dir("exit-3");
    for args in [
        &["run", "--rule", "BOGUS"][..],
        &["run", "--rule", "CLOSE-1", "--exclude-rule", "CLOSE-*"],
        &["run", "--exclude-rule", "NOPE-*"],
        &["run", "--steps", "18446744073709551615"],
        &["run", "--steps", "1000000"],
        &["run", "--cases", "18446744073709551615"],
        &["run", "--time-budget", "-1"],
        &["run", "--call-timeout-ms", "0"],
        &["run", "--fixture", "no-such-fixture"],
        &["run", "--profile", "timeout-sometimes"],
        &["run", "--mutant", "no-such-mutant"],
        &["run", "--target", "carrier-pigeon"],
        &[
            "run",
            "--target",
            "http://127.0.0.1:9",
            "--mutant",
            "hook-after-reset",
        ],
        &["run", "--report-json", "/nonexistent/dir/r.json"],
        &["run", "--fixtures", "/nonexistent/fixtures"],
        &["sim", "--ops", "18446744073709551615"],
        &["sim", "--steps", "99999999"],
        &["sim", "--threads", "100000"],
        &["mutants", "--steps", "99999999"],
        &["replay", "/dev/zero"],
        &["replay", "/nonexistent.json"],
        &["frobnicate"],
    ] {
        let started = Instant::now();
        let out = output(wlcs(&dir).args(args));
        assert_eq!(out.status.code(), Some(3), "{args:?}: {}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{args:?} is refused before any run"
        );
    }
}

#[test]
fn exit_3_for_special_and_oversized_fixture_files() {
    let dir = empty_dir("fifo");
    let fifo = dir.join("trap.json");
    let made = Command::new("mkfifo").arg(&fifo).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo");
    let (out, elapsed) = wait(
        wlcs(&dir)
            .args(["run", "--cases", "1", "--fixtures", "."])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starts"),
        10_000,
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        elapsed < Duration::from_secs(10),
        "a FIFO never hangs the run"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a regular file"));
    let big = dir.join("big.json");
    let file = std::fs::File::create(&big).expect("create");
    file.set_len(wlcs::gate::FIXTURE_BYTES_MAX + 1)
        .expect("sparse file");
    let out = output(wlcs(&dir).arg("replay").arg(&big));
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("limit"));
    // An error's cause prints once.
    let out = output(wlcs(&dir).args(["replay", "missing.json"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches("No such file").count(), 1, "{stderr}");
}

#[test]
fn exit_4_nothing_checked() {
    let dir = empty_dir("exit-4");
    let out = output(wlcs(&dir).args(["run", "--cases", "0", "--no-fixtures"]));
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("NOTHING CHECKED"));
}

#[test]
fn rule_selection_is_exact_or_an_explicit_glob() {
    let dir = empty_dir("rules");
    let json = dir.join("r.json");
    let out = output(
        wlcs(&dir)
            .args(["run", "--cases", "50", "--rule", "CLOSE-1", "--report-json"])
            .arg(&json),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let ids = |path: &Path| -> Vec<String> {
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).expect("report")).expect("json");
        report["rules"]
            .as_array()
            .expect("rules")
            .iter()
            .map(|r| r["id"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(ids(&json), ["CLOSE-1"]);
    let out = output(
        wlcs(&dir)
            .args(["run", "--cases", "50", "--rule", "TIME-*"])
            .args(["--exclude-rule", "TIME-3", "--report-json"])
            .arg(&json),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(ids(&json), ["TIME-1", "TIME-2", "TIME-4"]);
}

#[test]
fn fail_on_skip_and_require_make_skips_fail() {
    // A target that declares no clock: the TIME rules are skipped, which passes by default...
    let mut cfg = wlcs::runner::RunConfig {
        seed: 4,
        cases: 200,
        ..Default::default()
    };
    let sut = NoClock(MemorySut::new());
    let fixtures = wlcs::builtin::fixtures().expect("built-in fixtures");
    let report = wlcs::runner::run(&sut, &fixtures, &cfg, "no clock");
    assert_eq!(
        report.verdict.exit_code(),
        0,
        "{}",
        wlcs::report::render_text(&report)
    );
    // ... and fails with --fail-on-skip ...
    cfg.fail_on_skip = true;
    let report = wlcs::runner::run(&sut, &fixtures, &cfg, "no clock");
    assert_eq!(report.verdict.exit_code(), 1);
    let time1 = report
        .rules
        .iter()
        .find(|r| r.id == RuleId::Time1)
        .expect("row");
    assert!(
        time1
            .skip_reason
            .as_deref()
            .unwrap_or_default()
            .contains("--fail-on-skip")
    );
    // ... or with --require clock, which fails only the rules needing the clock.
    cfg.fail_on_skip = false;
    cfg.require = wlcs::gate::required(&[wlcs::gate::Capability::Clock]);
    let report = wlcs::runner::run(&sut, &fixtures, &cfg, "no clock");
    assert_eq!(report.verdict.exit_code(), 1);
    let failing: Vec<RuleId> = report
        .rules
        .iter()
        .filter(|r| r.status == wlcs::report::Status::Fail)
        .map(|r| r.id)
        .collect();
    assert_eq!(
        failing,
        [RuleId::Time1, RuleId::Time2, RuleId::Time3, RuleId::Time4]
    );
    // A target that declares nothing checks nothing about those rules, and a run selecting
    // only them checked nothing: exit 4.
    cfg.require = wlcs::gate::NO_CAPABILITIES;
    cfg.rules = vec!["TIME-*".into()];
    let report = wlcs::runner::run(&sut, &[], &cfg, "no clock");
    assert_eq!(report.verdict.exit_code(), 4);
}

/// The reference, declaring no clock control.
struct NoClock(MemorySut);

impl wlcs_sut::Sut for NoClock {
    fn name(&self) -> String {
        "no clock".into()
    }
    fn capabilities(&self) -> wlcs_sut::Capabilities {
        wlcs_sut::Capabilities {
            clock: false,
            ..wlcs_sut::Capabilities::ALL
        }
    }
    fn reset(&self, c: &wlcs_model::WorldConfig) -> Result<(), wlcs_sut::SutError> {
        self.0.reset(c)
    }
    fn request(&self, r: &wlcs_sut::WireRequest) -> Result<wlcs_sut::Response, wlcs_sut::SutError> {
        self.0.request(r)
    }
    fn begin(
        &self,
        s: wlcs_model::vocab::Slot,
        r: &wlcs_sut::WireRequest,
    ) -> Result<wlcs_sut::Begun, wlcs_sut::SutError> {
        self.0.begin(s, r)
    }
    fn end(
        &self,
        s: wlcs_model::vocab::Slot,
        a: &[wlcs_sut::WireAction],
    ) -> Result<wlcs_sut::Response, wlcs_sut::SutError> {
        self.0.end(s, a)
    }
    fn non_web(
        &self,
        p: u8,
        a: &[wlcs_sut::WireAction],
    ) -> Result<Vec<wlcs_sut::WireRead>, wlcs_sut::SutError> {
        self.0.non_web(p, a)
    }
    fn set_option(&self, o: &wlcs_model::vocab::OptionSet) -> Result<(), wlcs_sut::SutError> {
        self.0.set_option(o)
    }
    fn set_hook(&self, b: &wlcs_sut::WireHook) -> Result<(), wlcs_sut::SutError> {
        self.0.set_hook(b)
    }
    fn advance(&self, s: u64) -> Result<(), wlcs_sut::SutError> {
        self.0.advance(s)
    }
    fn take_hook_runs(&self) -> Result<Vec<wlcs_sut::WireHookRun>, wlcs_sut::SutError> {
        self.0.take_hook_runs()
    }
    fn locks(
        &self,
    ) -> Result<
        std::collections::BTreeMap<wlcs_model::vocab::RecordRef, wlcs_sut::WireProc>,
        wlcs_sut::SutError,
    > {
        self.0.locks()
    }
    fn ipvars(
        &self,
    ) -> Result<std::collections::BTreeMap<wlcs_model::vocab::VarName, i64>, wlcs_sut::SutError>
    {
        self.0.ipvars()
    }
}

#[test]
fn replay_gates_on_every_rule_its_trace_touches() {
    let dir = empty_dir("replay-gate");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    // The CLOSE-6 fixture, relabelled as if it only showed REQ-1 (which it also exercises).
    let mut f =
        Fixture::load(&src.join("close-6-hook-sees-context-before-reset.json")).expect("fixture");
    f.rules = vec![RuleId::Req1];
    // A fixture's name is its file's stem.
    f.name = "relabelled".into();
    let path = dir.join("relabelled.json");
    f.save(&path).expect("save");
    let out = output(
        wlcs(&dir)
            .arg("replay")
            .arg(&path)
            .args(["--mutant", "hook-after-reset"]),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("CLOSE-6"), "{stdout}");
    // Its printed replay command is `wlcs replay ABSOLUTE-PATH ...`, and runs as printed.
    let line = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("replay: "))
        .expect("a replay line")
        .to_string();
    assert!(line.starts_with("wlcs replay /"), "{line}");
    let elsewhere = empty_dir("replay-gate-elsewhere");
    assert_eq!(run_printed(&line, &elsewhere), Some(1), "{line}");
    // The reference passes it, --strict is accepted.
    assert_eq!(
        code(wlcs(&dir).arg("replay").arg(&path).arg("--strict")),
        Some(0)
    );
}

/// Runs a printed `wlcs ...` command (words without quotes) from `dir`.
fn run_printed(line: &str, dir: &Path) -> Option<i32> {
    let mut words = line.split_whitespace();
    assert_eq!(words.next(), Some("wlcs"), "{line}");
    code(wlcs(dir).args(words))
}

#[test]
fn printed_commands_run_as_printed_from_anywhere() {
    let dir = empty_dir("printed");
    let saved = dir.join("saved.json");
    let out = output(
        wlcs(&dir)
            .args([
                "run",
                "--mutant",
                "hook-after-reset",
                "--cookie-profile",
                "cookie-4DSID",
            ])
            .args([
                "--seed",
                "1",
                "--cases",
                "300",
                "--no-fixtures",
                "--steps",
                "30",
            ])
            .arg("--save-counterexample")
            .arg(&saved),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let elsewhere = empty_dir("printed-elsewhere");
    // The whole run's command (banner), each counterexample's, the saved file's.
    let banner = stderr
        .lines()
        .find_map(|l| {
            l.split_once("(replay: ")
                .map(|(_, r)| r.trim_end_matches(')'))
        })
        .expect("banner");
    assert_eq!(banner.matches("--steps").count(), 1, "{banner}");
    assert!(banner.contains("--no-fixtures") && banner.contains("--cookie-profile cookie-4DSID"));
    assert_eq!(run_printed(banner, &elsewhere), Some(1), "{banner}");
    let case = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("replay: "))
        .expect("a counterexample");
    assert!(case.contains("--cookie-profile cookie-4DSID"), "{case}");
    assert_eq!(run_printed(case, &elsewhere), Some(1), "{case}");
    let file = stderr
        .lines()
        .find_map(|l| {
            l.split_once("saved to ")
                .and_then(|(_, r)| r.split_once("(replay: "))
        })
        .map(|(_, r)| r.trim_end_matches(')'))
        .expect("saved line");
    assert!(file.starts_with("wlcs replay /"), "{file}");
    assert_eq!(run_printed(file, &elsewhere), Some(1), "{file}");
}

#[test]
fn sim_on_a_served_reference_with_two_workers_passes_and_a_dead_target_is_an_error() {
    let server = serve_memory(None);
    let url = server.base_url();
    let dir = empty_dir("sim-http");
    let out = output(
        wlcs(&dir)
            .args(["sim", "--target", &server.base_url(), "--workers", "2"])
            .args(["--seeds", "12", "--steps", "80", "--seed", "5"])
            .args(["--save-dir", "."]),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("one at a time"));
    server.shutdown().expect("clean shutdown");
    // Nothing listens there any more: an error, never a run on something else.
    let dead = output(
        wlcs(&dir)
            .args(["sim", "--target", &url, "--seeds", "3"])
            .args(["--save-dir", "."]),
    );
    assert_eq!(dead.status.code(), Some(2), "{}", text(&dead));
}

#[test]
fn an_unreachable_target_is_exit_2_with_the_report_written() {
    let dir = empty_dir("unreachable");
    let json = dir.join("r.json");
    let (port, listener) = free_port();
    drop(listener);
    let out = output(
        wlcs(&dir)
            .args(["run", "--target", &format!("http://127.0.0.1:{port}")])
            .arg("--report-json")
            .arg(&json),
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("report")).expect("json");
    assert_eq!(report["verdict"], "error");
    assert!(report["not_run"].as_u64().unwrap_or(0) > 0);
}

#[test]
fn a_refused_valid_step_over_http_is_a_divergence_not_a_harness_error() {
    let server = serve_memory(Some(Mutant::CloseKeepsIdRoutable));
    let dir = empty_dir("refusal");
    let json = dir.join("r.json");
    // The mutant answers 422 ("already running a request") to a request the model says is
    // valid: CLOSE-12's divergence (a SHOULD rule: --strict fails it), not a harness error.
    let out = output(
        wlcs(&dir)
            .args(["run", "--target", &server.base_url(), "--strict"])
            .args([
                "--fixture",
                "close-12-close-during-request",
                "--report-json",
            ])
            .arg(&json),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("report")).expect("json");
    assert_eq!(report["verdict"], "fail");
    assert_eq!(
        report["errors"].as_array().map(Vec::len),
        Some(0),
        "{report}"
    );
    assert_eq!(report["counterexamples"][0]["rule"], "CLOSE-12");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("harness error"), "{stdout}");
    // The MUST failures of the same mutant exit 1 although its refusals come with them.
    let out = output(
        wlcs(&dir)
            .args(["run", "--target", &server.base_url()])
            .args(["--fixture", "close-1-closed-id-reaches-no-context"]),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    server.shutdown().expect("clean shutdown");
}

fn free_port() -> (u16, TcpListener) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    (l.local_addr().expect("addr").port(), l)
}

/// A misbehaving HTTP target: it declares every capability, then misbehaves on every other
/// call. Bounded: it serves until dropped, each connection at most `CHAOS_CONN_MS`.
#[derive(Clone, Copy, Debug)]
enum Chaos {
    Stall,
    Drip,
    Reset,
    Garbage,
}

/// How long a chaos connection lives, at most.
const CHAOS_CONN_MS: u64 = 20_000;

struct ChaosServer {
    url: String,
    stop: Arc<AtomicBool>,
}

impl Drop for ChaosServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn chaos(mode: Chaos) -> ChaosServer {
    let (port, listener) = free_port();
    listener.set_nonblocking(true).expect("nonblocking");
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    std::thread::spawn(move || {
        let started = Instant::now();
        while !flag.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(300) {
            match listener.accept() {
                Ok((conn, _)) => {
                    let flag = flag.clone();
                    std::thread::spawn(move || chaos_conn(conn, mode, &flag));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    ChaosServer {
        url: format!("http://127.0.0.1:{port}"),
        stop,
    }
}

fn chaos_conn(conn: TcpStream, mode: Chaos, stop: &AtomicBool) {
    let caps = r#"{"protocol":1,"name":"chaos","capabilities":{"clock":true,"multi_ip":true,"mobile":true,"hook_faults":true,"in_flight":true,"options":true},"features":[]}"#;
    let started = Instant::now();
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_millis(CHAOS_CONN_MS)));
    let Ok(read_half) = conn.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut conn = conn;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0usize;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            if h == "\r\n" {
                break;
            }
            if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let answer = |conn: &mut TcpStream, body: &str| {
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
        };
        if line.contains("/capabilities") {
            answer(&mut conn, caps);
            continue;
        }
        match mode {
            Chaos::Stall => {
                while !stop.load(Ordering::Relaxed)
                    && started.elapsed() < Duration::from_millis(CHAOS_CONN_MS)
                {
                    std::thread::sleep(Duration::from_millis(20));
                }
                return;
            }
            Chaos::Drip => {
                let _ = write!(conn, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n");
                while !stop.load(Ordering::Relaxed)
                    && started.elapsed() < Duration::from_millis(CHAOS_CONN_MS)
                {
                    if conn.write_all(b" ").is_err() {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                return;
            }
            Chaos::Reset => return,
            Chaos::Garbage => answer(&mut conn, r#"{"session_id": 42}"#),
        }
    }
}

#[test]
fn chaos_targets_end_in_exit_2_within_a_bounded_time_with_the_report_written() {
    let dir = empty_dir("chaos");
    for mode in [Chaos::Stall, Chaos::Drip, Chaos::Reset, Chaos::Garbage] {
        for extra in [&[][..], &["--no-fixtures"][..]] {
            let server = chaos(mode);
            let json = dir.join(format!("{mode:?}.json"));
            let child = wlcs(&dir)
                .args(["run", "--target", &server.url, "--seed", "1"])
                .args(["--call-timeout-ms", &CHAOS_CALL_TIMEOUT_MS.to_string()])
                .args(extra)
                .arg("--report-json")
                .arg(&json)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("starts");
            let (out, elapsed) = wait(child, CHILD_DEADLINE_MS);
            assert_eq!(
                out.status.code(),
                Some(2),
                "{mode:?} {extra:?}: {}",
                text(&out)
            );
            // A few errors, each one call timeout (plus one shrink within its budget).
            let bound = Duration::from_millis(
                6 * CHAOS_CALL_TIMEOUT_MS + wlcs::gate::ERROR_SHRINK_MS + 5_000,
            );
            assert!(elapsed < bound, "{mode:?} {extra:?} took {elapsed:?}");
            let report: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&json).expect("report"))
                    .expect("json");
            assert_eq!(report["verdict"], "error", "{mode:?}");
            assert!(report["stopped"].is_string(), "{mode:?}");
            assert!(report["not_run"].as_u64().unwrap_or(0) > 0, "{mode:?}");
            // No rule shows `pass` under an ERROR verdict whose errors stopped checking.
            for row in report["rules"].as_array().expect("rules") {
                assert_ne!(row["status"], "pass", "{mode:?}: {row}");
            }
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(stdout.contains("harness errors"), "{stdout}");
            assert!(!stdout.contains("divergences when"), "{stdout}");
        }
    }
}

#[test]
fn broken_pipes_end_quietly_and_mutant_rows_print_once() {
    let dir = empty_dir("pipes");
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/close-6-hook-sees-context-before-reset.json");
    let mut child = wlcs(&dir)
        .arg("replay")
        .arg(&src)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    // Read one line, then close the pipe (as `| head -1` does).
    if let Some(stdout) = child.stdout.take() {
        let mut first = String::new();
        let _ = BufReader::new(stdout).read_line(&mut first);
    }
    let (out, _) = wait(child, CHILD_DEADLINE_MS);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    // `wlcs mutants` under 2>&1: every row once.
    let out = output(wlcs(&dir).args(["mutants", "--only", "hook-after-reset", "--cases", "100"]));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(all.matches("hook-after-reset").count(), 1, "{all}");
}

#[test]
fn help_documents_the_exit_codes_and_lists_profiles_and_mutants() {
    let dir = empty_dir("help");
    let out = output(wlcs(&dir).args(["run", "--help"]));
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "Exit codes:",
        "nothing was checked",
        "timeout-new-id",
        "cookie-4DSID",
    ] {
        assert!(help.contains(needle), "{needle}: {help}");
    }
    let out = output(wlcs(&dir).args(["run", "--mutant", "nope"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("hook-after-reset"),
        "possible values listed: {stderr}"
    );
}

#[test]
fn a_time_budget_stops_generating_and_reports_what_ran() {
    let dir = empty_dir("budget");
    let json = dir.join("r.json");
    let started = Instant::now();
    let out = output(
        wlcs(&dir)
            .args([
                "run",
                "--cases",
                "100000000",
                "--time-budget",
                "1",
                "--report-json",
            ])
            .arg(&json),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(started.elapsed() < Duration::from_secs(30));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("report")).expect("json");
    assert!(
        report["stopped"]
            .as_str()
            .unwrap_or_default()
            .contains("time budget")
    );
    assert!(report["cases"].as_u64().unwrap_or(0) > 0);
    assert!(report["not_run"].as_u64().unwrap_or(0) > 0);
}
