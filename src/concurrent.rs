//! Real concurrency: several OS threads drive one system under test at once, every
//! operation's invoke and return is recorded, and the history is checked for
//! linearizability against the model ([`crate::linearize`], CLOSE-10).
//!
//! The workload is seeded (one `u64` through `ChaCha8Rng`, each thread its own generator
//! derived from it), so a seed always issues the same kinds of operations on the same keys;
//! the schedule itself is real and nondeterministic, which is the point. It is bounded both in
//! operations and in time.
//!
//! 1. Setup, sequential: reset, options that keep every session within the limits (so no
//!    eviction couples unrelated sessions), the hook, then one session per *key* with a
//!    context: a unique variable value and a lock on the key's own record.
//! 2. Threads: each picks a key (often a shared "hot" key, so threads meet on the same
//!    session) and issues a request with the key's current cookie (read and write variable 1
//!    with a value unique to the run, lock or ask about the key's record, sometimes ask its
//!    session ID), a self-closing request, or a non-web close of the key's current ID (or of an
//!    orphan session, see below). Closes of one session from several threads at once are
//!    frequent on a hot key.
//! 3. Clients keep a cookie jar per key (harness state, not a rule of the system under test):
//!    a response that issues a new cookie replaces the one the request sent; an expiring one
//!    empties the jar. When two stale requests each open a new session, only one can be
//!    adopted; the other is an orphan, closed by a later close, so live sessions stay bounded.
//! 4. After the threads join: the hook log and the lock table, then the check.
//!
//! Architecture invariant: the system under test is seen only through [`Sut`].

use crate::check::compare::{CookieSeen, last_session_cookie};
use crate::linearize::{self, Call, Checked, History, LinearizeConfig, Op, Outcome, Verdict};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};
use wlcs_model::vocab::{HookBehavior, OptionSet, RecordRef, WorldConfig};
use wlcs_sut::{Response, Sut, SutError, WireAction, WireHook, WireId, WireRequest};

/// Threads a run may use.
pub const THREADS_MAX: usize = 64;
/// Keys (independent clients, each with its sessions and its record) a run may use.
pub const KEYS_MAX: usize = 4096;
/// Operations a run may issue, whatever its configuration says.
pub const OPS_MAX: u64 = 10_000_000;
/// Wall time a run may take issuing operations, whatever its configuration says.
pub const DURATION_MS_MAX: u64 = 600_000;
/// Max sessions and max processes set before the run: far above what a run keeps alive (the
/// keys plus orphans waiting for their close), so no eviction ever happens.
const SESSIONS_LIMIT: u32 = 32_000;
/// Operations a hot key stays hot (counted over all threads).
const HOT_KEY_OPS: u64 = 16;
/// The table of the keys' records.
const KEY_TABLE: u8 = 1;
/// The process variable every request reads and writes.
const VAR: u8 = 1;
/// SUT errors kept in a report (the count is always exact).
const ERRORS_KEPT_MAX: usize = 16;

/// The relative weights of the operation kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mix {
    /// A request with the key's cookie.
    pub request: u32,
    /// A request that closes its own session (`Close(Current)`).
    pub self_close: u32,
    /// A non-web close of the key's current ID (or an orphan's).
    pub close: u32,
}

impl Default for Mix {
    fn default() -> Self {
        Mix {
            request: 65,
            self_close: 10,
            close: 25,
        }
    }
}

/// One concurrent run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConcurrentConfig {
    /// The workload seed.
    pub seed: u64,
    /// OS threads issuing operations (1..=[`THREADS_MAX`]).
    pub threads: usize,
    /// Keys (1..=[`KEYS_MAX`]).
    pub keys: usize,
    /// Operations the threads issue in all (setup not counted), at most.
    pub ops_max: u64,
    /// Wall time the threads may spend, at most, milliseconds.
    pub duration_ms_max: u64,
    /// The operation mix.
    pub mix: Mix,
    /// Percent of operations that go to the shared hot key rather than a random one.
    pub hot_key_percent: u32,
    /// Whether the hook is `Slow` (else `Save`).
    pub slow_hook: bool,
    /// The world the system under test is reset to.
    pub world: WorldConfig,
    /// The checker's budget.
    pub check: LinearizeConfig,
}

