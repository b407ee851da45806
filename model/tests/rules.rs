//! One named test per rule of SPEC.md, each driving the model through `check` and asserting
//! both what must happen and what must not (the negative space).

// A test: a failed unwrap or expect is a failed test, with its message (STYLE.md allows them here).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use wlcs_model::vocab::*;
use wlcs_model::{CookieEffect, HookRun, Model, Read, RuleId, StepObs};

/// Runs steps on a fresh model with `config`; every step must be valid and the model's own
/// invariants must hold after each.
fn check_with(config: WorldConfig, steps: &[Step]) -> (Model, Vec<StepObs>) {
    let mut model = Model::new(config);
    let mut all = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let obs = model.step(step);
        assert_eq!(obs.invalid, None, "step {i} {step:?} is invalid");
        assert_eq!(obs.model_fault, None, "model invariant broken at step {i}");
        all.push(obs);
    }
    (model, all)
}

fn check(steps: &[Step]) -> (Model, Vec<StepObs>) {
    check_with(WorldConfig::default(), steps)
}

fn s(n: u32) -> SessionRef {
    SessionRef(n)
}

fn id(n: u32) -> IdText {
    IdText::Session(s(n))
}

fn req(cookie: Option<IdText>, actions: Vec<Action>) -> Step {
    Step::Request(Request {
        ip: 0,
        cookie,
        mobile: None,
        actions,
    })
}

fn begin(slot: Slot, cookie: Option<IdText>, actions: Vec<Action>) -> Step {
    Step::Begin {
        slot,
        request: Request {
            ip: 0,
            cookie,
            mobile: None,
            actions,
        },
    }
}

fn end(slot: Slot, actions: Vec<Action>) -> Step {
    Step::End { slot, actions }
}

fn nonweb(actions: Vec<Action>) -> Step {
    Step::NonWeb {
        process: 0,
        actions,
    }
}

fn close(text: IdText) -> Action {
    Action::Close { id: text }
}

fn set(var: VarName, value: i64) -> Action {
    Action::SetVar { var, value }
}

fn get(var: VarName) -> Action {
    Action::GetVar { var }
}

fn lock(table: Table, record: u32) -> Action {
    Action::Lock {
        record: RecordRef { table, record },
    }
}

fn rec(table: Table, record: u32) -> RecordRef {
    RecordRef { table, record }
}

fn reads(obs: &StepObs) -> Vec<Read> {
    obs.reads
        .iter()
        .map(|r| r.value.clone().expect("a compared read"))
        .collect()
}

fn ran_in(obs: &StepObs) -> (SessionRef, bool, RuleId) {
    let r = obs.ran_in.expect("request ran");
    (r.session, r.opened, r.rule)
}

fn cookie(obs: &StepObs) -> CookieEffect {
    obs.response.as_ref().expect("response").cookie.value
}

fn status(obs: &StepObs) -> u16 {
    obs.response.as_ref().expect("response").status.value
}

fn hooks(obs: &StepObs) -> Vec<(SessionRef, u8)> {
    obs.hooks
        .iter()
        .map(|h: &HookRun| (h.session, h.lane))
        .collect()
}

fn fired(obs: &StepObs, rule: RuleId) -> bool {
    obs.fired.contains(&rule)
}

/// A session S0 with a variable, a selection and a lock, then idle.
fn with_context() -> Vec<Step> {
    vec![req(
        None,
        vec![
            set(1, 11),
            Action::Select {
                table: 2,
                records: vec![5, 3, 5],
            },
            lock(1, 7),
        ],
    )]
}

#[test]
fn close_1_closed_id_reaches_no_context() {
    let mut steps = with_context();
    steps.push(nonweb(vec![close(id(0))]));
    steps.push(req(Some(id(0)), vec![get(1)]));
    let (model, obs) = check(&steps);
    assert!(fired(&obs[1], RuleId::Close1));
    let (session, opened, rule) = ran_in(&obs[2]);
    assert_eq!((session, opened, rule), (s(1), true, RuleId::Close1));
    assert_eq!(reads(&obs[2]), vec![Read::Var(None)]);
    assert!(!model.exists(s(0)));
}

