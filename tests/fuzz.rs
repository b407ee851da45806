//! Bounded fuzzing in the test suite: the fixture parser, the `Set-Cookie` handling and the
//! reference server's request handling, each a seeded structure-aware loop over its
//! committed corpus (`fuzz/corpus/`), bounded in executions and in time. The seed is printed;
//! `cargo run --release --example fuzz -- --seed S --executions N` runs them longer.

use std::path::Path;
use wlcs::fuzz::{self, FuzzBudget, FuzzStats};

/// The seed of every loop here (a fixed one: the test replays; the example takes others).
const SEED: u64 = 0xf022_5eed;

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let corpus = fuzz::load_corpus(&dir);
    assert!(!corpus.is_empty(), "no corpus in {}", dir.display());
    corpus
}

fn assert_clean(stats: &FuzzStats, executions_min: u64) {
    println!("{stats}");
    assert!(
        stats.executions >= executions_min,
        "{stats}: too few executions ran"
    );
    assert_eq!(stats.crashes, 0, "{stats}: {:#?}", stats.examples);
}

#[test]
fn fixture_parser_survives_mutated_fixtures() {
    let budget = FuzzBudget {
        executions_max: 3_000,
        duration_ms_max: 20_000,
    };
    assert_clean(
        &fuzz::fuzz_fixture_parser(SEED, &corpus("fixture"), budget),
        500,
    );
}

#[test]
fn set_cookie_parsing_survives_and_keeps_expiry_rules() {
    let budget = FuzzBudget {
        executions_max: 20_000,
        duration_ms_max: 10_000,
    };
    assert_clean(
        &fuzz::fuzz_set_cookie(SEED, &corpus("set-cookie"), budget),
        5_000,
    );
}

#[test]
fn server_answers_every_fuzzed_request_without_5xx() {
    let budget = FuzzBudget {
        executions_max: 2_000,
        duration_ms_max: 20_000,
    };
    assert_clean(&fuzz::fuzz_server(SEED, &corpus("request"), budget), 300);
}
