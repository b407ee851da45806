//! SHOULD readings must not cascade (SPEC.md decisions). A SHOULD rule with another
//! reasonable reading (CLOSE-11, CLOSE-12, CLOSE-13, CLOSE-14, LIMIT-2: `wlcs_model::vocab::Readings`) is a choice:
//! a target that takes the other reading deviates from that SHOULD only, and must not be
//! charged the MUST failures that follow from it. A run declares readings (`--reading
//! CLOSE-12=reset-immediately`), and when a case still diverges the suite replays it with each
//! alternative reading of a SHOULD rule the case exercised; if one explains the whole trace,
//! the case's verdict is a divergence on that SHOULD rule saying which reading the target
//! follows (a warning, or a failure under `--strict`), and no MUST failure is charged.

use crate::checker::{Checker, Divergence, TraceRun, Verdict};
use wlcs_model::vocab::Readings;
use wlcs_model::{Model, RuleId, Trace};
use wlcs_sut::Sut;

/// The SHOULD rules a trace exercises under the model's default readings, up to `last_step`.
fn exercised(trace: &Trace, readings: Readings, last_step: usize) -> Vec<RuleId> {
    let mut model = Model::with_readings(trace.config.clone(), readings);
    let mut out = Vec::new();
    for step in trace.steps.iter().take(last_step + 1) {
        for rule in model.step(step).fired {
            if !out.contains(&rule) {
                out.push(rule);
            }
        }
    }
    out
}

/// Checks a trace with the declared readings; a divergence is replayed with the alternative
/// readings of the SHOULD rules the trace exercised before it, and one that explains the
/// trace turns the verdict into "RULE follows reading X".
pub fn run(sut: &dyn Sut, trace: &Trace, declared: Readings, log: bool) -> TraceRun {
    let first = Checker::run_reading(sut, trace, declared, log);
    explain(sut, trace, declared, log, first)
}

/// [`run`] after its first check (`first`, of `trace` with the `declared` readings).
pub fn explain(
    sut: &dyn Sut,
    trace: &Trace,
    declared: Readings,
    log: bool,
    first: TraceRun,
) -> TraceRun {
    let Verdict::Diverged(d) = &first.verdict else {
        return first;
    };
    let rules = exercised(trace, declared, d.step);
    for (rule_name, reading) in Readings::ALTERNATIVES {
        let Some(rule) = RuleId::parse(rule_name) else {
            continue;
        };
        if !rules.contains(&rule) {
            continue;
        }
        let mut alt = declared;
        if alt.set(&format!("{rule_name}={reading}")).is_err() || alt == declared {
            continue;
        }
        let mut run = Checker::run_reading(sut, trace, alt, log);
        if run.verdict != Verdict::Pass {
            continue;
        }
        // Explained: the target follows the other reading of `rule`, a SHOULD deviation.
        run.stats.diverge(rule);
        let line = format!("   !! {rule} follows reading {reading} (a SHOULD deviation)");
        run.transcript.push(line);
        run.verdict = Verdict::Diverged(Divergence {
            step: d.step,
            rule,
            also: Vec::new(),
            what: format!("{rule} follows reading {reading}"),
            expected: format!("{rule} as SPEC.md reads it"),
            actual: format!(
                "reading {reading} (with it the whole trace passes; first seen as {}: {})",
                d.rule, d.what
            ),
            should: false,
        });
        return run;
    }
    first
}
