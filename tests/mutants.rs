//! The suite proves its power: every mutant of the reference implementation is killed, by
//! the rule it declares (or, for the one mutant that breaks two rules, the note in
//! `mutants_killed_by_another_rule_are_the_documented_ones` says which), with short
//! counterexamples; the reference and the canary pass (no false failures).

// A test: a failed unwrap or expect is a failed test, with its message (STYLE.md allows them here).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::OnceLock;
use wlcs::fixture::Fixture;
use wlcs::mutation::{self, MutationConfig};
use wlcs_sut::mutants::Mutant;

fn report() -> &'static mutation::MutationReport {
    static REPORT: OnceLock<mutation::MutationReport> = OnceLock::new();
    REPORT.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
        let fixtures = Fixture::load_dir(&dir).expect("fixtures");
        let cfg = MutationConfig {
            seed: 1,
            cases: 300,
            steps: 40,
        };
        // Race mutants run from real threads under the linearizability checker.
        mutation::run_all(Mutant::ALL, &fixtures, &cfg, &mut |_| {})
    })
}

#[test]
fn every_mutant_is_killed_and_the_reference_and_canary_pass() {
    let report = report();
    let text = mutation::render_text(report);
    let not_as_expected: Vec<&str> = report
        .mutants
        .iter()
        .filter(|r| !r.as_expected())
        .map(|r| r.name.as_str())
        .collect();
    // Every mutant is killed (the REQ-6 ID-quality mutants by the security checks of
    // src/security.rs), and the reference and the canary pass.
    assert!(not_as_expected.is_empty(), "{not_as_expected:?}\n{text}");
    assert_eq!(report.mutants.len(), Mutant::ALL.len() + 1);
    // Race mutants are killed by the concurrent checker, by the rule they declare.
    for m in Mutant::ALL.iter().filter(|m| m.is_race()) {
        let row = report
            .mutants
            .iter()
            .find(|r| r.name == m.name())
            .expect("row");
        assert!(row.killed && row.caught_by.is_some(), "{row:?}");
    }
    let reference = &report.mutants[0];
    assert_eq!(reference.name, "reference");
    assert!(!reference.killed);
    for row in &report.mutants[1..] {
        assert!(row.as_expected(), "{row:?}\n{text}");
    }
    // Every rule has a mutant that the suite kills.
    for rule in wlcs_model::RuleId::ALL {
        assert!(
            report
                .mutants
                .iter()
                .any(|r| r.breaks == Some(*rule) && r.killed),
            "no killed mutant breaks {rule}"
        );
    }
    let mut steps: Vec<usize> = report.mutants.iter().filter_map(|r| r.steps).collect();
    steps.sort_unstable();
    assert!(
        steps[steps.len() / 2] < 12,
        "median counterexample {} steps",
        steps[steps.len() / 2]
    );
}

#[test]
fn mutants_killed_by_another_rule_are_the_documented_ones() {
    let other: Vec<&str> = report()
        .mutants
        .iter()
        .filter(|r| r.killed && r.breaks.is_some() && !r.caught_by_declared)
        // A race mutant's blame depends on the real schedule (tests/linearize.rs measures it).
        .filter(|r| Mutant::parse(&r.name).is_some_and(|m| !m.is_race()))
        .map(|r| r.name.as_str())
        .collect();
    // Dropping selections between requests also empties what the hook sees at a close: the
    // hook is the first observer, so CLOSE-6 reports it before a later request's read
    // (REQ-2) would.
    assert_eq!(other, ["selections-dropped-between-requests"]);
}

/// Generated cases a decorator mutant gets over HTTP, at most (fixtures run first; a run stops
/// at its first failure).
const SERVED_MUTANT_CASES: u64 = 50;

