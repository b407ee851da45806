//! Close throughput of the reference implementation, beside its baselines, in one run so the
//! ratios hold on a noisy machine (issue 6):
//!
//! - `close/*`: one close at 10^3 .. 10^6 live sessions, each with a realistic context (4
//!   process variables, a 16-record selection, 2 locked records), in a shuffled order:
//!   - `reference`: `MemorySut` through the `Sut` trait, a non-web `WireAction::Close`
//!     (command 1208 from a stored procedure). Its live sessions are capped by selector 71
//!     capped by selector 18 (`max processes`, at most 32 000, and live processes stop at that
//!     number minus one), so it runs at 10^3 and, for the 32 000 point, 31 999;
//!   - `reference_limit_lifted`: the same code with the bench setting `Limits::LIFTED`
//!     (`MemorySut::with_limits`: selector 71 alone caps live sessions), which only changes how
//!     many sessions an *open* may keep (LIMIT-2), never a close: it holds 10^5 and 10^6 live
//!     sessions;
//!   - `roofline`: a bare `HashMap<String, Compact>` remove plus the drop of an equivalent
//!     compact state;
//!   - `tower_sessions`: tower-sessions' `MemoryStore::delete` (the peer), records carrying the
//!     same context as JSON values, on a current-thread tokio runtime.
//! - `close_concurrent/*`: closes of disjoint sessions from 1 and 2 threads on one shared
//!   `MemorySut` (and on a `Mutex<HashMap>` roofline); a batch is timed from the first
//!   thread's start to the last thread's end.
//! - `open/*`: a request without a cookie (ID generation included), bare and with the context,
//!   beside a roofline (UUID v4 hex + insert) and tower-sessions' `create`.
//!
//! - `memory`: bytes per live session with the realistic context, reference (limit lifted)
//!   beside tower-sessions, at 10^5 and 10^6: heap bytes from a counting global allocator, and
//!   the resident-set growth (`VmRSS`). Printed, not timed; it runs only when the filter names
//!   it (`cargo bench --bench close -- memory`), and at 10^3 in a test run.
//!
//! Only closes (or opens) are timed: every group uses `iter_custom`; opening the population,
//! re-opening the closed sessions between batches and draining the hook log are outside the
//! timed part. The victims of a batch are drawn by a partial Fisher-Yates shuffle from a
//! `ChaCha8Rng` with a fixed seed, so every run closes the same sequence of slots.

// A test: a failed unwrap or expect is a failed test, with its message (STYLE.md allows them here).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};
use tower_sessions_core::SessionStore;
use tower_sessions_core::session::{Id, Record};
use tower_sessions_memory_store::MemoryStore;
use uuid::Uuid;
use wlcs_model::vocab::{OptionSet, RecordRef, WorldConfig};
use wlcs_sut::memory::{Limits, MemorySut};
use wlcs_sut::{Sut, WireAction, WireId, WireRead, WireRequest};

/// The system allocator, counting the bytes each thread holds (a thread's own counter: no
/// shared cache line, so the concurrent group is not slowed). The `memory` group reads the
/// main thread's count before and after building a population on it.
struct Counting;

thread_local! {
    /// Bytes allocated minus bytes freed by this thread.
    static HELD_BYTES: Cell<isize> = const { Cell::new(0) };
}

fn held_bytes() -> isize {
    HELD_BYTES.with(Cell::get)
}

fn count(delta: isize) {
    // `try_with`: a thread being torn down has no counter left; its frees go uncounted.
    let _ = HELD_BYTES.try_with(|held| held.set(held.get() + delta));
}

// SAFETY: every call forwards to `System` with the caller's layout and pointer unchanged; the
// counter is a const-initialised thread local without a destructor, so it never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as isize);
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as isize);
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as isize));
        // SAFETY: `ptr` came from this allocator (that is, `System`) with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size as isize - layout.size() as isize);
        // SAFETY: as for `dealloc`, and the caller upholds `realloc`'s size contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Live-session counts of the memory group.
const MEMORY_SIZES: [usize; 2] = [100_000, 1_000_000];

/// This process's resident set, bytes (`VmRSS` of /proc/self/status; 0 where there is none).
fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kib| kib * 1024)
}

