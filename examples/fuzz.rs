//! The longer, opt-in fuzzing run: the three loops of `wlcs::fuzz` with a seed and a budget
//! of your choice (the tests run them briefly with a fixed seed).
//!
//! `cargo run --release --example fuzz -- [--seed S] [--executions N] [--seconds T]`
//! (defaults: a seed from the clock, always printed; 100 000 executions per target; 60 s per
//! target). Exit code 1 when any target crashed.

use std::path::Path;
use wlcs::fuzz::{self, FuzzBudget};

fn arg(args: &[String], name: &str) -> Option<u64> {
    let i = args.iter().position(|a| a == name)?;
    let v = args.get(i + 1)?;
    match v.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => v.parse().ok(),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seed = arg(&args, "--seed").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    let budget = FuzzBudget {
        executions_max: arg(&args, "--executions").unwrap_or(100_000),
        duration_ms_max: arg(&args, "--seconds").unwrap_or(60).saturating_mul(1000),
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    println!("fuzz: seed {seed:#x} (replay: --seed {seed:#x})");
    let runs = [
        fuzz::fuzz_fixture_parser(seed, &fuzz::load_corpus(&root.join("fixture")), budget),
        fuzz::fuzz_set_cookie(seed, &fuzz::load_corpus(&root.join("set-cookie")), budget),
        fuzz::fuzz_server(seed, &fuzz::load_corpus(&root.join("request")), budget),
    ];
    let mut crashed = false;
    for stats in &runs {
        println!("{stats}");
        for example in &stats.examples {
            println!("  crash: {example}");
        }
        crashed |= stats.crashes > 0;
    }
    std::process::exit(i32::from(crashed));
}
