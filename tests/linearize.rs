//! The linearizability checker (`wlcs::linearize`) on hand-built histories (one per verdict
//! and rule it must tell apart), and on real threaded runs (`wlcs::concurrent`): the reference
//! implementation is linearizable over 10^5 operations from two threads, each race mutant is
//! caught, blamed on the rule it declares, within a bounded number of rounds.

// A test: a failed unwrap or expect is a failed test, with its message (STYLE.md allows them here).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Instant;
use wlcs::concurrent::{self, ConcurrentConfig, Mix};
use wlcs::linearize::{self, Call, History, LinearizeConfig, Op, Outcome, Verdict, Violation};
use wlcs_model::RuleId;
use wlcs_model::vocab::{ContextSnapshot, HookBehavior, RecordRef, WorldConfig};
use wlcs_sut::memory::MemorySut;
use wlcs_sut::mutants::Mutant;
use wlcs_sut::{
    Response, SetCookie, WireAction, WireHookRun, WireId, WireProc, WireRead, WireRequest,
};

// ------------------------------------------------------------------------------ builders

const COOKIE: &str = "4DSID_wlcs";
const R0: RecordRef = RecordRef {
    table: 1,
    record: 0,
};

enum Cookie<'a> {
    Keep,
    Issue(&'a str),
    Expire,
}

fn response(session: &str, cookie: Cookie, reads: Vec<WireRead>) -> Outcome {
    let set_cookies = match cookie {
        Cookie::Keep => vec![],
        Cookie::Issue(v) => vec![SetCookie {
            name: COOKIE.into(),
            value: v.into(),
            expiring: false,
            raw: format!("{COOKIE}={v}"),
        }],
        Cookie::Expire => vec![SetCookie {
            name: COOKIE.into(),
            value: String::new(),
            expiring: true,
            raw: format!("{COOKIE}=; Max-Age=0"),
        }],
    };
    Outcome::Response(Response {
        status: 200,
        session_id: Some(session.into()),
        set_cookies,
        reads,
    })
}

fn req(
    thread: usize,
    (invoke, ret): (u64, u64),
    cookie: Option<&str>,
    actions: Vec<WireAction>,
    outcome: Outcome,
) -> Op {
    Op {
        thread,
        invoke,
        ret,
        call: Call::Request(WireRequest {
            ip: 0,
            cookie: cookie.map(str::to_string),
            mobile: None,
            actions,
        }),
        outcome,
    }
}

fn close(thread: usize, (invoke, ret): (u64, u64), id: &str, outcome: Outcome) -> Op {
    Op {
        thread,
        invoke,
        ret,
        call: Call::NonWeb {
            process: u8::try_from(thread).expect("process"),
            actions: vec![WireAction::Close {
                id: WireId::Text(id.into()),
            }],
        },
        outcome,
    }
}

fn done() -> Outcome {
    Outcome::Reads(vec![WireRead::Done])
}

fn set(value: i64) -> WireAction {
    WireAction::SetVar { var: 1, value }
}

fn get() -> WireAction {
    WireAction::GetVar { var: 1 }
}

fn lock() -> WireAction {
    WireAction::Lock { record: R0 }
}

fn hook(id: &str, value: Option<i64>, locks: &[RecordRef]) -> WireHookRun {
    WireHookRun {
        session_id: id.into(),
        lane: 0,
        snapshot: ContextSnapshot {
            vars: value.map(|v| (1, v)).into_iter().collect(),
            selections: BTreeMap::new(),
            locks: locks.to_vec(),
        },
        failed: false,
    }
}

/// Session A opened at times 1-2 with v1=10 and R0 locked.
fn open_a() -> Op {
    req(
        0,
        (1, 2),
        None,
        vec![set(10), lock()],
        response(
            "A",
            Cookie::Issue("A"),
            vec![WireRead::Done, WireRead::Locked(true)],
        ),
    )
}