#[test]
fn close_2_unknown_ids_do_nothing() {
    for text in [
        IdText::Forged(3),
        IdText::Malformed("not an id".into()),
        IdText::Empty,
        IdText::Respelled(s(0), Spelling::SwapCase),
        IdText::Respelled(s(0), Spelling::Hyphens),
        IdText::Respelled(s(0), Spelling::Padded),
    ] {
        let mut steps = with_context();
        let (before, _) = check(&steps);
        steps.push(nonweb(vec![close(text.clone())]));
        let (after, obs) = check(&steps);
        assert!(fired(&obs[1], RuleId::Close2), "{text}");
        assert!(obs[1].hooks.is_empty(), "{text}");
        assert_eq!(before.locks(), after.locks());
        assert!(after.exists(s(0)) && after.routable(s(0)));
    }
    // A second close is a no-op too, as is "" from a non-web process's Current.
    let mut steps = with_context();
    steps.push(nonweb(vec![
        close(id(0)),
        close(id(0)),
        close(IdText::Current),
    ]));
    let (_, obs) = check(&steps);
    assert_eq!(hooks(&obs[1]), vec![(s(0), 0)]);
    assert_eq!(
        obs[1]
            .fired
            .iter()
            .filter(|r| **r == RuleId::Close2)
            .count(),
        2
    );
}

#[test]
fn close_3_non_web_caller_has_the_same_effects() {
    let mut by_nonweb = with_context();
    by_nonweb.push(nonweb(vec![close(id(0))]));
    let mut by_web = with_context();
    by_web.push(req(None, vec![close(id(0))]));
    let (m1, o1) = check(&by_nonweb);
    let (m2, o2) = check(&by_web);
    assert!(fired(&o1[1], RuleId::Close3));
    assert_eq!(o1[1].hooks[0].snapshot, o2[1].hooks[0].snapshot);
    assert_eq!(o1[1].hooks[0].cause, RuleId::Close3);
    // CLOSE-3: another session's web process is "another caller" too.
    assert_eq!(o2[1].hooks[0].cause, RuleId::Close3);
    assert!(m1.locks().is_empty() && m2.locks().is_empty());
    assert!(!m1.exists(s(0)) && !m2.exists(s(0)));
}

#[test]
fn close_4_cookie_expires_and_expiration_is_null() {
    let (_, obs) = check(&[
        req(None, vec![]),
        req(
            Some(id(0)),
            vec![
                Action::GetExpiration {
                    id: IdText::Current,
                },
                close(IdText::Current),
                Action::GetExpiration {
                    id: IdText::Current,
                },
            ],
        ),
    ]);
    assert_eq!(cookie(&obs[0]), CookieEffect::Issue(s(0)));
    assert_eq!(
        reads(&obs[1]),
        vec![
            Read::Expiration(Some(480 * 60)),
            Read::Done,
            Read::Expiration(None)
        ]
    );
    assert_eq!(cookie(&obs[1]), CookieEffect::Expire);
    assert_eq!(
        obs[1].response.as_ref().map(|r| r.cookie.rule),
        Some(RuleId::Close4)
    );
}

#[test]
fn close_5_hook_runs_exactly_once() {
    let mut steps = with_context();
    steps.push(nonweb(vec![close(id(0))]));
    steps.push(nonweb(vec![close(id(0))]));
    steps.push(Step::Advance { seconds: 10 * 3600 });
    let (_, obs) = check(&steps);
    assert_eq!(hooks(&obs[1]), vec![(s(0), 0)]);
    assert!(obs[2].hooks.is_empty() && obs[3].hooks.is_empty());
}

#[test]
fn close_6_hook_sees_context_before_reset() {
    let mut steps = with_context();
    steps.push(nonweb(vec![close(id(0))]));
    let (_, obs) = check(&steps);
    let snap = &obs[1].hooks[0].snapshot;
    assert_eq!(snap.vars.get(&1), Some(&11));
    assert_eq!(snap.selections.get(&2), Some(&vec![3, 5]));
    assert_eq!(snap.locks, vec![rec(1, 7)]);
    assert!(fired(&obs[1], RuleId::Close6));
}

#[test]
fn close_7_reset_clears_only_the_session() {
    let (model, obs) = check(&[
        req(
            None,
            vec![
                set(1, 1),
                lock(1, 1),
                Action::SetIpVar { var: 4, value: 44 },
            ],
        ),
        req(None, vec![set(1, 2), lock(1, 2)]),
        nonweb(vec![lock(1, 3)]),
        nonweb(vec![close(id(0))]),
        req(
            Some(id(1)),
            vec![get(1), lock(1, 1), Action::IsLocked { record: rec(1, 2) }],
        ),
        nonweb(vec![
            Action::GetIpVar { var: 4 },
            Action::IsLocked { record: rec(1, 3) },
        ]),
    ]);
    assert!(fired(&obs[3], RuleId::Close7));
    assert_eq!(
        reads(&obs[4]),
        vec![
            Read::Var(Some(2)),
            Read::Locked(true),
            Read::LockState(LockState::Mine)
        ]
    );
    assert_eq!(obs[4].reads[1].rule, RuleId::Close7);
    assert_eq!(
        reads(&obs[5]),
        vec![Read::IpVar(Some(44)), Read::LockState(LockState::Mine)]
    );
    assert_eq!(obs[5].reads[0].rule, RuleId::Close7);
    assert_eq!(model.locks().len(), 3);
}