/// Builds `n` live sessions of `make()`, and says what they hold: (heap bytes per session,
/// resident-set growth per session). The population is returned so that the next one is
/// built while this one still holds its memory (no reuse of freed pages skews the RSS).
fn measure<P: Population>(n: usize, make: impl FnOnce() -> P) -> (Live<P>, f64, f64) {
    let (heap, rss) = (held_bytes(), resident_bytes());
    let live = Live::fill(make(), n);
    let heap = (held_bytes() - heap) as f64 / n as f64;
    let rss = resident_bytes().saturating_sub(rss) as f64 / n as f64;
    (live, heap, rss)
}

fn memory(_c: &mut Criterion) {
    let sizes: &[usize] = if !benching() {
        &SIZES_TEST
    } else if std::env::args().any(|a| a.contains("memory")) {
        &MEMORY_SIZES
    } else {
        return;
    };
    for &n in sizes {
        let (reference, ref_heap, ref_rss) = measure(n, || Reference::new(true));
        let (peer, peer_heap, peer_rss) = measure(n, Peer::new);
        println!(
            "memory/{n}: reference (limit lifted) {ref_heap:.0} B heap, {ref_rss:.0} B RSS per \
             session; tower-sessions {peer_heap:.0} B heap, {peer_rss:.0} B RSS per session; \
             heap ratio reference/tower {:.2}",
            ref_heap / peer_heap
        );
        assert!(
            ref_heap > 0.0 && peer_heap > 0.0,
            "the counting allocator counted"
        );
        drop((reference, peer));
    }
}

/// The seed of every shuffle.
const SEED: u64 = 0x5EED_0C10_5E00;
/// Live-session counts of the close groups.
const SIZES: [usize; 4] = [1_000, 32_000, 100_000, 1_000_000];
/// Live-session counts when the bench runs as a test (`cargo test --all-targets` runs every
/// benchmark once, without `--bench`): small, so that a test run stays fast.
const SIZES_TEST: [usize; 1] = [1_000];
/// Selector 18's documented maximum, which caps selector 71 (LIMIT-2).
const MAX_PROCESSES: u32 = 32_000;
/// Selector 71 for the limit-lifted reference: above the largest population.
const MAX_SESSIONS_LIFTED: u32 = 2_000_000;
/// Process variables per context.
const CONTEXT_VARS: u8 = 4;
/// Records in the context's selection.
const CONTEXT_SELECTION_RECORDS: u32 = 16;
/// Records the context holds locked.
const CONTEXT_LOCKS: u32 = 2;
/// The table of the selection.
const SELECTION_TABLE: u8 = 2;
/// The table of the locked records.
const LOCK_TABLE: u8 = 1;
/// Closes timed between two refills, at most (and at most a tenth of the population, so the
/// live count stays within 10% of its nominal size).
const BATCH_CLOSES_MAX: usize = 1_024;
/// Live sessions of the concurrent group.
const CONCURRENT_LIVE: usize = 10_000;
/// Opens between two resets in the open group (the world holds at most this many).
const OPEN_CHUNK: usize = 1_000;
/// Cookie lifetime of the peer's records (the reference's default: 480 min).
const PEER_EXPIRY_MIN: i64 = 480;

/// A uniform index below `n` (Lemire's multiply-shift; the bias, below n / 2^64, is nil here).
fn below(rng: &mut ChaCha8Rng, n: usize) -> usize {
    ((u128::from(rng.next_u64()) * n as u128) >> 64) as usize
}

/// The realistic context of population slot `slot`: what the open request writes.
fn context_actions(slot: u32) -> Vec<WireAction> {
    let mut actions: Vec<WireAction> = (0..CONTEXT_VARS)
        .map(|var| WireAction::SetVar {
            var,
            value: i64::from(slot) * 8 + i64::from(var),
        })
        .collect();
    actions.push(WireAction::Select {
        table: SELECTION_TABLE,
        records: (0..CONTEXT_SELECTION_RECORDS)
            .map(|r| slot.wrapping_mul(CONTEXT_SELECTION_RECORDS) + r)
            .collect(),
    });
    for l in 0..CONTEXT_LOCKS {
        actions.push(WireAction::Lock {
            record: RecordRef {
                table: LOCK_TABLE,
                record: slot * CONTEXT_LOCKS + l,
            },
        });
    }
    actions
}