fn history(ops: Vec<Op>, hook_runs: Vec<WireHookRun>, locks: &[(RecordRef, &str)]) -> History {
    History {
        world: WorldConfig::default(),
        options: vec![],
        hook: HookBehavior::Save,
        ops,
        hook_runs,
        locks: Some(
            locks
                .iter()
                .map(|(r, id)| {
                    (
                        *r,
                        WireProc::Web {
                            session_id: (*id).into(),
                            lane: 0,
                        },
                    )
                })
                .collect(),
        ),
    }
}

fn check(h: &History) -> linearize::Checked {
    linearize::check(h, &LinearizeConfig::default()).expect("checkable history")
}

fn violation(h: &History) -> Violation {
    let checked = check(h);
    eprintln!("{}", linearize::render(h, &checked));
    match checked.verdict {
        Verdict::NotLinearizable(mut v) => v.remove(0),
        other => panic!("expected a violation, got {other:?}"),
    }
}

// ------------------------------------------------------------------------------ hand-built

#[test]
fn overlapping_request_and_close_linearize_either_side() {
    // t0 closes A (3..8) while t1 reads A's context (4..5: before the close) and then, still
    // during the close, sends A's cookie again (6..7: after it, a new session B).
    let h = history(
        vec![
            open_a(),
            close(0, (3, 8), "A", done()),
            req(
                1,
                (4, 5),
                Some("A"),
                vec![get()],
                response("A", Cookie::Keep, vec![WireRead::Var(Some(10))]),
            ),
            req(
                1,
                (6, 7),
                Some("A"),
                vec![get(), lock()],
                response(
                    "B",
                    Cookie::Issue("B"),
                    vec![WireRead::Var(None), WireRead::Locked(true)],
                ),
            ),
        ],
        vec![hook("A", Some(10), &[R0])],
        &[(R0, "B")],
    );
    let checked = check(&h);
    assert_eq!(
        checked.verdict,
        Verdict::Linearizable,
        "{}",
        linearize::render(&h, &checked)
    );
    assert_eq!(checked.stats.partitions, 1);
    assert_eq!(checked.stats.ops, 4);
    assert!(checked.stats.nodes >= 4);
}

#[test]
fn independent_sessions_are_separate_partitions() {
    let mut ops = vec![open_a()];
    ops.push(req(
        1,
        (1, 3),
        None,
        vec![
            set(20),
            WireAction::Lock {
                record: RecordRef {
                    table: 1,
                    record: 1,
                },
            },
        ],
        response(
            "B",
            Cookie::Issue("B"),
            vec![WireRead::Done, WireRead::Locked(true)],
        ),
    ));
    ops.push(close(0, (4, 6), "A", done()));
    ops.push(close(1, (5, 7), "B", done()));
    let h = history(
        ops,
        vec![
            hook(
                "B",
                Some(20),
                &[RecordRef {
                    table: 1,
                    record: 1,
                }],
            ),
            hook("A", Some(10), &[R0]),
        ],
        &[],
    );
    let checked = check(&h);
    assert_eq!(
        checked.verdict,
        Verdict::Linearizable,
        "{}",
        linearize::render(&h, &checked)
    );
    assert_eq!(checked.stats.partitions, 2);
}

#[test]
fn close_10_two_hooks_for_one_session_are_not_linearizable() {
    let h = history(
        vec![
            open_a(),
            close(0, (3, 6), "A", done()),
            close(1, (4, 5), "A", done()),
        ],
        vec![hook("A", Some(10), &[R0]), hook("A", Some(10), &[R0])],
        &[],
    );
    let v = violation(&h);
    assert_eq!(v.rule, RuleId::Close10, "{v:?}");
    assert_eq!(v.partition, 0);
    // The session opened, then a close: nothing else can follow it.
    assert_eq!(v.prefix, vec![0]);
    assert!(
        v.failures
            .iter()
            .all(|f| f.divergence.rule == RuleId::Close10)
    );
    assert_eq!(v.involved, vec![1, 2]);
}