impl Default for ConcurrentConfig {
    fn default() -> Self {
        ConcurrentConfig {
            seed: 0,
            threads: 2,
            keys: 32,
            ops_max: 100_000,
            duration_ms_max: 30_000,
            mix: Mix::default(),
            hot_key_percent: 50,
            slow_hook: false,
            world: WorldConfig::default(),
            check: LinearizeConfig::default(),
        }
    }
}

/// What a concurrent run did and what the checker says.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ConcurrentReport {
    /// The system under test's name.
    pub sut: String,
    /// The configuration, as run (threads and keys clamped to their limits).
    pub config: ConcurrentConfig,
    /// Operations recorded (setup included).
    pub ops: usize,
    /// Operations the threads issued.
    pub concurrent_ops: usize,
    /// Whether the threads stopped on the time bound rather than the operation count.
    pub stopped_by_time: bool,
    /// How long the threads ran, milliseconds.
    pub run_ms: u64,
    /// Operations per second of the threaded phase.
    pub ops_per_s: f64,
    /// How long the check took, milliseconds.
    pub check_ms: u64,
    /// Calls that failed (each is an ambiguous operation in the history); the first few.
    pub errors: Vec<String>,
    /// How many calls failed.
    pub error_count: usize,
    /// Why the run could not start or finish (a harness error), if so.
    pub harness_error: Option<String>,
    /// The checker's verdict and counters (`None` after a harness error).
    pub checked: Option<Checked>,
    /// The history, for rendering timelines.
    #[serde(skip)]
    pub history: Option<History>,
}

impl ConcurrentReport {
    /// 1 when the history is not linearizable; 2 when it could not be decided (budget out),
    /// a call failed or the harness failed; 0 when linearizable.
    pub fn exit_code(&self) -> i32 {
        match self.checked.as_ref().map(|c| &c.verdict) {
            Some(Verdict::NotLinearizable(_)) => 1,
            Some(Verdict::Linearizable)
                if self.harness_error.is_none() && self.error_count == 0 =>
            {
                0
            }
            _ => 2,
        }
    }

    /// The verdict, if the run got that far.
    pub fn verdict(&self) -> Option<&Verdict> {
        self.checked.as_ref().map(|c| &c.verdict)
    }
}

/// A per-key cookie jar.
#[derive(Default)]
struct Jar {
    /// The cookie the client sends (`None` after an expiring Set-Cookie).
    cookie: Option<String>,
    /// The last ID the key knew, for closes while the jar is empty.
    last: Option<String>,
    /// Sessions opened by stale requests that the jar could not adopt: closed later.
    orphans: Vec<String>,
}

struct Shared<'a> {
    sut: &'a dyn Sut,
    cfg: &'a ConcurrentConfig,
    clock: AtomicU64,
    issued: AtomicU64,
    values: AtomicU64,
    jars: Vec<Mutex<Jar>>,
    deadline: Instant,
    timed_out: AtomicBool,
    cookie_name: String,
}

fn below(rng: &mut ChaCha8Rng, n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    // Lemire's multiply-shift: unbiased enough for workload choices.
    ((u128::from(rng.next_u64()) * u128::from(n)) >> 64) as u64
}

fn record(key: usize) -> RecordRef {
    RecordRef {
        table: KEY_TABLE,
        record: u32::try_from(key).unwrap_or(u32::MAX),
    }
}

enum Kind {
    Request,
    SelfClose,
    Close,
}