/// The same context in a compact, allocation-light form (the roofline's state).
struct Compact {
    vars: [(u8, i64); CONTEXT_VARS as usize],
    selection: Vec<u32>,
    locks: [RecordRef; CONTEXT_LOCKS as usize],
}

impl Compact {
    fn of(slot: u32) -> Compact {
        Compact {
            vars: std::array::from_fn(|v| (v as u8, i64::from(slot) * 8 + v as i64)),
            selection: (0..CONTEXT_SELECTION_RECORDS)
                .map(|r| slot.wrapping_mul(CONTEXT_SELECTION_RECORDS) + r)
                .collect(),
            locks: std::array::from_fn(|l| RecordRef {
                table: LOCK_TABLE,
                record: slot * CONTEXT_LOCKS + l as u32,
            }),
        }
    }
}

/// The same context as a tower-sessions record's data.
fn peer_data(slot: u32) -> HashMap<String, serde_json::Value> {
    let c = Compact::of(slot);
    let mut data = HashMap::new();
    for (var, value) in c.vars {
        data.insert(format!("v{var}"), serde_json::Value::from(value));
    }
    data.insert(
        format!("selection{SELECTION_TABLE}"),
        serde_json::Value::from(c.selection),
    );
    data.insert(
        "locks".to_string(),
        serde_json::Value::from(
            c.locks
                .iter()
                .map(|r| vec![u32::from(r.table), r.record])
                .collect::<Vec<_>>(),
        ),
    );
    data
}

/// A 32-hex-digit uppercase UUID v4, as the reference mints them.
fn uuid_hex() -> String {
    format!("{:X}", Uuid::new_v4().simple())
}

/// Something holding sessions that can be opened (untimed) and closed (timed).
trait Population {
    /// What a close needs, prepared when the session is opened.
    type Key;
    /// Opens the session of population slot `slot` (distinct slots never share a record).
    fn open(&mut self, slot: u32) -> Self::Key;
    /// Closes these sessions: the timed part.
    fn close_batch(&mut self, victims: &[(Self::Key, u32)]);
    /// After a batch, outside the timing: drains what the closes logged, checks it.
    fn after_batch(&mut self, _closed: usize) {}
    /// The most sessions it can hold live.
    fn capacity(&self) -> usize {
        usize::MAX
    }
}

/// A population kept at its nominal size: closed sessions are re-opened (same slots) after
/// every batch.
struct Live<P: Population> {
    pop: P,
    live: Vec<(P::Key, u32)>,
    rng: ChaCha8Rng,
}

impl<P: Population> Live<P> {
    fn fill(mut pop: P, n: usize) -> Live<P> {
        let n = n.min(pop.capacity());
        let live = (0..n as u32).map(|slot| (pop.open(slot), slot)).collect();
        Live {
            pop,
            live,
            rng: ChaCha8Rng::seed_from_u64(SEED),
        }
    }

    /// `k` sessions drawn without replacement, in shuffled order (a partial Fisher-Yates).
    fn take_victims(&mut self, k: usize) -> Vec<(P::Key, u32)> {
        let len = self.live.len();
        let k = k.min(len);
        for i in 0..k {
            let j = below(&mut self.rng, len - i);
            self.live.swap(j, len - 1 - i);
        }
        self.live.split_off(len - k)
    }

    fn refill(&mut self, victims: Vec<(P::Key, u32)>) {
        let closed = victims.len();
        self.pop.after_batch(closed);
        for (key, slot) in victims {
            drop(key);
            let key = self.pop.open(slot);
            self.live.push((key, slot));
        }
    }

    /// Times `iters` closes, in batches; refills happen between the timed parts.
    fn close_timed(&mut self, iters: u64) -> Duration {
        let batch_max = (self.live.len() / 10).clamp(1, BATCH_CLOSES_MAX) as u64;
        let mut total = Duration::ZERO;
        let mut left = iters;
        while left > 0 {
            let k = left.min(batch_max);
            let victims = self.take_victims(k as usize);
            let start = Instant::now();
            self.pop.close_batch(&victims);
            total += start.elapsed();
            self.refill(victims);
            left -= k;
        }
        total
    }
}