#[test]
fn close_1_a_request_after_the_close_returned_reads_the_old_context() {
    // The close returned at 4; the request invoked at 5 still ran in A and read its value.
    let h = history(
        vec![
            open_a(),
            close(0, (3, 4), "A", done()),
            req(
                1,
                (5, 6),
                Some("A"),
                vec![get()],
                response("A", Cookie::Keep, vec![WireRead::Var(Some(10))]),
            ),
        ],
        vec![hook("A", Some(10), &[R0])],
        &[],
    );
    let v = violation(&h);
    assert_eq!(v.rule, RuleId::Close1, "{v:?}");
    assert_eq!(v.prefix, vec![0, 1]);
    assert_eq!(v.failures[0].op, Some(2));
    let text = linearize::render_violation(&h, &v);
    assert!(text.contains("CLOSE-1"), "{text}");
    assert!(text.contains("longest consistent prefix: 2 of 3"), "{text}");
    // One line per event, one column per thread.
    assert!(text.contains("| thread 0"), "{text}");
    assert!(text.contains("| thread 1"), "{text}");
    assert!(text.contains("*> #2 req s0 [v1?]"), "{text}");
    assert!(text.contains("*< #2 200 in s0 keep [10]"), "{text}");
}

#[test]
fn close_6_the_hook_must_see_the_last_request_of_the_session() {
    // The request (3..4) ran in A and wrote 11 before the close (5..6) began, but the hook
    // reports the context before that request.
    let h = history(
        vec![
            open_a(),
            req(
                1,
                (3, 4),
                Some("A"),
                vec![set(11)],
                response("A", Cookie::Keep, vec![WireRead::Done]),
            ),
            close(0, (5, 6), "A", done()),
        ],
        vec![hook("A", Some(10), &[R0])],
        &[],
    );
    let v = violation(&h);
    assert_eq!(v.rule, RuleId::Close6, "{v:?}");
}

#[test]
fn close_12_expire_is_allowed_only_with_a_concurrent_close() {
    let ops = |close_at: (u64, u64)| {
        vec![
            open_a(),
            req(
                1,
                (3, 6),
                Some("A"),
                vec![get()],
                response("A", Cookie::Expire, vec![WireRead::Var(Some(10))]),
            ),
            close(0, close_at, "A", done()),
        ]
    };
    // The close overlaps the request: the request ran before it and its response may
    // expire the cookie (CLOSE-12).
    let h = history(ops((4, 5)), vec![hook("A", Some(10), &[R0])], &[]);
    let checked = check(&h);
    assert_eq!(
        checked.verdict,
        Verdict::Linearizable,
        "{}",
        linearize::render(&h, &checked)
    );
    // The close comes after the request returned: nothing expired the cookie.
    let h = history(ops((7, 8)), vec![hook("A", Some(10), &[R0])], &[]);
    assert_eq!(violation(&h).rule, RuleId::Req2);
}

#[test]
fn ambiguous_close_may_happen_late_or_never() {
    let timed_out = || Outcome::Ambiguous("timed out after 100 ms".into());
    // Never: the request after it still ran in A, and no hook ran.
    let h = history(
        vec![
            open_a(),
            close(0, (3, 4), "A", timed_out()),
            req(
                1,
                (5, 6),
                Some("A"),
                vec![set(11)],
                response("A", Cookie::Keep, vec![WireRead::Done]),
            ),
        ],
        vec![],
        &[(R0, "A")],
    );
    let checked = check(&h);
    assert_eq!(
        checked.verdict,
        Verdict::Linearizable,
        "{}",
        linearize::render(&h, &checked)
    );
    assert_eq!(checked.stats.ambiguous, 1);
    // Late: it took effect after the request that followed its timeout (the hook saw 11).
    let h = history(
        vec![
            open_a(),
            close(0, (3, 4), "A", timed_out()),
            req(
                1,
                (5, 6),
                Some("A"),
                vec![set(11)],
                response("A", Cookie::Keep, vec![WireRead::Done]),
            ),
        ],
        vec![hook("A", Some(11), &[R0])],
        &[],
    );
    let checked = check(&h);
    assert_eq!(
        checked.verdict,
        Verdict::Linearizable,
        "{}",
        linearize::render(&h, &checked)
    );
    // But no place explains a hook that saw 10 after a request that wrote 11 ran in A and a
    // later one still found A.
    let h = history(
        vec![
            open_a(),
            close(0, (3, 4), "A", timed_out()),
            req(
                1,
                (5, 6),
                Some("A"),
                vec![set(11)],
                response("A", Cookie::Keep, vec![WireRead::Done]),
            ),
        ],
        vec![hook("A", Some(10), &[R0])],
        &[],
    );
    assert_eq!(violation(&h).rule, RuleId::Close6);
}