#[test]
fn close_8_closed_cookie_opens_new_empty_session() {
    let mut steps = with_context();
    steps.push(nonweb(vec![close(id(0))]));
    steps.push(req(
        Some(id(0)),
        vec![
            get(1),
            Action::GetSelection { table: 2 },
            Action::IsLocked { record: rec(1, 7) },
        ],
    ));
    let (_, obs) = check(&steps);
    assert_eq!(cookie(&obs[2]), CookieEffect::Issue(s(1)));
    assert_eq!(
        obs[2].response.as_ref().map(|r| r.cookie.rule),
        Some(RuleId::Close8)
    );
    assert_eq!(
        reads(&obs[2]),
        vec![
            Read::Var(None),
            Read::Selection(vec![]),
            Read::LockState(LockState::Free)
        ]
    );
    assert_eq!(obs[2].reads[0].rule, RuleId::Close8);
}

#[test]
fn close_9_scalable_mode_ignores_the_command() {
    let (model, obs) = check(&[
        Step::SetOption(OptionSet::Mode(SessionMode::Scalable)),
        req(None, vec![set(1, 1)]),
        nonweb(vec![close(id(0))]),
        req(Some(id(0)), vec![get(1)]),
    ]);
    assert!(fired(&obs[2], RuleId::Close9));
    assert!(obs.iter().all(|o| o.hooks.is_empty()));
    assert_eq!(ran_in(&obs[3]), (s(0), false, RuleId::Close9));
    assert_eq!(obs[3].reads.len(), 1);
    assert_eq!(obs[3].reads[0].value, None, "not compared");
    assert_eq!(cookie(&obs[3]), CookieEffect::Keep);
    assert!(model.exists(s(0)));
}

#[test]
fn close_10_repeated_closes_while_pending_run_one_hook() {
    let (_, obs) = check(&[
        begin(0, None, vec![set(1, 1)]),
        nonweb(vec![close(id(0))]),
        Step::NonWeb {
            process: 1,
            actions: vec![close(id(0))],
        },
        req(None, vec![close(id(0))]),
        end(0, vec![]),
    ]);
    assert!(fired(&obs[2], RuleId::Close10) && fired(&obs[3], RuleId::Close10));
    let total: usize = obs.iter().map(|o| o.hooks.len()).sum();
    assert_eq!(total, 1);
    assert_eq!(hooks(&obs[4]), vec![(s(0), 0)]);
}

#[test]
fn close_11_self_close_finishes_request_then_hooks() {
    let (_, obs) = check(&[
        req(None, vec![set(1, 1)]),
        req(
            Some(id(0)),
            vec![
                close(IdText::Current),
                get(1),
                Action::GetSessionId,
                set(2, 2),
            ],
        ),
    ]);
    assert_eq!(
        reads(&obs[1]),
        vec![
            Read::Done,
            Read::Var(Some(1)),
            Read::SessionId(Some(s(0))),
            Read::Done
        ]
    );
    assert_eq!(obs[1].reads[1].rule, RuleId::Close11);
    assert_eq!(cookie(&obs[1]), CookieEffect::Expire);
    assert_eq!(obs[1].hooks.len(), 1);
    assert_eq!(obs[1].hooks[0].cause, RuleId::Close11);
    assert_eq!(obs[1].hooks[0].snapshot.vars.len(), 2);
}

#[test]
fn close_12_close_during_request_defers_hook_but_invalidates_now() {
    let (_, obs) = check(&[
        begin(0, None, vec![set(1, 1)]),
        nonweb(vec![close(id(0))]),
        req(Some(id(0)), vec![get(1)]),
        end(0, vec![get(1)]),
    ]);
    assert!(obs[1].hooks.is_empty());
    assert_eq!(ran_in(&obs[2]), (s(1), true, RuleId::Close12));
    assert_eq!(reads(&obs[2]), vec![Read::Var(None)]);
    assert_eq!(reads(&obs[3]), vec![Read::Var(Some(1))]);
    assert_eq!(cookie(&obs[3]), CookieEffect::Expire);
    assert_eq!(obs[3].hooks[0].cause, RuleId::Close12);
}

