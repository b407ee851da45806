//! Differential checking throughput: generated trace steps per second through the model
//! alone, through the model and the reference implementation (the checker), and the
//! generator's own cost, all on the same pre-generated traces so the ratios are comparable
//! within one run.
//!
//! Beside them, the same traces through proptest-state-machine (issue 6): the model as its
//! `ReferenceStateMachine`, the reference implementation as its `StateMachineTest`, with the
//! checker's own comparison core as postconditions (`wlcs::check::compare`: status, routing,
//! reads, cookie effect, hook runs in order, lock table and interprocess variables after
//! every step that may change them, `observe::may_change_shared`). Two ways:
//! - `pst_test_sequential`: `StateMachineTest::test_sequential` on each trace, execution only,
//!   as `model_plus_reference` is;
//! - `pst_runner_replay_no_sleep`: a whole proptest run of one case per trace, the
//!   `Sequential` strategy replaying the trace's steps (`Just` transitions), so pst's own
//!   generation pass (one model step per transition, a boxed strategy and value tree per step)
//!   is paid, as in any pst test. Its counterpart is `generate_and_check_no_sleep`: the wlcs
//!   generator (proptest choices interpreted against the model) plus the checker, per case.
//!
//! The reference implementation serves a `Slow` hook by sleeping (50 us a run, so that races
//! show under real concurrency); generated traces set that hook, and the sleeps then take more
//! than half the wall time of a checker run. The `*_no_sleep` benchmarks run the same traces on
//! [`NoSleep`], the same implementation with `Slow` served as `Save` (what the model assumes),
//! so their ratios are the CPU cost of checking alone. Figures and ratios:
//! `reports/bench/README.md`.

// A test: a failed unwrap or expect is a failed test, with its message (STYLE.md allows them here).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;
use wlcs::check::{Checker, Verdict};
use wlcs::generate::GenConfig;
use wlcs::runner::{case_choices, case_seeds, generated_trace};
use wlcs_model::{Model, Trace};
use wlcs_sut::memory::MemorySut;
use wlcs_sut::{Capabilities, Layer, Sut, SutError, WireHook};

/// Cases of the benchmark sample, and steps per case at most.
const CASES: u64 = 256;
const STEPS_MAX: usize = 40;

fn gen_config() -> GenConfig {
    GenConfig {
        world: Default::default(),
        caps: Capabilities::ALL,
        weights: Default::default(),
    }
}

fn traces() -> (Vec<Trace>, u64) {
    let cfg = gen_config();
    let traces: Vec<Trace> = case_seeds(1, CASES)
        .map(|s| generated_trace(s, STEPS_MAX, &cfg))
        .collect();
    let steps = traces.iter().map(|t| t.steps.len() as u64).sum();
    (traces, steps)
}

/// The reference implementation with a `Slow` hook served as `Save`: same observations, no
/// sleep.
#[derive(Default)]
pub struct NoSleep(MemorySut);

impl Layer for NoSleep {
    type Inner = MemorySut;
    fn inner(&self) -> &MemorySut {
        &self.0
    }
    fn set_hook(&self, behavior: &WireHook) -> Result<(), SutError> {
        match behavior {
            WireHook::Slow => self.0.set_hook(&WireHook::Save),
            other => self.0.set_hook(other),
        }
    }
}

/// proptest-state-machine driving the same model and the same reference implementation.
mod pst {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    use proptest_state_machine::{ReferenceStateMachine, StateMachineTest};
    use std::cell::RefCell;
    use std::collections::BTreeMap;
    use std::rc::Rc;
    use std::sync::LazyLock;
    use wlcs::check::compare::{self, Context, HookSeen};
    use wlcs::check::ids::IdMap;
    use wlcs::check::{observe, owner_seen};
    use wlcs_model::vocab::{SessionRef, Step, WorldConfig};
    use wlcs_model::{Model, StepObs, Trace};
    use wlcs_sut::Sut;
    use wlcs_sut::memory::MemorySut;

    /// The implementations under test (pst's `SystemUnderTest` is built from an associated
    /// function, so it reaches the implementation through a static).
    static REAL: LazyLock<MemorySut> = LazyLock::new(MemorySut::new);
    static NO_SLEEP: LazyLock<super::NoSleep> = LazyLock::new(super::NoSleep::default);

