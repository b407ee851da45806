//! Differential checking throughput: generated trace steps per second through the model
//! alone, through the model and the reference implementation (the checker), and the
//! generator's own cost, all on the same pre-generated traces so the ratios are comparable
//! within one run.
//!
//! Beside them, the same traces through proptest-state-machine (issue 6): the model as its
//! `ReferenceStateMachine`, the reference implementation as its `StateMachineTest`, with
//! postconditions equivalent to the checker's (status, routing, reads, cookie effect, hook
//! runs as a multiset, lock table and interprocess variables after every step but a hook
//! change). Two ways:
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

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;
use wlcs::checker::Checker;
use wlcs::generate::GenConfig;
use wlcs::runner::{case_seeds, generated_trace};
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
    use wlcs::wire::IdMap;
    use wlcs_model::vocab::{Action, HookBehavior, IdText, Request, SessionRef, Step, WorldConfig};
    use wlcs_model::{CookieEffect, Model, Read, StepObs, Trace};
    use wlcs_sut::memory::MemorySut;
    use wlcs_sut::{
        Begun, Response, Sut, WireAction, WireHook, WireHookRun, WireId, WireRead, WireRequest,
    };

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

    /// The reference state: the model, what its last step must produce, and the session that
    /// step ran in (an `End` runs in the session its slot held before the step).
    #[derive(Clone, Debug)]
    pub struct RefState {
        model: Model,
        obs: StepObs,
        session: Option<SessionRef>,
        shared: bool,
        pos: usize,
    }

    impl RefState {
        pub fn new(config: WorldConfig) -> RefState {
            RefState {
                model: Model::new(config),
                obs: StepObs::default(),
                session: None,
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
            let flight = match step {
                Step::End { slot, .. } => state
                    .model
                    .in_flight()
                    .into_iter()
                    .find(|f| f.0 == *slot)
                    .map(|f| f.1),
                _ => None,
            };
            state.obs = state.model.step(step);
            state.session = state.obs.ran_in.map(|r| r.session).or(flight);
            state.shared = !matches!(step, Step::SetHook(_));
            state.pos += 1;
            state
        }
    }

    /// Real IDs of the model's symbolic sessions, both ways (the checker's own map, so this
    /// driver sends the same bytes as the checker).
    #[derive(Default)]
    pub struct Driver {
        ids: IdMap,
    }

    impl Driver {
        fn get(&self, s: SessionRef) -> Option<&str> {
            self.ids.get(s)
        }

        fn bind(&mut self, s: SessionRef, id: &str) {
            self.ids.bind(s, id);
        }

        fn text(&self, id: &IdText) -> WireId {
            self.ids.text(id)
        }

        fn action(&self, a: &Action) -> WireAction {
            self.ids.action(a)
        }

        fn request(&self, r: &Request) -> WireRequest {
            self.ids.request(r)
        }
    }

    /// The reference implementation as pst's system under test.
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
            let mut response: Option<Response> = None;
            let mut ran_in: Option<String> = None;
            let reads: Vec<WireRead> = match &step {
                Step::Request(r) => {
                    let resp = sut().request(&d.request(r)).expect("request");
                    ran_in = resp.session_id.clone();
                    let reads = resp.reads.clone();
                    response = Some(resp);
                    reads
                }
                Step::Begin { slot, request } => match sut().begin(*slot, &d.request(request)) {
                    Ok(Begun::Running { session_id, reads }) => {
                        ran_in = Some(session_id);
                        reads
                    }
                    Ok(Begun::Done(resp)) => {
                        ran_in = resp.session_id.clone();
                        let reads = resp.reads.clone();
                        response = Some(resp);
                        reads
                    }
                    Err(e) => panic!("begin: {e}"),
                },
                Step::End { slot, actions } => {
                    let wire: Vec<WireAction> = actions.iter().map(|a| d.action(a)).collect();
                    let resp = sut().end(*slot, &wire).expect("end");
                    let reads = resp.reads.clone();
                    response = Some(resp);
                    reads
                }
                Step::NonWeb { process, actions } => {
                    let wire: Vec<WireAction> = actions.iter().map(|a| d.action(a)).collect();
                    sut().non_web(*process, &wire).expect("non-web")
                }
                Step::SetOption(option) => {
                    sut().set_option(option).expect("option");
                    Vec::new()
                }
                Step::SetHook(behavior) => {
                    let wire = match behavior {
                        HookBehavior::Save => WireHook::Save,
                        HookBehavior::Fail => WireHook::Fail,
                        HookBehavior::CloseOwn => WireHook::CloseOwn,
                        HookBehavior::Slow => WireHook::Slow,
                        HookBehavior::Close(id) => match d.text(id) {
                            WireId::Text(t) => WireHook::Close(t),
                            WireId::Current => WireHook::CloseOwn,
                        },
                    };
                    sut().set_hook(&wire).expect("hook");
                    Vec::new()
                }
                Step::Advance { seconds } => {
                    sut().advance(*seconds).expect("advance");
                    Vec::new()
                }
            };
            // Status.
            match (&obs.response, &response) {
                (Some(e), Some(a)) => assert_eq!(e.status.value, a.status, "status"),
                (None, None) => {}
                _ => panic!("response presence differs"),
            }
            let refused = response.as_ref().is_some_and(|r| r.status != 200);
            // Routing.
            if let Some(r) = obs.ran_in
                && !refused
            {
                let actual = ran_in.as_deref().expect("a session");
                if r.opened {
                    assert!(d.ids.find(actual).is_none(), "a new ID");
                    d.bind(r.session, actual);
                } else {
                    assert_eq!(d.get(r.session), Some(actual), "routing");
                }
            }
            // Reads.
            if reads.len() == obs.reads.len() {
                for (e, a) in obs.reads.iter().zip(&reads) {
                    if e.value != Read::Unchecked {
                        assert_eq!(Some(&e.value), d.ids.read(a).as_ref(), "read");
                    }
                }
            } else {
                assert!(refused, "one read per action");
            }
            // Cookie effect.
            if let (Some(e), Some(a)) = (&obs.response, &response)
                && a.status == 200
            {
                let name = &ref_state.model.options().cookie_name;
                let got = a.set_cookies.iter().rev().find(|c| &c.name == name);
                let own = ref_state.session.and_then(|s| d.get(s));
                let ok = match (&e.cookie.value, got) {
                    (CookieEffect::Expire, Some(c)) => c.expiring,
                    (CookieEffect::Issue(s), Some(c)) => {
                        !c.expiring && d.get(*s) == Some(c.value.as_str())
                    }
                    (CookieEffect::Keep, None) => true,
                    (CookieEffect::Keep, Some(c)) => {
                        !c.expiring && (own.is_none() || own == Some(c.value.as_str()))
                    }
                    _ => false,
                };
                assert!(ok, "cookie effect");
            }
            // Hook runs, as a multiset.
            let runs = sut().take_hook_runs().expect("hook runs");
            let mut unmatched: Vec<&WireHookRun> = runs.iter().collect();
            for e in &obs.hooks {
                let want = d.get(e.session).unwrap_or("");
                let pos = unmatched
                    .iter()
                    .position(|h| {
                        h.session_id == want
                            && h.lane == e.lane
                            && h.snapshot == e.snapshot
                            && h.failed == e.failed
                    })
                    .expect("the expected hook run");
                unmatched.swap_remove(pos);
            }
            assert!(unmatched.is_empty(), "no extra hook run");
            d
        }

        fn check_invariants(d: &Driver, ref_state: &RefState) {
            if !ref_state.shared {
                return;
            }
            if !ref_state.model.scalable() {
                let actual: BTreeMap<_, _> = sut()
                    .locks()
                    .expect("locks")
                    .iter()
                    .map(|(r, p)| (*r, d.ids.proc(p)))
                    .collect();
                let expected: BTreeMap<_, _> = ref_state
                    .model
                    .locks()
                    .into_iter()
                    .map(|(r, p)| (r, Some(p)))
                    .collect();
                assert_eq!(actual, expected, "lock table");
            }
            assert_eq!(
                sut().ipvars().expect("ipvars"),
                ref_state.model.ipvars(),
                "interprocess variables"
            );
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
    group.bench_function("pst_test_sequential", |b| {
        pst::select(false);
        b.iter(|| {
            for t in &traces {
                pst::test_sequential(t);
            }
        })
    });
    let no_sleep = NoSleep::default();
    group.bench_function("model_plus_reference_no_sleep", |b| {
        b.iter(|| {
            for t in &traces {
                black_box(Checker::run_quiet(&no_sleep, t));
            }
        })
    });
    group.bench_function("pst_test_sequential_no_sleep", |b| {
        pst::select(true);
        b.iter(|| {
            for t in &traces {
                pst::test_sequential(t);
            }
        })
    });
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
                black_box(Checker::run_quiet(&no_sleep, &t));
            }
        })
    });
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

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(10);
    targets = differential
}
criterion_main!(benches);