impl Shared<'_> {
    fn tick(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::SeqCst)
    }

    fn value(&self) -> i64 {
        i64::try_from(self.values.fetch_add(1, Ordering::Relaxed)).unwrap_or(i64::MAX)
    }

    fn jar(&self, key: usize) -> std::sync::MutexGuard<'_, Jar> {
        // A poisoned jar only means another worker panicked; its data is still a jar.
        self.jars[key]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs a request and records it; the jar adopts what the response says.
    fn request(&self, thread: usize, key: usize, actions: Vec<WireAction>) -> Op {
        let cookie = self.jar(key).cookie.clone();
        let request = WireRequest {
            ip: 0,
            cookie: cookie.clone(),
            mobile: None,
            actions,
        };
        let invoke = self.tick();
        let result = self.sut.request(&request);
        let ret = self.tick();
        if let Ok(response) = &result {
            self.adopt(key, cookie.as_deref(), response);
        }
        Op {
            thread,
            invoke,
            ret,
            call: Call::Request(request),
            outcome: match result {
                Ok(r) => Outcome::Response(r),
                Err(e) => Outcome::Ambiguous(e.to_string()),
            },
        }
    }

    fn adopt(&self, key: usize, sent: Option<&str>, response: &Response) {
        let seen = last_session_cookie(&self.cookie_name, &response.set_cookies);
        if seen == CookieSeen::None {
            return;
        }
        let mut jar = self.jar(key);
        let current = jar.cookie.as_deref() == sent;
        match seen {
            CookieSeen::Expire if current => jar.cookie = None,
            CookieSeen::Value(v) if Some(v.as_str()) != sent => {
                if current {
                    jar.cookie = Some(v.clone());
                    jar.last = Some(v.clone());
                } else {
                    jar.orphans.push(v.clone());
                }
            }
            _ => {}
        }
    }

    /// A non-web close of the key's current ID, or of an orphan; recorded.
    fn close(&self, thread: usize, key: usize) -> Option<Op> {
        let id = {
            let mut jar = self.jar(key);
            match jar.orphans.pop() {
                Some(orphan) => orphan,
                None => jar.cookie.clone().or_else(|| jar.last.clone())?,
            }
        };
        let process = u8::try_from(thread % usize::from(u8::MAX)).unwrap_or(0);
        let actions = vec![WireAction::Close {
            id: WireId::Text(id),
        }];
        let invoke = self.tick();
        let result = self.sut.non_web(process, &actions);
        let ret = self.tick();
        Some(Op {
            thread,
            invoke,
            ret,
            call: Call::NonWeb { process, actions },
            outcome: match result {
                Ok(r) => Outcome::Reads(r),
                Err(e) => Outcome::Ambiguous(e.to_string()),
            },
        })
    }

    /// The setup: one session per key, with a unique value and the key's record locked.
    fn open_sessions(&self) -> Result<Vec<Op>, SutError> {
        let mut ops = Vec::new();
        for key in 0..self.cfg.keys {
            let actions = vec![
                WireAction::SetVar {
                    var: VAR,
                    value: self.value(),
                },
                WireAction::Lock {
                    record: record(key),
                },
            ];
            let op = self.request(0, key, actions);
            if let Outcome::Ambiguous(e) = &op.outcome {
                return Err(SutError::Protocol(format!(
                    "setup request of key {key} failed: {e}"
                )));
            }
            ops.push(op);
        }
        Ok(ops)
    }

    fn kind(&self, rng: &mut ChaCha8Rng) -> Kind {
        let m = self.cfg.mix;
        let total = u64::from(m.request) + u64::from(m.self_close) + u64::from(m.close);
        let x = below(rng, total.max(1));
        if x < u64::from(m.request) {
            Kind::Request
        } else if x < u64::from(m.request) + u64::from(m.self_close) {
            Kind::SelfClose
        } else {
            Kind::Close
        }
    }

    fn worker(&self, thread: usize, seed: u64) -> Vec<Op> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let keys = self.cfg.keys as u64;
        let mut ops = Vec::new();
        // Bounded by the shared operation count (and the deadline).
        for _ in 0..self.cfg.ops_max {
            let n = self.issued.fetch_add(1, Ordering::Relaxed);
            if n >= self.cfg.ops_max {
                break;
            }
            if Instant::now() >= self.deadline {
                self.timed_out.store(true, Ordering::Relaxed);
                break;
            }
            let key = if below(&mut rng, 100) < u64::from(self.cfg.hot_key_percent) {
                // Every thread sees the same hot key at about the same time.
                ((n / HOT_KEY_OPS).wrapping_mul(0x9E37_79B9) % keys) as usize
            } else {
                below(&mut rng, keys) as usize
            };
            let r = record(key);
            let op = match self.kind(&mut rng) {
                Kind::Request => {
                    let mut actions = vec![
                        WireAction::GetVar { var: VAR },
                        WireAction::SetVar {
                            var: VAR,
                            value: self.value(),
                        },
                    ];
                    match below(&mut rng, 3) {
                        0 => actions.push(WireAction::Lock { record: r }),
                        1 => actions.push(WireAction::IsLocked { record: r }),
                        _ => {}
                    }
                    if below(&mut rng, 5) == 0 {
                        actions.push(WireAction::GetSessionId);
                    }
                    Some(self.request(thread, key, actions))
                }
                Kind::SelfClose => {
                    let actions = vec![
                        WireAction::GetVar { var: VAR },
                        WireAction::SetVar {
                            var: VAR,
                            value: self.value(),
                        },
                        WireAction::Lock { record: r },
                        WireAction::Close {
                            id: WireId::Current,
                        },
                    ];
                    Some(self.request(thread, key, actions))
                }
                Kind::Close => self.close(thread, key),
            };
            ops.extend(op);
        }
        ops
    }
}

