//! Differential checking throughput: generated trace steps per second through the model
//! alone, through the model and the reference implementation (the checker), and the
//! generator's own cost, all on the same pre-generated traces so the ratios are comparable
//! within one run.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use wlcs::checker::Checker;
use wlcs::generate::GenConfig;
use wlcs::runner::{case_seeds, generated_trace};
use wlcs_model::{Model, Trace};
use wlcs_sut::Capabilities;
use wlcs_sut::memory::MemorySut;

fn traces() -> (Vec<Trace>, u64) {
    let cfg = GenConfig {
        world: Default::default(),
        caps: Capabilities::ALL,
        weights: Default::default(),
    };
    let traces: Vec<Trace> = case_seeds(1, 256)
        .map(|s| generated_trace(s, 40, &cfg))
        .collect();
    let steps = traces.iter().map(|t| t.steps.len() as u64).sum();
    (traces, steps)
}

fn differential(c: &mut Criterion) {
    let (traces, steps) = traces();
    let mut group = c.benchmark_group("differential");
    group.throughput(Throughput::Elements(steps));
    group.bench_function("model_only", |b| {
        b.iter(|| {
            for t in &traces {
                let mut m = Model::new(t.config.clone());
                for s in &t.steps {
                    black_box(m.step(s));
                }
            }
        })
    });
    let sut = MemorySut::new();
    group.bench_function("model_plus_reference", |b| {
        b.iter(|| {
            for t in &traces {
                black_box(Checker::run_quiet(&sut, t));
            }
        })
    });
    group.bench_function("model_plus_reference_with_transcript", |b| {
        b.iter(|| {
            for t in &traces {
                black_box(Checker::run(&sut, t));
            }
        })
    });
    let cfg = GenConfig {
        world: Default::default(),
        caps: Capabilities::ALL,
        weights: Default::default(),
    };
    group.bench_function("generate_and_interpret", |b| {
        b.iter(|| {
            for s in case_seeds(1, 256) {
                black_box(generated_trace(s, 40, &cfg));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, differential);
criterion_main!(benches);