#[test]
fn close_13_close_from_own_hook_is_noop() {
    let (_, obs) = check(&[
        Step::SetHook(HookBehavior::CloseOwn),
        req(None, vec![]),
        nonweb(vec![close(id(0))]),
    ]);
    assert!(fired(&obs[2], RuleId::Close13));
    assert_eq!(obs[2].hooks.len(), 1);
    // A hook closing another session closes it (nested, after its own snapshot).
    let (_, obs) = check(&[
        req(None, vec![]),
        req(None, vec![]),
        Step::SetHook(HookBehavior::Close(id(1))),
        nonweb(vec![close(id(0))]),
    ]);
    assert_eq!(hooks(&obs[3]), vec![(s(0), 0), (s(1), 0)]);
}

#[test]
fn close_14_failing_hook_still_completes_close() {
    let mut steps = vec![Step::SetHook(HookBehavior::Fail)];
    steps.extend(with_context());
    steps.push(nonweb(vec![
        close(id(0)),
        Action::IsLocked { record: rec(1, 7) },
    ]));
    steps.push(req(Some(id(0)), vec![]));
    let (model, obs) = check(&steps);
    assert!(obs[2].hooks[0].failed);
    assert!(fired(&obs[2], RuleId::Close14));
    assert_eq!(reads(&obs[2])[1], Read::LockState(LockState::Free));
    assert!(ran_in(&obs[3]).1);
    assert!(model.locks().is_empty());
}

#[test]
fn req_1_no_cookie_opens_session() {
    let (_, obs) = check(&[req(None, vec![Action::GetSessionId, get(1)])]);
    assert_eq!(ran_in(&obs[0]), (s(0), true, RuleId::Req1));
    assert_eq!(cookie(&obs[0]), CookieEffect::Issue(s(0)));
    assert_eq!(
        reads(&obs[0]),
        vec![Read::SessionId(Some(s(0))), Read::Var(None)]
    );
}

#[test]
fn req_2_live_cookie_runs_in_its_context() {
    let mut steps = with_context();
    steps.push(req(
        Some(id(0)),
        vec![get(1), Action::GetSelection { table: 2 }, lock(1, 7)],
    ));
    let (_, obs) = check(&steps);
    assert_eq!(ran_in(&obs[1]), (s(0), false, RuleId::Req2));
    assert_eq!(cookie(&obs[1]), CookieEffect::Keep);
    assert_eq!(
        reads(&obs[1]),
        vec![
            Read::Var(Some(11)),
            Read::Selection(vec![3, 5]),
            Read::Locked(true)
        ]
    );
}

#[test]
fn req_3_unknown_cookie_opens_server_minted_session() {
    for cookie_text in [
        IdText::Forged(1),
        IdText::Malformed("x;y".into()),
        IdText::Empty,
        IdText::Respelled(s(0), Spelling::SwapCase),
    ] {
        let (_, obs) = check(&[req(None, vec![]), req(Some(cookie_text), vec![])]);
        assert_eq!(ran_in(&obs[1]), (s(1), true, RuleId::Req3));
        assert_eq!(cookie(&obs[1]), CookieEffect::Issue(s(1)));
    }
}

#[test]
fn req_4_each_request_slides_expiration() {
    let (_, obs) = check(&[
        req(None, vec![]),
        Step::Advance { seconds: 100 },
        req(Some(id(0)), vec![Action::GetExpiration { id: id(0) }]),
        Step::SetOption(OptionSet::CookieTimeoutMin(10)),
        Step::Advance { seconds: 50 },
        nonweb(vec![Action::GetExpiration { id: id(0) }]),
        req(
            Some(id(0)),
            vec![Action::GetExpiration {
                id: IdText::Current,
            }],
        ),
    ]);
    assert_eq!(reads(&obs[2]), vec![Read::Expiration(Some(100 + 480 * 60))]);
    assert_eq!(reads(&obs[5]), vec![Read::Expiration(Some(100 + 480 * 60))]);
    assert_eq!(reads(&obs[6]), vec![Read::Expiration(Some(150 + 600))]);
    assert_eq!(obs[6].reads[0].rule, RuleId::Req4);
}