/// A recorded run, before it is checked.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// The history (setup operations included).
    pub history: History,
    /// Operations the threads issued.
    pub concurrent_ops: usize,
    /// Whether the time bound stopped the threads.
    pub stopped_by_time: bool,
    /// How long the threads ran.
    pub elapsed: Duration,
}

/// Runs the workload of `cfg` against `sut` and records its history. `Err` when the setup
/// or the final observations failed (a call during the threaded phase that fails is an
/// ambiguous operation instead).
pub fn record_history(sut: &dyn Sut, cfg: &ConcurrentConfig) -> Result<Recorded, SutError> {
    let cfg = bounded(cfg);
    let options = vec![
        OptionSet::MaxProcesses(SESSIONS_LIMIT),
        OptionSet::MaxSessions(SESSIONS_LIMIT),
    ];
    let hook = if cfg.slow_hook {
        HookBehavior::Slow
    } else {
        HookBehavior::Save
    };
    set_up(sut, &cfg, &options)?;
    let mut cookie_opts = wlcs_model::vocab::Options::defaults(&cfg.world);
    for o in &options {
        cookie_opts.apply(o);
    }
    let shared = Shared {
        sut,
        cfg: &cfg,
        clock: AtomicU64::new(0),
        issued: AtomicU64::new(0),
        values: AtomicU64::new(1),
        jars: (0..cfg.keys).map(|_| Mutex::new(Jar::default())).collect(),
        deadline: Instant::now(),
        timed_out: AtomicBool::new(false),
        cookie_name: cookie_opts.cookie_name,
    };
    let mut ops = shared.open_sessions()?;
    let threaded = run_threads(shared)?;
    let concurrent: usize = threaded.per_thread.iter().map(Vec::len).sum();
    for t in threaded.per_thread {
        ops.extend(t);
    }
    let hook_runs = sut.take_hook_runs()?;
    let locks = sut.locks()?;
    Ok(Recorded {
        history: History {
            world: cfg.world.clone(),
            options,
            hook,
            ops,
            hook_runs,
            locks: Some(locks),
        },
        concurrent_ops: concurrent,
        stopped_by_time: threaded.stopped_by_time,
        elapsed: threaded.elapsed,
    })
}

/// `cfg` within the run's bounds (threads, keys, operations, duration).
fn bounded(cfg: &ConcurrentConfig) -> ConcurrentConfig {
    ConcurrentConfig {
        threads: cfg.threads.clamp(1, THREADS_MAX),
        keys: cfg.keys.clamp(1, KEYS_MAX),
        ops_max: cfg.ops_max.min(OPS_MAX),
        duration_ms_max: cfg.duration_ms_max.min(DURATION_MS_MAX),
        ..cfg.clone()
    }
}