/// The reference implementation, through the trait.
struct Reference {
    sut: Arc<MemorySut>,
    max_sessions: u32,
    limit_lifted: bool,
}

impl Reference {
    fn new(limit_lifted: bool) -> Reference {
        let limits = if limit_lifted {
            Limits::LIFTED
        } else {
            Limits::SPEC
        };
        let max_sessions = if limit_lifted {
            MAX_SESSIONS_LIFTED
        } else {
            MAX_PROCESSES
        };
        let r = Reference {
            sut: Arc::new(MemorySut::new().with_limits(limits)),
            max_sessions,
            limit_lifted,
        };
        r.reset();
        r
    }

    /// An empty world with the session limit raised (selectors 18 and 71).
    fn reset(&self) {
        self.sut.reset(&WorldConfig::default()).expect("reset");
        self.sut
            .set_option(&OptionSet::MaxProcesses(MAX_PROCESSES))
            .expect("selector 18");
        self.sut
            .set_option(&OptionSet::MaxSessions(self.max_sessions))
            .expect("selector 71");
    }

    fn open_with(&self, actions: Vec<WireAction>) -> String {
        let request = WireRequest {
            ip: 0,
            cookie: None,
            mobile: None,
            actions,
        };
        let response = self.sut.request(&request).expect("open");
        assert_eq!(response.status, 200, "open refused: {response:?}");
        assert!(
            response
                .reads
                .iter()
                .all(|r| matches!(r, WireRead::Done | WireRead::Locked(true))),
            "context not written: {response:?}"
        );
        response.session_id.expect("an open names its session")
    }
}

impl Population for Reference {
    type Key = [WireAction; 1];

    fn open(&mut self, slot: u32) -> [WireAction; 1] {
        let id = self.open_with(context_actions(slot));
        [WireAction::Close {
            id: WireId::Text(id),
        }]
    }

    fn close_batch(&mut self, victims: &[([WireAction; 1], u32)]) {
        for (close, _) in victims {
            black_box(self.sut.non_web(0, close).expect("close"));
        }
    }

    /// Under SPEC.md's limits, at most selector 18 minus one (LIMIT-2: "when this number
    /// (minus one) is reached, 4D will not create any other processes"): 31 999 of the
    /// nominal 32 000, since one more open would evict (and run a hook).
    fn capacity(&self) -> usize {
        if self.limit_lifted {
            usize::MAX
        } else {
            MAX_PROCESSES as usize - 1
        }
    }

    fn after_batch(&mut self, closed: usize) {
        // CLOSE-5: one hook run per close; dropping the log is not the close's cost.
        let runs = self.sut.take_hook_runs().expect("hook runs");
        assert_eq!(runs.len(), closed, "every close runs its hook once");
    }
}

/// The roofline: a bare hash map of compact states.
#[derive(Default)]
struct Roofline {
    map: HashMap<String, Compact>,
}

impl Population for Roofline {
    type Key = String;

    fn open(&mut self, slot: u32) -> String {
        let id = uuid_hex();
        self.map.insert(id.clone(), Compact::of(slot));
        id
    }

    fn close_batch(&mut self, victims: &[(String, u32)]) {
        for (id, _) in victims {
            // Remove plus drop of the state (at the end of the statement).
            black_box(self.map.remove(id.as_str()));
        }
    }

    fn after_batch(&mut self, closed: usize) {
        let _ = closed;
    }
}

/// The peer: tower-sessions' in-memory store.
struct Peer {
    runtime: tokio::runtime::Runtime,
    store: MemoryStore,
}

impl Peer {
    fn new() -> Peer {
        Peer {
            runtime: tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("current-thread runtime"),
            store: MemoryStore::default(),
        }
    }

    fn record(slot: u32) -> Record {
        Record {
            id: Id::default(),
            data: peer_data(slot),
            expiry_date: time::OffsetDateTime::now_utc() + time::Duration::minutes(PEER_EXPIRY_MIN),
        }
    }
}

impl Population for Peer {
    type Key = Id;

