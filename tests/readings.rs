//! SHOULD readings do not cascade: a target taking another reasonable reading of a SHOULD rule
//! ends with a warning naming the reading and no failed MUST rule; under `--strict` it fails.

// A test: a failed unwrap or expect is a failed test, with its message (STYLE.md allows them here).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use wlcs::fixture::Fixture;
use wlcs::report::{self, Status, Verdict};
use wlcs::runner::{self, RunConfig};
use wlcs_model::RuleId;
use wlcs_model::vocab::Readings;
use wlcs_sut::mutants::Mutant;

fn run(mutant: Mutant, strict: bool, readings: Readings) -> report::Report {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let fixtures = Fixture::load_dir(&dir).expect("fixtures");
    let sut = mutant.sut().with_slow_hook(std::time::Duration::ZERO);
    let cfg = RunConfig {
        seed: 1,
        cases: 300,
        steps: 40,
        strict,
        readings,
        ..RunConfig::default()
    };
    runner::run(&sut, &fixtures, &cfg, mutant.name())
}

fn check_warns_only(mutant: Mutant, rule: RuleId, reading: &str) {
    let report = run(mutant, false, Readings::default());
    let text = report::render_text(&report);
    let failed: Vec<_> = report
        .rules
        .iter()
        .filter(|r| r.status == Status::Fail)
        .map(|r| r.id)
        .collect();
    assert!(failed.is_empty(), "{mutant:?} fails {failed:?}\n{text}");
    let row = report.rules.iter().find(|r| r.id == rule).expect("row");
    assert_eq!(row.status, Status::Warn, "{text}");
    assert_eq!(report.verdict, Verdict::Pass, "{text}");
    let said = format!("{rule} follows reading {reading}");
    assert!(text.contains(&said), "{text}");
    assert!(report::to_json(&report).contains(&said));
    // The header says which reading was detected, in text and JSON.
    let detected = format!("{rule}={reading}");
    assert_eq!(
        report.readings_detected,
        std::slice::from_ref(&detected),
        "{text}"
    );
    assert!(
        text.contains(&format!("readings: declared none; detected {detected}")),
        "{text}"
    );
    assert!(report::to_json(&report).contains("readings_detected"));
    assert!(
        report.counterexamples.iter().all(|c| c.rule == rule),
        "{text}"
    );

    let strict = run(mutant, true, Readings::default());
    assert_eq!(strict.verdict, Verdict::Fail);
    let row = strict.rules.iter().find(|r| r.id == rule).expect("row");
    assert_eq!(row.status, Status::Fail);

    // Declared, the reading is followed from the start: nothing diverges.
    let mut declared = Readings::default();
    declared
        .set(&format!("{rule}={reading}"))
        .expect("a known reading");
    let report = run(mutant, true, declared);
    assert_eq!(report.readings_declared, [detected]);
    assert_eq!(
        report.verdict,
        Verdict::Pass,
        "{}",
        report::render_text(&report)
    );
}

#[test]
fn remote_close_resets_mid_request_warns_under_close_12_only() {
    check_warns_only(
        Mutant::RemoteCloseResetsMidRequest,
        RuleId::Close12,
        "reset-immediately",
    );
}

#[test]
fn self_close_resets_mid_request_warns_under_close_11_only() {
    check_warns_only(
        Mutant::SelfCloseResetsMidRequest,
        RuleId::Close11,
        "reset-immediately",
    );
}

#[test]
fn unknown_readings_are_refused_with_the_alternatives() {
    let err = Readings::default()
        .set("CLOSE-12=later")
        .expect_err("unknown");
    assert!(err.contains("CLOSE-12=reset-immediately"), "{err}");
}

#[test]
fn hook_close_own_invalidates_id_warns_under_close_13_only() {
    check_warns_only(
        Mutant::HookCloseOwnInvalidatesId,
        RuleId::Close13,
        "invalidates-id",
    );
}

#[test]
fn hook_failure_unreported_warns_under_close_14_only() {
    check_warns_only(Mutant::HookFailureUnreported, RuleId::Close14, "unreported");
}

/// REQ-4's cookie refresh is a SHOULD part of a MUST rule: a target that sends `Set-Cookie`
/// only on a session's first response diverges on the client jar only, graded SHOULD (a
/// warning naming REQ-4's SHOULD part, `"should": true` in the JSON), never a MUST failure;
/// under `--strict` it fails.
#[test]
fn the_client_jar_divergence_is_graded_should() {
    let mutant = Mutant::SetCookieOnlyFirstResponse;
    let report = run(mutant, false, Readings::default());
    let text = report::render_text(&report);
    let row = report
        .rules
        .iter()
        .find(|r| r.id == RuleId::Req4)
        .expect("row");
    assert_eq!(row.status, Status::Warn, "{text}");
    assert!(row.should_divergences > 0 && row.should_divergences == row.divergences);
    assert_eq!(report.verdict, Verdict::Pass, "{text}");
    assert!(text.contains("REQ-4's SHOULD part"), "{text}");
    let json = report::to_json(&report);
    assert!(
        json.contains("\"should\": true") || json.contains("\"should\":true"),
        "{json}"
    );
    assert!(report.counterexamples.iter().all(|c| c.divergence.should));

    let strict = run(mutant, true, Readings::default());
    assert_eq!(strict.verdict, Verdict::Fail);
    let row = strict
        .rules
        .iter()
        .find(|r| r.id == RuleId::Req4)
        .expect("row");
    assert_eq!(row.status, Status::Fail);
}
