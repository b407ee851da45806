//! Reports end to end: every JSON report validates against the committed schema; partitions
//! merge to the unsharded run byte for byte (timings dropped); baselines waive listed failures,
//! report unexpected passes and fail them under `--strict-baseline`; `-` is stdout; the
//! Markdown and HTML renderers are snapshot-tested; the committed reference report is current;
//! `wlcs rules` and `wlcs explain` list and explain the rules.

// A test: a failed unwrap or expect is a failed test, with its message (STYLE.md allows them here).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use wlcs::check::Divergence;
use wlcs::fixture::Fixture;
use wlcs::report::{
    self, Baseline, Counterexample, Durations, ErrorCase, FixtureRun, FixtureStatus, Partition,
    Report, RuleRow, Status, Verdict,
};
use wlcs::runner::{self, RunConfig};
use wlcs_model::{RuleId, Trace, WorldConfig};
use wlcs_sut::Capabilities;
use wlcs_sut::mutants::Mutant;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn fixtures() -> Vec<Fixture> {
    Fixture::load_dir(&root().join("fixtures")).expect("fixtures")
}

fn wlcs(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wlcs"))
        .current_dir(root())
        .args(args)
        .output()
        .expect("wlcs runs")
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wlcs-reports-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(name)
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn run_mem(mutant: Option<Mutant>, cfg: &RunConfig, fixtures: &[Fixture]) -> Report {
    let name = match mutant {
        None => "memory (reference)".to_string(),
        Some(m) => format!("memory (mutant {})", m.name()),
    };
    runner::run(&wlcs_sut::mutants::sut(mutant), fixtures, cfg, &name)
}

/// Validates JSON against the committed schema (or one of its `$defs`).
fn schema_errors(instance: &serde_json::Value, pointer: &str) -> Option<String> {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("schemas/report.schema.json")).expect("schema"),
    )
    .expect("schema is JSON");
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    compiler
        .add_resource("report.schema.json", schema)
        .expect("schema resource");
    let index = compiler
        .compile(&format!("report.schema.json{pointer}"), &mut schemas)
        .expect("schema compiles");
    schemas
        .validate(instance, index)
        .err()
        .map(|e| format!("{e:#}"))
}

fn assert_valid(report: &Report, what: &str) {
    let value: serde_json::Value =
        serde_json::from_str(&report::to_json(report)).expect("report is JSON");
    if let Some(e) = schema_errors(&value, "") {
        panic!("{what}: the report does not match schemas/report.schema.json: {e}");
    }
}