    fn open(&mut self, slot: u32) -> Id {
        let mut record = Peer::record(slot);
        self.runtime
            .block_on(self.store.create(&mut record))
            .expect("create");
        record.id
    }

    fn close_batch(&mut self, victims: &[(Id, u32)]) {
        let store = &self.store;
        self.runtime.block_on(async {
            for (id, _) in victims {
                store.delete(black_box(id)).await.expect("delete");
            }
        });
    }
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(2_500))
        .sample_size(10)
}

/// Whether this is a `cargo bench` run (cargo passes `--bench`), not a test run.
fn benching() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn close(c: &mut Criterion) {
    let mut group = c.benchmark_group("close");
    group.throughput(Throughput::Elements(1));
    let sizes: &[usize] = if benching() { &SIZES } else { &SIZES_TEST };
    for &n in sizes {
        // Populations are built lazily, inside the benchmark closure, so that a filtered run
        // (`cargo bench --bench close -- roofline`) does not build the others; each one is
        // dropped before the next is built, which bounds the peak memory.
        if n <= MAX_PROCESSES as usize {
            bench_live(&mut group, "reference", n, || Reference::new(false));
        }
        bench_live(&mut group, "reference_limit_lifted", n, || {
            Reference::new(true)
        });
        bench_live(&mut group, "roofline", n, Roofline::default);
        bench_live(&mut group, "tower_sessions", n, Peer::new);
    }
    group.finish();
}

fn bench_live<P: Population>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    n: usize,
    make: impl Fn() -> P,
) {
    let mut live: Option<Live<P>> = None;
    group.bench_with_input(BenchmarkId::new(name, n), &n, |b, &n| {
        let live = live.get_or_insert_with(|| Live::fill(make(), n));
        b.iter_custom(|iters| live.close_timed(iters))
    });
}

/// Closes `iters` sessions of `live` on `threads` threads, each its own non-web process
/// closing its share; the timed part of a batch runs from the first thread's start to the
/// last thread's end (the batch's wall span: a thread the scheduler starts late does not
/// shorten it, as the slowest thread's own span would).
fn close_parallel<P, F>(live: &mut Live<P>, iters: u64, threads: usize, close_one: F) -> Duration
where
    P: Population,
    P::Key: Sync,
    F: Fn(usize, &P::Key) + Sync,
{
    let batch_max = (BATCH_CLOSES_MAX * threads) as u64;
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let k = left.min(batch_max);
        let victims = live.take_victims(k as usize);
        let per = victims.len().div_ceil(threads).max(1);
        // Fewer victims than threads make fewer parts: the barrier waits for the parts.
        let barrier = Barrier::new(victims.len().div_ceil(per).max(1));
        let span = std::thread::scope(|scope| {
            let handles: Vec<_> = victims
                .chunks(per)
                .enumerate()
                .map(|(t, part)| {
                    let barrier = &barrier;
                    let close_one = &close_one;
                    scope.spawn(move || {
                        barrier.wait();
                        let start = Instant::now();
                        for (key, _) in part {
                            close_one(t, key);
                        }
                        (start, Instant::now())
                    })
                })
                .collect();
            let spans: Vec<(Instant, Instant)> = handles
                .into_iter()
                .map(|h| h.join().expect("closing thread"))
                .collect();
            let first = spans.iter().map(|s| s.0).min();
            let last = spans.iter().map(|s| s.1).max();
            match (first, last) {
                (Some(first), Some(last)) => last.duration_since(first),
                _ => Duration::ZERO,
            }
        });
        total += span;
        live.refill(victims);
        left -= k;
    }
    total
}

/// The roofline of the concurrent group: the map behind one mutex.
#[derive(Default)]
struct SharedRoofline {
    map: Arc<Mutex<HashMap<String, Compact>>>,
}

impl Population for SharedRoofline {
    type Key = String;

    fn open(&mut self, slot: u32) -> String {
        let id = uuid_hex();
        if let Ok(mut map) = self.map.lock() {
            map.insert(id.clone(), Compact::of(slot));
        }
        id
    }

    fn close_batch(&mut self, victims: &[(String, u32)]) {
        for (id, _) in victims {
            if let Ok(mut map) = self.map.lock() {
                black_box(map.remove(id.as_str()));
            }
        }
    }
}

