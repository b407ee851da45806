//! Generated cases checked ahead: a batch of case seeds shared out over the run's instances
//! of the target (this thread's and one thread per worker), each checking the next seed when
//! it is free, the results put back in seed order so the report does not depend on the
//! scheduling.

use super::{GenConfig, RunConfig, case_choices, check_generated};
use crate::check::TraceRun;
use crate::guard::Guarded;
use std::sync::atomic::{AtomicUsize, Ordering};
use wlcs_model::Trace;
use wlcs_model::vocab::Readings;
use wlcs_sut::Sut;

/// Generated cases checked ahead on the workers, at most, before the run reads their results
/// in case order (a stop, a budget or a failure wastes at most this many).
pub const CASES_AHEAD_MAX: usize = 256;

/// A generated case, checked in one pass ([`crate::check::Checker::run_generated`]): its trace and run, as
/// [`super::interpret`] then [`super::check_reading`] without a transcript give them. `None` when declared
/// readings differ from the generator's model's (the run then checks the case the long way)
/// or the generator could not start.
fn quick_case(
    sut: &dyn Sut,
    case_seed: u64,
    cfg: &RunConfig,
    gen_cfg: &GenConfig,
) -> Option<(Trace, TraceRun)> {
    if cfg.readings != Readings::default() {
        return None;
    }
    let choices = case_choices(case_seed, cfg.steps)?;
    Some(check_generated(sut, &choices, gen_cfg))
}

/// A case checked ahead: its trace and run, `None` for the long way.
pub(super) type Quick = Option<(Trace, TraceRun)>;

/// [`quick_case`] on each seed, shared out over `sut` (this thread) and `workers` (a thread
/// each), each taking the next seed when it is free (a thread the scheduler holds back does
/// not hold up the others): results in seed order, whatever the scheduling.
pub(super) fn quick_cases(
    sut: &dyn Sut,
    workers: &[&dyn Sut],
    seeds: &[u64],
    cfg: &RunConfig,
    gen_cfg: &GenConfig,
) -> Vec<Quick> {
    if workers.is_empty() {
        return seeds
            .iter()
            .map(|s| quick_case(sut, *s, cfg, gen_cfg))
            .collect();
    }
    let next = AtomicUsize::new(0);
    let take = |sut: &dyn Sut| -> Vec<(usize, Quick)> {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(seed) = seeds.get(i) else {
                return done;
            };
            done.push((i, quick_case(sut, *seed, cfg, gen_cfg)));
        }
    };
    let mut out: Vec<Quick> = Vec::new();
    out.resize_with(seeds.len(), || None);
    std::thread::scope(|scope| {
        let handles: Vec<_> = workers
            .iter()
            .map(|w| {
                let guarded = Guarded(*w);
                let take = &take;
                scope.spawn(move || take(&guarded))
            })
            .collect();
        let mut all = take(sut);
        for h in handles {
            // A worker that panicked leaves its cases to the long way (`None`).
            all.extend(h.join().unwrap_or_default());
        }
        for (i, quick) in all {
            out[i] = quick;
        }
    });
    out
}