/// Resets the target's world, sets `options` and the workload's hook.
fn set_up(sut: &dyn Sut, cfg: &ConcurrentConfig, options: &[OptionSet]) -> Result<(), SutError> {
    sut.reset(&cfg.world)?;
    for o in options {
        sut.set_option(o)?;
    }
    sut.set_hook(&if cfg.slow_hook {
        WireHook::Slow
    } else {
        WireHook::Save
    })
}

/// The threaded phase's operations, one list per thread, and how it ended.
struct Threaded {
    per_thread: Vec<Vec<Op>>,
    elapsed: Duration,
    /// Whether the time bound stopped the threads.
    stopped_by_time: bool,
}

/// The threaded phase: one worker per thread, each on its own stream of the seed, until the
/// operations or the time bound run out.
fn run_threads(shared: Shared<'_>) -> Result<Threaded, SutError> {
    let mut master = ChaCha8Rng::seed_from_u64(shared.cfg.seed);
    let seeds: Vec<u64> = (0..shared.cfg.threads).map(|_| master.next_u64()).collect();
    let started = Instant::now();
    let shared = Shared {
        deadline: started + Duration::from_millis(shared.cfg.duration_ms_max),
        ..shared
    };
    let per_thread: Vec<Option<Vec<Op>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = seeds
            .iter()
            .enumerate()
            .map(|(t, seed)| {
                let shared = &shared;
                scope.spawn(move || shared.worker(t, *seed))
            })
            .collect();
        handles.into_iter().map(|h| h.join().ok()).collect()
    });
    let elapsed = started.elapsed();
    // Calls go through `Guarded`, so a worker panics only on a harness bug; a history
    // missing its operations would be checked wrongly, so that is an error, not a verdict.
    let Some(per_thread) = per_thread.into_iter().collect::<Option<Vec<Vec<Op>>>>() else {
        return Err(SutError::Panic(
            "a worker thread of the harness panicked".into(),
        ));
    };
    Ok(Threaded {
        per_thread,
        elapsed,
        stopped_by_time: shared.timed_out.load(Ordering::Relaxed),
    })
}

/// Runs the workload against `sut` from several threads and checks the history for
/// linearizability against the model. Never panics on a misbehaving system under test: a
/// failed setup is a `harness_error`, a failed call an ambiguous operation (and an error).
pub fn run_concurrent(sut: &dyn Sut, cfg: &ConcurrentConfig) -> ConcurrentReport {
    let guarded = crate::guard::Guarded(sut);
    let config = ConcurrentConfig {
        threads: cfg.threads.clamp(1, THREADS_MAX),
        keys: cfg.keys.clamp(1, KEYS_MAX),
        ops_max: cfg.ops_max.min(OPS_MAX),
        duration_ms_max: cfg.duration_ms_max.min(DURATION_MS_MAX),
        ..cfg.clone()
    };
    let mut report = ConcurrentReport {
        sut: sut.name(),
        config: config.clone(),
        ops: 0,
        concurrent_ops: 0,
        stopped_by_time: false,
        run_ms: 0,
        ops_per_s: 0.0,
        check_ms: 0,
        errors: Vec::new(),
        error_count: 0,
        harness_error: None,
        checked: None,
        history: None,
    };
    let Recorded {
        history,
        concurrent_ops: concurrent,
        stopped_by_time,
        elapsed,
    } = match record_history(&guarded, &config) {
        Ok(r) => r,
        Err(e) => {
            report.harness_error = Some(e.to_string());
            return report;
        }
    };
    report.ops = history.ops.len();
    report.concurrent_ops = concurrent;
    report.stopped_by_time = stopped_by_time;
    report.run_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
    report.ops_per_s = concurrent as f64 / elapsed.as_secs_f64().max(1e-9);
    for op in &history.ops {
        if let Outcome::Ambiguous(e) = &op.outcome {
            report.error_count += 1;
            if report.errors.len() < ERRORS_KEPT_MAX {
                report.errors.push(e.clone());
            }
        }
    }
    let started = Instant::now();
    match linearize::check(&history, &config.check) {
        Ok(checked) => report.checked = Some(checked),
        Err(e) => report.harness_error = Some(format!("the history cannot be checked: {e}")),
    }
    report.check_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    report.history = Some(history);
    report
}