fn close_concurrent(c: &mut Criterion) {
    let mut group = c.benchmark_group("close_concurrent");
    group.throughput(Throughput::Elements(1));
    for threads in [1usize, 2] {
        let mut live: Option<Live<Reference>> = None;
        group.bench_with_input(
            BenchmarkId::new("reference", threads),
            &threads,
            |b, &threads| {
                let live =
                    live.get_or_insert_with(|| Live::fill(Reference::new(false), CONCURRENT_LIVE));
                b.iter_custom(|iters| {
                    let sut = live.pop.sut.clone();
                    close_parallel(live, iters, threads, |t, key| {
                        black_box(sut.non_web(t as u8, key).expect("close"));
                    })
                })
            },
        );
        drop(live);
        let mut live: Option<Live<SharedRoofline>> = None;
        group.bench_with_input(
            BenchmarkId::new("roofline_mutex", threads),
            &threads,
            |b, &threads| {
                let live = live
                    .get_or_insert_with(|| Live::fill(SharedRoofline::default(), CONCURRENT_LIVE));
                b.iter_custom(|iters| {
                    let map = live.pop.map.clone();
                    close_parallel(live, iters, threads, |_, id: &String| {
                        if let Ok(mut map) = map.lock() {
                            black_box(map.remove(id.as_str()));
                        }
                    })
                })
            },
        );
    }
    group.finish();
}

fn open(c: &mut Criterion) {
    let mut group = c.benchmark_group("open");
    group.throughput(Throughput::Elements(1));
    let reference = Reference::new(false);
    for (name, with_context) in [("reference_bare", false), ("reference_with_context", true)] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| open_reference(&reference, iters, with_context))
        });
    }
    group.bench_function("roofline", |b| b.iter_custom(open_roofline));
    let peer = Peer::new();
    group.bench_function("tower_sessions", |b| {
        b.iter_custom(|iters| open_tower_sessions(&peer, iters))
    });
    group.finish();
}

/// The time `iters` opens take on the reference (requests without a cookie, each writing a
/// context when `with_context`), in chunks of [`OPEN_CHUNK`] from a reset world; building
/// the requests is not timed.
fn open_reference(reference: &Reference, iters: u64, with_context: bool) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    let mut slot = 0u32;
    while left > 0 {
        let k = left.min(OPEN_CHUNK as u64);
        reference.reset();
        let requests: Vec<WireRequest> = (0..k as u32)
            .map(|i| WireRequest {
                ip: 0,
                cookie: None,
                mobile: None,
                actions: if with_context {
                    context_actions(slot + i)
                } else {
                    Vec::new()
                },
            })
            .collect();
        let start = Instant::now();
        for request in &requests {
            black_box(reference.sut.request(request).expect("open"));
        }
        total += start.elapsed();
        slot = slot.wrapping_add(k as u32);
        left -= k;
    }
    total
}

/// The roofline's opens: a UUID minted and a state inserted into a hash map, in chunks.
fn open_roofline(iters: u64) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    let mut map: HashMap<String, Compact> = HashMap::new();
    while left > 0 {
        let k = left.min(OPEN_CHUNK as u64);
        map.clear();
        let states: Vec<Compact> = (0..k as u32).map(Compact::of).collect();
        let start = Instant::now();
        for state in states {
            map.insert(uuid_hex(), state);
        }
        total += start.elapsed();
        left -= k;
    }
    total
}

/// tower-sessions' opens: `MemoryStore::create` of a fresh record, ID generation included,
/// each chunk on a new store.
fn open_tower_sessions(peer: &Peer, iters: u64) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let k = left.min(OPEN_CHUNK as u64);
        let store = MemoryStore::default();
        let mut records: Vec<Record> = (0..k as u32).map(Peer::record).collect();
        let start = Instant::now();
        peer.runtime.block_on(async {
            for record in &mut records {
                // ID generation is part of an open.
                record.id = Id::default();
                store.create(black_box(record)).await.expect("create");
            }
        });
        total += start.elapsed();
        left -= k;
    }
    total
}

criterion_group! {
    name = benches;
    config = config();
    targets = close, close_concurrent, open, memory
}
criterion_main!(benches);