/// A report built by hand: every status, a baseline of each outcome, a counterexample, a
/// fixture of each status, an error. Stable whatever the model or generator do.
fn sample() -> Report {
    let row = |id: RuleId, checks, fired, divergences, status, skip: Option<&str>| RuleRow {
        id,
        grade: id.grade().as_str().into(),
        summary: id.summary().into(),
        checks,
        fired,
        divergences,
        should_divergences: 0,
        status,
        skip_reason: skip.map(str::to_string),
        baseline: None,
    };
    let mut r = Report {
        schema: report::SCHEMA,
        wlcs_version: "0.1.0".into(),
        spec_revision: "fnv1a64:0123456789abcdef".into(),
        target: "http://127.0.0.1:8080".into(),
        capabilities: Capabilities {
            clock: false,
            ..Capabilities::ALL
        },
        seed: 0x9f3a_5c7e_1d2b_4a60,
        profile: "timeout-keeps-id+cookie-4DSID_AppName".into(),
        readings_declared: Vec::new(),
        readings_detected: Vec::new(),
        strict: false,
        verdict: Verdict::Fail,
        partition: Some(Partition { index: 2, count: 4 }),
        started_at: "2026-12-01T21:52:22Z".into(),
        fixtures: 3,
        cases: 250,
        steps: 4321,
        millis: 1234,
        durations: Durations {
            fixtures_ms: 34,
            cases_ms: 1200,
        },
        facts: report::RunFacts {
            diverged: true,
            harness_errors: false,
            stopped_early: false,
            replay_only: false,
            fail_on_skip: false,
            require: wlcs::gate::NO_CAPABILITIES,
        },
        rules: vec![
            row(RuleId::Close1, 312, 494, 0, Status::Pass, None),
            row(RuleId::Close6, 574, 450, 3, Status::Fail, None),
            row(RuleId::Close7, 439, 450, 2, Status::Fail, None),
            row(RuleId::Close11, 449, 661, 1, Status::Warn, None),
            row(
                RuleId::Time1,
                0,
                0,
                0,
                Status::Skip,
                Some("the target does not let the suite control its clock"),
            ),
            row(RuleId::Req5, 58, 29, 0, Status::Pass, None),
            row(RuleId::Inv5, 0, 0, 0, Status::Unreached, None),
        ],
        fixture_runs: vec![
            FixtureRun {
                index: 1,
                name: "close-6-hook-sees-context".into(),
                rules: vec![RuleId::Close6],
                status: FixtureStatus::Fail,
                rule: Some(RuleId::Close6),
                message: Some("step 1: context the hook of S0 saw: expected {v1=11}, got {}".into()),
                steps: 2,
                duration_ms: 1,
                replay: "wlcs run --target http://127.0.0.1:8080 --fixture close-6-hook-sees-context".into(),
            },
            FixtureRun {
                index: 5,
                name: "time-1-expired-cookie".into(),
                rules: vec![RuleId::Time1],
                status: FixtureStatus::Skip,
                rule: None,
                message: Some("needs clock control".into()),
                steps: 0,
                duration_ms: 0,
                replay: "wlcs run --target http://127.0.0.1:8080 --fixture time-1-expired-cookie".into(),
            },
            FixtureRun {
                index: 9,
                name: "req-5-ip-validation <&>".into(),
                rules: vec![RuleId::Req5],
                status: FixtureStatus::Pass,
                rule: None,
                message: None,
                steps: 4,
                duration_ms: 2,
                replay: "wlcs run --target http://127.0.0.1:8080 --fixture req-5".into(),
            },
        ],
        counterexamples: vec![Counterexample {
            rule: RuleId::Close7,
            source: "generated".into(),
            case_seed: Some(0x14d0_3022_a391_f99c),
            replay: "wlcs run --target http://127.0.0.1:8080 --case-seed 0x14d03022a391f99c --steps 40".into(),
            steps: 2,
            steps_before_shrink: 21,
            divergence: Divergence {
                step: 1,
                rule: RuleId::Close7,
                also: vec![RuleId::Inv1],
                what: "lock table after the close".into(),
                expected: "[T1]#7 free".into(),
                actual: "[T1]#7->S0 | \"kept\"".into(),
                should: false,
            },
            transcript: vec![
                "#0 request no-cookie [lock [T1]#7] => in new S0 [REQ-1] => 200".into(),
                "#1 nonweb0 [CLOSE id(S0)] locks [[T1]#7 free] <- diverges".into(),
            ],
            trace: Trace {
                config: WorldConfig::default(),
                steps: Vec::new(),
            },
        }],
        errors: vec!["case 0x5 (replay: wlcs run --case-seed 0x5): step 3 (REQ-1): the system under test failed: timed out after 10000 ms".into()],
        error_cases: vec![ErrorCase {
            rule: Some(RuleId::Req1),
            source: "generated".into(),
            case_seed: Some(5),
            steps: 4,
            message: "step 3 (REQ-1): the system under test failed: timed out after 10000 ms".into(),
            replay: "wlcs run --case-seed 0x5".into(),
        }],
        baseline: None,
        strict_baseline: false,
        not_run: 0,
        stopped: None,
        security: vec![
            wlcs::security::SecRow {
                id: "REQ-6/random".into(),
                rule: "REQ-6".into(),
                status: wlcs::security::SecStatus::Fail,
                detail: "122 bits per ID; frequency per bit position p_min=0.000e0 below its threshold 2.7e-9".into(),
            },
            wlcs::security::SecRow {
                id: "cookie/attributes".into(),
                rule: "info".into(),
                status: wlcs::security::SecStatus::Info,
                detail: "HttpOnly=no Secure=no SameSite=Strict Path=/".into(),
            },
        ],
    };
    let baseline = Baseline::parse(
        r#"{"format": 1, "rules": {
            "CLOSE-6": {"expect": "fail", "reason": "hook runs after the reset in v2.1", "link": "https://example.invalid/issues/12"},
            "REQ-5": {"expect": "skip", "reason": "single-IP test host"},
            "TIME-1": {"expect": "skip", "reason": "no clock control"}
        }}"#,
    )
    .expect("baseline");
    report::baseline::apply(&mut r, Some(baseline), false);
    r
}