#[test]
fn an_exhausted_budget_is_unknown_never_linearizable() {
    let h = history(
        vec![
            open_a(),
            close(0, (3, 8), "A", done()),
            req(
                1,
                (4, 5),
                Some("A"),
                vec![get()],
                response("A", Cookie::Keep, vec![WireRead::Var(Some(10))]),
            ),
            req(
                1,
                (6, 7),
                Some("A"),
                vec![get()],
                response("B", Cookie::Issue("B"), vec![WireRead::Var(None)]),
            ),
        ],
        vec![hook("A", Some(10), &[R0])],
        &[],
    );
    assert_eq!(check(&h).verdict, Verdict::Linearizable);
    for cfg in [
        LinearizeConfig {
            nodes_per_partition_max: 2,
            ..LinearizeConfig::default()
        },
        LinearizeConfig {
            nodes_total_max: 3,
            ..LinearizeConfig::default()
        },
    ] {
        let checked = linearize::check(&h, &cfg).expect("check");
        match &checked.verdict {
            Verdict::Unknown { partitions, nodes } => {
                assert_eq!(partitions, &vec![0]);
                assert!(*nodes <= 3);
            }
            other => panic!("expected unknown, got {other:?}"),
        }
        assert!(linearize::render(&h, &checked).contains("UNKNOWN"));
    }
}

#[test]
fn a_hook_run_no_operation_explains_is_a_violation() {
    let h = history(vec![open_a()], vec![hook("Z", None, &[])], &[(R0, "A")]);
    let v = violation(&h);
    assert_eq!(v.rule, RuleId::Inv2, "{v:?}");
}

#[test]
fn a_lock_kept_after_the_close_is_a_final_state_violation() {
    let h = history(
        vec![open_a(), close(0, (3, 4), "A", done())],
        vec![hook("A", Some(10), &[R0])],
        &[(R0, "A")],
    );
    let v = violation(&h);
    assert_eq!(v.rule, RuleId::Close7, "{v:?}");
    assert_eq!(v.failures[0].op, None);
}

// ------------------------------------------------------------------------------ real threads

#[test]
fn reference_is_linearizable_over_1e5_operations_from_two_threads() {
    let cfg = ConcurrentConfig {
        seed: 7,
        threads: 2,
        keys: 32,
        ops_max: 100_000,
        duration_ms_max: 20_000,
        ..ConcurrentConfig::default()
    };
    let sut = MemorySut::new();
    let started = Instant::now();
    let report = concurrent::run_concurrent(&sut, &cfg);
    let text = concurrent::render_text(&report);
    eprintln!("{text}");
    let checked = report.checked.as_ref().expect("checked");
    assert_eq!(checked.verdict, Verdict::Linearizable, "{text}");
    assert_eq!(report.exit_code(), 0);
    assert_eq!(report.error_count, 0);
    assert!(report.concurrent_ops > 0);
    eprintln!(
        "reference: {} ops in {} ms ({:.0} ops/s), check {} ms, {} nodes ({} max per partition, budget {} per partition), {} partitions; total {} ms",
        report.concurrent_ops,
        report.run_ms,
        report.ops_per_s,
        report.check_ms,
        checked.stats.nodes,
        checked.stats.nodes_partition_max,
        cfg.check.nodes_per_partition_max,
        checked.stats.partitions,
        started.elapsed().as_millis()
    );
}