    /// The implementation the current run drives.
    fn sut() -> &'static dyn Sut {
        if NO_SLEEP_SELECTED.with(|c| c.get()) {
            &*NO_SLEEP
        } else {
            &*REAL
        }
    }

    thread_local! {
        /// Whether this thread's runs drive [`super::NoSleep`].
        static NO_SLEEP_SELECTED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
        /// The trace a `pst_runner_replay` case replays.
        static REPLAY: RefCell<Rc<Vec<Step>>> = RefCell::new(Rc::new(Vec::new()));
    }

    /// The reference state: the model and what its last step must produce (`StepObs`
    /// carries the session an `End` ran in: no pre-query of the model).
    #[derive(Clone, Debug)]
    pub struct RefState {
        model: Model,
        obs: StepObs,
        shared: bool,
        pos: usize,
    }

    impl RefState {
        pub fn new(config: WorldConfig) -> RefState {
            RefState {
                model: Model::new(config),
                obs: StepObs::default(),
                shared: false,
                pos: 0,
            }
        }
    }

    /// The model as pst's reference state machine.
    pub struct ModelMachine;

    impl ReferenceStateMachine for ModelMachine {
        type State = RefState;
        type Transition = Step;

        fn init_state() -> BoxedStrategy<RefState> {
            Just(RefState::new(WorldConfig::default())).boxed()
        }

        fn transitions(state: &RefState) -> BoxedStrategy<Step> {
            let step = REPLAY.with(|r| r.borrow().get(state.pos).cloned());
            Just(step.unwrap_or(Step::Advance { seconds: 0 })).boxed()
        }

        fn apply(mut state: RefState, step: &Step) -> RefState {
            state.obs = state.model.step(step);
            // The checker's own rule for when the lock table and the interprocess variables
            // are asked for.
            state.shared = observe::may_change_shared(step, &state.obs);
            state.pos += 1;
            state
        }
    }

    /// Real IDs of the model's symbolic sessions (the checker's own map, so this driver
    /// sends the same bytes as the checker).
    #[derive(Default)]
    pub struct Driver {
        ids: IdMap,
    }

    /// Nobody's writes are tracked (INV-4 only adds a rule to a divergence).
    static NO_WRITERS: BTreeMap<i64, SessionRef> = BTreeMap::new();

    fn context(model: &Model) -> Context<'_> {
        Context {
            model,
            cookie_name: &model.options().cookie_name,
            written: &NO_WRITERS,
            may_expire: false,
        }
    }

    /// The reference implementation as pst's system under test; its postconditions are the
    /// checker's own comparison core (pst's `apply` seam).
    pub struct PstTest;

    impl StateMachineTest for PstTest {
        type SystemUnderTest = Driver;
        type Reference = ModelMachine;

        fn init_test(ref_state: &RefState) -> Driver {
            sut().reset(ref_state.model.config()).expect("reset");
            Driver::default()
        }

        fn apply(mut d: Driver, ref_state: &RefState, step: Step) -> Driver {
            let obs = &ref_state.obs;
            assert!(obs.invalid.is_none() && obs.model_fault.is_none());
            let shown = observe::send(sut(), &d.ids, &step).expect("the step");
            let cx = context(&ref_state.model);
            let got = shown.observation(cx.cookie_name);
            if let Err(m) = compare::request(obs, &got, &mut d.ids, cx, &mut ()) {
                panic!("{m:?}");
            }
            let runs = sut().take_hook_runs().expect("hook runs");
            let seen: Vec<HookSeen<'_, String>> = runs.iter().map(HookSeen::of).collect();
            let advanced = matches!(step, Step::Advance { .. });
            if let Err(e) = compare::hooks(obs, &seen, advanced, &d.ids, cx, &mut ()) {
                panic!("{e:?}");
            }
            d
        }

        fn check_invariants(d: &Driver, ref_state: &RefState) {
            if !ref_state.shared {
                return;
            }
            let locks = sut().locks().expect("locks");
            let model = &ref_state.model;
            if let Err(e) = compare::locks(model, &locks, owner_seen, None, &d.ids, &mut ()) {
                panic!("{e:?}");
            }
            let ipvars = sut().ipvars().expect("ipvars");
            if let Err(e) = compare::ipvars(model, &ipvars, &mut ()) {
                panic!("{e:?}");
            }
        }
    }

    /// Selects the implementation of this thread's runs.
    pub fn select(no_sleep: bool) {
        NO_SLEEP_SELECTED.with(|c| c.set(no_sleep));
    }

    /// `test_sequential` on one trace: execution only.
    pub fn test_sequential(trace: &Trace) {
        PstTest::test_sequential(
            Config::default(),
            RefState::new(trace.config.clone()),
            trace.steps.clone(),
            None,
        );
    }

    /// A whole proptest run of one case replaying `trace` through pst's `Sequential`
    /// strategy (generation, then execution).
    pub fn runner_replay(trace: &Trace) {
        let steps = Rc::new(trace.steps.clone());
        let n = steps.len();
        if n == 0 {
            // pst 0.9's `Sequential` underflows on an empty sequence (`max_size - 1`).
            return;
        }
        REPLAY.with(|r| *r.borrow_mut() = steps);
        let config = Config {
            cases: 1,
            failure_persistence: None,
            ..Config::default()
        };
        let rng = TestRng::deterministic_rng(RngAlgorithm::ChaCha);
        let mut runner = TestRunner::new_with_rng(config.clone(), rng);
        let result = runner.run(
            &ModelMachine::sequential_strategy(n..=n),
            |(initial, transitions, seen)| {
                PstTest::test_sequential(config.clone(), initial, transitions, seen);
                Ok(())
            },
        );
        assert!(result.is_ok(), "pst replay failed: {result:?}");
    }
}