#[test]
fn the_sample_report_is_what_the_renderers_expect() {
    let r = sample();
    // CLOSE-7 fails unlisted; CLOSE-6 is waived; REQ-5 passed against a skip expectation.
    // A conformance failure is the finding even with a harness error listed.
    assert_eq!(r.verdict, Verdict::Fail);
    assert!(
        r.rules
            .iter()
            .any(|x| x.id == RuleId::Close7 && x.fails_gate())
    );
    assert!(
        !r.rules
            .iter()
            .any(|x| x.id == RuleId::Close6 && x.fails_gate())
    );
    let unexpected: Vec<RuleId> = r.unexpected_passes().map(|x| x.id).collect();
    assert_eq!(unexpected, vec![RuleId::Req5]);
    assert_valid(&r, "sample");
}

#[test]
fn every_report_validates_against_the_committed_schema() {
    let fixtures = fixtures();
    let cfg = RunConfig {
        seed: 11,
        cases: 150,
        ..RunConfig::default()
    };
    let reference = run_mem(None, &cfg, &fixtures);
    assert_valid(&reference, "reference");
    let mutant = run_mem(Some(Mutant::CloseKeepsLocks), &cfg, &fixtures);
    assert!(!mutant.counterexamples.is_empty());
    assert_valid(&mutant, "mutant");
    let parts: Vec<Report> = (1..=3)
        .map(|k| {
            let cfg = RunConfig {
                partition: Some(Partition { index: k, count: 3 }),
                ..cfg.clone()
            };
            run_mem(Some(Mutant::CloseKeepsLocks), &cfg, &fixtures)
        })
        .collect();
    assert_valid(&parts[1], "partition 2/3");
    let merged = report::merge::merge(&parts).expect("merge");
    assert_valid(&merged, "merged");
    let written = Baseline::from_report(&mutant);
    let mut waived = mutant.clone();
    report::baseline::apply(&mut waived, Some(written.clone()), true);
    assert_valid(&waived, "baselined");
    let value: serde_json::Value = serde_json::from_str(&written.to_json()).expect("json");
    assert_eq!(schema_errors(&value, "#/$defs/baseline"), None);

    // The schema can fail: a numeric seed (what schema 1 wrote) is rejected.
    let mut bad: serde_json::Value =
        serde_json::from_str(&report::to_json(&reference)).expect("json");
    bad["seed"] = serde_json::json!(11);
    assert!(
        schema_errors(&bad, "").is_some(),
        "a numeric seed must not validate"
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&report::to_json(&reference)).expect("json")["seed"],
        "0xb"
    );
}

/// Replaces real session IDs (32 upper-case hex digits, minted at random by the target, and
/// quoted in divergence texts) with `<ID>`: they differ between any two runs.
fn redact_ids(text: &str) -> String {
    let hex = |c: char| c.is_ascii_digit() || ('A'..='F').contains(&c);
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let run = chars[i..].iter().take_while(|c| hex(**c)).count();
        if run == 32 {
            out.push_str("<ID>");
            i += run;
        } else {
            let n = run.max(1);
            out.extend(&chars[i..i + n]);
            i += n;
        }
    }
    out
}

/// The report as JSON without what differs between two runs of one seed: timings and the
/// target's random session IDs.
fn comparable(r: &Report) -> String {
    redact_ids(&report::to_json(&report::without_timings(r)))
}

fn same_without_timings(a: &Report, b: &Report) -> bool {
    comparable(a) == comparable(b)
}

#[test]
fn four_partitions_merge_to_the_unsharded_run_byte_for_byte() {
    let fixtures = fixtures();
    for mutant in [
        None,
        Some(Mutant::CloseKeepsLocks),
        Some(Mutant::HookAfterReset),
    ] {
        let cfg = RunConfig {
            seed: 0xfeed,
            cases: 400,
            ..RunConfig::default()
        };
        let whole = run_mem(mutant, &cfg, &fixtures);
        let parts: Vec<Report> = (1..=4)
            .map(|k| {
                let cfg = RunConfig {
                    partition: Some(Partition { index: k, count: 4 }),
                    ..cfg.clone()
                };
                run_mem(mutant, &cfg, &fixtures)
            })
            .collect();
        // Each partition ran a quarter: the split is real.
        for p in &parts {
            assert_eq!(p.cases, 100, "{mutant:?}");
            assert!(p.fixtures < whole.fixtures, "{mutant:?}");
        }
        // Any order of the inputs gives the same merge.
        let mut shuffled = parts.clone();
        shuffled.reverse();
        for input in [&parts, &shuffled] {
            let merged = report::merge::merge(input).expect("merge");
            assert!(
                same_without_timings(&merged, &whole),
                "{mutant:?}: merged differs from the unsharded run:\n{}\n---\n{}",
                comparable(&merged),
                comparable(&whole)
            );
            assert_eq!(
                redact_ids(&report::markdown::to_markdown(&report::without_timings(
                    &merged
                ))),
                redact_ids(&report::markdown::to_markdown(&report::without_timings(
                    &whole
                )))
            );
        }
    }
}

