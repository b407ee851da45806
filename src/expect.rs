//! What a fixture says its steps must produce, from the documentation (fixtures/README.md,
//! "Expectations"). The model is checked against these first: an expectation the model
//! contradicts is a MODEL FAULT (the model, not the target, disagrees with what the fixture's
//! author read in 4D's documentation), named by fixture, step and field. The differential
//! checker then holds the target to the model for the same observations, so a target that
//! passes a fixture meets its expectations.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use wlcs_model::vocab::{ContextSnapshot, ProcRef, RecordRef, Table, VarName};
use wlcs_model::{CookieEffect, Model, Read, RuleId, StepObs, Trace};

/// Where a request must run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Routed {
    /// In a session it opens.
    New,
    /// In this existing session.
    Existing(u32),
}

/// What a hook run must see.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SawExpect {
    /// Process variables.
    #[serde(default)]
    pub vars: BTreeMap<VarName, i64>,
    /// Non-empty selections.
    #[serde(default)]
    pub selections: BTreeMap<Table, Vec<u32>>,
    /// Records the process holds.
    #[serde(default)]
    pub locks: Vec<RecordRef>,
}

/// One hook run a step must cause.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HookExpect {
    /// The session whose process ends.
    pub session: u32,
    /// Its process (0 for a legacy session).
    #[serde(default)]
    pub lane: u8,
    /// The context the hook sees (CLOSE-6); omitted: not stated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saw: Option<SawExpect>,
    /// Whether the hook fails (CLOSE-14).
    #[serde(default)]
    pub failed: bool,
}

/// One lock-table entry after a step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockExpect {
    /// The record.
    pub record: RecordRef,
    /// Its owner.
    pub owner: ProcRef,
}

/// What one step must produce; every field but `step` and `rule` is optional, and only the
/// fields given are checked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepExpect {
    /// The step's index in the trace.
    pub step: usize,
    /// The SPEC.md rule that says so.
    pub rule: RuleId,
    /// The HTTP status of the step's response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Where the request runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ran_in: Option<Routed>,
    /// The response's session cookie effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie: Option<CookieEffect>,
    /// What the step's actions return, in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reads: Option<Vec<Option<Read>>>,
    /// The hook runs the step causes, in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hooks: Option<Vec<HookExpect>>,
    /// The whole lock table after the step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locks: Option<Vec<LockExpect>>,
    /// The documentation's sentence behind the expectation, for a reader (never checked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

/// An expectation the model contradicts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelFault {
    /// The step index.
    pub step: usize,
    /// The field (`status`, `ran_in`, `cookie`, `reads`, `hooks`, `locks`).
    pub field: &'static str,
    /// The rule the fixture cites.
    pub rule: RuleId,
    /// What the fixture says.
    pub fixture_says: String,
    /// What the model produced.
    pub model_says: String,
}

impl std::fmt::Display for ModelFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "MODEL FAULT at step {} field `{}` ({}): the fixture says {}, the model says {}",
            self.step, self.field, self.rule, self.fixture_says, self.model_says
        )
    }
}

fn saw_matches(want: &SawExpect, got: &ContextSnapshot) -> bool {
    want.vars == got.vars && want.selections == got.selections && want.locks == got.locks
}

fn show<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// What the model produced for a step, in the expectation's own shape.
fn observed(obs: &StepObs, model: &Model) -> StepExpect {
    StepExpect {
        step: 0,
        rule: RuleId::Req1,
        status: obs.response.as_ref().map(|r| r.status.value),
        ran_in: obs.ran_in.map(|r| {
            if r.opened {
                Routed::New
            } else {
                Routed::Existing(r.session.0)
            }
        }),
        cookie: obs
            .response
            .as_ref()
            .filter(|r| r.status.value == 200)
            .map(|r| r.cookie.value),
        reads: Some(obs.reads.iter().map(|r| r.value.clone()).collect()),
        hooks: Some(
            obs.hooks
                .iter()
                .map(|h| HookExpect {
                    session: h.session.0,
                    lane: h.lane,
                    saw: Some(SawExpect {
                        vars: h.snapshot.vars.clone(),
                        selections: h.snapshot.selections.clone(),
                        locks: h.snapshot.locks.clone(),
                    }),
                    failed: h.failed,
                })
                .collect(),
        ),
        locks: Some(
            model
                .locks()
                .into_iter()
                .map(|(record, owner)| LockExpect { record, owner })
                .collect(),
        ),
        why: None,
    }
}