/// The report as text: the run, the counters, the verdict, and each violation explained
/// with its timeline.
pub fn render_text(report: &ConcurrentReport) -> String {
    let c = &report.config;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "concurrent run against {}: seed {} ({} threads, {} keys, at most {} operations in {} ms; the schedule is real, so a seed replays the workload, not the interleaving)",
        report.sut, c.seed, c.threads, c.keys, c.ops_max, c.duration_ms_max
    );
    let _ = writeln!(
        out,
        "{} operations issued in {} ms ({:.0} ops/s{}), {} recorded with setup; check took {} ms",
        report.concurrent_ops,
        report.run_ms,
        report.ops_per_s,
        if report.stopped_by_time {
            ", stopped by the time bound"
        } else {
            ""
        },
        report.ops,
        report.check_ms
    );
    if report.error_count > 0 {
        let _ = writeln!(
            out,
            "{} calls failed (checked as ambiguous operations): {}",
            report.error_count,
            report.errors.join("; ")
        );
    }
    if let Some(e) = &report.harness_error {
        let _ = writeln!(out, "harness error: {e}");
    }
    if let (Some(checked), Some(history)) = (&report.checked, &report.history) {
        out.push_str(&linearize::render(history, checked));
    }
    out
}

/// Runs per candidate workload while shrinking: the schedule is real, so a smaller workload
/// may need a few tries (each with its own seed) to hit the race again.
pub const SHRINK_ATTEMPTS: u64 = 4;
/// Candidate workloads tried while shrinking, at most.
pub const SHRINK_CANDIDATES_MAX: u32 = 40;
/// The smallest workload shrinking goes down to, in operations.
pub const SHRINK_OPS_MIN: u64 = 8;

/// A failing concurrent run made as small as it will go while still failing.
#[derive(Clone, Debug)]
pub struct Shrunk {
    /// The smallest failing workload found (its `seed` is the run that failed).
    pub config: ConcurrentConfig,
    /// That run's report.
    pub report: ConcurrentReport,
    /// Runs tried while shrinking.
    pub runs: u32,
}

fn not_linearizable(report: &ConcurrentReport) -> bool {
    matches!(report.verdict(), Some(Verdict::NotLinearizable(_)))
}

/// Shrinks a failing workload: fewer operations (halving), then fewer keys, then fewer
/// threads, keeping each reduction that still fails within [`SHRINK_ATTEMPTS`] runs. The
/// result replays as a workload (`--seed`, `--threads`, `--keys`, `--ops`); the interleaving
/// itself is the real scheduler's, so a replay may need a few runs.
pub fn shrink(sut: &dyn Sut, failing: &ConcurrentConfig, report: ConcurrentReport) -> Shrunk {
    let mut best = Shrunk {
        config: failing.clone(),
        report,
        runs: 0,
    };
    if !not_linearizable(&best.report) {
        return best;
    }
    let mut candidates = 0;
    'outer: while candidates < SHRINK_CANDIDATES_MAX {
        let c = &best.config;
        let mut smaller = Vec::new();
        if c.ops_max / 2 >= SHRINK_OPS_MIN {
            smaller.push(ConcurrentConfig {
                ops_max: c.ops_max / 2,
                ..c.clone()
            });
        }
        if c.keys > 1 {
            smaller.push(ConcurrentConfig {
                keys: (c.keys / 2).max(1),
                ..c.clone()
            });
        }
        if c.threads > 2 {
            smaller.push(ConcurrentConfig {
                threads: (c.threads / 2).max(2),
                ..c.clone()
            });
        }
        for candidate in smaller {
            candidates += 1;
            for attempt in 0..SHRINK_ATTEMPTS {
                let cfg = ConcurrentConfig {
                    seed: candidate.seed.wrapping_add(attempt),
                    ..candidate.clone()
                };
                let report = run_concurrent(sut, &cfg);
                best.runs += 1;
                if not_linearizable(&report) {
                    best.config = cfg;
                    best.report = report;
                    continue 'outer;
                }
            }
        }
        break;
    }
    best
}