/// A small, hot workload: two keys, so both threads meet on one session all the time.
fn race_cfg(seed: u64) -> ConcurrentConfig {
    ConcurrentConfig {
        seed,
        threads: 2,
        keys: 2,
        ops_max: 1_500,
        duration_ms_max: 5_000,
        hot_key_percent: 80,
        mix: Mix {
            request: 50,
            self_close: 15,
            close: 35,
        },
        ..ConcurrentConfig::default()
    }
}

const RACE_ROUNDS_MAX: u64 = 30;

#[test]
fn race_mutants_are_caught_by_the_rule_they_declare() {
    for mutant in Mutant::ALL.iter().copied().filter(|m| m.is_race()) {
        let started = Instant::now();
        let sut = mutant.sut();
        let mut caught = None;
        let mut other_rules = Vec::new();
        for round in 0..RACE_ROUNDS_MAX {
            let report = concurrent::run_concurrent(&sut, &race_cfg(round));
            assert!(
                report.harness_error.is_none(),
                "{}",
                concurrent::render_text(&report)
            );
            if let Some(Verdict::NotLinearizable(vs)) = report.verdict() {
                if let Some(v) = vs.iter().find(|v| v.rule == mutant.breaks()) {
                    caught = Some((round, v.clone(), report));
                    break;
                }
                other_rules.extend(vs.iter().map(|v| v.rule));
            }
        }
        let Some((round, v, report)) = caught else {
            panic!(
                "{mutant} not caught by {} in {RACE_ROUNDS_MAX} rounds (other rules seen: {other_rules:?})",
                mutant.breaks()
            );
        };
        let history = report.history.as_ref().expect("history");
        eprintln!(
            "{mutant}: caught by {} in round {round} after {} ms\n{}",
            v.rule,
            started.elapsed().as_millis(),
            linearize::render_violation(history, &v)
        );
        assert_eq!(report.exit_code(), 1);
    }
}

#[test]
fn canary_is_linearizable_under_concurrency() {
    let sut = Mutant::Canary.sut();
    let report = concurrent::run_concurrent(&sut, &race_cfg(1));
    assert_eq!(
        report.verdict(),
        Some(&Verdict::Linearizable),
        "{}",
        concurrent::render_text(&report)
    );
}

#[test]
fn reference_is_linearizable_on_hot_keys_with_a_slow_hook() {
    for seed in 0..3 {
        let cfg = ConcurrentConfig {
            slow_hook: true,
            ..race_cfg(seed)
        };
        let report = concurrent::run_concurrent(&MemorySut::new(), &cfg);
        assert_eq!(
            report.verdict(),
            Some(&Verdict::Linearizable),
            "{}",
            concurrent::render_text(&report)
        );
    }
}

#[test]
fn a_wrong_early_choice_is_undone_by_backtracking() {
    // Two overlapping writes; only a later read tells which came last. The search tries the
    // first-invoked write first, fails at the read, and backtracks.
    let h = history(
        vec![
            open_a(),
            req(
                0,
                (3, 6),
                Some("A"),
                vec![set(11)],
                response("A", Cookie::Keep, vec![WireRead::Done]),
            ),
            req(
                1,
                (4, 5),
                Some("A"),
                vec![set(12)],
                response("A", Cookie::Keep, vec![WireRead::Done]),
            ),
            req(
                1,
                (7, 8),
                Some("A"),
                vec![get()],
                response("A", Cookie::Keep, vec![WireRead::Var(Some(11))]),
            ),
        ],
        vec![],
        &[(R0, "A")],
    );
    let checked = check(&h);
    assert_eq!(
        checked.verdict,
        Verdict::Linearizable,
        "{}",
        linearize::render(&h, &checked)
    );
    assert_eq!(checked.stats.partitions_backtracked, 1);
}