/// Checks one expectation against what the model produced for its step.
fn check_one(want: &StepExpect, obs: &StepObs, model: &Model) -> Vec<ModelFault> {
    let got = observed(obs, model);
    let mut faults = Vec::new();
    let mut fault = |field: &'static str, says: String, model_says: String| {
        faults.push(ModelFault {
            step: want.step,
            field,
            rule: want.rule,
            fixture_says: says,
            model_says,
        });
    };
    if want.status.is_some() && want.status != got.status {
        fault("status", show(&want.status), show(&got.status));
    }
    if want.ran_in.is_some() && want.ran_in != got.ran_in {
        fault("ran_in", show(&want.ran_in), show(&got.ran_in));
    }
    if want.cookie.is_some() && want.cookie != got.cookie {
        fault("cookie", show(&want.cookie), show(&got.cookie));
    }
    if want.reads.is_some() && want.reads != got.reads {
        fault("reads", show(&want.reads), show(&got.reads));
    }
    if let Some(hooks) = &want.hooks {
        let same = hooks.len() == obs.hooks.len()
            && hooks.iter().zip(&obs.hooks).all(|(w, g)| {
                w.session == g.session.0
                    && w.lane == g.lane
                    && w.failed == g.failed
                    && w.saw.as_ref().is_none_or(|s| saw_matches(s, &g.snapshot))
            });
        if !same {
            fault("hooks", show(hooks), show(&got.hooks));
        }
    }
    if want.locks.is_some() && want.locks != got.locks {
        fault("locks", show(&want.locks), show(&got.locks));
    }
    faults
}

/// Replays a trace on the model alone and checks every expectation against it. Also says
/// whether a request is still in flight at the end (a fixture must end every request).
pub fn check_model(trace: &Trace, expect: &[StepExpect]) -> (Vec<ModelFault>, Vec<u8>) {
    let mut model = Model::new(trace.config.clone());
    let mut faults = Vec::new();
    for (index, step) in trace.steps.iter().enumerate() {
        let obs = model.step(step);
        for want in expect.iter().filter(|e| e.step == index) {
            faults.extend(check_one(want, &obs, &model));
        }
    }
    let in_flight = model.in_flight().into_iter().map(|f| f.0).collect();
    (faults, in_flight)
}

/// Drafts expectations from the model for the steps where one of `rules` decides an
/// observation (or, failing that, fires; or, for invariants, the last step): what a fixture
/// author starts from, then checks against the documentation.
pub fn draft(trace: &Trace, rules: &[RuleId]) -> Vec<StepExpect> {
    let mut out = draft_by(trace, rules, false);
    if out.is_empty() {
        out = draft_by(trace, rules, true);
    }
    if out.is_empty()
        && let (Some(rule), Some(last)) = (rules.first(), trace.steps.len().checked_sub(1))
    {
        let mut model = Model::new(trace.config.clone());
        for (index, step) in trace.steps.iter().enumerate() {
            let obs = model.step(step);
            if index == last {
                let mut e = observed(&obs, &model);
                e.step = index;
                e.rule = *rule;
                out.push(e);
            }
        }
    }
    out
}

fn draft_by(trace: &Trace, rules: &[RuleId], by_firing: bool) -> Vec<StepExpect> {
    let mut model = Model::new(trace.config.clone());
    let mut out = Vec::new();
    for (index, step) in trace.steps.iter().enumerate() {
        let obs = model.step(step);
        let decided = |r: RuleId| {
            (by_firing && r.grade() != wlcs_model::Grade::Invariant && obs.fired.contains(&r))
                || obs.ran_in.is_some_and(|x| x.rule == r)
                || obs
                    .response
                    .as_ref()
                    .is_some_and(|x| x.status.rule == r || x.cookie.rule == r)
                || obs.reads.iter().any(|x| x.rule == r || x.also.contains(r))
                || obs.hooks.iter().any(|h| h.cause == r || h.also.contains(r))
        };
        let Some(rule) = rules.iter().copied().find(|r| decided(*r)) else {
            continue;
        };
        let mut e = observed(&obs, &model);
        e.step = index;
        e.rule = rule;
        if e.reads.as_ref().is_some_and(Vec::is_empty) {
            e.reads = None;
        }
        if obs.lock_changes.is_empty() {
            e.locks = None;
        }
        out.push(e);
    }
    out
}
