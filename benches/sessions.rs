//! Cost per step against the number of sessions a trace opens (issue 15.3): one fixture-like
//! trace of N requests without a cookie (each opens a session; past the default limit of 100
//! each also evicts one, with its hook), for N = 10^3, 10^4, 10^5. Time per step must stay flat
//! (within 2x from 10^3 to 10^5): counting live sessions, choosing eviction victims and finding
//! due timeouts used to scan every session ever opened, which made such fixtures quadratic.
//!
//! Two measurements: `model` (`Model::step` alone) and `fixture` (the checker with its
//! transcript on, as `wlcs run` replays a fixture, against the reference implementation).
//! Criterion reports throughput in steps per second; figures in the power report.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;
use wlcs::checker::{Checker, Verdict};
use wlcs_model::vocab::{Action, Request, Step};
use wlcs_model::{Model, Trace};
use wlcs_sut::memory::MemorySut;

/// Sessions (one request each) per trace.
const SESSIONS: [usize; 3] = [1_000, 10_000, 100_000];

/// N requests without a cookie, each writing a variable (what the eviction's hook then sees).
fn many_sessions(n: usize) -> Trace {
    let steps = (0..n)
        .map(|i| {
            Step::Request(Request {
                ip: 0,
                cookie: None,
                mobile: None,
                actions: vec![Action::SetVar {
                    var: 1,
                    value: i as i64,
                }],
            })
        })
        .collect();
    Trace {
        config: Default::default(),
        steps,
    }
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("sessions");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    for n in SESSIONS {
        let trace = many_sessions(n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("model", n), &trace, |b, trace| {
            b.iter(|| {
                let mut model = Model::new(trace.config.clone());
                for step in &trace.steps {
                    black_box(model.step(step));
                }
                model.live_sessions()
            })
        });
        let sut = MemorySut::new();
        group.bench_with_input(BenchmarkId::new("fixture", n), &trace, |b, trace| {
            b.iter(|| {
                let run = Checker::run(&sut, trace);
                assert_eq!(run.verdict, Verdict::Pass);
                run.steps_run
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