fn differential(c: &mut Criterion) {
    let (traces, steps) = traces();
    let mut group = c.benchmark_group("differential");
    group.throughput(Throughput::Elements(steps));
    on_traces(&mut group, &traces);
    let no_sleep = NoSleep::default();
    on_traces_no_sleep(&mut group, &traces, &no_sleep);
    generating(&mut group, &no_sleep);
    group.bench_function("pst_runner_replay_no_sleep", |b| {
        pst::select(true);
        b.iter(|| {
            for t in &traces {
                pst::runner_replay(t);
            }
        })
    });
    group.finish();
}

/// The pre-generated traces through the model alone, the checker on the reference (quiet and
/// with its transcript), and pst's `test_sequential`, all with the reference's real `Slow`
/// hook.
fn on_traces(group: &mut BenchmarkGroup<'_, WallTime>, traces: &[Trace]) {
    group.bench_function("model_only", |b| {
        b.iter(|| {
            for t in traces {
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
            for t in traces {
                black_box(Checker::run_quiet(&sut, t));
            }
        })
    });
    group.bench_function("model_plus_reference_with_transcript", |b| {
        b.iter(|| {
            for t in traces {
                black_box(Checker::run(&sut, t));
            }
        })
    });
    group.bench_function("pst_test_sequential", |b| {
        pst::select(false);
        b.iter(|| {
            for t in traces {
                pst::test_sequential(t);
            }
        })
    });
}

/// The same traces through the checker and pst on [`NoSleep`]: the CPU cost of checking
/// alone.
fn on_traces_no_sleep(
    group: &mut BenchmarkGroup<'_, WallTime>,
    traces: &[Trace],
    no_sleep: &NoSleep,
) {
    group.bench_function("model_plus_reference_no_sleep", |b| {
        b.iter(|| {
            for t in traces {
                black_box(Checker::run_quiet(no_sleep, t));
            }
        })
    });
    group.bench_function("pst_test_sequential_no_sleep", |b| {
        pst::select(true);
        b.iter(|| {
            for t in traces {
                pst::test_sequential(t);
            }
        })
    });
}

/// The generator's own cost (choices interpreted into traces), then generation and checking
/// on [`NoSleep`], as two passes and fused into one (`Checker::run_generated`).
fn generating(group: &mut BenchmarkGroup<'_, WallTime>, no_sleep: &NoSleep) {
    let cfg = gen_config();
    group.bench_function("generate_and_interpret", |b| {
        b.iter(|| {
            for s in case_seeds(1, CASES) {
                black_box(generated_trace(s, STEPS_MAX, &cfg));
            }
        })
    });
    group.bench_function("generate_and_check_no_sleep", |b| {
        b.iter(|| {
            for s in case_seeds(1, CASES) {
                let t = generated_trace(s, STEPS_MAX, &cfg);
                black_box(Checker::run_quiet(no_sleep, &t));
            }
        })
    });
    group.bench_function("generate_and_check_fused_no_sleep", |b| {
        b.iter(|| {
            for s in case_seeds(1, CASES) {
                let Some(choices) = case_choices(s, STEPS_MAX) else {
                    continue;
                };
                let (trace, run) = Checker::run_generated(no_sleep, &choices, &cfg);
                assert_eq!(run.verdict, Verdict::Pass, "case {s:#x}");
                black_box((trace, run));
            }
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(10);
    targets = differential
}
criterion_main!(benches);