#[test]
fn req_5_other_ip_gets_400_and_changes_nothing() {
    let mut other = Request {
        ip: 1,
        cookie: Some(id(0)),
        mobile: None,
        actions: vec![set(1, 99)],
    };
    let (_, obs) = check(&[req(None, vec![set(1, 1)]), Step::Request(other.clone())]);
    assert_eq!(status(&obs[1]), 400);
    assert!(obs[1].ran_in.is_none() && obs[1].reads.is_empty());
    // IP validation off: the same request runs in the session.
    other.actions = vec![get(1)];
    let (_, obs) = check(&[
        Step::SetOption(OptionSet::IpValidation(false)),
        req(None, vec![set(1, 1)]),
        Step::Request(other),
    ]);
    assert_eq!(status(&obs[2]), 200);
    assert_eq!(reads(&obs[2]), vec![Read::Var(Some(1))]);
}

#[test]
fn req_6_every_new_session_is_a_new_symbol() {
    let (model, obs) = check(&[
        req(None, vec![]),
        nonweb(vec![close(id(0))]),
        req(Some(id(0)), vec![]),
        req(Some(id(0)), vec![]),
    ]);
    assert_eq!(ran_in(&obs[2]).0, s(1));
    assert_eq!(ran_in(&obs[3]).0, s(2));
    assert_eq!(model.sessions_opened(), 3);
}

#[test]
fn time_1_expired_cookie_opens_new_session() {
    let (model, obs) = check(&[
        Step::SetOption(OptionSet::CookieTimeoutMin(10)),
        req(None, vec![set(1, 1)]),
        Step::Advance { seconds: 600 },
        req(Some(id(0)), vec![get(1)]),
    ]);
    assert_eq!(ran_in(&obs[3]), (s(1), true, RuleId::Time1));
    assert!(fired(&obs[3], RuleId::Time4));
    assert_eq!(reads(&obs[3]), vec![Read::Var(None)]);
    // The old process still runs until its own timeout (TIME-4).
    assert!(model.exists(s(0)) && !model.routable(s(0)));
}

#[test]
fn time_2_process_timeout_runs_hook_then_releases() {
    let mut steps = vec![Step::SetOption(OptionSet::ProcessTimeoutMin(5))];
    steps.extend(with_context());
    steps.push(Step::Advance { seconds: 299 });
    steps.push(Step::Advance { seconds: 1 });
    let (model, obs) = check(&steps);
    assert!(obs[2].hooks.is_empty());
    assert_eq!(obs[3].hooks.len(), 1);
    assert_eq!(obs[3].hooks[0].cause, RuleId::Time2);
    assert_eq!(obs[3].hooks[0].snapshot.locks, vec![rec(1, 7)]);
    assert!(model.locks().is_empty());
    assert_eq!(model.lock_rule(rec(1, 7)).0, RuleId::Time2);
}

#[test]
fn time_3_profiles_after_process_timeout() {
    let steps = [
        Step::SetOption(OptionSet::ProcessTimeoutMin(5)),
        req(None, vec![set(1, 1)]),
        Step::Advance { seconds: 300 },
        req(Some(id(0)), vec![get(1)]),
    ];
    let (_, obs) = check(&steps);
    assert_eq!(ran_in(&obs[3]), (s(0), false, RuleId::Time3));
    assert_eq!(reads(&obs[3]), vec![Read::Var(None)]);
    assert_eq!(cookie(&obs[3]), CookieEffect::Keep);
    let new_id = WorldConfig {
        profile: Profile {
            timeout: TimeoutProfile::NewId,
            ..Profile::default()
        },
        ..WorldConfig::default()
    };
    let (_, obs) = check_with(new_id, &steps);
    assert_eq!(ran_in(&obs[3]), (s(1), true, RuleId::Time3));
    // keeps-id: closing the timed-out ID invalidates it without a hook.
    let (_, obs) = check(&[
        Step::SetOption(OptionSet::ProcessTimeoutMin(5)),
        req(None, vec![]),
        Step::Advance { seconds: 300 },
        nonweb(vec![close(id(0))]),
        req(Some(id(0)), vec![]),
    ]);
    assert!(obs[3].hooks.is_empty() && fired(&obs[3], RuleId::Time3));
    assert!(ran_in(&obs[4]).1);
}

