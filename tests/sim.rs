//! The simulator: passes on the reference, checks its own determinism, and fails on a
//! mutant with a replayable seed, a shrunk trace and a timeline.

use wlcs::sim::{self, SimConfig};
use wlcs_sut::Sut;
use wlcs_sut::memory::MemorySut;
use wlcs_sut::mutants::Mutant;

#[test]
fn reference_passes_many_seeds_and_is_deterministic() {
    let cfg = SimConfig {
        first_seed: 1000,
        seeds: 300,
        determinism_every: 3,
        ..SimConfig::default()
    };
    let report = sim::run(&|| Ok(Box::new(MemorySut::new()) as Box<dyn Sut>), &cfg).expect("sim");
    let text = sim::render_text(&report, &cfg);
    assert_eq!(sim::exit_code(&report), 0, "{text}");
    assert_eq!(report.seeds_run, 300);
    assert_eq!(report.determinism_checked, 100);
    assert!(report.nondeterministic.is_empty());
    assert!(report.steps > 300 * 20, "{} steps", report.steps);
}

#[test]
fn a_seed_is_the_same_trace_whatever_the_worker_count() {
    let one = sim::seed_trace(77, 200, &Default::default(), wlcs_sut::Capabilities::ALL);
    let two = sim::seed_trace(77, 200, &Default::default(), wlcs_sut::Capabilities::ALL);
    assert_eq!(
        serde_json::to_string(&one.1).expect("json"),
        serde_json::to_string(&two.1).expect("json")
    );
    assert_eq!(one.0.weights, two.0.weights);
    let other = sim::seed_trace(78, 200, &Default::default(), wlcs_sut::Capabilities::ALL);
    assert_ne!(
        one.0.weights, other.0.weights,
        "each seed picks its own swarm"
    );
}

#[test]
fn a_mutant_fails_with_a_replayable_shrunk_timeline() {
    let cfg = SimConfig {
        first_seed: 1,
        seeds: 20,
        workers: 1,
        ..SimConfig::default()
    };
    let make = || Ok(Box::new(Mutant::RemoteCloseResetsMidRequest.sut()) as Box<dyn Sut>);
    let report = sim::run(&make, &cfg).expect("sim");
    assert_eq!(sim::exit_code(&report), 1);
    let f = &report.failures[0];
    let c = f.counterexample.as_ref().expect("a divergence");
    assert!(
        c.divergence
            .breaks(Mutant::RemoteCloseResetsMidRequest.breaks()),
        "{:?}",
        c.divergence
    );
    assert!(c.steps <= 4, "shrunk to {} steps", c.steps);
    assert!(
        c.replay
            .contains(&format!("--seed {:#x} --seeds 1", f.seed))
    );
    assert!(f.timeline.starts_with("step "), "{}", f.timeline);
    assert!(f.timeline.contains("slot 0"), "{}", f.timeline);
    assert!(f.timeline.contains("!! "), "{}", f.timeline);
    // Replaying the seed alone fails the same way.
    let again = sim::run(
        &make,
        &SimConfig {
            first_seed: f.seed,
            seeds: 1,
            ..cfg.clone()
        },
    )
    .expect("sim");
    let c2 = again.failures[0].counterexample.as_ref().expect("again");
    assert_eq!(c2.rule, c.rule);
    assert_eq!(c2.trace, c.trace);
}

#[test]
fn cli_sim_with_threads_checks_linearizability() {
    let run = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_wlcs"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args([
                "sim",
                "--seed",
                "3",
                "--seeds",
                "50",
                "--threads",
                "2",
                "--ops",
                "4000",
            ])
            .args(extra)
            .output()
            .expect("wlcs sim runs")
    };
    let out = run(&[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("verdict: LINEARIZABLE"), "{stdout}");
    // A race mutant: the sequential seeds pass, the threaded run does not (bounded rounds:
    // the schedule is real, so allow a few attempts).
    let caught = (0..5).any(|_| {
        let out = run(&["--mutant", "racy-double-hook", "--keys", "2"]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        // Caught, shrunk to a smaller workload, with the command that replays it.
        out.status.code() == Some(1)
            && stdout.contains("NOT LINEARIZABLE")
            && stdout.contains("shrunk in")
            && stdout.contains("replay the workload")
    });
    assert!(caught, "racy-double-hook survived five threaded runs");
}