/// A decorator mutant ([`Kind::Perturb`]) wraps any implementation: around the adapter of a
/// served *reference* (no mutant on the server), each one is killed by the rule it breaks, as
/// it is in process. This is how the suite can validate its own power against a vendor's
/// server.
#[test]
fn decorator_mutants_around_a_served_reference_are_killed_by_their_rules() {
    use std::sync::Arc;
    use wlcs::runner::{self, RunConfig};
    use wlcs_http::{HttpSut, ServeOptions, serve};
    use wlcs_sut::Sut;
    use wlcs_sut::mutants::{Kind, Perturbed};

    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let fixtures = Fixture::load_dir(&dir).expect("fixtures");
    let addr = "127.0.0.1:0".parse().expect("literal address");
    let server = serve(
        addr,
        Arc::new(wlcs_sut::memory::MemorySut::new()),
        ServeOptions::default(),
    )
    .expect("server starts");
    let decorators: Vec<Mutant> = Mutant::ALL
        .iter()
        .copied()
        .filter(|m| m.kind() == Kind::Perturb)
        .collect();
    assert!(decorators.len() >= 10, "{decorators:?}");
    for m in decorators {
        let http = HttpSut::connect(&server.base_url()).expect("adapter connects");
        let sut = Perturbed::new(http, m).expect("a decorator mutant");
        let cfg = RunConfig {
            seed: 1,
            cases: SERVED_MUTANT_CASES,
            strict: true,
            stop_at_first_failure: true,
            counterexamples_max: 1,
            ..RunConfig::default()
        };
        let report = runner::run(&sut, &fixtures, &cfg, &sut.name());
        let first = report.counterexamples.first();
        assert!(
            first.is_some_and(|c| c.divergence.breaks(m.breaks())),
            "{m} over HTTP: {:?} {:?}",
            first.map(|c| (c.rule, &c.divergence)),
            report.errors
        );
    }
    server.shutdown().expect("clean shutdown");
}

/// `wlcs run --target http://... --mutant NAME` takes a decorator mutant (it wraps the
/// adapter) and refuses an internal one as a usage error, naming `serve --mutant` instead.
#[test]
fn cli_refuses_an_internal_mutant_around_a_served_target() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wlcs"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "run",
            "--target",
            "http://127.0.0.1:9",
            "--mutant",
            "hook-after-reset",
        ])
        .output()
        .expect("wlcs runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("serve --mutant hook-after-reset"),
        "{stderr}"
    );
}

/// A rule vacuous without a capability (issue 13.3): `max-sessions-ignored` breaks LIMIT-1,
/// whose checks need the `options` capability (a trace must lower selector 71 to reach the
/// limit). Declared, the mutant is caught by LIMIT-1; without the capability LIMIT-1 is
/// `skip`, never `pass`, and the run says so rather than calling the mutant conformant on it.
#[test]
fn a_rule_vacuous_without_its_capability_is_caught_with_it_and_skipped_without() {
    use wlcs::report::Status;
    use wlcs::runner::{self, RunConfig};
    use wlcs_sut::mutants::MutantSut;
    use wlcs_sut::{Capabilities, Layer};

    /// The mutant, declaring fewer capabilities.
    struct Declaring(MutantSut, Capabilities);
    impl Layer for Declaring {
        type Inner = MutantSut;
        fn inner(&self) -> &MutantSut {
            &self.0
        }
        fn capabilities(&self) -> Capabilities {
            self.1
        }
    }

    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let fixtures = Fixture::load_dir(&dir).expect("fixtures");
    let cfg = RunConfig {
        seed: 1,
        cases: 120,
        ..RunConfig::default()
    };
    let mutant = Mutant::MaxSessionsIgnored;
    let full = mutant.sut().with_slow_hook(std::time::Duration::ZERO);
    let caps = wlcs_sut::Sut::capabilities(&full);
    assert!(caps.options);
    let status = |sut: &dyn wlcs_sut::Sut| {
        let report = runner::run(sut, &fixtures, &cfg, mutant.name());
        let row = report
            .rules
            .iter()
            .find(|r| r.id == mutant.breaks())
            .map(|r| r.status);
        (row, wlcs::report::render_text(&report))
    };
    let (with, text) = status(&Declaring(full, caps));
    assert_eq!(with, Some(Status::Fail), "{text}");
    let without = Capabilities {
        options: false,
        ..caps
    };
    let sut = mutant.sut().with_slow_hook(std::time::Duration::ZERO);
    let (row, text) = status(&Declaring(sut, without));
    assert_eq!(row, Some(Status::Skip), "{text}");
}