#[test]
fn time_4_timeouts_are_independent() {
    // The process timeout first, cookie still valid.
    let (_, obs) = check(&[
        Step::SetOption(OptionSet::ProcessTimeoutMin(1)),
        req(None, vec![]),
        Step::Advance { seconds: 60 },
    ]);
    assert!(fired(&obs[2], RuleId::Time4) && obs[2].hooks.len() == 1);
    // The cookie first, process still running: it ends later with its hook.
    let (_, obs) = check(&[
        Step::SetOption(OptionSet::CookieTimeoutMin(1)),
        Step::SetOption(OptionSet::ProcessTimeoutMin(5)),
        req(None, vec![]),
        Step::Advance { seconds: 60 },
        req(Some(id(0)), vec![]),
        Step::Advance { seconds: 240 },
    ]);
    assert!(fired(&obs[4], RuleId::Time4));
    assert_eq!(hooks(&obs[5]), vec![(s(0), 0)]);
}

#[test]
fn limit_1_evicts_least_recently_active_idle_session() {
    let (model, obs) = check(&[
        Step::SetOption(OptionSet::MaxSessions(2)),
        req(None, vec![]),
        Step::Advance { seconds: 1 },
        req(None, vec![]),
        Step::Advance { seconds: 1 },
        req(Some(id(0)), vec![]),
        req(None, vec![]),
        req(Some(id(1)), vec![]),
    ]);
    assert_eq!(hooks(&obs[6]), vec![(s(1), 0)]);
    assert_eq!(obs[6].hooks[0].cause, RuleId::Limit1);
    assert_eq!(ran_in(&obs[7]), (s(3), true, RuleId::Limit1));
    assert_eq!(model.live_sessions(), 2);
}

#[test]
fn limit_2_no_idle_session_gives_503() {
    let (model, obs) = check(&[
        Step::SetOption(OptionSet::MaxSessions(1)),
        begin(0, None, vec![]),
        req(None, vec![set(1, 1)]),
        Step::SetOption(OptionSet::MaxProcesses(5)),
    ]);
    assert_eq!(status(&obs[2]), 503);
    assert!(obs[2].ran_in.is_none() && obs[2].reads.is_empty());
    assert_eq!(model.sessions_opened(), 1);
    assert_eq!(
        model.options().max_processes,
        100,
        "selector 18 below 10 is ignored"
    );
    let (model, _) = check(&[
        Step::SetOption(OptionSet::MaxProcesses(10)),
        Step::SetOption(OptionSet::MaxSessions(50)),
    ]);
    assert_eq!(model.options().processes_max(), 9);
}

#[test]
fn limit_2_process_cap_refuses_at_max_minus_one_busy() {
    // D4 selector 18: "when this number (minus one) is reached, 4D will not create any other
    // processes and returns the HTTP status 503".
    let mut steps = vec![Step::SetOption(OptionSet::MaxProcesses(10))];
    for slot in 0..9 {
        steps.push(begin(slot, None, vec![]));
    }
    steps.push(req(None, vec![]));
    let (model, obs) = check(&steps);
    assert_eq!(status(&obs[10]), 503);
    assert!(fired(&obs[10], RuleId::Limit2));
    assert_eq!(model.running_processes(), 9);
    assert_eq!(model.sessions_opened(), 9);
}

#[test]
fn limit_2_process_cap_evicts_an_idle_session_first() {
    let mut steps = vec![Step::SetOption(OptionSet::MaxProcesses(10))];
    for _ in 0..9 {
        steps.push(req(None, vec![]));
    }
    steps.push(req(None, vec![]));
    let (model, obs) = check(&steps);
    assert_eq!(status(&obs[10]), 200);
    assert_eq!(hooks(&obs[10]), vec![(s(0), 0)]);
    assert_eq!(obs[10].hooks[0].cause, RuleId::Limit1);
    assert!(obs[10].hooks[0].also.contains(RuleId::Limit2));
    assert_eq!(model.running_processes(), 9);
    assert_eq!(
        model.id_state(s(0)),
        Some(wlcs_model::world::IdState::Evicted)
    );
}

#[test]
fn option_values_zero_and_empty_restore_defaults() {
    let (model, _) = check(&[
        Step::SetOption(OptionSet::MaxSessions(3)),
        Step::SetOption(OptionSet::CookieTimeoutMin(5)),
        Step::SetOption(OptionSet::ProcessTimeoutMin(7)),
        Step::SetOption(OptionSet::CookieName("SID2".into())),
        Step::SetOption(OptionSet::MaxSessions(0)),
        Step::SetOption(OptionSet::CookieTimeoutMin(0)),
        Step::SetOption(OptionSet::ProcessTimeoutMin(0)),
        Step::SetOption(OptionSet::CookieName(String::new())),
    ]);
    let o = model.options();
    assert_eq!(
        (o.max_sessions, o.cookie_timeout_min, o.process_timeout_min),
        (100, 480, 480)
    );
    assert_eq!(o.cookie_name, "4DSID_wlcs");
    // A cookie timeout of 0 restored to 480 min: the expiration is 28 800 s away.
    let (_, obs) = check(&[
        Step::SetOption(OptionSet::CookieTimeoutMin(1)),
        Step::SetOption(OptionSet::CookieTimeoutMin(0)),
        req(
            None,
            vec![Action::GetExpiration {
                id: IdText::Current,
            }],
        ),
    ]);
    assert_eq!(reads(&obs[2]), vec![Read::Expiration(Some(28_800))]);
}