#[test]
fn equivalent_orders_are_explored_once() {
    // Two concurrent closes (either order gives the same world), then two more concurrent
    // closes, then a request that wrongly still reaches A: every order fails at the end; the
    // second order of the first pair reaches a configuration already explored.
    let h = history(
        vec![
            open_a(),
            close(0, (3, 6), "A", done()),
            close(1, (4, 5), "A", done()),
            close(0, (7, 10), "A", done()),
            close(1, (8, 9), "A", done()),
            req(
                1,
                (11, 12),
                Some("A"),
                vec![get()],
                response("A", Cookie::Keep, vec![WireRead::Var(Some(10))]),
            ),
        ],
        vec![hook("A", Some(10), &[R0])],
        &[],
    );
    // Remember configurations from the first backtrack on (the default waits for more).
    let cfg = LinearizeConfig {
        memo_after_backtracks: 0,
        ..LinearizeConfig::default()
    };
    let checked = linearize::check(&h, &cfg).expect("check");
    assert!(checked.stats.memo_hits >= 1, "{:?}", checked.stats);
    let without = check(&h);
    assert_eq!(without.verdict, checked.verdict);
    assert!(
        without.stats.nodes > checked.stats.nodes,
        "{:?}",
        without.stats
    );
    match &checked.verdict {
        Verdict::NotLinearizable(v) => assert_eq!(v[0].rule, RuleId::Close1),
        other => panic!("expected a violation, got {other:?}"),
    }
}

#[test]
fn close_12_a_hook_deferred_to_the_end_of_a_concurrent_request_may_be_logged_late() {
    // t1's request runs in A (3..10) while t0 closes A (4..5): CLOSE-12, the hook runs when
    // the request ends (at 10), the response expires the cookie. Meanwhile t0 sends A's
    // cookie again (6..7), gets a new session B and closes it itself: B's hook is logged
    // first, though A's close comes before B's request in the order.
    let ops = |r1: Outcome| {
        vec![
            open_a(),
            req(1, (3, 10), Some("A"), vec![set(11)], r1),
            close(0, (4, 5), "A", done()),
            req(
                0,
                (6, 7),
                Some("A"),
                vec![WireAction::Close {
                    id: WireId::Current,
                }],
                response("B", Cookie::Expire, vec![WireRead::Done]),
            ),
        ]
    };
    let runs = || vec![hook("B", None, &[]), hook("A", Some(11), &[R0])];
    let h = history(
        ops(response("A", Cookie::Expire, vec![WireRead::Done])),
        runs(),
        &[],
    );
    let checked = check(&h);
    assert_eq!(
        checked.verdict,
        Verdict::Linearizable,
        "{}",
        linearize::render(&h, &checked)
    );
    // Without the expiring response, the request did not see the close: A's hook had to run
    // inside the close, before B's.
    let h = history(
        ops(response("A", Cookie::Keep, vec![WireRead::Done])),
        runs(),
        &[],
    );
    assert_eq!(violation(&h).rule, RuleId::Close6);
}

#[test]
fn a_race_shrinks_to_a_small_workload() {
    use wlcs::concurrent::{ConcurrentConfig, run_concurrent, shrink};
    let sut = wlcs_sut::mutants::Mutant::RacyDoubleHook.sut();
    // The schedule is real: a few rounds to see the race at all.
    let found = (0..8u64).find_map(|round| {
        let cfg = ConcurrentConfig {
            seed: round,
            threads: 2,
            keys: 4,
            ops_max: 3_000,
            ..ConcurrentConfig::default()
        };
        let report = run_concurrent(&sut, &cfg);
        (report.exit_code() == 1).then_some((cfg, report))
    });
    let Some((cfg, report)) = found else {
        panic!("racy-double-hook survived eight rounds");
    };
    let shrunk = shrink(&sut, &cfg, report);
    assert_eq!(
        shrunk.report.exit_code(),
        1,
        "the shrunk workload still fails"
    );
    assert!(shrunk.config.ops_max < cfg.ops_max, "{:?}", shrunk.config);
    assert!(shrunk.config.keys <= cfg.keys);
}