#[test]
fn merge_refuses_missing_doubled_or_foreign_partitions() {
    let cfg = RunConfig {
        seed: 2,
        cases: 20,
        ..RunConfig::default()
    };
    let part = |k: u32, seed: u64| {
        let cfg = RunConfig {
            seed,
            partition: Some(Partition { index: k, count: 3 }),
            ..cfg.clone()
        };
        run_mem(None, &cfg, &[])
    };
    let (p1, p2, p3) = (part(1, 2), part(2, 2), part(3, 2));
    assert!(report::merge::merge(&[p1.clone(), p2.clone(), p3.clone()]).is_ok());
    for (bad, why) in [
        (vec![p1.clone(), p2.clone()], "missing"),
        (
            vec![p1.clone(), p2.clone(), p2.clone(), p3.clone()],
            "doubled",
        ),
        (vec![p1.clone(), p2.clone(), part(3, 99)], "another seed"),
        (vec![run_mem(None, &cfg, &[])], "not a partition"),
        (Vec::new(), "empty"),
    ] {
        assert!(report::merge::merge(&bad).is_err(), "{why}");
    }
}

fn write_baseline_file(name: &str, text: &str) -> PathBuf {
    let path = tmp(name);
    std::fs::write(&path, text).expect("write baseline");
    path
}

const CLOSE_6_EXPECTED: &str = r#"{"format": 1, "rules": {
  "CLOSE-6": {"expect": "fail", "reason": "the hook runs after the reset (known bug)", "link": "https://example.invalid/7"}
}}"#;