#[test]
fn option_values_a_cookie_name_that_is_not_a_token_is_ignored() {
    for bad in ["SID 2", "SID;2", "SID=2", "SID\"2", &"S".repeat(65)] {
        let (model, _) = check(&[
            Step::SetOption(OptionSet::CookieName("SID2".into())),
            Step::SetOption(OptionSet::CookieName(bad.to_string())),
        ]);
        assert_eq!(model.options().cookie_name, "SID2", "{bad:?}");
    }
    let (model, _) = check(&[Step::SetOption(OptionSet::CookieName("S".repeat(64)))]);
    assert_eq!(
        model.options().cookie_name,
        "S".repeat(64),
        "64 bytes is a name"
    );
}

#[test]
fn option_values_scalable_mode_ignores_18_72_73_78() {
    let (model, _) = check(&[
        Step::SetOption(OptionSet::Mode(SessionMode::Scalable)),
        Step::SetOption(OptionSet::MaxProcesses(20)),
        Step::SetOption(OptionSet::CookieTimeoutMin(5)),
        Step::SetOption(OptionSet::CookieName("SID2".into())),
        Step::SetOption(OptionSet::ProcessTimeoutMin(7)),
        Step::SetOption(OptionSet::MaxSessions(3)),
        Step::SetOption(OptionSet::Mode(SessionMode::Legacy)),
    ]);
    let o = model.options();
    assert_eq!(
        (o.max_processes, o.cookie_timeout_min, o.process_timeout_min),
        (100, 480, 480)
    );
    assert_eq!(o.cookie_name, "4DSID_wlcs");
    assert_eq!(
        o.max_sessions, 3,
        "selector 71 is not among the ignored ones"
    );
}

#[test]
fn close_3_from_another_sessions_web_request() {
    let mut steps = with_context();
    steps.push(req(None, vec![close(id(0))]));
    let (model, obs) = check(&steps);
    let last = obs.last().expect("steps");
    assert!(fired(last, RuleId::Close3));
    assert_eq!(hooks(last), vec![(s(0), 0)]);
    assert_eq!(last.hooks[0].cause, RuleId::Close3);
    assert!(!model.exists(s(0)));
    // A self-close is not CLOSE-3's "another caller".
    let (_, obs) = check(&[req(None, vec![close(IdText::Current)])]);
    assert!(!fired(&obs[0], RuleId::Close3));
}

#[test]
fn close_9_scalable_mode_makes_no_routing_claim_after_time_passes() {
    let (_, obs) = check(&[
        Step::SetOption(OptionSet::Mode(SessionMode::Scalable)),
        req(None, vec![]),
        nonweb(vec![close(id(0))]),
        req(Some(id(0)), vec![]),
        Step::Advance { seconds: 3_660 },
        req(Some(id(0)), vec![]),
    ]);
    assert_eq!(ran_in(&obs[3]).2, RuleId::Close9);
    assert_ne!(ran_in(&obs[5]).2, RuleId::Close9);
    assert!(obs.iter().all(|o| o.hooks.is_empty()));
}

fn mobile(lane: u8, cookie: Option<IdText>, actions: Vec<Action>) -> Step {
    Step::Request(Request {
        ip: 0,
        cookie,
        mobile: Some(lane),
        actions,
    })
}

#[test]
fn mobile_1_close_ends_every_process() {
    let (model, obs) = check(&[
        mobile(0, None, vec![set(1, 10)]),
        mobile(1, Some(id(0)), vec![set(1, 20)]),
        mobile(2, Some(id(0)), vec![set(1, 30)]),
        nonweb(vec![close(id(0))]),
    ]);
    assert!(fired(&obs[3], RuleId::Mobile1));
    assert_eq!(hooks(&obs[3]), vec![(s(0), 0), (s(0), 1), (s(0), 2)]);
    assert!(model.running_lanes(s(0)).is_empty());
}

#[test]
fn mobile_2_hook_per_process_sees_its_context() {
    let (_, obs) = check(&[
        mobile(0, None, vec![set(1, 10)]),
        mobile(1, Some(id(0)), vec![set(1, 20)]),
        nonweb(vec![close(id(0))]),
    ]);
    let vals: Vec<_> = obs[2]
        .hooks
        .iter()
        .map(|h| h.snapshot.vars.get(&1).copied())
        .collect();
    assert_eq!(vals, vec![Some(10), Some(20)]);
    assert!(obs[2].hooks.iter().all(|h| h.cause == RuleId::Mobile2));
}

#[test]
fn mobile_3_processes_share_one_cookie() {
    let (_, obs) = check(&[
        mobile(0, None, vec![]),
        mobile(1, Some(id(0)), vec![Action::GetSessionId]),
        nonweb(vec![close(id(0))]),
        mobile(1, Some(id(0)), vec![]),
    ]);
    assert_eq!(ran_in(&obs[1]), (s(0), false, RuleId::Mobile3));
    assert_eq!(cookie(&obs[1]), CookieEffect::Keep);
    assert_eq!(ran_in(&obs[3]), (s(1), true, RuleId::Mobile3));
}

#[test]
fn inv_1_no_lock_outlives_its_process() {
    let mut steps = with_context();
    steps.push(Step::SetOption(OptionSet::ProcessTimeoutMin(1)));
    steps.push(Step::Advance { seconds: 60 });
    let (model, obs) = check(&steps);
    assert!(obs.iter().all(|o| fired(o, RuleId::Inv1)));
    assert!(model.self_check(false).is_ok());
    assert!(model.locks().keys().all(|r| *r != rec(1, 7)));
}

#[test]
fn inv_2_every_ended_process_had_one_hook() {
    let (_, obs) = check(&[
        Step::SetOption(OptionSet::MaxSessions(1)),
        req(None, vec![]),
        req(None, vec![]),
        nonweb(vec![close(id(1)), close(id(0))]),
    ]);
    let all: Vec<_> = obs.iter().flat_map(hooks).collect();
    assert_eq!(all, vec![(s(0), 0), (s(1), 0)]);
    assert!(obs.iter().all(|o| fired(o, RuleId::Inv2)));
}

#[test]
fn inv_3_closed_id_never_names_a_live_session() {
    let (model, obs) = check(&[
        req(None, vec![]),
        nonweb(vec![close(id(0))]),
        req(Some(id(0)), vec![]),
        req(Some(id(0)), vec![]),
    ]);
    assert!(!model.exists(s(0)));
    assert_ne!(ran_in(&obs[2]).0, s(0));
    assert_ne!(ran_in(&obs[3]).0, s(0));
}

#[test]
fn inv_4_closed_context_never_visible_elsewhere() {
    let (_, obs) = check(&[
        req(None, vec![set(1, 777)]),
        nonweb(vec![close(id(0))]),
        req(Some(id(0)), vec![get(1)]),
        req(None, vec![get(1)]),
    ]);
    assert_eq!(reads(&obs[2]), vec![Read::Var(None)]);
    assert_eq!(reads(&obs[3]), vec![Read::Var(None)]);
}

#[test]
fn inv_5_live_sessions_never_exceed_max() {
    let mut steps = vec![Step::SetOption(OptionSet::MaxSessions(3))];
    for _ in 0..10 {
        steps.push(req(None, vec![]));
    }
    let (model, _) = check(&steps);
    assert_eq!(model.live_sessions(), 3);
}

#[test]
fn invalid_steps_change_nothing() {
    let mut model = Model::new(WorldConfig::default());
    for step in [
        end(0, vec![]),
        req(Some(id(5)), vec![]),
        req(Some(IdText::Current), vec![]),
        nonweb(vec![close(id(9))]),
    ] {
        let obs = model.step(&step);
        assert!(obs.invalid.is_some(), "{step:?}");
        assert!(obs.fired.is_empty());
    }
    assert_eq!(model.sessions_opened(), 0);
    let obs = model.step(&begin(0, None, vec![]));
    assert!(obs.invalid.is_none());
    assert!(model.step(&begin(0, None, vec![])).invalid.is_some());
    assert!(
        model.step(&req(Some(id(0)), vec![])).invalid.is_some(),
        "busy process"
    );
    let obs = model.step(&Step::SetOption(OptionSet::Mode(SessionMode::Scalable)));
    assert!(obs.invalid.is_some(), "restart while in flight");
}