#[test]
fn cli_baseline_waives_a_mutants_expected_failure_and_keeps_it_visible() {
    let baseline = write_baseline_file("close6.json", CLOSE_6_EXPECTED);
    let junit = tmp("waived.xml");
    let md = tmp("waived.md");
    let json = tmp("waived.json");
    let b = baseline.to_str().expect("utf-8");
    let out = wlcs(&[
        "run",
        "--mutant",
        "hook-after-reset",
        "--seed",
        "1",
        "--cases",
        "200",
        "--baseline",
        b,
        "--report-junit",
        junit.to_str().expect("utf-8"),
        "--report-md",
        md.to_str().expect("utf-8"),
        "--report-json",
        json.to_str().expect("utf-8"),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        stdout.contains("CLOSE-6") && stdout.contains("[baseline: expected fail]"),
        "{stdout}"
    );
    assert!(
        stdout.contains("expected failures (baseline, not failing the run): CLOSE-6"),
        "{stdout}"
    );
    assert!(stdout.contains("verdict: PASS"), "{stdout}");
    let xml = std::fs::read_to_string(&junit).expect("junit");
    assert!(xml.contains("type=\"expected-failure\""), "{xml}");
    assert!(
        xml.contains("the hook runs after the reset (known bug)"),
        "{xml}"
    );
    let md = std::fs::read_to_string(&md).expect("md");
    assert!(md.contains("expected fail (baseline)"), "{md}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("json")).expect("json");
    let row = report["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .find(|r| r["id"] == "CLOSE-6")
        .expect("CLOSE-6 row");
    assert_eq!(row["status"], "fail");
    assert_eq!(row["baseline"]["outcome"], "as-expected");

    // A failure the baseline does not list still fails: close-keeps-locks breaks CLOSE-7.
    let out = wlcs(&[
        "run",
        "--mutant",
        "close-keeps-locks",
        "--seed",
        "1",
        "--cases",
        "200",
        "--baseline",
        b,
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
}

#[test]
fn cli_baseline_against_the_reference_reports_the_unexpected_pass() {
    let baseline = write_baseline_file("close6-ref.json", CLOSE_6_EXPECTED);
    let b = baseline.to_str().expect("utf-8");
    let args = ["run", "--seed", "1", "--cases", "200", "--baseline", b];
    let out = wlcs(&args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        stdout.contains("[baseline: UNEXPECTED PASS, expected fail]"),
        "{stdout}"
    );
    assert!(stdout.contains("unexpected passes"), "{stdout}");
    let strict: Vec<&str> = args.iter().copied().chain(["--strict-baseline"]).collect();
    let out = wlcs(&strict);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("--strict-baseline fails the run"));
}

#[test]
fn cli_write_baseline_then_the_same_run_passes() {
    let written = tmp("written.json");
    let w = written.to_str().expect("utf-8");
    let run = [
        "run",
        "--mutant",
        "close-keeps-locks",
        "--seed",
        "4",
        "--cases",
        "200",
    ];
    let first: Vec<&str> = run.iter().copied().chain(["--write-baseline", w]).collect();
    let out = wlcs(&first);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let baseline =
        Baseline::parse(&std::fs::read_to_string(&written).expect("baseline")).expect("valid");
    assert_eq!(
        baseline.rules.get(&RuleId::Close7).map(|e| e.expect),
        Some(report::Expect::Fail)
    );
    let again: Vec<&str> = run.iter().copied().chain(["--baseline", w]).collect();
    let out = wlcs(&again);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn cli_partitions_and_merge_give_the_unsharded_run_in_every_format() {
    let base = [
        "run",
        "--mutant",
        "close-keeps-locks",
        "--seed",
        "9",
        "--cases",
        "300",
    ];
    let whole = tmp("whole.json");
    let mut args: Vec<&str> = base.to_vec();
    let w = whole.to_str().expect("utf-8").to_string();
    args.extend(["--report-json", &w]);
    assert_eq!(wlcs(&args).status.code(), Some(1));
    let parts: Vec<String> = (1..=4)
        .map(|k| {
            tmp(&format!("part{k}.json"))
                .to_str()
                .expect("utf-8")
                .to_string()
        })
        .collect();
    for (k, p) in parts.iter().enumerate() {
        let partition = format!("{}/4", k + 1);
        let mut args: Vec<&str> = base.to_vec();
        args.extend(["--partition", &partition, "--report-json", p]);
        let out = wlcs(&args);
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(&format!("partition {partition}")),
            "{}",
            text(&out)
        );
    }
    let outs: Vec<String> = ["merged.json", "merged.xml", "merged.md", "merged.html"]
        .iter()
        .map(|n| tmp(n).to_str().expect("utf-8").to_string())
        .collect();
    let mut args: Vec<&str> = vec!["merge"];
    args.extend(parts.iter().map(String::as_str));
    args.extend([
        "--report-json",
        &outs[0],
        "--report-junit",
        &outs[1],
        "--report-md",
        &outs[2],
        "--report-html",
        &outs[3],
    ]);
    let out = wlcs(&args);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the merged verdict fails: {}",
        text(&out)
    );
    let read = |p: &str| -> Report {
        report::json::from_json(&std::fs::read_to_string(p).expect("report")).expect("parses")
    };
    let merged = read(&outs[0]);
    assert!(same_without_timings(&merged, &read(&w)));
    let xml = std::fs::read_to_string(&outs[1]).expect("junit");
    let junit = quick_junit_cases(&xml);
    assert_eq!(junit.0, merged.rules.len(), "a testcase per rule");
    assert_eq!(junit.1, merged.fixture_runs.len(), "a testcase per fixture");
    assert!(
        std::fs::read_to_string(&outs[2])
            .expect("md")
            .starts_with("## wlcs: FAIL")
    );
    assert!(
        std::fs::read_to_string(&outs[3])
            .expect("html")
            .contains("id=\"rule-matrix\"")
    );
    // An incomplete set is an error, not a verdict.
    let out = wlcs(&["merge", &parts[0], &parts[1]]);
    assert!(!matches!(out.status.code(), Some(0 | 1)), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing"));
}

/// Counts the testcases of the rules and fixtures suites.
fn quick_junit_cases(xml: &str) -> (usize, usize) {
    let report = quick_junit::Report::deserialize_from_str(xml).expect("JUnit parses");
    let count = |name: &str| {
        report
            .test_suites
            .iter()
            .find(|s| s.name.as_str() == name)
            .map(|s| s.test_cases.len())
            .unwrap_or(0)
    };
    (count("wlcs.rules"), count("wlcs.fixtures"))
}

#[test]
fn cli_dash_is_stdout_and_the_table_moves_to_stderr() {
    let out = wlcs(&["run", "--seed", "3", "--cases", "50", "--report-json", "-"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report = report::json::from_json(&String::from_utf8_lossy(&out.stdout))
        .expect("stdout is the JSON report");
    assert_eq!(report.seed, 3);
    assert!(String::from_utf8_lossy(&out.stderr).contains("verdict: PASS"));
    assert!(!root().join("-").exists(), "no file named -");
    let out = wlcs(&[
        "run",
        "--cases",
        "5",
        "--report-json",
        "-",
        "--report-md",
        "-",
    ]);
    assert_ne!(
        out.status.code(),
        Some(0),
        "two reports on stdout: {}",
        text(&out)
    );
}

#[test]
fn cli_unwritable_report_path_fails_before_the_run() {
    let out = wlcs(&[
        "run",
        "--cases",
        "10",
        "--report-html",
        "/nonexistent-dir/r.html",
    ]);
    assert_ne!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--report-html /nonexistent-dir/r.html"),
        "{stderr}"
    );
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("verdict"),
        "the run did not start"
    );
}

#[test]
fn junit_has_a_testcase_per_rule_and_fixture_with_bodies() {
    let xml = report::junit::to_junit(&sample()).expect("junit");
    assert_eq!(quick_junit_cases(&xml), (7, 3));
    // The failure body quotes the requirement, gives expected vs actual and the replay.
    assert!(
        xml.contains("requirement (SPEC.md): **CLOSE-7** MUST (D1)"),
        "{xml}"
    );
    assert!(xml.contains("expected: [T1]#7 free"), "{xml}");
    assert!(xml.contains(
        "replay: wlcs run --target http://127.0.0.1:8080 --case-seed 0x14d03022a391f99c"
    ));
    assert!(xml.contains("message=\"the target does not let the suite control its clock\""));
}

#[test]
fn markdown_snapshot() {
    insta::assert_snapshot!("sample_markdown", report::markdown::to_markdown(&sample()));
}

#[test]
fn html_snapshot() {
    insta::assert_snapshot!("sample_html", report::html::to_html(&sample()));
}

/// The reference report's run: `reports/conformance/regenerate.sh` runs the same.
const REFERENCE_ARGS: [&str; 5] = ["run", "--seed", "1", "--cases", "1000"];

#[test]
fn committed_reference_report_is_current() {
    let dir = root().join("reports/conformance");
    let fresh_json = tmp("reference.json");
    let mut args: Vec<&str> = REFERENCE_ARGS.to_vec();
    let f = fresh_json.to_str().expect("utf-8").to_string();
    args.extend(["--report-json", &f]);
    let out = wlcs(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let committed = report::json::from_json(
        &std::fs::read_to_string(dir.join("reference.json"))
            .expect("reports/conformance/reference.json"),
    )
    .expect("committed report parses");
    let mut fresh = report::json::from_json(&std::fs::read_to_string(&fresh_json).expect("fresh"))
        .expect("parses");
    let stale = "reports/conformance/ is stale: run reports/conformance/regenerate.sh and commit";
    assert!(same_without_timings(&fresh, &committed), "{stale}");
    // With the committed timings, every rendering is byte for byte the committed file.
    fresh.millis = committed.millis;
    fresh.durations = committed.durations;
    fresh.started_at = committed.started_at.clone();
    for (a, b) in fresh.fixture_runs.iter_mut().zip(&committed.fixture_runs) {
        a.duration_ms = b.duration_ms;
    }
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).expect(name);
    assert_eq!(report::to_json(&fresh), read("reference.json"), "{stale}");
    assert_eq!(
        report::markdown::to_markdown(&fresh),
        read("reference.md"),
        "{stale}"
    );
    assert_eq!(
        report::html::to_html(&fresh),
        read("reference.html"),
        "{stale}"
    );
    assert_eq!(
        report::junit::to_junit(&fresh).expect("junit"),
        read("reference.xml"),
        "{stale}"
    );
    assert_valid(&committed, "committed reference");
}

#[test]
fn cli_rules_lists_every_rule_and_explain_prints_one_in_full() {
    let out = wlcs(&["rules"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for rule in RuleId::ALL {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(&format!("{:<9} ", rule.as_str()))),
            "{rule} missing:\n{stdout}"
        );
    }
    let time1 = stdout
        .lines()
        .find(|l| l.starts_with("TIME-1 "))
        .expect("TIME-1");
    assert!(time1.contains("clock"), "{time1}");

    let out = wlcs(&["explain", "close-6"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "CLOSE-6 (MUST)",
        "The hook runs ahead of the reset",
        "D2 `docs/commands-legacy/on-web-legacy-close-session-database-method.md`",
        "hook-after-reset",
        "Fixtures (",
    ] {
        assert!(stdout.contains(needle), "{needle} missing:\n{stdout}");
    }
    let out = wlcs(&["explain", "CLOSE-99"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown rule"));
}
